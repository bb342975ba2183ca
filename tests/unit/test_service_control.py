"""Carrying out a service plan: idempotent nssm runs, unit files on disk, clear failures.

NSSM exists only on Windows, so its runs use a recording stand-in for nssm.exe
that answers `status` the way NSSM does (exit 3 when the service does not
exist). Unit files are written for real into a temporary folder; systemctl is
never called here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fmw.errors import ServiceCommandError, ServiceError
from fmw.services import control as service_control
from fmw.services.control import (
    CommandResult,
    ServiceState,
    carry_out,
    check_ready,
    run_command,
    service_states,
)
from fmw.services.model import ServicePlan, describe_services
from fmw.services.systemd import systemd_unit
from fmw.settings import Settings

SECRET = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


class FakeNssm:
    """Answers like nssm.exe: `status` prints a SERVICE_* state or exits 3; records every call."""

    def __init__(self, states: dict[str, str | None], fail_on: str | None = None) -> None:
        self.states = states
        self.fail_on = fail_on
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> CommandResult:
        self.calls.append(list(argv))
        verb, name = argv[1], argv[2]
        if self.fail_on and self.fail_on in argv:
            return CommandResult(1, f"Error setting parameter for service {name}!")
        if verb == "status":
            state = self.states.get(name)
            return (
                CommandResult(3, "Can't open service!")
                if state is None
                else CommandResult(0, state)
            )
        return CommandResult(0, f"Set parameter for service {name}.")

    def verbs(self, name: str) -> list[str]:
        return [
            f"{call[1]} {call[3]}" if call[1] in ("set", "reset") else call[1]
            for call in self.calls
            if call[2] == name
        ]


def windows_plan(**service: Any) -> ServicePlan:
    settings = Settings(
        base_dir=Path(r"C:\FMW"),
        service={"python": r"C:\FMW\.venv\Scripts\python.exe", "nginx": {"enabled": False}}
        | service,
        web={"enabled": False},  # the web service is described in tests/unit/test_services.py
    )
    return describe_services(settings, "windows")


def linux_plan(tmp_path: Path, **service: Any) -> ServicePlan:
    settings = Settings(
        base_dir=tmp_path,
        service={"python": sys.executable, "nginx": {"enabled": False}} | service,
        web={"enabled": False},
    )
    return describe_services(settings, "linux", settings_path=tmp_path / "fmw.toml")


# --- Windows: NSSM ---------------------------------------------------------------------


def test_a_missing_service_is_installed_then_configured():
    nssm = FakeNssm({"FMW-Scheduler": None, "FMW-Dashboard": None})
    carry_out(windows_plan(), "install", runner=nssm, unit_dir=Path())
    assert nssm.verbs("FMW-Scheduler")[:4] == [
        "status",
        "install",
        "set Application",
        "set AppParameters",
    ]
    assert ["nssm", "install", "FMW-Scheduler", r"C:\FMW\.venv\Scripts\python.exe"] in nssm.calls


def test_an_existing_service_is_only_updated_with_set():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_RUNNING", "FMW-Dashboard": "SERVICE_STOPPED"})
    carry_out(windows_plan(), "install", runner=nssm, unit_dir=Path())
    verbs = {call[1] for call in nssm.calls}
    assert verbs == {"status", "set", "reset"}  # never install, never remove
    assert ["nssm", "set", "FMW-Dashboard", "Start", "SERVICE_DELAYED_AUTO_START"] in nssm.calls


def test_reinstalling_twice_sends_the_same_settings():
    first, second = (
        FakeNssm({"FMW-Scheduler": None, "FMW-Dashboard": None}),
        FakeNssm({"FMW-Scheduler": "SERVICE_STOPPED", "FMW-Dashboard": "SERVICE_STOPPED"}),
    )
    carry_out(windows_plan(), "install", runner=first, unit_dir=Path())
    carry_out(windows_plan(), "install", runner=second, unit_dir=Path())
    assert [c for c in first.calls if c[1] != "install"] == second.calls


def test_all_statuses_are_read_before_anything_changes():
    nssm = FakeNssm({"FMW-Scheduler": None, "FMW-Dashboard": None})
    carry_out(windows_plan(), "install", runner=nssm, unit_dir=Path())
    assert [call[1] for call in nssm.calls[:3]] == ["status", "status", "install"]


def test_the_password_reaches_nssm_but_is_never_shown():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_STOPPED", "FMW-Dashboard": "SERVICE_STOPPED"})
    shown: list[str] = []
    carry_out(
        windows_plan(account=r".\fmw-svc"),
        "install",
        runner=nssm,
        unit_dir=Path(),
        environ={"FMW_SERVICE_PASSWORD": SECRET},
        progress=shown.append,
    )
    assert ["nssm", "set", "FMW-Scheduler", "ObjectName", r".\fmw-svc", SECRET] in nssm.calls
    assert r"nssm set FMW-Scheduler ObjectName .\fmw-svc %FMW_SERVICE_PASSWORD%" in shown
    assert not any(SECRET in line for line in shown)


def test_a_failing_command_is_named_with_its_output_and_stops_the_run():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_STOPPED", "FMW-Dashboard": None}, "AppStdout")
    with pytest.raises(ServiceCommandError) as caught:
        carry_out(windows_plan(), "install", runner=nssm, unit_dir=Path())
    assert str(caught.value) == (
        r"`nssm set FMW-Scheduler AppStdout C:\FMW\var\logs\FMW-Scheduler.log` failed "
        "(exit code 1): Error setting parameter for service FMW-Scheduler!"
    )
    assert "FMW-Dashboard" not in {call[2] for call in nssm.calls if call[1] != "status"}


def test_a_failing_password_command_shows_the_variable_not_the_password():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_STOPPED"}, "ObjectName")
    with pytest.raises(ServiceCommandError) as caught:
        carry_out(
            windows_plan(account=r".\fmw-svc").select(["scheduler"]),
            "install",
            runner=nssm,
            unit_dir=Path(),
            environ={"FMW_SERVICE_PASSWORD": SECRET},
        )
    assert "%FMW_SERVICE_PASSWORD%" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_an_unexpected_status_exit_code_is_an_error():
    def broken(argv: Sequence[str], timeout: float) -> CommandResult:
        return CommandResult(5, "Administrator access is needed")

    with pytest.raises(
        ServiceCommandError, match=r"`nssm status FMW-Scheduler` failed \(exit code 5\)"
    ):
        carry_out(windows_plan(), "status", runner=broken, unit_dir=Path())


def test_start_starts_stopped_services_and_skips_running_ones():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_RUNNING", "FMW-Dashboard": "SERVICE_STOPPED"})
    carry_out(windows_plan(), "start", runner=nssm, unit_dir=Path())
    assert [c for c in nssm.calls if c[1] != "status"] == [["nssm", "start", "FMW-Dashboard"]]


def test_start_refuses_before_starting_anything_when_a_service_is_missing():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_STOPPED", "FMW-Dashboard": None})
    with pytest.raises(
        ServiceError, match="FMW-Dashboard is not installed: run `fmw service install`"
    ):
        carry_out(windows_plan(), "start", runner=nssm, unit_dir=Path())
    assert {call[1] for call in nssm.calls} == {"status"}


def test_stop_goes_in_reverse_and_skips_stopped_or_missing_services():
    nssm = FakeNssm(
        {"FMW-Scheduler": "SERVICE_RUNNING", "FMW-Dashboard": "SERVICE_PAUSED", "FMW-Nginx": None}
    )
    carry_out(windows_plan(nginx={"enabled": True}), "stop", runner=nssm, unit_dir=Path())
    assert [c for c in nssm.calls if c[1] != "status"] == [
        ["nssm", "stop", "FMW-Dashboard"],
        ["nssm", "stop", "FMW-Scheduler"],
    ]


def test_uninstall_stops_then_removes_what_exists():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_RUNNING", "FMW-Dashboard": None})
    carry_out(windows_plan(), "uninstall", runner=nssm, unit_dir=Path())
    assert [c for c in nssm.calls if c[1] != "status"] == [
        ["nssm", "stop", "FMW-Scheduler"],
        ["nssm", "remove", "FMW-Scheduler", "confirm"],
    ]


def test_status_reports_each_service():
    nssm = FakeNssm({"FMW-Scheduler": "SERVICE_RUNNING", "FMW-Dashboard": None})
    assert service_states(windows_plan(), runner=nssm) == [
        ServiceState("FMW-Scheduler", True, True, "SERVICE_RUNNING"),
        ServiceState("FMW-Dashboard", False, False, "not installed"),
    ]


# --- Linux: unit files -----------------------------------------------------------------


def test_install_writes_the_unit_files(tmp_path: Path):
    plan = linux_plan(tmp_path)
    carry_out(plan, "install", unit_dir=tmp_path, systemctl=False)
    written = sorted(p.name for p in tmp_path.glob("*.service"))
    assert written == ["fmw-dashboard.service", "fmw-scheduler.service"]
    assert (tmp_path / "fmw-scheduler.service").read_text() == systemd_unit(plan, plan.services[0])


def test_reinstalling_rewrites_only_changed_units(tmp_path: Path):
    carry_out(linux_plan(tmp_path), "install", unit_dir=tmp_path, systemctl=False)
    notes: list[str] = []
    changed = linux_plan(tmp_path, dashboard_ports=[8601])
    carry_out(changed, "install", unit_dir=tmp_path, systemctl=False, progress=notes.append)
    assert notes == [f"writing {tmp_path / 'fmw-dashboard.service'}"]
    assert "--port 8601" in (tmp_path / "fmw-dashboard.service").read_text()


def test_install_reloads_and_enables_with_systemctl(tmp_path: Path):
    calls: list[list[str]] = []

    def systemctl(argv: Sequence[str], timeout: float) -> CommandResult:
        calls.append(list(argv))
        return CommandResult(0, "")

    carry_out(linux_plan(tmp_path), "install", runner=systemctl, unit_dir=tmp_path)
    assert calls == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "fmw-scheduler.service", "fmw-dashboard.service"],
    ]


def test_uninstall_disables_and_removes_only_present_units(tmp_path: Path):
    carry_out(
        linux_plan(tmp_path).select(["dashboard"]), "install", unit_dir=tmp_path, systemctl=False
    )
    calls: list[list[str]] = []

    def systemctl(argv: Sequence[str], timeout: float) -> CommandResult:
        calls.append(list(argv))
        return CommandResult(0, "")

    carry_out(linux_plan(tmp_path), "uninstall", runner=systemctl, unit_dir=tmp_path)
    assert calls == [
        ["systemctl", "disable", "--now", "fmw-dashboard.service"],
        ["systemctl", "daemon-reload"],
    ]
    assert list(tmp_path.glob("*.service")) == []


def test_systemd_status_is_read_from_systemctl_show(tmp_path: Path):
    answers = {
        "fmw-scheduler.service": "LoadState=loaded\nActiveState=active\nSubState=running\n",
        "fmw-dashboard.service": "LoadState=not-found\nActiveState=inactive\nSubState=dead\n",
    }

    def systemctl(argv: Sequence[str], timeout: float) -> CommandResult:
        return CommandResult(0, answers[argv[-1]])

    assert service_states(linux_plan(tmp_path), runner=systemctl) == [
        ServiceState("fmw-scheduler.service", True, True, "active (running)"),
        ServiceState("fmw-dashboard.service", False, False, "not installed"),
    ]


def test_a_failing_systemctl_names_the_command(tmp_path: Path):
    def systemctl(argv: Sequence[str], timeout: float) -> CommandResult:
        return CommandResult(5, "Unit fmw-dashboard.service not found.")

    with pytest.raises(
        ServiceCommandError,
        match=r"^`systemctl start fmw-scheduler.service fmw-dashboard.service` failed "
        r"\(exit code 5\): Unit",
    ):
        carry_out(linux_plan(tmp_path), "start", runner=systemctl, unit_dir=tmp_path)


# --- checks before anything changes ----------------------------------------------------


def test_a_missing_password_is_refused_before_anything_runs():
    with pytest.raises(
        ServiceError, match=r"needs its password in the environment variable FMW_PW"
    ):
        check_ready(
            windows_plan(account=r".\fmw-svc", password_env="FMW_PW"),
            "install",
            unit_dir=Path(),
            environ={},
        )


def test_missing_nssm_is_refused_with_where_to_get_it():
    with pytest.raises(
        ServiceError, match=r"nssm not found \(service.nssm = 'nssm'\): install NSSM 2.24-101"
    ):
        check_ready(windows_plan(), "status", unit_dir=Path(), which=lambda name: None)


def test_a_missing_python_is_refused_naming_the_setting(tmp_path: Path):
    plan = linux_plan(tmp_path, python=str(tmp_path / "no-venv" / "python"))
    with pytest.raises(
        ServiceError, match=r"FMW-Scheduler: .*no-venv/python does not exist \(see service.python\)"
    ):
        check_ready(plan, "install", unit_dir=tmp_path, systemctl=False)


def test_a_missing_nginx_is_refused_naming_its_setting(tmp_path: Path):
    plan = linux_plan(tmp_path, nginx={"executable": str(tmp_path / "nginx")})
    with pytest.raises(ServiceError, match=r"FMW-Nginx: .* \(see service.nginx.executable\)"):
        check_ready(plan, "install", unit_dir=tmp_path, systemctl=False)


def test_a_missing_unit_folder_is_refused(tmp_path: Path):
    with pytest.raises(ServiceError, match=r"nowhere: cannot write unit files here"):
        check_ready(linux_plan(tmp_path), "install", unit_dir=tmp_path / "nowhere", systemctl=False)


def test_without_systemd_only_unit_files_can_be_handled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service_control, "SYSTEMD_RUNNING", tmp_path / "not-booted")
    with pytest.raises(ServiceError, match=r"systemd is not running on this machine"):
        check_ready(linux_plan(tmp_path), "start", unit_dir=tmp_path)
    with pytest.raises(ServiceError, match=r"--no-systemctl: `fmw service status` needs systemctl"):
        check_ready(linux_plan(tmp_path), "status", unit_dir=tmp_path, systemctl=False)


def test_install_creates_the_log_folder(tmp_path: Path):
    plan = linux_plan(tmp_path, log_dir=str(tmp_path / "logs" / "fmw"))
    check_ready(plan, "install", unit_dir=tmp_path, systemctl=False)
    assert (tmp_path / "logs" / "fmw").is_dir()


# --- running commands ------------------------------------------------------------------


def test_run_command_returns_exit_code_and_output():
    result = run_command([sys.executable, "-c", "import sys; print('out'); sys.exit(4)"], 30)
    assert result == CommandResult(4, "out")


def test_run_command_reports_a_missing_program():
    assert run_command(["fmw-no-such-program"], 30) == CommandResult(
        127, "fmw-no-such-program: program not found"
    )


def test_run_command_reports_a_timeout():
    result = run_command([sys.executable, "-c", "import time; time.sleep(5)"], 0.2)
    assert result.returncode == 124 and "no answer within" in result.output
