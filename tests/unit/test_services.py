"""The services' description and its renderings: exact nssm command lines and systemd units."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pytest

from fmw.errors import ServiceError
from fmw.services.model import Secret, ServicePlan, Step, When, describe_services, ordered
from fmw.services.nssm import decode_nssm_output, needs_password, nssm_service_steps, nssm_steps
from fmw.services.systemd import systemd_steps, systemd_unit
from fmw.settings import Settings

PYTHON = r"C:\Program Files\FMW\.venv\Scripts\python.exe"


@pytest.fixture(autouse=True)
def _no_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no fmw.toml of the developer's can leak in


def settings(base: str = r"C:\FMW", **service: Any) -> Settings:
    return Settings(base_dir=Path(base), service=service)


def windows(**service: Any) -> ServicePlan:
    defaults = {"python": PYTHON, "working_dir": r"C:\Program Files\FMW"}
    return describe_services(
        settings(**{**defaults, **service}),
        "windows",
        settings_path=Path(r"C:\Program Files\FMW\fmw.toml"),
    )


def linux(**service: Any) -> ServicePlan:
    defaults = {"python": "/srv/fmw/.venv/bin/python"}
    return describe_services(
        settings("/srv/fmw", **{**defaults, **service}),
        "linux",
        settings_path=Path("/srv/fmw/fmw.toml"),
    )


def shown(steps: list[Step]) -> list[str]:
    return [step.shown("windows") for step in steps]


def spec_of(plan: ServicePlan, key: str):
    return next(spec for spec in plan.services if spec.key == key)


# --- NSSM ------------------------------------------------------------------------------


def test_install_is_status_then_install_when_missing_then_every_setting():
    plan = windows(postgresql_service="postgresql-x64-16")
    steps = nssm_service_steps(plan, spec_of(plan, "scheduler"), "install")
    assert shown(steps) == [
        "nssm status FMW-Scheduler",
        f'nssm install FMW-Scheduler "{PYTHON}"',
        f'nssm set FMW-Scheduler Application "{PYTHON}"',
        'nssm set FMW-Scheduler AppParameters "-m fmw scheduler run"',
        'nssm set FMW-Scheduler AppDirectory "C:\\Program Files\\FMW"',
        'nssm set FMW-Scheduler DisplayName "FMW Scheduler"',
        "nssm set FMW-Scheduler Description "
        '"FMW scheduler: runs the jobs in ops.job (daily sync, backup, pruning)."',
        "nssm set FMW-Scheduler Start SERVICE_DELAYED_AUTO_START",
        "nssm set FMW-Scheduler AppExit Default Restart",
        "nssm set FMW-Scheduler AppRestartDelay 10000",
        "nssm set FMW-Scheduler AppThrottle 30000",
        "nssm set FMW-Scheduler AppNoConsole 0",
        "nssm set FMW-Scheduler AppStopMethodSkip 0",
        "nssm set FMW-Scheduler AppStopMethodConsole 30000",
        "nssm set FMW-Scheduler AppKillProcessTree 1",
        r"nssm set FMW-Scheduler AppStdout C:\FMW\var\logs\FMW-Scheduler.log",
        r"nssm set FMW-Scheduler AppStderr C:\FMW\var\logs\FMW-Scheduler.log",
        "nssm set FMW-Scheduler AppRotateFiles 1",
        "nssm set FMW-Scheduler AppRotateOnline 1",
        "nssm set FMW-Scheduler AppRotateBytes 10485760",
        "nssm set FMW-Scheduler AppEnvironmentExtra PYTHONUNBUFFERED=1 PYTHONUTF8=1 "
        '"FMW_SETTINGS=C:\\Program Files\\FMW\\fmw.toml"',
        "nssm set FMW-Scheduler DependOnService postgresql-x64-16",
        "nssm set FMW-Scheduler ObjectName LocalSystem",
    ]
    assert [step.when for step in steps[:3]] == [When.ALWAYS, When.MISSING, When.ALWAYS]
    assert steps[0].probe and not any(step.probe for step in steps[1:])


def test_install_never_removes_a_service():
    words = {str(arg) for step in nssm_steps(windows(), "install") for arg in step.argv}
    assert "remove" not in words and "install" in words


def test_settings_are_applied_from_the_configuration():
    plan = windows(
        restart_delay_seconds=5,
        throttle_seconds=60,
        stop_grace_seconds=90,
        log_rotate_bytes=1048576,
        name_prefix="Policy-",
    )
    lines = shown(nssm_service_steps(plan, spec_of(plan, "dashboard"), "install"))
    assert "nssm set Policy-Dashboard AppRestartDelay 5000" in lines
    assert "nssm set Policy-Dashboard AppThrottle 60000" in lines
    assert "nssm set Policy-Dashboard AppStopMethodConsole 90000" in lines
    assert "nssm set Policy-Dashboard AppRotateBytes 1048576" in lines


def test_paths_with_spaces_are_quoted_and_use_backslashes():
    plan = windows(log_dir=r"D:\FMW logs", nssm=r"C:\Program Files\nssm\nssm.exe")
    lines = shown(nssm_service_steps(plan, spec_of(plan, "dashboard"), "install"))
    nssm = r'"C:\Program Files\nssm\nssm.exe"'
    assert rf'{nssm} set FMW-Dashboard AppStdout "D:\FMW logs\FMW-Dashboard.log"' in lines
    assert f'"C:\\Program Files\\nssm\\nssm.exe" install FMW-Dashboard "{PYTHON}"' in lines


def test_nginx_gets_forward_slashes_and_a_quoted_prefix_inside_its_parameters():
    plan = windows(nginx={"prefix": r"C:\Program Files\FMW\nginx"})
    lines = shown(nssm_service_steps(plan, spec_of(plan, "nginx"), "install"))
    assert lines[1] == r'nssm install FMW-Nginx "C:\Program Files\FMW\nginx\nginx.exe"'
    assert (
        "nssm set FMW-Nginx AppParameters "
        r'"-p \"C:/Program Files/FMW/nginx\" -c conf/nginx.conf -g \"daemon off;\""'
    ) in lines
    assert r'nssm set FMW-Nginx AppDirectory "C:\Program Files\FMW\nginx"' in lines
    assert "nssm reset FMW-Nginx AppEnvironmentExtra" in lines


def test_nssm_parameters_survive_windows_argument_parsing():
    """The AppParameters value NSSM receives, once split, is exactly nginx's argument list."""
    plan = windows(nginx={"prefix": r"C:\Program Files\FMW\nginx\\"})
    step = next(
        s
        for s in nssm_service_steps(plan, spec_of(plan, "nginx"), "install")
        if "AppParameters" in s.argv
    )
    value = str(step.argv[-1])
    assert split_windows_command_line(value) == list(spec_of(plan, "nginx").arguments)
    assert split_windows_command_line(step.shown("windows"))[-1] == value


