"""History segments and the object store, without a database (issue 14).

A synthetic history (records inserted, then changed, deactivated and reactivated day
after day by two sources) is written the way exports write it, one segment a day,
with documents in tiny compressed batches so every read crosses batch boundaries.
What the dashboard reads across the segments (a record's timeline, the changes
since a day, any past day) is compared with a plain reference computed from the
rows themselves. Then compaction, the store's retention (a refused delete is
retried later, as Windows refuses to delete a mapped file), verification of
objects, and a reader while generations are published and pruned.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from fmw.errors import SnapshotError
from fmw.snapshot import history, layout, records, store
from fmw.snapshot.columnar import COLUMN_TYPES
from fmw.snapshot.generations import (
    Generation,
    WrittenFiles,
    current_pointer,
    latest_good_generation,
    prune_objects,
    publish_generation,
    read_generation,
)
from fmw.ui import as_of, overview
from fmw.ui.snapshot_data import Snapshot, SnapshotDamagedError, load_snapshot
from tests.support.ui_snapshot import (
    CONFLICT_COLUMNS,
    DOC_FIELDS,
    RECORD_COLUMNS,
    SUMMARY_COLUMNS,
    write_csv,
)

START = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)
STATUSES = ["enabled", "disabled", "pilot"]
OWNERS = ["김민준", "이서연", "박지훈", None]


@pytest.fixture(autouse=True)
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "DOC_ROWS", 5)  # documents decompressed 5 rows at a time


@dataclass
class World:
    """Records and every change of them, as the database would hold them."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    """History rows (history_id order) with the columns of snapshot.export_history."""
    days: list[list[dict[str, Any]]] = field(default_factory=list)
    """The rows of each day (one batch a day)."""

    def change(self, day: int, batch: int, source: str, identity: str, **values: Any) -> None:
        at = START + dt.timedelta(days=day)
        before = self.records.get(identity)
        after = {**(before or _record(identity, at, source)), **values}
        after["source"] = source
        doc_before = None if before is None else {k: _json(before[k]) for k in DOC_FIELDS}
        doc_after = {k: _json(after[k]) for k in DOC_FIELDS}
        if before is None:
            kind = "inserted"
        elif before["is_active"] and not after["is_active"]:
            kind = "deactivated"
        elif not before["is_active"] and after["is_active"]:
            kind = "reactivated"
        else:
            kind = "updated"
        changed = sorted(k for k in DOC_FIELDS if doc_before and doc_before[k] != doc_after[k])
        after["last_changed_at"] = at
        self.records[identity] = after
        row = {
            "history_id": len(self.rows) + 1,
            "identity_hash": identity,
            "changed_at": at,
            "change": kind,
            "changed_fields": ", ".join(changed),
            "before": None if doc_before is None else json.dumps(doc_before, ensure_ascii=False),
            "after": json.dumps(doc_after, ensure_ascii=False),
            "batch_id": batch,
            "batch_source": source,
            "batch_file": f"{source}-{day}.csv",
        }
        self.rows.append(row)
        while len(self.days) <= day:
            self.days.append([])
        self.days[day].append(row)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _record(identity: str, at: dt.datetime, source: str) -> dict[str, Any]:
    number = int(identity[:8], 16)
    return {
        "identity_hash": identity,
        "feature_code": f"PAY-{number % 97:03d}",
        "feature_name": "결제",
        "policy_code": f"POL-{number % 7}",
        "policy_name": "약관",
        "status": "enabled",
        "status_raw": None,
        "region": ["KR", "JP", "US"][number % 3],
        "platform": ["iOS", "Web"][number % 2],
        "owner": "김민준",
        "team": "결제개발팀",
        "effective_from": dt.date(2025, 1, 1 + number % 28),
        "effective_to": None,
        "note": None,
        "is_active": True,
        "source": source,
        "source_row": number % 1000,
        "first_seen_at": at,
        "last_changed_at": at,
        "source_count": 1,
        "has_conflict": False,
    }


def make_world(records: int = 40, days: int = 12, seed: int = 5) -> World:
    rng = random.Random(seed)
    world = World()
    identities = [f"{rng.getrandbits(256):064x}" for _ in range(records)]
    for identity in identities[: records * 3 // 4]:
        world.change(0, 1, "team_a", identity)  # team_a's initial load
    for day in range(1, days):
        source, batch = ("team_b", 1 + day) if day % 4 == 3 else ("team_a", 1 + day)
        if day == 2:
            for identity in identities[records * 3 // 4 :]:
                world.change(day, batch, source, identity)  # new records: listed inserts
        known = list(world.records)
        for identity in rng.sample(known, k=max(1, len(known) // 4)):
            current = world.records[identity]
            pick = rng.random()
            if pick < 0.15:
                world.change(day, batch, source, identity, is_active=not current["is_active"])
            elif pick < 0.6:
                world.change(day, batch, source, identity, status=rng.choice(STATUSES))
            else:
                world.change(day, batch, source, identity, owner=rng.choice(OWNERS))
    _set_previous(world.rows)
    return world


def records_table(world: World) -> pa.Table:
    rows = list(world.records.values())
    columns = {}
    for name in RECORD_COLUMNS:
        kind = COLUMN_TYPES.get(name, pa.string())
        columns[name] = pa.array([row[name] for row in rows], kind)
    return pa.table(columns)


def history_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of ``World.rows`` (with previous_changed_at) as the export reads them."""
    kinds = {**COLUMN_TYPES, "previous_changed_at": COLUMN_TYPES["changed_at"]}
    names = [*history.FEED_COLUMNS, *history.BATCH_NAMES]
    return pa.table({n: pa.array([r[n] for r in rows], kinds.get(n)) for n in names})


