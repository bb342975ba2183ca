"""Refresh and export: CSV files people can open, published atomically, skipped when idle."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import psycopg
import pytest

from fmw.errors import SyncBusyError
from fmw.loader.landing import SourceSpec, load_file
from fmw.settings import Settings, SourceSettings
from fmw.snapshot import export
from fmw.snapshot.generations import latest_good_generation
from fmw.sync import SyncReport, publish_snapshot, publisher_lock, run_sync
from fmw.ui.snapshot_data import load_snapshot

HEADER = "Feature Code,Policy Code,market,platform,Status,owner,비고\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(base_dir=tmp_path, var_dir=tmp_path / "var", keep_generations=3)


def load(conn: psycopg.Connection, tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    load_file(conn, SourceSpec("team_a"), path)


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name} starts with a UTF-8 BOM for Excel"
    return list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"))))


def publish(conn: psycopg.Connection, settings: Settings, *, force: bool = False) -> SyncReport:
    report = SyncReport()
    publish_snapshot(conn, settings, report, force=force, progress=lambda _line: None)
    return report


def test_a_sync_writes_the_small_views_as_csv_and_the_big_ones_as_mapped_files(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
):
    load(conn, tmp_path, "a.csv", "PAY-1,P1,KR,iOS,on,kim,\nPAY-2,P1,KR,iOS,off,lee,\n")
    generation = publish(conn, settings).generation
    assert generation is not None
    assert {name for name in generation.files if name.endswith(".csv")} == {
        "home_summary.csv",
        "conflicts.csv",
    }
    assert {"records.feature_code.arrow", "order.identity_hash.arrow"} <= set(generation.files)
    assert [n for n in generation.files if n.startswith("history.")] == [
        "history.000000000001.arrow",
        "history.000000000001.docs.arrow",
    ]
    assert export.records_in(generation) == 2


def test_export_csv_writes_every_view_with_bom_and_safe_cells(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
):
    load(
        conn,
        tmp_path,
        "a.csv",
        '=1+2,P1,KR,iOS,on,@kim,=HYPERLINK("x")\nPAY-2,P1,KR,iOS,off,lee,정상\n',
    )
    report = SyncReport()
    publish_snapshot(conn, settings, report, force=True, progress=lambda _line: None, csv=True)
    generation = report.generation
    assert generation is not None
    assert {name for name in generation.files if name.endswith(".csv")} == {
        "current_records.csv",
        "home_summary.csv",
        "record_history.csv",
        "recent_changes.csv",
        "conflicts.csv",
    }
    assert "export_history.csv" not in generation.files, "export_ views feed the mapped files"
    rows = {r["feature_code"]: r for r in read_csv(generation.path("current_records.csv"))}
    assert set(rows) == {"'=1+2", "PAY-2"}, "formula cells are neutralized with an apostrophe"
    assert rows["'=1+2"]["owner"] == "'@kim"
    assert rows["'=1+2"]["note"] == '\'=HYPERLINK("x")'
    assert rows["PAY-2"]["note"] == "정상"
    assert generation.files["current_records.csv"].rows == 2
    assert generation.batches == [1]


def test_nothing_changed_means_no_refresh_and_no_new_generation(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
):
    load(conn, tmp_path, "a.csv", "PAY-1,P1,KR,iOS,on,kim,\n")
    first = publish(conn, settings)
    load(conn, tmp_path, "b.csv", "PAY-1,P1,KR,iOS,on,kim,\n")  # same content, new file
    second = publish(conn, settings)
    assert first.generation is not None and first.refreshed
    assert second.refreshed == [] and second.generation is None
    current, problems = latest_good_generation(settings.snapshot_path)
    assert (current.id, problems) == (first.generation.id, [])


def test_a_failing_source_keeps_the_last_good_snapshot_and_the_others_load(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "PAY-1,P1,KR,iOS,on,kim,\n", encoding="utf-8")
    broken = tmp_path / "broken.csv"
    broken.write_bytes(HEADER.encode() + b"PAY-9,P1,KR,iOS,on,\xff\xfe,\n")
    settings = settings.model_copy(
        update={
            "sources": {
                "good": SourceSettings(path=str(good), priority=1),
                "broken": SourceSettings(path=str(broken), priority=2),
            }
        }
    )
    report = run_sync(conn, settings)
    assert not report.ok
    assert len(report.errors) == 1 and report.errors[0].startswith("broken: ")
    assert "row 2" in report.errors[0]
    assert [b.status for b in report.batches] == ["processed"]
    assert report.generation is not None
    snapshot, _ = load_snapshot(settings.snapshot_path)
    assert snapshot.records["feature_code"].to_pylist() == ["PAY-1"]


def test_a_second_publisher_is_refused_while_one_runs(
    conn: psycopg.Connection, settings: Settings, db_url: str
):
    with (
        psycopg.connect(db_url, autocommit=True) as other,
        publisher_lock(other),
        pytest.raises(SyncBusyError, match="Another sync or export is publishing"),
    ):
        publish(conn, settings)
    assert publish(conn, settings).generation is not None, "free again once the first is done"


REGEX_GUARD = r"CASE WHEN v ~ '^[-=+@\t\r\n]' THEN '''' || v ELSE v END"
"""snapshot.csv_safe as it was first written (one regex per cell): the reference."""


def test_csv_safe_equals_the_regex_guard_and_is_inlined(conn: psycopg.Connection):
    firsts = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    firsts += ["😀", "\U0010fffd", "\u1100\u1161", "e\u0301"]
    values = [None, "", "'=1", " =1", "\u00a0=1", "＝1", "－1", "﹢1", *firsts]
    values += [f"{first}=1+2" for first in firsts]
    differ, guarded = conn.execute(
        f"SELECT array_agg(v) FILTER (WHERE snapshot.csv_safe(v) IS DISTINCT FROM {REGEX_GUARD}),"
        " array_agg(v) FILTER (WHERE snapshot.csv_safe(v) IS DISTINCT FROM v)"
        " FROM unnest(%s::text[]) AS u (v)",
        [values],
    ).fetchone()  # type: ignore[misc]  # two aggregates: always one row
    assert differ is None, f"csv_safe differs from the regex guard on {differ!r}"
    assert sorted(guarded) == sorted(f"{c}{rest}" for c in "\t\n\r+-=@" for rest in ("", "=1+2"))
    plan = conn.execute(
        "EXPLAIN (VERBOSE) SELECT snapshot.csv_safe(relname::text) FROM pg_class"
    ).fetchall()
    output = " ".join(line for (line,) in plan)
    assert "CASE" in output and "csv_safe" not in output, f"csv_safe is not inlined: {output}"


def test_the_second_export_connection_reads_the_first_ones_snapshot(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    load(conn, tmp_path, "a.csv", "PAY-1,P1,KR,iOS,on,kim,first\n")
    with conn.transaction():
        conn.execute(export.READ_ONLY_SNAPSHOT)
        snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]  # one row
        with psycopg.connect(db_url, autocommit=True) as writer:  # commits after the snapshot
            writer.execute("UPDATE core.record SET note = 'changed'")
            writer.execute("DELETE FROM core.record_history")
        with export._same_snapshot(conn, snapshot_id) as second:
            seen = second.execute(
                "SELECT (SELECT array_agg(note) FROM snapshot.current_records),"
                " (SELECT count(*) FROM snapshot.record_history)"
            ).fetchone()
    assert seen == (["first"], 1), "both connections export the same moment"
    after = conn.execute("SELECT array_agg(note) FROM snapshot.current_records").fetchone()
    assert after == (["changed"],), "the change was committed meanwhile"


def test_export_sorts_in_memory_without_changing_the_callers_session(
    conn: psycopg.Connection, tmp_path: Path
):
    load(conn, tmp_path, "a.csv", "PAY-1,P1,KR,iOS,on,kim,first\n")
    conn.execute("SET work_mem = '4MB'")
    with conn.transaction():
        conn.execute(export.READ_ONLY_SNAPSHOT)
        snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]  # one row
        with export._same_snapshot(conn, snapshot_id) as second:
            assert second.execute("SHOW work_mem").fetchone() == ("256MB",)

    conn.execute("REFRESH MATERIALIZED VIEW snapshot.home_summary")
    generation = export.export_generation(conn, tmp_path / "snapshots", keep=2)

    assert export.records_in(generation) == 1
    assert conn.execute("SHOW work_mem").fetchone() == ("4MB",), "SET LOCAL ends with the export"
