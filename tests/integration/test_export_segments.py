"""The real export, day after day: what changed is written, the rest referred to (issue 14).

Each test loads a few days of a small team file into a fresh database and exports
after each, as ``fmw sync`` does. A daily export must add one history segment and
refer to the previous ones (the very same objects, byte for byte), write only the
records' columns that changed, compact the newest segments now and then, and still
hold exactly what the database holds: compared, record by record and change by
change, with ``snapshot.current_records``, ``snapshot.record_history`` and
``snapshot.recent_changes``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import psycopg
import pytest

from fmw.loader.landing import SourceSpec, load_file
from fmw.snapshot import history, layout
from fmw.snapshot.export import export_generation, records_in
from fmw.snapshot.generations import Generation, latest_good_generation
from fmw.snapshot.refresh import refresh_views
from fmw.ui import as_of
from fmw.ui.snapshot_data import Snapshot, load_snapshot

HEADER = "Feature Code,Policy Code,market,platform,Status,owner,비고\n"
STATUSES = ("on", "off", "pilot")


def day_file(folder: Path, day: int, records: int = 60, *, grow: bool = True) -> Path:
    """The team's file on ``day``: a few records change each day, one leaves and (``grow``)
    one arrives."""
    lines = []
    for n in range(records + (day if grow else 0)):
        if n == day and day > 0:
            continue  # dropped from the full extract: deactivated
        status = STATUSES[(n + (day if n % 7 == day % 7 else 0)) % 3]
        owner = f"owner-{n % 5}" if n % 11 != day % 11 else f"owner-{day}"
        note = f"day {day if n % 13 == 0 else 0}"
        lines.append(f"PAY-{n:03d},P{n % 4},{'KR' if n % 2 else 'JP'},iOS,{status},{owner},{note}")
    path = folder / f"day{day}.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def sync_day(
    conn: psycopg.Connection, folder: Path, day: int, *, grow: bool = True, full: bool = False
) -> Generation:
    result = load_file(conn, SourceSpec("team_a"), day_file(folder, day, grow=grow))
    assert result.status == "processed", result.message
    refresh_views(conn, force=True)
    return export_generation(conn, folder / "snapshots", keep=20, full=full)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_holds_the_database(conn: psycopg.Connection, snapshot: Snapshot) -> None:
    """Every record, every timeline and every listed change, as the database has them."""
    columns = snapshot.records.column_names
    expected = {
        row[0]: dict(zip(columns, row, strict=True))
        for row in conn.execute(f"SELECT {', '.join(columns)} FROM snapshot.current_records")
    }
    got = {r["identity_hash"]: r for r in snapshot.records.to_pylist()}
    assert got.keys() == expected.keys()
    for identity, row in expected.items():
        shown = {k: ("" if v is None and k in snapshot.coded else v) for k, v in row.items()}
        assert got[identity] == shown, identity
        timeline = conn.execute(
            "SELECT history_id, changed_at, change, array_to_string(changed_fields, ', '),"
            " before::text, after::text, batch_id, batch_source, batch_file"
            " FROM snapshot.record_history WHERE identity_hash = %s"
            " ORDER BY changed_at, history_id",
            [identity],
        ).fetchall()
        names = ("history_id", "changed_at", "change", "changed_fields", "before", "after")
        shown_timeline = [
            tuple(r[n] for n in (*names, "batch_id", "batch_source", "batch_file"))
            for r in snapshot.history(identity).to_pylist()
        ]
        assert shown_timeline == timeline, identity
    listed = conn.execute(
        "SELECT history_id FROM snapshot.recent_changes ORDER BY changed_at DESC, history_id DESC"
    ).fetchall()
    assert snapshot.changes()["history_id"].to_pylist() == [r[0] for r in listed]


def test_a_daily_export_adds_one_segment_and_refers_to_the_previous_files(
    conn: psycopg.Connection, tmp_path: Path
):
    first = sync_day(conn, tmp_path, 0)
    (segment,) = layout.segment_names(first.files)
    before = sha(first.path(segment)), first.path(segment).stat().st_ino

    second = sync_day(conn, tmp_path, 1, grow=False)  # one record leaves, none arrives

    segments = layout.segment_names(second.files)
    assert len(segments) == 2 and segments[0] == segment
    kept = second.files[segment]
    assert kept == first.files[segment], "the same object, its hash and size"
    assert (sha(second.path(segment)), second.path(segment).stat().st_ino) == before
    added = second.files[segments[1]]
    changed = conn.execute("SELECT count(*) FROM core.record_history WHERE batch_id = 2").fetchone()
    assert changed is not None and added.rows == changed[0] > 0
    for unchanged in ("records.identity_hash.arrow", "order.identity_hash.arrow"):
        assert second.files[unchanged] == first.files[unchanged], unchanged
    assert second.files["records.feature_code.arrow"] == first.files["records.feature_code.arrow"]
    assert second.files["records.is_active.arrow"] != first.files["records.is_active.arrow"]
    assert records_in(second) == records_in(first)
    assert_holds_the_database(conn, load_snapshot(tmp_path / "snapshots")[0])


def test_daily_exports_with_compaction_hold_exactly_the_database(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(history, "FANOUT", 2)  # merge two of a size class (eight in use)
    counts = []
    for day in range(7):
        generation = sync_day(conn, tmp_path, day)
        counts.append(len(layout.segment_names(generation.files)))
        snapshot = load_snapshot(tmp_path / "snapshots")[0]
        assert snapshot.id == generation.id
        assert_holds_the_database(conn, snapshot)
    assert max(counts) < 7 and counts != sorted(counts), f"segments merged: {counts}"


def test_a_past_day_equals_the_database_then(conn: psycopg.Connection, tmp_path: Path):
    moments = []
    for day in range(4):
        sync_day(conn, tmp_path, day)
        moments.append(dt.datetime.now(dt.UTC))
    snapshot = load_snapshot(tmp_path / "snapshots")[0]
    for moment in moments[:-1]:
        micros = int(moment.timestamp() * 1_000_000)
        view = as_of._build_view(snapshot, micros)
        then = dict(
            conn.execute(
                "SELECT DISTINCT ON (identity_hash) identity_hash, after ->> 'status'"
                " FROM core.record_history WHERE changed_at < %s"
                " ORDER BY identity_hash, changed_at DESC, history_id DESC",
                [moment],
            ).fetchall()
        )
        present = view.present
        shown = {
            r["identity_hash"]: r["status"]
            for row, r in enumerate(view.records.to_pylist())
            if present is None or present[row]
        }
        assert shown == then


def test_a_change_committed_after_an_export_began_is_in_the_next_one(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    sync_day(conn, tmp_path, 0)
    with psycopg.connect(db_url) as late:  # a batch still running while the export reads
        late.execute("UPDATE core.record SET note = 'late' WHERE feature_code = 'PAY-001'")
        late.execute(
            "INSERT INTO core.record_history (identity_hash, batch_id, changed_at, change,"
            " changed_fields, before, after)"
            " SELECT identity_hash, 1, now(), 'updated', '{note}', '{}', '{\"note\": \"late\"}'"
            " FROM core.record WHERE feature_code = 'PAY-001'"
        )
        missed = export_generation(conn, tmp_path / "snapshots", keep=20)
        late.commit()
    assert "late" not in load_snapshot(tmp_path / "snapshots")[0].records["note"].to_pylist()
    caught = export_generation(conn, tmp_path / "snapshots", keep=20)
    assert caught.id > missed.id
    snapshot = load_snapshot(tmp_path / "snapshots")[0]
    assert "late" in snapshot.records["note"].to_pylist()
    assert_holds_the_database(conn, snapshot)


def test_a_missing_segment_makes_the_next_export_build_on_the_generation_before(
    conn: psycopg.Connection, tmp_path: Path
):
    sync_day(conn, tmp_path, 0)
    damaged = sync_day(conn, tmp_path, 1)
    newest = layout.segment_names(damaged.files)[-1]
    damaged.path(newest).unlink()
    shown, problems = latest_good_generation(tmp_path / "snapshots")
    assert shown.id != damaged.id and newest in problems[0], "readers fall back"

    healed = sync_day(conn, tmp_path, 2)

    snapshot, problems = load_snapshot(tmp_path / "snapshots")
    assert (snapshot.id, problems) == (healed.id, [])
    assert_holds_the_database(conn, snapshot)


def test_a_full_export_writes_everything_anew(conn: psycopg.Connection, tmp_path: Path):
    sync_day(conn, tmp_path, 0)
    daily = sync_day(conn, tmp_path, 1)
    full = export_generation(conn, tmp_path / "snapshots", keep=20, full=True)
    assert len(layout.segment_names(full.files)) == 1 < len(layout.segment_names(daily.files))
    state = layout.ExportState.from_extra(full.extra)
    assert state.lineage != layout.ExportState.from_extra(daily.extra).lineage
    assert_holds_the_database(conn, load_snapshot(tmp_path / "snapshots")[0])


def test_an_export_of_a_day_without_changes_refers_only_to_what_exists(
    conn: psycopg.Connection, tmp_path: Path
):
    first = sync_day(conn, tmp_path, 0)
    again = export_generation(conn, tmp_path / "snapshots", keep=20)
    mapped = {n: f for n, f in again.files.items() if f.object}
    assert mapped == {n: f for n, f in first.files.items() if f.object}
