"""`fmw service …` as a subprocess: the exact Windows commands on any OS, unit files on Linux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FMW = [sys.executable, "-m", "fmw"]
WINDOWS_SETTINGS = r"""
[service]
python = 'C:\Program Files\FMW\.venv\Scripts\python.exe'
working_dir = 'C:\Program Files\FMW'
log_dir = 'D:\FMW logs'
postgresql_service = "postgresql-x64-16"
account = '.\fmw-svc'
nssm = 'C:\Tools\nssm\nssm.exe'

[service.nginx]
prefix = 'C:\Program Files\FMW\nginx'
"""


def run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    clean.update(env, COLUMNS="250")
    return subprocess.run(
        [*FMW, *args], cwd=folder, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def windows_folder(tmp_path: Path) -> Path:
    (tmp_path / "fmw.toml").write_text(WINDOWS_SETTINGS, encoding="utf-8")
    return tmp_path


def test_install_dry_run_prints_the_exact_nssm_commands(windows_folder: Path):
    result = run(windows_folder, "service", "install", "--dry-run", "--platform", "windows")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    nssm = r"C:\Tools\nssm\nssm.exe"
    python = r'"C:\Program Files\FMW\.venv\Scripts\python.exe"'
    settings = windows_folder / "fmw.toml"
    assert lines[:26] == [
        "rem --- FMW-Scheduler ---",
        f"{nssm} status FMW-Scheduler",
        "rem only when `nssm status FMW-Scheduler` exits 3 (not installed):",
        f"{nssm} install FMW-Scheduler {python}",
        f"{nssm} set FMW-Scheduler Application {python}",
        f'{nssm} set FMW-Scheduler AppParameters "-m fmw scheduler run"',
        rf'{nssm} set FMW-Scheduler AppDirectory "C:\Program Files\FMW"',
        f'{nssm} set FMW-Scheduler DisplayName "FMW Scheduler"',
        f"{nssm} set FMW-Scheduler Description "
        '"FMW scheduler: runs the jobs in ops.job (daily sync, backup, pruning)."',
        f"{nssm} set FMW-Scheduler Start SERVICE_DELAYED_AUTO_START",
        f"{nssm} set FMW-Scheduler AppExit Default Restart",
        f"{nssm} set FMW-Scheduler AppRestartDelay 10000",
        f"{nssm} set FMW-Scheduler AppThrottle 30000",
        f"{nssm} set FMW-Scheduler AppNoConsole 0",
        f"{nssm} set FMW-Scheduler AppStopMethodSkip 0",
        f"{nssm} set FMW-Scheduler AppStopMethodConsole 30000",
        f"{nssm} set FMW-Scheduler AppKillProcessTree 1",
        rf'{nssm} set FMW-Scheduler AppStdout "D:\FMW logs\FMW-Scheduler.log"',
        rf'{nssm} set FMW-Scheduler AppStderr "D:\FMW logs\FMW-Scheduler.log"',
        f"{nssm} set FMW-Scheduler AppRotateFiles 1",
        f"{nssm} set FMW-Scheduler AppRotateOnline 1",
        f"{nssm} set FMW-Scheduler AppRotateBytes 10485760",
        f"{nssm} set FMW-Scheduler AppEnvironmentExtra PYTHONUNBUFFERED=1 PYTHONUTF8=1 "
        f"FMW_SETTINGS={settings}",
        f"{nssm} set FMW-Scheduler DependOnService postgresql-x64-16",
        rf"{nssm} set FMW-Scheduler ObjectName .\fmw-svc %FMW_SERVICE_PASSWORD%",
        "rem --- FMW-Dashboard ---",
    ]
    assert f'{nssm} set FMW-Dashboard AppParameters "-m fmw ui --port 8501"' in lines
    assert f"{nssm} reset FMW-Dashboard DependOnService" in lines
    assert (
        f"{nssm} set FMW-Nginx AppParameters "
        r'"-p \"C:/Program Files/FMW/nginx\" -c conf/nginx.conf -g \"daemon off;\""'
    ) in lines
    assert [line for line in lines if line.startswith("rem ---")] == [
        "rem --- FMW-Scheduler ---",
        "rem --- FMW-Dashboard ---",
        "rem --- FMW-Web ---",
        "rem --- FMW-Nginx ---",
    ]
    assert f'{nssm} set FMW-Web AppParameters "-m fmw web --port 8510"' in lines
    assert f"{nssm} set FMW-Web DependOnService postgresql-x64-16" in lines
    assert len(lines) == 4 * 25
    assert "dry run: nothing was changed" in result.stderr


def test_a_dry_run_changes_nothing(windows_folder: Path):
    before = sorted(p.name for p in windows_folder.iterdir())
    for action in ("install", "uninstall", "stop"):
        result = run(windows_folder, "service", action, "--dry-run", "--platform", "windows")
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in windows_folder.iterdir()) == before


def test_control_dry_runs_print_conditions(windows_folder: Path):
    result = run(
        windows_folder, "service", "stop", "--dry-run", "--platform", "windows", "--only", "nginx"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "rem --- FMW-Nginx ---",
        r"C:\Tools\nssm\nssm.exe status FMW-Nginx",
        "rem only when FMW-Nginx is installed and not stopped:",
        r"C:\Tools\nssm\nssm.exe stop FMW-Nginx",
    ]


def test_windows_commands_run_only_on_windows(windows_folder: Path):
    if sys.platform == "win32":
        pytest.skip("this machine is Windows")
    result = run(windows_folder, "service", "start", "--platform", "windows")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --platform windows: this machine's services are linux's; "
        "add --dry-run to print the windows commands"
    )


def test_an_unknown_service_is_refused(windows_folder: Path):
    result = run(
        windows_folder, "service", "status", "--dry-run", "--platform", "windows", "--only", "api"
    )
    assert result.returncode == 1
    assert (
        "--only api: no such FMW service (known: scheduler, dashboard, web, nginx)" in result.stderr
    )


@pytest.mark.skipif(sys.platform == "win32", reason="systemd units are Linux's")
def test_linux_install_writes_units_and_updates_them_in_place(tmp_path: Path):
    units = tmp_path / "units"
    units.mkdir()
    (tmp_path / "fmw.toml").write_text(
        f'[service]\npython = "{sys.executable}"\npostgresql_service = "postgresql"\n'
        "[service.nginx]\nenabled = false\n",
        encoding="utf-8",
    )
    first = run(tmp_path, "service", "install", "--unit-dir", str(units), "--no-systemctl")
    assert first.returncode == 0, first.stderr
    scheduler = (units / "fmw-scheduler.service").read_text(encoding="utf-8")
    assert f"ExecStart={sys.executable} -m fmw scheduler run" in scheduler
    assert "After=network-online.target postgresql.service" in scheduler
    assert "Restart=always" in scheduler
    assert (tmp_path / "var" / "logs").is_dir()

    again = run(tmp_path, "service", "install", "--unit-dir", str(units), "--no-systemctl")
    assert again.returncode == 0, again.stderr
    assert "unit files are already current" in again.stdout

    removed = run(tmp_path, "service", "uninstall", "--unit-dir", str(units), "--no-systemctl")
    assert removed.returncode == 0, removed.stderr
    assert list(units.iterdir()) == []


@pytest.mark.skipif(
    sys.platform == "win32" or Path("/run/systemd/system").is_dir(),
    reason="checks the refusal on a Linux machine without systemd",
)
def test_status_without_systemd_is_one_clear_line(tmp_path: Path):
    result = run(tmp_path, "service", "status")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: systemd is not running on this machine "
        "(--no-systemctl writes or removes the unit files only)"
    )


@pytest.mark.parametrize("command", ["install", "uninstall", "start", "stop", "status"])
def test_every_service_command_has_help_with_an_example(command: str, tmp_path: Path):
    result = run(tmp_path, "service", command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example: fmw service " in " ".join(result.stdout.split())
