"""`fmw deploy describe|status|bundle` as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fmw.deploy.release import Current, Layout, write_current, write_state

FMW = [sys.executable, "-m", "fmw"]
ROOT = Path(__file__).resolve().parents[2]


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [*FMW, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


def test_describe_gives_the_services_and_health_urls_of_a_release(tmp_path: Path):
    (tmp_path / "fmw.toml").write_text(
        "[service]\ndashboard_ports = [8501, 8502]\n[service.nginx]\nenabled = false\n"
    )
    python = tmp_path / "releases" / "1.0.0-X" / ".venv" / "bin" / "python"
    result = run(tmp_path, "deploy", "describe", "--python", str(python))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [s["name"] for s in doc["services"]] == [
        "FMW-Scheduler",
        "FMW-Dashboard",
        "FMW-Dashboard-2",
        "FMW-Web",
    ]
    assert doc["services"][1]["argv"] == [str(python), "-m", "fmw", "ui", "--port", "8501"]
    assert doc["services"][1]["environment"]["FMW_SETTINGS"] == str(tmp_path / "fmw.toml")
    assert doc["dashboards"] == [
        {
            "service": "FMW-Dashboard",
            "key": "dashboard",
            "url": "http://127.0.0.1:8501/_stcore/health",
        },
        {
            "service": "FMW-Dashboard-2",
            "key": "dashboard-2",
            "url": "http://127.0.0.1:8502/_stcore/health",
        },
        {"service": "FMW-Web", "key": "web", "url": "http://127.0.0.1:8510/api/health"},
    ]
    assert doc["nginx_health_url"] is None
    assert doc["database"] == "fmw"
    assert doc["backup_dir"] == str(tmp_path / "var" / "backups")


def test_describe_only_lists_the_services_asked_for(tmp_path: Path):
    result = run(tmp_path, "deploy", "describe", "--only", "scheduler")
    doc = json.loads(result.stdout)
    assert [s["key"] for s in doc["services"]] == ["scheduler"]
    assert doc["dashboards"] == []


def test_describe_refuses_an_unknown_service(tmp_path: Path):
    result = run(tmp_path, "deploy", "describe", "--only", "mailer")
    assert result.returncode == 1
    assert "--only mailer: no such FMW service" in result.stderr


def test_status_shows_the_active_release_and_the_last_failure(tmp_path: Path):
    layout = Layout(tmp_path)
    for name, state in (
        ("1.0.0-20261127T100000Z", "active"),
        ("1.1.0-20261127T110000Z", "rolled back"),
    ):
        layout.release_dir(name).mkdir(parents=True)
        write_state(layout.release_dir(name), state)  # type: ignore[arg-type]  # both are States
    failed = {"release": "1.1.0-20261127T110000Z", "reason": "health: timed out", "at": "t"}
    write_current(
        layout,
        Current(release="1.0.0-20261127T100000Z", version="1.0.0", last_failed=failed),
    )
    result = run(tmp_path, "deploy", "status", "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("active: 1.0.0-20261127T100000Z (fmw 1.0.0")
    assert lines[1] == "last failed: 1.1.0-20261127T110000Z at t: health: timed out"
    assert lines[2].startswith("  1.1.0-20261127T110000Z: rolled back (")
    assert lines[3].startswith("  1.0.0-20261127T100000Z: active (")


def test_status_exits_1_when_a_deploy_was_cut_off(tmp_path: Path):
    layout = Layout(tmp_path)
    layout.releases.mkdir()
    write_current(layout, Current(release=None, pending="1.0.0-20261127T100000Z"))
    result = run(tmp_path, "deploy", "status", "--root", str(tmp_path))
    assert result.returncode == 1
    assert "a deploy of 1.0.0-20261127T100000Z was cut off" in result.stderr


def test_bundle_dry_run_prints_the_pip_commands(tmp_path: Path):
    result = run(ROOT, "deploy", "bundle", "--dry-run", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"-m pip wheel --no-deps --wheel-dir {tmp_path}/wheelhouse .")
    assert lines[1].endswith(
        "-m pip download --only-binary=:all: --platform win_amd64 --python-version 3.11 "
        "--implementation cp --require-hashes --no-deps -r requirements/windows-py311.lock "
        f"-d {tmp_path}/wheelhouse"
    )
    assert list(tmp_path.iterdir()) == []


def test_bundle_refuses_a_missing_lock(tmp_path: Path):
    result = run(
        ROOT, "deploy", "bundle", "--lock", str(tmp_path / "no.lock"), "--out", str(tmp_path)
    )
    assert result.returncode == 1
    assert (
        f"--lock {tmp_path / 'no.lock'}: no such file; make it with: uv pip compile"
        in result.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_the_deploys_python_override_points_nssm_at_the_new_release(tmp_path: Path):
    """The services step runs `fmw service install` with FMW_SERVICE__PYTHON set: NSSM follows."""
    python = r"C:\fmw\releases\1.2.0-20261127T101500Z\.venv\Scripts\python.exe"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    env.update(FMW_SERVICE__PYTHON=python, COLUMNS="250")
    result = subprocess.run(
        [*FMW, "service", "install", "--dry-run", "--platform", "windows", "--only", "dashboard"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"nssm set FMW-Dashboard Application {python}" in result.stdout.splitlines()