def test_without_postgresql_service_the_dependency_is_reset():
    plan = windows(postgresql_service="")
    lines = shown(nssm_service_steps(plan, spec_of(plan, "scheduler"), "install"))
    assert "nssm reset FMW-Scheduler DependOnService" in lines
    assert not any("DependOnService postgresql" in line for line in lines)


def test_only_the_scheduler_and_the_web_app_depend_on_postgresql():
    """The dashboard reads snapshot files and must keep serving while PostgreSQL is down."""
    plan = windows(postgresql_service="postgresql-x64-16")
    assert {spec.key: spec.depends_on for spec in plan.services} == {
        "scheduler": ("postgresql-x64-16",),
        "dashboard": (),
        "web": ("postgresql-x64-16",),
        "nginx": (),
    }


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("", "nssm set FMW-Scheduler ObjectName LocalSystem"),
        ("virtual", r'nssm set FMW-Scheduler ObjectName "NT SERVICE\FMW-Scheduler"'),
        ("NetworkService", "nssm set FMW-Scheduler ObjectName NetworkService"),
        (
            r"NT AUTHORITY\LocalService",
            r'nssm set FMW-Scheduler ObjectName "NT AUTHORITY\LocalService"',
        ),
        (r".\fmw-svc", r"nssm set FMW-Scheduler ObjectName .\fmw-svc %FMW_SERVICE_PASSWORD%"),
    ],
)
def test_service_account(account: str, expected: str):
    plan = windows(account=account)
    assert shown(nssm_service_steps(plan, spec_of(plan, "scheduler"), "install"))[-1] == expected


