"""`fmw doctor` as the admin runs it: after a demo, a backup and a scheduled sync run."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.commands import run


@pytest.fixture(scope="module")
def server_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("doctor")
    folder.chmod(0o755)
    for step in (["demo"], ["backup"], ["job", "run", "daily-sync"]):
        result = run(folder, *step)
        assert result.returncode == 0, (step, result.stdout, result.stderr)
    yield folder
    run(folder, "db", "stop")
    shutil.rmtree(folder / "var", ignore_errors=True)


def test_doctor_prints_one_line_per_check_in_seconds(server_folder: Path):
    started = time.monotonic()
    result = run(server_folder, "doctor")
    elapsed = time.monotonic() - started
    lines = result.stdout.splitlines()
    assert elapsed < 10, f"the morning check takes seconds, not {elapsed:.1f} s"
    by_name = {line[2:].split(":", 1)[0]: line for line in lines if line[:1] in "✓✗–"}
    assert by_name["database"].startswith("✓") and "current" in by_name["database"]
    assert by_name["last sync"].startswith("✓") and "succeeded" in by_name["last sync"]
    assert by_name["snapshot"].startswith("✓")
    assert by_name["backup"].startswith("✓") and "restore" in by_name["backup"]
    assert by_name["disk (data)"].startswith("✓")


def test_doctor_is_red_while_the_scheduler_has_never_run(server_folder: Path):
    result = run(server_folder, "doctor")
    scheduler = next(line for line in result.stdout.splitlines() if "scheduler:" in line)
    assert scheduler.startswith("✗") and "→ fmw service start" in scheduler
    assert result.returncode == 1
    assert "checks fine" in result.stdout.splitlines()[-1]
