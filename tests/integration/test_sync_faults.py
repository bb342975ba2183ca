"""Issue 15, items 1 and 5: one bad file never stops the others, and interrupted work ends
in a state an admin can act on. On real PostgreSQL, with record and history checksums taken
before and compared after; the interrupted loads are real loader processes killed with -9.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from pyarrow import ipc

from fmw.errors import BatchError, SourceFileError, SyncBusyError
from fmw.loader.landing import (
    SourceSpec,
    discard_batch,
    file_sha256,
    load_file,
    mark_interrupted,
    reprocess_batch,
)
from fmw.scheduler.tasks import TaskFailedError, _sync_summary
from fmw.settings import Settings, SourceSettings
from fmw.sync import run_sync
from tests.support.checksums import data_checksums

HEADER = "feature_code,policy_code,status,owner\n"


def csv_file(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def two_sources(tmp_path: Path, alpha: Path, beta: Path) -> Settings:
    return Settings(
        base_dir=tmp_path,
        var_dir=tmp_path / "var",
        sources={
            "alpha": SourceSettings(path=str(alpha), priority=1),
            "beta": SourceSettings(path=str(beta), priority=2),
        },
    )


def batches(conn: psycopg.Connection) -> list[tuple[str, str, str, str | None]]:
    return conn.execute(
        "SELECT source, file_name, status, message FROM ops.batch ORDER BY batch_id"
    ).fetchall()


# --- 1. one source's bad file -----------------------------------------------------------


def test_a_nul_byte_fails_its_source_and_the_others_load_and_export(
    conn: psycopg.Connection, tmp_path: Path
):
    alpha = tmp_path / "alpha" / "a.csv"
    alpha.parent.mkdir()
    alpha.write_bytes(b"feature_code,status,note\nNUL-1,on,a\x00b\n")  # the file
    beta = csv_file(tmp_path / "beta", "b.csv", "PAY-1,P1,on,kim\n")
    report = run_sync(conn, two_sources(tmp_path, alpha, beta))

    assert not report.ok
    assert report.failed_sources == ["alpha"]
    assert [(b.source, b.status) for b in report.batches] == [("beta", "processed")]
    assert report.errors == [
        f"alpha: {alpha}, row 2, column note: a NUL byte (0x00 at byte offset 35), which no "
        "text cell holds: the file is binary, or UTF-16 text without a byte order mark; save "
        "it as 'CSV UTF-8' or .xlsx"
    ]
    recorded = batches(conn)
    assert [row[:3] for row in recorded] == [
        ("alpha", "a.csv", "failed"),
        ("beta", "b.csv", "processed"),
    ]
    assert recorded[0][3] == report.errors[0].removeprefix("alpha: ")
    assert report.generation is not None, "the good source was exported"
    codes = ipc.open_file(report.generation.path("records.feature_code.arrow")).read_all()
    assert "PAY-1" in codes.column(0).to_pylist()
    with pytest.raises(TaskFailedError, match=r"^sync failed for alpha: alpha: .*row 2"):
        _sync_summary(report)


def test_utf16_without_bom_changes_nothing_loaded_and_is_a_failed_batch(
    conn: psycopg.Connection, tmp_path: Path
):
    alpha = csv_file(tmp_path / "alpha", "a.csv", "KEEP-1,P1,on,kim\n")
    beta = csv_file(tmp_path / "beta", "b.csv", "KEEP-2,P1,off,lee\n")
    settings = two_sources(tmp_path, alpha, beta)
    assert run_sync(conn, settings).ok
    before = data_checksums(conn)

    alpha.write_bytes((HEADER + "KEEP-1,P1,off,kim\n").encode("utf-16-le"))  # no BOM
    report = run_sync(conn, settings)

    assert report.failed_sources == ["alpha"]
    assert (
        "row 1" in report.errors[0]
        and "UTF-16 text without a byte order mark" in (report.errors[0])
    )
    assert [b.status for b in report.batches] == ["skipped"], "beta went on (unchanged)"
    assert data_checksums(conn) == before, "records, history and raw rows are untouched"
    assert batches(conn)[-1][:3] == ("alpha", "a.csv", "failed")


def test_an_unreadable_file_is_a_failed_batch_with_no_headers(
    conn: psycopg.Connection, tmp_path: Path
):
    alpha = tmp_path / "alpha" / "a.csv"
    alpha.mkdir(parents=True)  # the glob matches only files: make the newest match a folder
    folder = tmp_path / "alpha"
    settings = two_sources(
        tmp_path, folder / "*", csv_file(tmp_path / "beta", "b.csv", "PAY-1,P1,on,kim\n")
    )
    report = run_sync(conn, settings)
    assert report.failed_sources == ["alpha"]
    assert "no file matches the path of source 'alpha'" in report.errors[0]
    assert [b.status for b in report.batches] == ["processed"]

    empty = csv_file(tmp_path / "gamma", "c.csv", "")
    empty.write_bytes(b"")
    with pytest.raises(SourceFileError, match="file is empty"):
        load_file(conn, SourceSpec("gamma"), empty)
    row = conn.execute(
        "SELECT status, headers, file_sha256 IS NOT NULL, message FROM ops.batch "
        "WHERE source = 'gamma'"
    ).fetchone()
    assert row == ("failed", [], True, f"{empty}: file is empty")


def test_a_database_error_while_landing_names_the_file(conn: psycopg.Connection, tmp_path: Path):
    # A real refusal by PostgreSQL that no reader check foresees: a constraint added here. It
    # fires when the rows are stored (raw.land_rows), after PostgreSQL's COPY has taken them,
    # so no COPY line names the row; the file and the database's words are named.
    conn.execute("ALTER TABLE raw.cells ADD CONSTRAINT test_no_boom CHECK (cells[3] <> 'boom')")
    path = tmp_path / "team.csv"
    path.write_bytes((HEADER + "A-1,P1,on,kim\n\nA-2,P1,boom,lee\n").encode("cp949"))
    before = data_checksums(conn)
    with pytest.raises(SourceFileError) as caught:
        load_file(conn, SourceSpec("team", encoding="cp949"), path)
    assert str(caught.value) == (
        f"{path}: the database refused it, nothing landed: new row for relation "
        '"cells" violates check constraint "test_no_boom"'
    )
    assert data_checksums(conn) == before
    assert batches(conn) == [("team", "team.csv", "failed", str(caught.value))]


# --- 5. two syncs, and a file in flight -------------------------------------------------


def test_two_syncs_started_together_land_each_file_once(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    rows = "".join(f"R-{n},P1,on,kim\n" for n in range(20_000))
    alpha = csv_file(tmp_path / "alpha", "a.csv", rows)
    beta = csv_file(tmp_path / "beta", "b.csv", rows.replace("R-", "S-"))
    settings = two_sources(tmp_path, alpha, beta)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def sync() -> None:
        with psycopg.connect(db_url, autocommit=True) as own:
            start.wait()
            try:
                outcomes.append("ok" if run_sync(own, settings).ok else "failed")
            except SyncBusyError:
                outcomes.append("busy")

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["busy", "ok"]
    assert [row[:3] for row in batches(conn)] == [
        ("alpha", "a.csv", "processed"),
        ("beta", "b.csv", "processed"),
    ]
    assert conn.execute("SELECT count(*) FROM raw.row").fetchone() == (40_000,)


def test_the_same_file_while_another_session_lands_it_is_refused(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    path = csv_file(tmp_path, "a.csv", "A-1,P1,on,kim\n")
    spec = SourceSpec("team")
    with psycopg.connect(db_url, autocommit=True) as other:
        sha = file_sha256(path)
        other.execute(
            "SELECT ops.register_batch('team', 100, 'a.csv', %s, 'utf-8', %s)",
            [sha, HEADER.strip().split(",")],
        )
        with pytest.raises(BatchError, match=r"a\.csv of source team is being loaded right now"):
            load_file(conn, spec, path)
        assert mark_interrupted(conn) == [], "in flight: its session holds the landing lock"
        backend = other.info.backend_pid
    deadline = time.monotonic() + 30  # the server ends the closed session a moment later
    while time.monotonic() < deadline and conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend]
    ).fetchone() != (0,):
        time.sleep(0.01)
    # The other session is gone: its batch is interrupted, and the file loads.
    result = load_file(conn, spec, path)
    assert result.status == "processed"
    assert [row[2] for row in batches(conn)] == ["interrupted", "processed"]


# --- 5. a loader killed during core.process_batch ---------------------------------------

LOADER = """
import sys
from pathlib import Path
import psycopg
from fmw.loader.landing import SourceSpec, load_file
with psycopg.connect(sys.argv[1], autocommit=True, application_name="fmw-fault") as conn:
    load_file(conn, SourceSpec("team"), Path(sys.argv[2]))