def test_the_password_is_a_secret_from_the_configured_variable():
    plan = windows(account=r"CORP\svc-fmw", password_env="FMW_SVC_PW")
    last = nssm_service_steps(plan, spec_of(plan, "scheduler"), "install")[-1]
    assert last.argv[-1] == Secret("FMW_SVC_PW")
    assert needs_password(plan)
    assert not needs_password(windows(account="virtual"))


def test_control_actions_probe_first_and_carry_conditions():
    plan = windows()
    scheduler = spec_of(plan, "scheduler")
    assert [(s.shown("windows"), s.when) for s in nssm_service_steps(plan, scheduler, "start")] == [
        ("nssm status FMW-Scheduler", When.ALWAYS),
        ("nssm start FMW-Scheduler", When.STOPPED),
    ]
    assert [
        (s.shown("windows"), s.when) for s in nssm_service_steps(plan, scheduler, "uninstall")
    ] == [
        ("nssm status FMW-Scheduler", When.ALWAYS),
        ("nssm stop FMW-Scheduler", When.NOT_STOPPED),
        ("nssm remove FMW-Scheduler confirm", When.INSTALLED),
    ]


def test_services_start_scheduler_first_and_stop_in_reverse():
    plan = windows(dashboard_ports=[8501, 8502])
    assert [s.name for s in ordered(plan, "start")] == [
        "FMW-Scheduler",
        "FMW-Dashboard",
        "FMW-Dashboard-2",
        "FMW-Web",
        "FMW-Nginx",
    ]
    assert ordered(plan, "stop")[0].name == "FMW-Nginx"
    assert [s.service for s in nssm_steps(plan, "uninstall") if s.probe][-1] == "FMW-Scheduler"


def test_one_dashboard_per_port_and_the_first_keeps_its_name():
    plan = windows(dashboard_ports=[8501, 8601])
    dashboards = [s for s in plan.services if s.key.startswith("dashboard")]
    assert [(s.name, s.arguments[-1]) for s in dashboards] == [
        ("FMW-Dashboard", "8501"),
        ("FMW-Dashboard-2", "8601"),
    ]


def test_nginx_can_be_left_out():
    keys = [s.key for s in windows(nginx={"enabled": False}).services]
    assert keys == ["scheduler", "dashboard", "web"]


def test_relative_paths_start_at_the_settings_folder():
    plan = describe_services(
        Settings(
            base_dir=Path(r"C:\FMW"), var_dir=Path("state"), service={"python": "venv\\py.exe"}
        ),
        "windows",
    )
    scheduler = spec_of(plan, "scheduler")
    assert scheduler.executable == PureWindowsPath(r"C:\FMW\venv\py.exe")
    assert scheduler.working_dir == PureWindowsPath(r"C:\FMW")
    assert scheduler.log_file == PureWindowsPath(r"C:\FMW\state\logs\FMW-Scheduler.log")
    assert spec_of(plan, "nginx").executable == PureWindowsPath(r"C:\FMW\nginx\nginx.exe")