def _set_previous(rows: list[dict[str, Any]]) -> None:
    """snapshot.export_history's previous_changed_at, computed the plain way."""
    for row in rows:
        earlier = [
            r["changed_at"]
            for r in rows
            if r["identity_hash"] == row["identity_hash"]
            and (r["changed_at"], r["history_id"]) < (row["changed_at"], row["history_id"])
        ]
        row["previous_changed_at"] = max(earlier) if row["change"] != "inserted" else None


def write_segments(root: Path, world: World, index: records.Index) -> list[history.Segment]:
    """One segment per day, as daily exports write them."""
    segments = []
    for rows in world.days:
        if rows:
            writer = history.SegmentWriter(root, index.find, {})
            writer.add(history_table(rows).to_batches()[0])
            segments += writer.close()
    return segments


def publish_world(
    root: Path, world: World, *, segments_per_day: bool = True, keep: int = 5
) -> Generation:
    table = records_table(world)
    files, index = records.write_all(root, table.column_names, lambda name: table[name])
    if segments_per_day:
        segments = write_segments(root, world, index)
    else:
        writer = history.SegmentWriter(root, index.find, {})
        writer.add(history_table(world.rows).to_batches()[0])
        segments = writer.close()
    objects: dict[str, Any] = dict(files)
    for segment in segments:
        objects[segment.index.name], objects[segment.docs.name] = segment.index, segment.docs
    state = layout.ExportState("test", "", table.column_names, table.num_rows, [1])
    return publish_generation(
        root,
        lambda folder: {**small_files(folder), **objects},
        batches=[len(world.days)],
        extra=state.to_extra(),
        keep=keep,
    )


def small_files(folder: Path) -> WrittenFiles:
    return {
        "home_summary.csv": write_csv(folder / "home_summary.csv", SUMMARY_COLUMNS, []),
        "conflicts.csv": write_csv(folder / "conflicts.csv", CONFLICT_COLUMNS, []),
    }


