"""`fmw job …` and `fmw scheduler run` as real subprocesses on an embedded database."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FMW = [sys.executable, "-m", "fmw"]
COMMANDS = [
    ["job", "schedule"],
    ["job", "unschedule"],
    ["job", "list"],
    ["job", "run"],
    ["job", "history"],
    ["job", "next"],
    ["scheduler", "run"],
]
SCHEDULER_ENV = {
    "FMW_SCHEDULER__TIME_ZONE": "UTC",
    "FMW_SCHEDULER__POLL_SECONDS": "0.5",
    "FMW_SCHEDULER__HEARTBEAT_SECONDS": "1",
    "FMW_SCHEDULER__STOP_TIMEOUT_SECONDS": "1",
}


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    return {**clean, **SCHEDULER_ENV, "COLUMNS": "250"}


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FMW, *args], cwd=folder, env=env(), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh folder whose embedded database is migrated and has no default jobs."""
    path = tmp_path_factory.mktemp("scheduler")
    path.chmod(0o755)
    result = run(path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    for name in ("daily-sync", "daily-backup", "weekly-prune-history", "daily-report"):
        assert run(path, "job", "unschedule", name).returncode == 0
    yield path
    run(path, "db", "stop")
    shutil.rmtree(path / "var", ignore_errors=True)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_job_command_has_help_with_an_example(command: list[str], tmp_path: Path):
    result = run(tmp_path, *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example: fmw " in " ".join(result.stdout.split())


def test_job_next_prints_fire_times_strictly_after_from(tmp_path: Path):
    result = run(
        tmp_path, "job", "next", "0 0 13 * 5", "--from", "2024-09-06T00:00", "--count", "3"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2024-09-13T00:00:00+00:00",
        "2024-09-20T00:00:00+00:00",
        "2024-09-27T00:00:00+00:00",
    ]


def test_job_next_refuses_an_invalid_schedule_in_one_line(tmp_path: Path):
    result = run(tmp_path, "job", "next", "0 0 * * 8")
    assert result.returncode == 1
    assert result.stderr == (
        "error: invalid schedule '0 0 * * 8': day of week: 8 is out of range 0-7\n"
    )


def test_job_next_refuses_a_bad_from_time(tmp_path: Path):
    result = run(tmp_path, "job", "next", "@daily", "--from", "yesterday")
    assert result.returncode == 1 and "is not an ISO 8601 time" in result.stderr


def test_schedule_list_run_history_unschedule(folder: Path):
    scheduled = run(folder, "job", "schedule", "hello", "@hourly", "SELECT 41 + 1")
    assert scheduled.returncode == 0, scheduled.stderr
    assert "job hello (id " in scheduled.stdout and "next runs: " in scheduled.stdout
    listing = run(folder, "job", "list")
    assert "hello" in listing.stdout and "@hourly" in listing.stdout
    ran = run(folder, "job", "run", "hello")
    assert ran.returncode == 0, ran.stderr
    assert "succeeded: SELECT 1" in ran.stdout
    history = run(folder, "job", "history", "hello")
    assert "succeeded" in history.stdout and "SELECT 1" in history.stdout
    assert run(folder, "job", "unschedule", "hello").returncode == 0
    missing = run(folder, "job", "run", "hello")
    assert missing.returncode == 1 and "no job is named 'hello'" in missing.stderr
    audit = run(
        folder, "psql", "-Atc",
        "SELECT action, actor, before ->> 'command', after ->> 'command' FROM ops.admin_action "
        "WHERE target = 'hello' ORDER BY action_id",
    )  # fmt: skip
    user = getpass.getuser()  # the OS user: who ran the command, in the admin audit log
    assert audit.stdout.splitlines() == [
        f"job.schedule|{user}||SELECT 41 + 1",
        f"job.unschedule|{user}|SELECT 41 + 1|",
    ], audit.stderr


def test_scheduling_a_bad_schedule_changes_nothing(folder: Path):
    result = run(folder, "job", "schedule", "bad", "0 0 30 2 *", "SELECT 1")
    assert result.returncode == 1
    assert "it never fires" in result.stderr
    assert "bad" not in run(folder, "job", "list").stdout


def _history(folder: Path, name: str) -> str:
    return run(folder, "job", "history", name, "--limit", "100").stdout


def _start_scheduler(folder: Path, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*FMW, "scheduler", "run"],
        cwd=folder,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[arg-type]  # Popen options the caller names
    )


def _run_until_ticks_then_stop(folder: Path, proc: subprocess.Popen[str], stop: object) -> str:
    try:
        deadline = time.monotonic() + 60
        while _history(folder, "tick").count("succeeded") < 2:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the scheduler recorded no runs"
            time.sleep(0.5)
        proc.send_signal(stop)  # type: ignore[arg-type]  # a signal number
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is the Linux service stop")
def test_the_scheduler_runs_seconds_jobs_and_stops_cleanly_on_sigterm(folder: Path):
    assert (
        run(folder, "job", "schedule", "tick", "1 seconds", "SELECT pg_sleep(0.1)").returncode == 0
    )
    assert (
        run(folder, "job", "schedule", "sleeper", "1 seconds", "SELECT pg_sleep(60)").returncode
        == 0
    )
    proc = _start_scheduler(folder)
    stderr = _run_until_ticks_then_stop(folder, proc, signal.SIGTERM)
    assert proc.returncode == 0, stderr
    assert "scheduler stopping: the scheduler received SIGTERM" in stderr
    assert "scheduler stopped" in stderr
    sleeper = _history(folder, "sleeper")
    assert "interrupted" in sleeper and "running" not in sleeper
    status = json.loads((folder / "var/snapshots/scheduler-status.json").read_text())
    assert status["state"] == "stopped"
    (tick,) = [j for j in status["jobs"] if j["jobname"] == "tick"]
    assert tick["last_run"]["status"] == "succeeded"
    for name in ("tick", "sleeper"):
        run(folder, "job", "unschedule", name)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "win32", reason="CTRL_BREAK_EVENT exists on Windows only")
def test_the_scheduler_stops_cleanly_on_ctrl_break(folder: Path):  # pragma: no cover - Windows
    assert run(folder, "job", "schedule", "tick", "1 seconds", "SELECT 1").returncode == 0
    proc = _start_scheduler(folder, creationflags=subprocess.CREATE_NEW_PROCESS_GROUP)  # type: ignore[attr-defined]  # Windows only
    stderr = _run_until_ticks_then_stop(folder, proc, signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]  # Windows only
    assert proc.returncode == 0, stderr
    assert "the scheduler received SIGBREAK" in stderr
    run(folder, "job", "unschedule", "tick")