def test_a_deploy_can_point_the_services_at_another_release():
    plan = describe_services(
        settings(python=PYTHON),
        "windows",
        python=r"D:\releases\7\.venv\Scripts\python.exe",
        working_dir=r"D:\releases\7",
    )
    scheduler = spec_of(plan, "scheduler")
    assert str(scheduler.executable) == r"D:\releases\7\.venv\Scripts\python.exe"
    assert str(scheduler.working_dir) == r"D:\releases\7"


def test_default_python_is_the_running_interpreter():
    plan = describe_services(settings("/srv/fmw"), "linux" if os.name != "nt" else "windows")
    assert str(spec_of(plan, "scheduler").executable) == sys.executable


def test_user_environment_is_added_and_may_override():
    plan = windows(environment={"PGPASSFILE": r"C:\FMW\pgpass.conf", "PYTHONUTF8": "0"})
    assert dict(spec_of(plan, "dashboard").environment) == {
        "PYTHONUNBUFFERED": "1",
        "PYTHONUTF8": "0",
        "FMW_SETTINGS": r"C:\Program Files\FMW\fmw.toml",
        "PGPASSFILE": r"C:\FMW\pgpass.conf",
    }


def test_only_selects_by_key_service_name_or_unit():
    plan = windows(dashboard_ports=[8501, 8502])
    assert [s.key for s in plan.select(["nginx", "fmw-dashboard-2.service"]).services] == [
        "dashboard-2",
        "nginx",
    ]
    assert [s.key for s in plan.select(["FMW-SCHEDULER"]).services] == ["scheduler"]
    assert [s.name for s in plan.select(["web"]).services] == ["FMW-Web"]
    with pytest.raises(ServiceError, match=r"--only api: no such FMW service \(known: scheduler, "):
        plan.select(["api"])


@pytest.mark.parametrize(
    ("service", "platform", "message"),
    [
        ({"name_prefix": "FMW service "}, "windows", "service.name_prefix"),
        ({"name_prefix": ""}, "linux", "service.name_prefix"),
        ({"dashboard_ports": [8501, 8501]}, "windows", "lists a port twice"),
        ({"dashboard_ports": [70000]}, "linux", "70000 is not a TCP port"),
        ({"environment": {"BAD KEY": "x"}}, "windows", "'BAD KEY' is not a variable name"),
        ({"environment": {"A": "x\ny"}}, "linux", "service.environment.A: line breaks"),
        ({"environment_file": "fmw.env"}, "windows", "service.environment_file is Linux-only"),
        ({"account": "virtual"}, "linux", "'virtual' is Windows-only"),
        ({"account": "CORP\\fmw"}, "linux", "is not a Linux user name"),
        ({"log_rotate_bytes": 2**32}, "windows", "NSSM rotates at most 4 GiB"),
    ],
)
def test_unusable_settings_are_refused_naming_the_setting(
    service: dict[str, Any], platform: str, message: str
):
    with pytest.raises(ServiceError, match=message.replace("(", r"\(")):
        describe_services(settings(**service), platform)  # type: ignore[arg-type]  # "windows" or "linux"


def test_nssm_output_in_utf16_is_decoded():
    assert decode_nssm_output("SERVICE_RUNNING\r\n".encode("utf-16-le")) == "SERVICE_RUNNING"
    assert decode_nssm_output(b"\xff\xfeS\x00T\x00O\x00P\x00") == "STOP"
    assert decode_nssm_output(b"plain text\r\n") == "plain text"
    assert decode_nssm_output("서비스 없음".encode("cp949")) == "서비스 없음"


# --- systemd ---------------------------------------------------------------------------


