"""`fmw backup schedule`: the exact schtasks command, and the limits schtasks has."""

from __future__ import annotations

import pytest

from fmw.backup.schedule import TR_LIMIT, command_line, schtasks_create, task_command
from fmw.errors import ScheduledTaskError

PYTHON = r"C:\fmw\.venv\Scripts\python.exe"


def test_the_task_runs_the_venv_python_in_the_fmw_folder_daily():
    argv = schtasks_create(python=PYTHON, workdir=r"C:\fmw", at="02:30")
    assert command_line(argv) == (
        r"schtasks /Create /TN FMW\Backup "
        r"/TR "
        r'"C:\fmw\.venv\Scripts\python.exe -m fmw backup --workdir C:\fmw" '
        r"/SC DAILY /ST 02:30 /RU SYSTEM /F"
    )


def test_paths_with_spaces_are_quoted_inside_the_task_command():
    argv = schtasks_create(
        python=r"C:\Program Files\FMW\.venv\Scripts\python.exe",
        workdir=r"C:\Program Files\FMW",
        at="3:05",
        quick=True,
    )
    assert argv[argv.index("/TR") + 1] == (
        r'"C:\Program Files\FMW\.venv\Scripts\python.exe" -m fmw backup '
        r'--workdir "C:\Program Files\FMW" --quick'
    )
    assert command_line(argv) == (
        r"schtasks /Create /TN FMW\Backup /TR "
        r'"\"C:\Program Files\FMW\.venv\Scripts\python.exe\" -m fmw backup '
        r'--workdir \"C:\Program Files\FMW\" --quick" '
        r"/SC DAILY /ST 03:05 /RU SYSTEM /F"
    )


def test_another_account_is_named_and_its_password_never_appears():
    argv = schtasks_create(python=PYTHON, workdir=r"C:\fmw", run_as=r"CORP\svc-fmw")
    assert argv[argv.index("/RU") + 1] == r"CORP\svc-fmw"
    assert "/RP" not in argv


def _workdir_for(length: int) -> str:
    """A workdir that makes the task command exactly ``length`` characters long."""
    base = len(task_command(PYTHON, "C:\\"))
    return "C:\\" + "d" * (length - base)


def test_a_task_command_of_262_characters_is_accepted():
    argv = schtasks_create(python=PYTHON, workdir=_workdir_for(TR_LIMIT))
    assert len(argv[argv.index("/TR") + 1]) == TR_LIMIT == 262


def test_a_task_command_over_262_characters_is_refused_with_the_fix():
    with pytest.raises(ScheduledTaskError) as caught:
        schtasks_create(python=PYTHON, workdir=_workdir_for(TR_LIMIT + 1))
    message = str(caught.value)
    assert "is 263 characters and schtasks allows at most 262 (/TR)" in message
    assert "install FMW in a shorter folder" in message


@pytest.mark.parametrize("at", ["25:00", "2.30", "noon", "02:30 PM", ""])
def test_a_bad_start_time_is_refused(at: str):
    with pytest.raises(ScheduledTaskError, match="HH:MM, 24-hour"):
        schtasks_create(python=PYTHON, workdir=r"C:\fmw", at=at)
