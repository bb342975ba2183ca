"""The Windows Task Scheduler entry that runs ``fmw backup`` daily (``fmw backup schedule``).

It builds one ``schtasks /Create … /F`` command: ``/F`` makes re-running it
update the task in place (idempotent). The task runs the venv's ``python.exe
-m fmw backup --workdir <folder>`` (never a ``.bat``), so it finds ``fmw.toml``
and the relative paths in it as if started in that folder; Task Scheduler
otherwise starts programs in ``C:\\Windows\\System32``. ``schtasks`` refuses a
``/TR`` longer than 262 characters, so the length is checked here with the
fix in the message. The start time is validated by Python and no start date
is passed: ``/SD`` and ``%DATE%`` depend on the server's locale, and backup
file names take their time from Python's UTC clock anyway.

This module must never run a program: it only builds the command, so the
dry run prints exactly what would run, on any operating system.
"""

from __future__ import annotations

import subprocess
from datetime import datetime

from fmw.errors import ScheduledTaskError

TASK_NAME = "FMW\\Backup"
TR_LIMIT = 262
DEFAULT_TIME = "02:30"


def parse_time(text: str) -> str:
    """``HH:MM`` (24-hour) normalized, or ScheduledTaskError naming the bad value."""
    try:
        return datetime.strptime(text.strip(), "%H:%M").strftime("%H:%M")
    except ValueError:
        raise ScheduledTaskError(
            f"--at {text!r}: give the daily start time as HH:MM, 24-hour (e.g. 02:30)"
        ) from None


def task_command(python: str, workdir: str, *, quick: bool = False) -> str:
    """The ``/TR`` value: the command Task Scheduler runs, quoted for Windows."""
    argv = [python, "-m", "fmw", "backup", "--workdir", workdir]
    return subprocess.list2cmdline([*argv, "--quick"] if quick else argv)


def schtasks_create(
    *,
    python: str,
    workdir: str,
    at: str = DEFAULT_TIME,
    task_name: str = TASK_NAME,
    run_as: str = "SYSTEM",
    quick: bool = False,
) -> list[str]:
    """The ``schtasks /Create`` argv for a daily backup task; ScheduledTaskError if unusable.

    For an account other than SYSTEM, ``schtasks`` asks for its password
    itself: it is never put on the command line.
    """
    start = parse_time(at)
    command = task_command(python, workdir, quick=quick)
    if len(command) > TR_LIMIT:
        raise ScheduledTaskError(
            f"the task's command is {len(command)} characters and schtasks allows at most "
            f"{TR_LIMIT} (/TR): {command}; install FMW in a shorter folder (e.g. C:\\fmw)"
        )
    if not task_name.strip() or not run_as.strip():
        raise ScheduledTaskError("--task-name and --run-as must not be empty")
    argv = ["schtasks", "/Create", "/TN", task_name, "/TR", command]
    return [*argv, "/SC", "DAILY", "/ST", start, "/RU", run_as, "/F"]


def command_line(argv: list[str]) -> str:
    """The exact command line Windows receives for ``argv`` (what the dry run prints)."""
    return subprocess.list2cmdline(argv)