"""


def kill_during_process(conn: psycopg.Connection, db_url: str, path: Path) -> None:
    """Start a real loader, wait until its backend runs core.process_batch, check that no
    one else marks its batch, then kill -9 the loader and end its session (what stopping
    PostgreSQL does to it)."""
    loader = subprocess.Popen([sys.executable, "-c", LOADER, db_url, str(path)])
    try:
        deadline = time.monotonic() + 120
        backend = None
        while backend is None and time.monotonic() < deadline and loader.poll() is None:
            found = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'fmw-fault' "
                "AND state = 'active' AND query LIKE '%core.process_batch%'"
            ).fetchone()
            backend = found[0] if found else None
            time.sleep(0.01)
        assert backend is not None, "the loader never reached core.process_batch"
        assert mark_interrupted(conn) == [], "a batch being processed is not interrupted"
        loader.kill()
        conn.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        loader.kill()
        loader.wait(30)


def test_a_loader_killed_during_processing_leaves_an_interrupted_batch_to_retry(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    before = data_checksums(conn)
    rows = "".join(f"K-{n},P1,on,kim\n" for n in range(60_000))
    path = csv_file(tmp_path, "big.csv", rows)
    kill_during_process(conn, db_url, path)

    left = conn.execute(
        "SELECT batch_id, status FROM ops.batch WHERE file_name = 'big.csv'"
    ).fetchone()
    assert left is not None and left[1] == "landed"
    after = data_checksums(conn)
    assert (after["records"], after["history"]) == (before["records"], before["history"])
    assert mark_interrupted(conn) == [(left[0], "team", "big.csv", 60_000)]
    assert mark_interrupted(conn) == [], "marked once"
    status, message = conn.execute(
        "SELECT status, message FROM ops.batch WHERE batch_id = %s", [left[0]]
    ).fetchone()
    assert status == "interrupted" and f"`fmw batch retry {left[0]}`" in message

    result = reprocess_batch(conn, left[0], approve=False, actor="tester")
    assert (result.status, result.inserted) == ("processed", 60_000)
    assert conn.execute(
        "SELECT action, target FROM ops.admin_action ORDER BY action_id DESC LIMIT 1"
    ).fetchone() == ("batch.retry", f"batch {left[0]} (team, big.csv)")


def test_an_interrupted_batch_can_be_discarded_and_nothing_changes(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    before = data_checksums(conn)
    rows = "".join(f"K-{n},P1,on,kim\n" for n in range(60_000))
    kill_during_process(conn, db_url, csv_file(tmp_path, "big.csv", rows))
    [(batch_id, *_)] = mark_interrupted(conn)

    assert discard_batch(conn, batch_id, actor="tester") == 60_000
    after = data_checksums(conn)
    assert after | {"files": before["files"]} == before, "rows dropped, records as before"
    # What the source sent stays: the file is kept, as the day it arrived.
    assert conn.execute("SELECT count(*) FROM raw.file").fetchone() == (1,)
    assert conn.execute(
        "SELECT status FROM ops.batch WHERE batch_id = %s", [batch_id]
    ).fetchone() == ("discarded",)
    with pytest.raises(BatchError, match=r"is discarded; `fmw batch retry` takes failed or"):
        reprocess_batch(conn, batch_id, approve=False)
    with pytest.raises(BatchError, match="is discarded; `fmw batch discard` takes interrupted"):
        discard_batch(conn, batch_id)