def micros(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000


# --------------------------------------------------------------------------- reading


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def snapshot(tmp_path: Path, world: World) -> Snapshot:
    publish_world(tmp_path, world)
    return load_snapshot(tmp_path)[0]


def test_a_generation_of_daily_segments_holds_one_segment_a_day(snapshot: Snapshot, world: World):
    names = layout.segment_names(snapshot.generation.files)
    assert len(names) == len(world.days)
    assert sum(s.info.rows for s in snapshot.log.segments) == len(world.rows)
    assert all(snapshot.generation.files[n].object for n in names), "store objects"


def test_every_timeline_across_segments_equals_the_rows(snapshot: Snapshot, world: World):
    wanted = ("history_id", "changed_at", "change", "changed_fields", "batch_id")
    for identity in world.records:
        expected = sorted(
            (r for r in world.rows if r["identity_hash"] == identity),
            key=lambda r: (r["changed_at"], r["history_id"]),
        )
        got = snapshot.history(identity).to_pylist()
        assert [{k: g[k] for k in (*wanted, "before", "after", "batch_source", "batch_file")}
                for g in got] == [
            {k: e[k] for k in (*wanted, "before", "after", "batch_source", "batch_file")}
            for e in expected
        ]  # fmt: skip
    assert snapshot.history("f" * 64).num_rows == 0


@pytest.mark.parametrize("since_day", [None, 0, 1, 3, 7, 11, 30])
def test_the_changes_since_a_day_equal_the_listed_rows(
    snapshot: Snapshot, world: World, since_day: int | None
):
    since = None if since_day is None else micros(START + dt.timedelta(days=since_day))
    listed = [
        r
        for r in world.rows
        if (r["change"] != "inserted" or r["batch_id"] != 1)
        and (since is None or micros(r["changed_at"]) >= since)
    ]
    expected = sorted(listed, key=lambda r: (r["changed_at"], r["history_id"]), reverse=True)
    got = snapshot.changes(since=since)
    assert got["history_id"].to_pylist() == [r["history_id"] for r in expected]
    for name in ("change", "changed_fields", "batch_source", "batch_id", "identity_hash"):
        assert got[name].to_pylist() == [r[name] for r in expected], name
    codes = [world.records[r["identity_hash"]]["feature_code"] for r in expected]
    assert got["feature_code"].to_pylist() == codes, "the record's key text"


def test_a_change_refers_to_its_records_identity_and_copies_none(snapshot: Snapshot):
    """Home takes the latest changes of every source (80,000 on a day of a million
    records): copying their identities read most of the mapped 64 MiB identity column
    into the process; referring to it reads the identities of the rows shown only."""
    column = snapshot.changes()["identity_hash"].chunk(0)
    assert pa.types.is_dictionary(column.type)
    identities = snapshot.columns["identity_hash"]
    assert column.dictionary.buffers()[-1].address == identities.buffers()[-1].address
    assert column.slice(0, 3).to_pylist() == identities.take(column.indices[:3]).to_pylist()


def test_the_sources_and_fields_of_the_changes(snapshot: Snapshot, world: World):
    listed = [r for r in world.rows if r["change"] != "inserted" or r["batch_id"] != 1]
    assert overview.change_sources(snapshot) == sorted({r["batch_source"] for r in listed})
    fields = {f for r in listed for f in r["changed_fields"].split(", ") if f}
    assert overview.change_fields(snapshot) == sorted(fields)


def test_the_latest_changes_are_those_of_the_covered_batches(snapshot: Snapshot, world: World):
    last = len(world.days)
    expected = [r["history_id"] for r in reversed(world.rows) if r["batch_id"] == last]
    assert overview.latest_changes(snapshot)["history_id"].to_pylist() == expected


def test_change_documents_are_the_stored_before_and_after(snapshot: Snapshot, world: World):
    picked = [r for r in world.rows if r["change"] == "updated"][::3]
    documents = as_of.change_documents(snapshot, [r["history_id"] for r in picked])
    for row, (before, after) in zip(picked, documents, strict=True):
        assert before == json.loads(row["before"]) and after == json.loads(row["after"])


def test_documents_asked_for_in_any_order_come_back_in_that_order(snapshot: Snapshot):
    """A past view asks for documents across segments and batches, in record order; each
    comes back where it was asked for, whether read ascending or not."""
    log = snapshot.log
    rng = random.Random(3)
    asked = [
        (number, rng.randrange(segment.index.num_rows))
        for number, segment in enumerate(log.segments)
        for _ in range(7)
    ]
    asked += asked[:5]  # asked twice
    rng.shuffle(asked)
    segments = np.array([n for n, _ in asked], dtype=np.int64)
    positions = np.array([p for _, p in asked], dtype=np.int64)

    def one(number: int, position: int, column: str) -> str | None:
        return log.segments[number].docs.take(np.array([position]))[column][0].as_py()

    texts = log.before_texts(segments, positions)
    assert texts.to_pylist() == [one(n, p, "before") for n, p in asked]
    newest = log.segments[-1]
    backwards = np.arange(newest.index.num_rows)[::-1].copy()
    taken = newest.docs.take(backwards, ("after",))
    assert taken.column_names == ["after"]
    assert taken["after"].to_pylist() == [one(len(log.segments) - 1, p, "after") for p in backwards]


def _state_at(world: World, moment: int) -> dict[str, dict[str, Any] | None]:
    """Each record at ``moment``: the plain reference of a past day's view."""
    states: dict[str, dict[str, Any] | None] = {}
    for identity, record in world.records.items():
        rows = sorted(
            (r for r in world.rows if r["identity_hash"] == identity),
            key=lambda r: (r["changed_at"], r["history_id"]),
        )
        before = [r for r in rows if micros(r["changed_at"]) < moment]
        after = [r for r in rows if micros(r["changed_at"]) >= moment]
        if not after:
            states[identity] = {k: _json(record[k]) for k in (*DOC_FIELDS, "last_changed_at")}
        elif after[0]["change"] == "inserted":
            states[identity] = None
        else:
            state = json.loads(after[0]["before"])
            state["last_changed_at"] = before[-1]["changed_at"].isoformat()
            states[identity] = state
    return states


@pytest.mark.parametrize("day", [-1, 0, 1, 2, 5, 9, 11, 20])
def test_a_past_day_across_segments_equals_the_plain_reference(
    snapshot: Snapshot, world: World, day: int
):
    moment = micros(START + dt.timedelta(days=day + 1)) - 6 * 3600 * 1_000_000
    view = as_of._build_view(snapshot, moment)
    expected = _state_at(world, moment)
    present = np.ones(view.records.num_rows, bool) if view.present is None else view.present
    for row, record in enumerate(view.records.to_pylist()):
        want = expected[record["identity_hash"]]
        assert bool(present[row]) == (want is not None), record["identity_hash"]
        if want is None:
            continue
        got = {k: _json(record[k]) for k in (*DOC_FIELDS, "last_changed_at")}
        got = {k: (None if v == "" else v) for k, v in got.items()}
        assert got == want, record["identity_hash"]


def test_one_segment_and_many_give_the_same_answers(tmp_path: Path, world: World):
    publish_world(tmp_path / "daily", world)
    publish_world(tmp_path / "one", world, segments_per_day=False)
    daily, one = load_snapshot(tmp_path / "daily")[0], load_snapshot(tmp_path / "one")[0]
    assert len(daily.log.segments) > 1 and len(one.log.segments) == 1
    assert daily.changes().to_pylist() == one.changes().to_pylist()
    moment = micros(START + dt.timedelta(days=4))
    first, second = as_of._build_view(daily, moment), as_of._build_view(one, moment)
    assert first.records.to_pylist() == second.records.to_pylist()


# --------------------------------------------------------------------------- compaction


def test_the_newest_segments_of_one_size_class_are_merged_eight_at_a_time():
    assert history.to_merge([10_000] * 7) == 0
    assert history.to_merge([1_000_000, *[10_000] * 8]) == 8
    assert history.to_merge([10_000] * 7 + [80_000]) == 0, "the newest is of a larger class"
    assert history.to_merge([80_000] * 8) == 8
    assert history.to_merge([600_000] * 8) == 0, "more than SEGMENT_ROWS in all"
    assert history.size_class(9_999) == history.size_class(4_096) == 4
    assert history.size_class(5) == 0


def test_compaction_keeps_every_row_and_document(tmp_path: Path, world: World):
    table = records_table(world)
    files, index = records.write_all(tmp_path, table.column_names, lambda name: table[name])
    daily = write_segments(tmp_path, world, index)
    merged = history.compact(tmp_path, daily[-4:])
    assert merged.info.rows == sum(s.info.rows for s in daily[-4:])
    assert merged.info.first_history_id == daily[-4].info.first_history_id
    assert merged.info.last_history_id == daily[-1].info.last_history_id

    def published(segments: list[history.Segment], folder: str) -> Snapshot:
        objects: dict[str, Any] = dict(files)
        for segment in segments:
            objects[segment.index.name], objects[segment.docs.name] = segment.index, segment.docs
        state = layout.ExportState("test", "", table.column_names, table.num_rows, [1])
        root = tmp_path / folder
        (root / store.OBJECTS_DIR).mkdir(parents=True)
        for file in objects.values():
            (root / store.OBJECTS_DIR / file.object).hardlink_to(
                store.object_path(tmp_path, file.object)
            )
        publish_generation(
            root, lambda f: {**small_files(f), **objects}, batches=[1], extra=state.to_extra()
        )
        return load_snapshot(root)[0]

    before, after = published(daily, "daily"), published([*daily[:-4], merged], "compacted")
    assert len(after.log.segments) == len(before.log.segments) - 3
    assert after.changes().to_pylist() == before.changes().to_pylist()
    for identity in world.records:
        assert after.history(identity).to_pylist() == before.history(identity).to_pylist()


def test_a_segment_whose_object_changed_is_not_compacted(tmp_path: Path, world: World):
    table = records_table(world)
    _files, index = records.write_all(tmp_path, table.column_names, lambda name: table[name])
    daily = write_segments(tmp_path, world, index)
    damaged = store.object_path(tmp_path, str(daily[-1].docs.object))
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    with pytest.raises(SnapshotError, match="SHA-256 differs"):
        history.compact(tmp_path, daily[-2:])


# --------------------------------------------------------------------------- store


def _objects(root: Path) -> set[str]:
    return {p.name for p in (root / store.OBJECTS_DIR).iterdir()}


def _referenced(root: Path, generation: Generation) -> set[str]:
    return {f.object for f in read_generation(root, generation.id).files.values() if f.object}


def test_objects_no_generation_refers_to_are_deleted_by_retention(tmp_path: Path):
    first = _referenced(tmp_path, publish_world(tmp_path, make_world(seed=1), keep=2))
    second = publish_world(tmp_path, make_world(seed=2), keep=2)
    assert first <= _objects(tmp_path), "kept while generation 1 is"
    third = publish_world(tmp_path, make_world(seed=3), keep=2)
    kept = _referenced(tmp_path, second) | _referenced(tmp_path, third)
    assert _objects(tmp_path) == kept, "only what the remaining generations refer to"
    assert first - kept, "generation 1 had objects of its own"


def test_an_object_the_file_system_refuses_to_delete_is_deleted_by_a_later_prune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Windows refuses to delete a file a process maps (WinError 32): simulated."""
    mapped = publish_world(tmp_path, make_world(seed=1))
    own = ("records.identity_hash.", "order.identity_hash.")  # no other world has these
    held = sorted(o for o in _referenced(tmp_path, mapped) if o.startswith(own))
    assert len(held) == 2
    real_delete = store._delete

    def refuse(path: Path) -> None:
        if path.name in held:
            raise PermissionError(
                errno.EACCES,
                "The process cannot access the file because it is being used by another "
                "process (WinError 32)",
                str(path),
            )
        real_delete(path)

    monkeypatch.setattr(store, "_delete", refuse)
    for seed in (2, 3):
        publish_world(tmp_path, make_world(seed=seed), keep=2)
    assert set(held) <= _objects(tmp_path), "deferred: still there"
    assert mapped.id not in {p.name for p in (tmp_path / "generations").iterdir()}
    deleted, deferred = prune_objects(tmp_path)
    assert set(deferred) == set(held) and deleted == []

    monkeypatch.setattr(store, "_delete", real_delete)  # the process unmapped them
    publish_world(tmp_path, make_world(seed=4), keep=2)
    assert not set(held) & _objects(tmp_path), "deleted on the next run"


def test_a_tampered_object_fails_verification_and_the_previous_generation_serves(tmp_path: Path):
    first = publish_world(tmp_path, make_world(seed=1))
    second = publish_world(tmp_path, make_world(seed=2))
    name = layout.segment_names(second.files)[-1]
    damaged = second.path(name)
    assert damaged.parent.name == store.OBJECTS_DIR
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    shown, problems = latest_good_generation(tmp_path)
    assert shown.id == first.id
    assert f"file {name} (object " in problems[0] and "SHA-256 differs" in problems[0]


def test_a_missing_object_is_found_without_hashing_and_the_previous_generation_serves(
    tmp_path: Path,
):
    first = publish_world(tmp_path, make_world(seed=1))
    second = publish_world(tmp_path, make_world(seed=2))
    name = layout.docs_file(layout.segment_names(second.files)[0])
    second.path(name).unlink()
    shown, problems = latest_good_generation(tmp_path, verify_only=lambda _names: [])
    assert shown.id == first.id and f"file {name} (object " in problems[0]
    assert "missing" in problems[0]


def test_a_segment_damaged_after_the_generation_was_chosen_is_found_when_read(tmp_path: Path):
    publish_world(tmp_path, make_world(seed=1))
    second = publish_world(tmp_path, make_world(seed=2))
    snapshot, problems = load_snapshot(tmp_path)
    assert snapshot.id == second.id and problems == []
    name = layout.docs_file(layout.segment_names(second.files)[-1])
    path = second.path(name)
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF  # the same size: only its SHA-256 tells
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotDamagedError) as caught:
        load_snapshot(tmp_path)[0].changes()  # as a new process maps it again
    assert caught.value.generation_id == second.id and name in str(caught.value)


# --------------------------------------------------------------------------- readers


def test_a_reader_never_reads_a_torn_generation_while_others_are_published_and_pruned(
    tmp_path: Path,
):
    worlds = {10 + seed: make_world(records=10 + seed, days=4, seed=seed) for seed in range(12)}
    publish_world(tmp_path, worlds[10])
    stop = threading.Event()
    seen: list[str] = []
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            try:
                snapshot, _ = load_snapshot(tmp_path)
                world = worlds[snapshot.records.num_rows]  # each world has its own count
                got = sorted(snapshot.records["identity_hash"].to_pylist())
                changes = snapshot.changes()["history_id"].to_pylist()
                timeline = snapshot.history(got[0])["history_id"].to_pylist()
            except SnapshotDamagedError as exc:
                if exc.generation_id == current_pointer(tmp_path):
                    problems.append(f"the current generation: {exc}")
                continue  # a generation retention took meanwhile: the next read is newer
            except SnapshotError as exc:
                problems.append(repr(exc))
                continue
            listed = [r for r in world.rows if r["change"] != "inserted" or r["batch_id"] != 1]
            rows = [r["history_id"] for r in world.rows if r["identity_hash"] == got[0]]
            if got != sorted(world.records) or len(changes) != len(listed) or timeline != rows:
                problems.append(f"{snapshot.id}: not what was published")
            seen.append(snapshot.id)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for count in sorted(worlds)[1:]:
            publish_world(tmp_path, worlds[count], keep=2)  # and prunes the older ones
    finally:
        stop.set()
        reader.join()
    assert problems == []
    assert len(set(seen)) >= 3
