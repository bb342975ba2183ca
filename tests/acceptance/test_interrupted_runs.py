"""A backup and an export killed mid-run (kill -9) leave debris the next run removes (issue 15, 5).

The real `fmw backup` is killed while its restore proof runs (its ``.dump.partial``
and its scratch database exist; `pg_restore` is the real program, made to wait),
the real `fmw export` while it writes a generation (its ``.partial`` folder
exists; a lock on core.record_history makes it wait). While each runs, `fmw
doctor` says so and a second run is refused without touching its files; once
killed, `fmw doctor` shows a red line naming the debris and the next step, and
the next run removes it first. Records and history never change.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from fmw.backup.dump import SCRATCH_PREFIX
from fmw.backup.pg_tools import bundled_bin_dirs
from fmw.loader.landing import SourceSpec, load_file
from fmw.snapshot.generations import GENERATIONS_DIR, current_pointer
from tests.support.checksums import data_checksums
from tests.support.commands import FMW, clean_env, run
from tests.support.postgres import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="kill -9 of a process group is POSIX"),
]

HEADER = "Feature Code,Policy Code,market,platform,Status,owner\n"
SLOW_RESTORE = """#!/bin/sh
# pg_restore, made to wait before a restore while the test's marker file exists
case "$*" in *--dbname=*) while [ -e "{marker}" ]; do sleep 0.2; done;; esac
exec "{real}" "$@"
"""


def wait_for(what: str, found: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not found():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.1)


def start(folder: Path, *args: str) -> subprocess.Popen[str]:
    """``fmw ARGS`` in its own process group, so kill -9 takes its children too."""
    with (folder / f"{'-'.join(args)}.log").open("w") as log:
        return subprocess.Popen(
            [*FMW, *args],
            cwd=folder,
            env=clean_env(250),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def kill_9(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def doctor_line(folder: Path, name: str) -> str:
    result = run(folder, "doctor")
    return next(line for line in result.stdout.splitlines() if f" {name}: " in line)


def lock_released(conn: psycopg.Connection, application: str) -> Callable[[], bool]:
    """True once no session of the killed command is left on the server."""

    def released() -> bool:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND pid <> pg_backend_pid()",
            [application],
        ).fetchone()
        return found == (0,)

    return released


@pytest.fixture
def folder(tmp_path: Path, db_url: str, pg_server: Server, conn: psycopg.Connection) -> Path:
    """A folder whose fmw.toml points at a fresh database with records and a snapshot."""
    tmp_path.chmod(0o755)
    major = conn.info.server_version // 10000
    newer = {v: p for v, p in bundled_bin_dirs().items() if v >= major}
    if not newer:
        pytest.skip(f"no bundled pg_dump is as new as the test server's PostgreSQL {major}")
    real = newer[min(newer)]
    tools = tmp_path / "pg_bin"
    tools.mkdir()
    for program in real.iterdir():
        (tools / program.name).symlink_to(program)
    (tools / "pg_restore").unlink()
    marker = tmp_path / "slow-restore"
    (tools / "pg_restore").write_text(
        SLOW_RESTORE.format(marker=marker, real=real / "pg_restore"), encoding="utf-8"
    )
    (tools / "pg_restore").chmod(0o755)
    (tmp_path / "fmw.toml").write_text(
        f'database_url = "{db_url}"\nvar_dir = "var"\npg_bin_dir = "{tools}"\n', encoding="utf-8"
    )
    body = "".join(f"PAY-{n},P1,KR,iOS,on,kim\n" for n in range(200))
    (tmp_path / "a.csv").write_text(HEADER + body, encoding="utf-8")
    load_file(conn, SourceSpec("team_a"), tmp_path / "a.csv")
    assert run(tmp_path, "export").returncode == 0
    return tmp_path


def scratch_databases(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [SCRATCH_PREFIX]
    ).fetchall()
    return [name for (name,) in rows]


@pytest.fixture
def slow_restore(folder: Path) -> Iterator[Path]:
    marker = folder / "slow-restore"
    marker.touch()
    yield marker
    marker.unlink(missing_ok=True)


def test_a_backup_killed_during_its_proof_is_cleaned_up_by_the_next_one(
    folder: Path, conn: psycopg.Connection, slow_restore: Path
):
    before = data_checksums(conn)
    backups = folder / "var" / "backups"
    backup = start(folder, "backup")
    try:
        wait_for("the scratch database", lambda: scratch_databases(conn))
        (partial,) = backups.glob("fmw_*.dump.partial")
        (scratch,) = scratch_databases(conn)

        # Running: never mistaken for debris, and a second backup leaves it alone.
        assert doctor_line(folder, "backup leftovers").startswith("– backup leftovers: a backup")
        second = run(folder, "backup")
        assert second.returncode == 1 and "Another `fmw backup`" in second.stderr
        assert partial.exists() and scratch_databases(conn) == [scratch]
    finally:
        kill_9(backup)
    wait_for("the killed backup's sessions to end", lock_released(conn, "fmw"))

    line = doctor_line(folder, "backup leftovers")
    assert line.startswith(f"✗ backup leftovers: {partial.name}, scratch database {scratch} (")
    assert line.endswith("left by an interrupted backup → fmw backup (it removes them first)")

    slow_restore.unlink()
    result = run(folder, "backup")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"removed {partial.name}, left by an interrupted backup" in result.stdout
    assert f"removed scratch database {scratch}, left by an interrupted backup" in result.stdout
    assert list(backups.glob("*.partial")) == [] and scratch_databases(conn) == []
    assert len(list(backups.glob("fmw_*.dump"))) == 1
    assert doctor_line(folder, "backup leftovers").startswith("✓ backup leftovers: no .partial")
    assert data_checksums(conn) == before


def test_an_export_killed_while_writing_is_cleaned_up_by_the_next_one(
    folder: Path, conn: psycopg.Connection, pg_server: Server, db_url: str
):
    before = data_checksums(conn)
    snapshots = folder / "var" / "snapshots"
    published = current_pointer(snapshots)
    generations = snapshots / GENERATIONS_DIR
    with psycopg.connect(db_url) as blocker:  # the export waits for core.record_history
        blocker.execute("LOCK TABLE core.record_history IN ACCESS EXCLUSIVE MODE")
        export = start(folder, "export")
        try:
            wait_for("the .partial folder", lambda: list(generations.glob("*.partial")))
            (partial,) = generations.glob("*.partial")

            assert doctor_line(folder, "export leftovers").startswith(
                "– export leftovers: an export is running"
            )
            second = run(folder, "export")
            assert second.returncode == 1 and "publishing a snapshot right now" in second.stderr
            assert partial.is_dir()
        finally:
            kill_9(export)
        blocker.rollback()
    wait_for("the killed export's sessions to end", lock_released(conn, "fmw"))

    line = doctor_line(folder, "export leftovers")
    assert line.startswith("✗ export leftovers: 1 .partial generation folder (")
    assert line.endswith(
        f"interrupted exports: {partial.name} → fmw export (it removes them first)"
    )

    result = run(folder, "export")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"removed {partial.name}, left by an interrupted export" in result.stdout
    assert list(generations.glob("*.partial")) == []
    assert current_pointer(snapshots) != published
    assert doctor_line(folder, "export leftovers").startswith("✓ export leftovers")
    assert data_checksums(conn) == before


def test_a_load_killed_during_processing_is_marked_by_doctor_and_retried(
    folder: Path, conn: psycopg.Connection
):
    """Issue 15: a load killed (and its session ended, as a stopped PostgreSQL does) during
    core.process_batch left its batch `landed` forever; doctor was silent, retry refused."""
    before = data_checksums(conn)
    body = "".join(f"NEW-{n},P1,KR,iOS,on,lee\n" for n in range(3_000))
    (folder / "b.csv").write_text(HEADER + body, encoding="utf-8")
    loader = start(folder, "load", "b.csv", "--source", "team_b", "--new-source")
    backend: list[int] = []

    def processing() -> bool:
        found = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'fmw' "
            "AND state = 'active' AND query LIKE '%core.process_batch%'"
        ).fetchone()
        backend.extend(found or ())
        return bool(found)

    wait_for("the load reaches core.process_batch", processing)
    marked = conn.execute("SELECT count(*) FROM ops.mark_interrupted_batches()").fetchone()
    assert marked == (0,), "a batch being processed is not interrupted"
    kill_9(loader)
    conn.execute("SELECT pg_terminate_backend(%s)", [backend[0]])
    wait_for("the killed load's session ends", lock_released(conn, "fmw"))
    after = data_checksums(conn)
    assert (after["records"], after["history"]) == (before["records"], before["history"])

    batch = conn.execute("SELECT batch_id FROM ops.batch WHERE file_name = 'b.csv'").fetchone()
    assert batch is not None
    line = doctor_line(folder, "batches")
    assert line.startswith(
        f"✗ batches: 1 interrupted batch, landed but never processed: {batch[0]} (team_b, b.csv)"
    )
    assert f"→ fmw batch retry {batch[0]} (or fmw batch discard {batch[0]})" in line

    retried = run(folder, "batch", "retry", str(batch[0]))
    assert retried.returncode == 0, retried.stderr
    assert "processed team_b ← b.csv" in retried.stdout
    assert "inserted 3,000" in retried.stdout
    assert doctor_line(folder, "batches").startswith("✓ batches")