def test_systemd_unit_for_the_scheduler():
    plan = linux(postgresql_service="postgresql", account="fmw", restart_delay_seconds=7)
    assert systemd_unit(plan, spec_of(plan, "scheduler")) == "\n".join(
        [
            "# Written by `fmw service install`; re-running it rewrites this file.",
            "[Unit]",
            "Description=FMW scheduler: runs the jobs in ops.job (daily sync, backup, pruning).",
            "After=network-online.target postgresql.service",
            "Wants=network-online.target postgresql.service",
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=simple",
            "User=fmw",
            "WorkingDirectory=/srv/fmw",
            'Environment="PYTHONUNBUFFERED=1"',
            'Environment="PYTHONUTF8=1"',
            'Environment="FMW_SETTINGS=/srv/fmw/fmw.toml"',
            "ExecStart=/srv/fmw/.venv/bin/python -m fmw scheduler run",
            "Restart=always",
            "RestartSec=7",
            "KillSignal=SIGINT",
            "TimeoutStopSec=30",
            "NoNewPrivileges=yes",
            "StandardOutput=journal",
            "StandardError=journal",
            "SyslogIdentifier=fmw-scheduler",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def test_systemd_dashboard_without_postgresql_or_account():
    plan = linux()
    unit = systemd_unit(plan, spec_of(plan, "dashboard")).splitlines()
    assert "After=network-online.target" in unit
    assert "ExecStart=/srv/fmw/.venv/bin/python -m fmw ui --port 8501" in unit
    assert not any(line.startswith("User=") for line in unit)


def test_systemd_nginx_stops_gracefully_reloads_and_may_bind_port_80():
    plan = linux(account="fmw")
    unit = systemd_unit(plan, spec_of(plan, "nginx")).splitlines()
    assert 'ExecStart=/usr/sbin/nginx -p /srv/fmw/nginx -c conf/nginx.conf -g "daemon off;"' in unit
    assert "KillSignal=SIGQUIT" in unit
    assert "ExecReload=/bin/kill -s HUP $MAINPID" in unit
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit


def test_systemd_file_logs_and_environment_file():
    plan = linux(linux_logs="file", log_dir="/var/log/fmw", environment_file="/etc/fmw/fmw.env")
    unit = systemd_unit(plan, spec_of(plan, "dashboard")).splitlines()
    assert "StandardOutput=append:/var/log/fmw/FMW-Dashboard.log" in unit
    assert "StandardError=append:/var/log/fmw/FMW-Dashboard.log" in unit
    assert "EnvironmentFile=/etc/fmw/fmw.env" in unit


def test_systemd_escapes_spaces_percent_dollar_and_quotes():
    plan = linux(
        python="/opt/my apps/py thon",
        working_dir="/opt/my apps/100%",
        environment={"NOTE": 'say "hi" 50% $HOME\\x'},
    )
    unit = systemd_unit(plan, spec_of(plan, "scheduler")).splitlines()
    assert 'ExecStart="/opt/my apps/py thon" -m fmw scheduler run' in unit
    assert "WorkingDirectory=/opt/my apps/100%%" in unit
    assert 'Environment="NOTE=say \\"hi\\" 50%% $HOME\\\\x"' in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_generated_units(tmp_path: Path):
    """systemd's own parser (offline) checks quoting, escaping and every directive."""
    odd = tmp_path / "my apps" / "100% py"
    odd.parent.mkdir()
    odd.symlink_to(sys.executable)
    nginx = tmp_path / "nginx bin"
    nginx.symlink_to(shutil.which("true") or "/bin/true")
    plan = describe_services(
        settings(
            str(tmp_path),
            python=str(odd),
            account="fmw",
            postgresql_service="postgresql",
            linux_logs="file",
            environment={"NOTE": 'say "hi" 50% $HOME'},
            nginx={"executable": str(nginx)},
        ),
        "linux",
        settings_path=tmp_path / "fmw.toml",
    )
    for spec in plan.services:
        path = tmp_path / spec.unit
        path.write_text(systemd_unit(plan, spec), encoding="utf-8")
        checked = subprocess.run(
            ["systemd-analyze", "verify", str(path)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr


def test_systemd_steps_for_each_action():
    plan = linux(nginx={"enabled": False})
    unit_dir = PurePosixPath("/etc/systemd/system")
    install = systemd_steps(plan, "install", unit_dir)
    assert [s.write[0] for s in install if s.write] == [
        unit_dir / "fmw-scheduler.service",
        unit_dir / "fmw-dashboard.service",
        unit_dir / "fmw-web.service",
    ]
    assert [s.shown("linux") for s in install if s.argv] == [
        "systemctl daemon-reload",
        "systemctl enable fmw-scheduler.service fmw-dashboard.service fmw-web.service",
    ]
    assert [s.shown("linux") for s in systemd_steps(plan, "uninstall", unit_dir)] == [
        "systemctl disable --now fmw-web.service fmw-dashboard.service fmw-scheduler.service",
        "rm -f /etc/systemd/system/fmw-web.service",
        "rm -f /etc/systemd/system/fmw-dashboard.service",
        "rm -f /etc/systemd/system/fmw-scheduler.service",
        "systemctl daemon-reload",
    ]
    assert [s.shown("linux") for s in systemd_steps(plan, "stop", unit_dir)] == [
        "systemctl stop fmw-web.service fmw-dashboard.service fmw-scheduler.service"
    ]


def test_a_unit_write_is_shown_as_a_shell_here_document():
    plan = linux(nginx={"enabled": False})
    write = systemd_steps(plan, "install", PurePosixPath("/etc/systemd/system"))[0]
    text = write.shown("linux")
    assert text.startswith("cat > /etc/systemd/system/fmw-scheduler.service <<'UNIT'\n")
    assert text.endswith("WantedBy=multi-user.target\nUNIT")


# --- a reference parser for Windows command lines (MS C runtime rules) -------------------


def split_windows_command_line(line: str) -> list[str]:
    """CommandLineToArgvW's rules: 2n backslashes + quote -> n and toggle; 2n+1 -> n and a quote."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = False
    has_arg = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            run = len(line) - i - len(line[i:].lstrip("\\"))
            if i + run < len(line) and line[i + run] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    i += run + 1
                else:
                    i += run
                has_arg = True
                continue
            current.append("\\" * run)
            i += run
            has_arg = True
            continue
        if ch == '"':
            if in_quotes and i + 1 < len(line) and line[i + 1] == '"':
                current.append('"')
                i += 2
                continue
            in_quotes = not in_quotes
            has_arg = True
            i += 1
            continue
        if ch in " \t" and not in_quotes:
            if has_arg:
                args.append("".join(current))
                current, has_arg = [], False
            i += 1
            continue
        current.append(ch)
        has_arg = True
        i += 1
    if has_arg:
        args.append("".join(current))
    return args


def test_the_reference_parser_follows_the_documented_examples():
    # Examples from Microsoft's "Parsing C command-line arguments" table.
    assert split_windows_command_line('"a b c" d e') == ["a b c", "d", "e"]
    assert split_windows_command_line(r'"ab\"c" "\\" d') == ['ab"c', "\\", "d"]
    assert split_windows_command_line(r'a\\\b d"e f"g h') == [r"a\\\b", "de fg", "h"]
    assert split_windows_command_line(r"a\\\"b c d") == [r"a\"b", "c", "d"]
    assert split_windows_command_line(r'a\\\\"b c" d e') == [r"a\\b c", "d", "e"]


def test_the_web_app_is_one_more_service_on_loopback():
    plan = windows(postgresql_service="postgresql-x64-16")
    web = spec_of(plan, "web")
    assert (web.name, web.unit) == ("FMW-Web", "fmw-web.service")
    assert web.arguments == ("-m", "fmw", "web", "--port", "8510")
    assert web.executable == PureWindowsPath(PYTHON)
    assert web.depends_on == ("postgresql-x64-16",)
    plan = describe_services(Settings(base_dir=Path("/srv/fmw"), web={"port": 9000}), "linux")
    assert spec_of(plan, "web").arguments[-1] == "9000"
    left_out = describe_services(Settings(base_dir=Path("/srv"), web={"enabled": False}), "linux")
    assert "web" not in [s.key for s in left_out.services]
