"""`fmw backup`, `fmw backup list`, `fmw restore` as real subprocesses on the embedded database."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fmw.backup.schedule import command_line
from fmw.database import start_embedded, with_database
from tests.support.commands import run


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder where `fmw demo` loaded the embedded database and `fmw backup` ran once."""
    folder = tmp_path_factory.mktemp("backup-cli")
    folder.chmod(0o755)
    demo = run(folder, "demo", "--rows", "60")
    assert demo.returncode == 0, demo.stderr
    backup = run(folder, "backup")
    (folder / "backup.out").write_text(backup.stdout + backup.stderr)
    assert backup.returncode == 0, backup.stderr
    yield folder
    run(folder, "db", "stop")
    shutil.rmtree(folder / "var", ignore_errors=True)


def the_backup(folder: Path) -> Path:
    (archive,) = (folder / "var" / "backups").glob("fmw_*.dump")
    return archive


def test_backup_uses_the_bundled_pg_dump_and_proves_the_archive_by_a_restore(backed_up: Path):
    out = (backed_up / "backup.out").read_text()
    assert "bundled with the embedded server" in out
    assert f"backup {the_backup(backed_up).name}: " in out
    assert "verified (restore, " in out
    assert re.search(r"row counts of \d+ tables equal", out)
    sidecar = json.loads(the_backup(backed_up).with_suffix(".json").read_text())
    assert sidecar["verified"] is True and sidecar["database"] == "fmw"
    assert (
        the_backup(backed_up)
        .with_name(the_backup(backed_up).name.replace(".dump", ".snapshot.zip"))
        .is_file()
    )


def test_backup_list_shows_the_verified_backup(backed_up: Path):
    result = run(backed_up, "backup", "list")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if the_backup(backed_up).name in line)
    assert "✓ restore" in line


def test_restore_into_a_new_database_gives_the_same_records(backed_up: Path):
    result = run(backed_up, "restore", str(the_backup(backed_up)), "--into", "fmw_drill")
    assert result.returncode == 0, result.stderr
    assert "into database fmw_drill" in result.stdout
    assert re.search(r"schema current \(\d+ migrations applied\)", result.stdout)
    url = start_embedded(backed_up / "var" / "pgdata")  # already running: just its URL
    query = "SELECT identity_hash, content_hash FROM core.record ORDER BY 1"
    with psycopg.connect(url) as live, psycopg.connect(with_database(url, "fmw_drill")) as copy:
        live_rows = live.execute(query).fetchall()
        assert copy.execute(query).fetchall() == live_rows
    assert len(live_rows) > 100


def test_restore_by_name_refuses_the_live_database(backed_up: Path):
    result = run(backed_up, "restore", the_backup(backed_up).name, "--into", "fmw")
    assert result.returncode == 1
    assert "error: fmw is the live database FMW uses" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_restore_of_a_missing_file_is_one_clear_line(backed_up: Path):
    result = run(backed_up, "restore", "nope.dump")
    assert result.returncode == 1
    assert "nope.dump: no such backup file" in result.stderr


def test_schedule_dry_run_prints_the_exact_schtasks_command(tmp_path: Path):
    result = run(tmp_path, "backup", "schedule", "--at", "3:05", "--dry-run")
    assert result.returncode == 0, result.stderr
    task = [sys.executable, "-m", "fmw", "backup", "--workdir", str(tmp_path.resolve())]
    schedule = ["/SC", "DAILY", "/ST", "03:05", "/RU", "SYSTEM", "/F"]
    expected = command_line(
        ["schtasks", "/Create", "/TN", "FMW\\Backup", "/TR", command_line(task), *schedule]
    )
    assert result.stdout.strip() == expected


def test_schedule_refuses_a_task_command_over_262_characters(tmp_path: Path):
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    result = run(tmp_path, "backup", "schedule", "--workdir", str(deep), "--dry-run")
    assert result.returncode == 1
    assert "schtasks allows at most 262 (/TR)" in result.stderr


@pytest.mark.skipif(os.name == "nt", reason="on Windows it would really create the task")
def test_schedule_without_dry_run_off_windows_points_to_the_scheduler(tmp_path: Path):
    result = run(tmp_path, "backup", "schedule")
    assert result.returncode == 1
    assert "schtasks is Windows' Task Scheduler" in result.stderr


@pytest.mark.parametrize(
    "command",
    [["backup"], ["backup", "list"], ["backup", "verify"], ["backup", "schedule"], ["restore"]],
    ids=" ".join,
)
def test_every_backup_command_has_help_with_an_example(command: list[str], tmp_path: Path):
    result = run(tmp_path, *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example: fmw " in " ".join(result.stdout.split())
