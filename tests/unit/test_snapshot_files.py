"""Snapshot generations on disk: publish, verify, fall back, prune, survive readers.

No database: each test writes small files into a temporary snapshot root.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fmw import files
from fmw.errors import SnapshotError
from fmw.snapshot import generations as sf
from fmw.snapshot.generations import (
    Generation,
    current_pointer,
    latest_good_generation,
    list_generations,
    prune_generations,
    publish_generation,
    read_generation,
)

RECORDS = "current_records.csv"
BIG = "history.csv"


def _writer(files: dict[str, str]) -> Callable[[Path], dict[str, int]]:
    """A write_files callback writing text files; rows = lines after the header."""

    def write(folder: Path) -> dict[str, int]:
        for name, text in files.items():
            (folder / name).write_bytes(text.encode("utf-8"))
        return {name: text.count("\n") - 1 for name, text in files.items()}

    return write


def _tagged_writer(lines: int = 50) -> Callable[[Path], dict[str, int]]:
    """Files whose every line carries the generation id (taken from the folder's name)."""

    def write(folder: Path) -> dict[str, int]:
        gen_id = folder.name.removesuffix(sf.PARTIAL_SUFFIX)
        for name, count in (("a.csv", lines), ("b.csv", lines * 3), ("c.csv", 1)):
            body = "".join(f"{gen_id},{i}\n" for i in range(count))
            (folder / name).write_text(f"generation,row\n{body}", encoding="utf-8")
        return {"a.csv": lines, "b.csv": lines * 3, "c.csv": 1}

    return write


def _publish(root: Path, n: int = 1, **kwargs: Any) -> list[Generation]:
    return [publish_generation(root, _tagged_writer(), batches=[i], **kwargs) for i in range(n)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- round trip


def test_publish_then_read_back(tmp_path: Path) -> None:
    records = "policy_id,status\nP-1,활성\nP-2,중지\n"
    big = "n,padding\n" + "".join(f"{i},{'x' * 90}\n" for i in range(30_000))  # > 2 chunks
    before = datetime.now(UTC)

    published = publish_generation(
        tmp_path,
        _writer({RECORDS: records, BIG: big}),
        batches=[7, 9],
        extra={"source": "demo", "counts": {"new": 2}, "팀": ["가", "나"]},
    )

    assert len(big.encode()) > 2 * sf.CHUNK_SIZE
    assert current_pointer(tmp_path) == published.id
    assert list_generations(tmp_path) == [published.id]
    read = read_generation(tmp_path, published.id)
    assert read == published
    assert read.folder == tmp_path / "generations" / published.id
    assert read.path(RECORDS) == read.folder / RECORDS
    assert read.files[RECORDS].rows == 2
    assert read.files[BIG].rows == 30_000
    for name in (RECORDS, BIG):
        file = read.folder / name
        assert read.files[name].sha256 == _sha(file)
        assert read.files[name].bytes == file.stat().st_size
    assert read.batches == [7, 9]
    assert read.extra == {"source": "demo", "counts": {"new": 2}, "팀": ["가", "나"]}
    assert read.generated_at.tzinfo is not None
    assert read.generated_at.utcoffset() == timedelta(0)
    assert before <= read.generated_at <= datetime.now(UTC)
    assert read.id == read.generated_at.strftime("%Y%m%dT%H%M%S_%fZ")


def test_manifest_and_pointer_on_disk(tmp_path: Path) -> None:
    gen = publish_generation(tmp_path, _writer({RECORDS: "a\n1\n"}), batches=[1])

    manifest_bytes = (gen.folder / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    pointer = json.loads((tmp_path / "CURRENT.json").read_text(encoding="utf-8"))

    assert pointer == {
        "generation": gen.id,
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
    }
    assert manifest["format_version"] == 2
    assert manifest["generation"] == gen.id
    assert manifest["files"] == {
        RECORDS: {"rows": 1, "sha256": _sha(gen.folder / RECORDS), "bytes": 4}
    }
    assert manifest["batches"] == [1]
    assert manifest["extra"] == {}
    assert sorted(p.name for p in gen.folder.iterdir()) == [RECORDS, "manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT.json", "generations"]


def test_path_of_unknown_file_names_the_files_there(tmp_path: Path) -> None:
    (gen,) = _publish(tmp_path)

    with pytest.raises(SnapshotError, match=r"has no file 'nope\.csv' \(it has a\.csv, b\.csv"):
        gen.path("nope.csv")


def test_ids_stay_distinct_and_increasing_within_one_microsecond(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = datetime(2026, 11, 27, 4, 5, 12, 123456, tzinfo=UTC)
    monkeypatch.setattr(sf, "_utcnow", lambda: frozen)
    monkeypatch.setattr(sf, "_last_issued", None)  # forget ids issued by earlier tests

    ids = [g.id for g in _publish(tmp_path, 3)]

    assert ids == [
        "20261127T040512_123456Z",
        "20261127T040512_123457Z",
        "20261127T040512_123458Z",
    ]


def test_ids_keep_increasing_when_the_clock_steps_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sf, "_utcnow", lambda: datetime(2026, 11, 27, 4, 0, tzinfo=UTC))
    monkeypatch.setattr(sf, "_last_issued", None)
    (first,) = _publish(tmp_path)
    monkeypatch.setattr(sf, "_utcnow", lambda: datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    monkeypatch.setattr(sf, "_last_issued", None)  # as if a new process published

    (second,) = _publish(tmp_path)

    assert (first.id, second.id) == ("20261127T040000_000000Z", "20261127T040000_000001Z")
    assert latest_good_generation(tmp_path)[0].id == second.id


# --------------------------------------------------------------------------- failed publish


def test_failing_write_files_leaves_nothing_and_keeps_current(tmp_path: Path) -> None:
    (previous,) = _publish(tmp_path)

    def fail(folder: Path) -> dict[str, int]:
        (folder / RECORDS).write_text("half a file", encoding="utf-8")
        raise RuntimeError("source vanished")

    with pytest.raises(RuntimeError, match="source vanished"):
        publish_generation(tmp_path, fail, batches=[2])

    assert sorted(p.name for p in (tmp_path / "generations").iterdir()) == [previous.id]
    assert current_pointer(tmp_path) == previous.id
    assert latest_good_generation(tmp_path) == (previous, [])


def test_a_full_disk_is_one_snapshot_error_and_keeps_current(tmp_path: Path) -> None:
    (previous,) = _publish(tmp_path)

    def full(folder: Path) -> dict[str, int]:
        (folder / RECORDS).write_text("half a file", encoding="utf-8")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / RECORDS))

    with pytest.raises(SnapshotError) as caught:
        publish_generation(tmp_path, full, batches=[2])

    assert str(caught.value).startswith(
        f"cannot write a snapshot generation under {tmp_path}: No space left on device ("
    )
    assert str(caught.value).endswith("the previous generation stays current")
    assert sorted(p.name for p in (tmp_path / "generations").iterdir()) == [previous.id]
    assert current_pointer(tmp_path) == previous.id


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({RECORDS: 1, "other.csv": 1}, "listed other.csv but did not write it"),
        ({}, "wrote files it did not list: current_records.csv"),
        ({RECORDS: -1}, "row count -1"),
        ({"../escape.csv": 1}, "unusable file name"),
        ({"manifest.json": 1}, "unusable file name"),
    ],
)
def test_write_files_result_is_checked(
    tmp_path: Path, result: dict[str, int], message: str
) -> None:
    def write(folder: Path) -> dict[str, int]:
        (folder / RECORDS).write_text("a\n1\n", encoding="utf-8")
        return result

    with pytest.raises(SnapshotError, match=message):
        publish_generation(tmp_path, write, batches=[1])

    assert list((tmp_path / "generations").iterdir()) == []
    assert current_pointer(tmp_path) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "cannot be stored as JSON"),
        ({"ratio": float("nan")}, "cannot be stored as JSON"),
        ({1: "int key"}, "would change when stored as JSON"),
        ({"pair": (1, 2)}, "would change when stored as JSON"),
    ],
)
def test_extra_must_round_trip_through_json(
    tmp_path: Path, extra: dict[Any, Any], message: str
) -> None:
    called = []

    with pytest.raises(SnapshotError, match=message):
        publish_generation(
            tmp_path, lambda folder: called.append(folder) or {}, batches=[1], extra=extra
        )

    assert called == []


# --------------------------------------------------------------------------- damaged generations


def _flip_a_byte(gen: Generation) -> None:
    path = gen.folder / "b.csv"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate_manifest(gen: Generation) -> None:
    path = gen.folder / "manifest.json"
    path.write_bytes(path.read_bytes()[:40])


def _delete_a_file(gen: Generation) -> None:
    (gen.folder / "a.csv").unlink()


def _shorten_a_file(gen: Generation) -> None:
    path = gen.folder / "c.csv"
    path.write_bytes(path.read_bytes()[:-1])


def _edit_manifest_consistently(gen: Generation) -> None:
    path = gen.folder / "manifest.json"
    doc = json.loads(path.read_bytes())
    doc["files"]["a.csv"]["rows"] = 999
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_flip_a_byte, "file b.csv SHA-256 differs from the manifest"),
        (_truncate_manifest, "manifest.json is invalid"),
        (_delete_a_file, "file a.csv missing"),
        (_shorten_a_file, "file c.csv has"),
        (_edit_manifest_consistently, "manifest.json was changed after publish"),
    ],
)
def test_damaged_current_generation_falls_back_to_previous(
    tmp_path: Path, damage: Callable[[Generation], None], reason: str
) -> None:
    previous, newest = _publish(tmp_path, 2)
    damage(newest)

    generation, problems = latest_good_generation(tmp_path)

    assert generation == previous
    assert len(problems) == 1
    assert problems[0].startswith(f"generation {newest.id}: ")
    assert reason in problems[0]
    assert "CURRENT.json names it" in problems[0]


def test_read_generation_raises_on_damage_unless_told_not_to_verify(tmp_path: Path) -> None:
    (gen,) = _publish(tmp_path)
    _flip_a_byte(gen)

    with pytest.raises(SnapshotError, match=rf"generation {gen.id}: file b\.csv SHA-256 differs"):
        read_generation(tmp_path, gen.id)
    assert read_generation(tmp_path, gen.id, verify=False) == gen
    assert latest_good_generation(tmp_path, verify=False) == (gen, [])


def test_pointer_to_missing_folder_falls_back_to_previous(tmp_path: Path) -> None:
    previous, newest = _publish(tmp_path, 2)
    for path in sorted(newest.folder.iterdir()):
        path.unlink()
    newest.folder.rmdir()

    generation, problems = latest_good_generation(tmp_path)

    assert generation == previous
    assert problems == [f"generation {newest.id}: folder missing (CURRENT.json names it)"]


def test_skips_every_damaged_generation_down_to_a_good_one(tmp_path: Path) -> None:
    oldest, middle, newest = _publish(tmp_path, 3)
    _delete_a_file(newest)
    _truncate_manifest(middle)

    generation, problems = latest_good_generation(tmp_path)

    assert generation == oldest
    assert [line.split(":")[0] for line in problems] == [
        f"generation {newest.id}",
        f"generation {middle.id}",
    ]


def test_generation_newer_than_the_pointer_is_ignored(tmp_path: Path) -> None:
    older, newer = _publish(tmp_path, 2)
    pointer = {"generation": older.id, "manifest_sha256": _sha(older.folder / "manifest.json")}
    (tmp_path / "CURRENT.json").write_text(json.dumps(pointer), encoding="utf-8")

    assert latest_good_generation(tmp_path) == (older, [])
    assert list_generations(tmp_path) == [newer.id, older.id]


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"generation": "../../etc"}'])
def test_unusable_pointer_falls_back_to_newest_and_says_so(tmp_path: Path, content: bytes) -> None:
    _, newest = _publish(tmp_path, 2)
    (tmp_path / "CURRENT.json").write_bytes(content)

    generation, problems = latest_good_generation(tmp_path)

    assert current_pointer(tmp_path) is None
    assert generation == newest
    assert len(problems) == 1
    assert problems[0].startswith("CURRENT.json: unusable")


def test_missing_pointer_falls_back_to_newest_and_says_so(tmp_path: Path) -> None:
    _, newest = _publish(tmp_path, 2)
    (tmp_path / "CURRENT.json").unlink()

    assert latest_good_generation(tmp_path) == (
        newest,
        ["CURRENT.json missing: using the newest generation"],
    )


def test_partial_and_trash_folders_are_invisible_to_readers(tmp_path: Path) -> None:
    (gen,) = _publish(tmp_path)
    (tmp_path / "generations" / "20991231T235959_999999Z.partial").mkdir()
    (tmp_path / "generations" / "20991231T235959_999998Z.trash-1-1").mkdir()

    assert list_generations(tmp_path) == [gen.id]
    assert latest_good_generation(tmp_path) == (gen, [])


@pytest.mark.parametrize("make_root", [lambda p: p / "absent", lambda p: p])
def test_no_snapshot_says_to_run_sync(tmp_path: Path, make_root: Callable[[Path], Path]) -> None:
    root = make_root(tmp_path)

    with pytest.raises(SnapshotError) as caught:
        latest_good_generation(root)

    assert str(caught.value) == f"no snapshot yet under {root}: run `fmw sync` or `fmw demo`"
    assert current_pointer(root) is None
    assert list_generations(root) == []


def test_nothing_good_lists_every_problem(tmp_path: Path) -> None:
    older, newer = _publish(tmp_path, 2)
    _delete_a_file(newer)
    _flip_a_byte(older)

    with pytest.raises(SnapshotError) as caught:
        latest_good_generation(tmp_path)

    message = str(caught.value)
    assert message.startswith(f"no usable snapshot under {tmp_path}: generation {newer.id}: ")
    assert f"generation {older.id}: file b.csv SHA-256 differs" in message
    assert message.endswith("run `fmw sync` or `fmw demo`")


def test_read_generation_rejects_ids_that_are_not_ids(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="is not a generation id"):
        read_generation(tmp_path, "../../outside")


# --------------------------------------------------------------------------- retention


def test_retention_keeps_exactly_keep_newest(tmp_path: Path) -> None:
    generations = _publish(tmp_path, 7, keep=3)

    assert list_generations(tmp_path) == [g.id for g in reversed(generations[-3:])]
    assert current_pointer(tmp_path) == generations[-1].id
    assert sorted(p.name for p in (tmp_path / "generations").iterdir()) == [
        g.id for g in generations[-3:]
    ]


def test_retention_never_keeps_fewer_than_two(tmp_path: Path) -> None:
    generations = _publish(tmp_path, 4, keep=1)

    assert list_generations(tmp_path) == [generations[3].id, generations[2].id]


def test_retention_never_deletes_the_current_generation(tmp_path: Path) -> None:
    oldest, *_, second, newest = _publish(tmp_path, 5, keep=10)
    pointer = {"generation": oldest.id, "manifest_sha256": _sha(oldest.folder / "manifest.json")}
    (tmp_path / "CURRENT.json").write_text(json.dumps(pointer), encoding="utf-8")

    removed = prune_generations(tmp_path, keep=2)

    assert len(removed) == 2
    assert list_generations(tmp_path) == [newest.id, second.id, oldest.id]
    assert latest_good_generation(tmp_path) == (oldest, [])


def test_retention_skips_folders_it_cannot_delete_and_retries_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = Path.rename

    def held_open(self: Path, target: Any) -> Path:
        if ".trash" in Path(target).name:  # what Windows does while a reader holds a file
            raise PermissionError(13, "The process cannot access the file", str(self))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", held_open)
    blocked = _publish(tmp_path, 4, keep=2)
    assert list_generations(tmp_path) == [g.id for g in reversed(blocked)]

    monkeypatch.setattr(Path, "rename", real_rename)
    (latest,) = _publish(tmp_path, 1, keep=2)

    assert list_generations(tmp_path) == [latest.id, blocked[-1].id]


def test_retention_removes_stale_partials_and_trash(tmp_path: Path) -> None:
    generations = tmp_path / "generations"
    generations.mkdir()
    stale = generations / "20200101T000000_000000Z.partial"
    fresh = generations / "20200101T000000_000001Z.partial"
    trash = generations / "20200101T000000_000002Z.trash-1-1"
    stale_tmp = tmp_path / "CURRENT.json.tmp-1-1"
    for folder in (stale, fresh, trash):
        folder.mkdir()
        (folder / "x.csv").write_text("x\n", encoding="utf-8")
    stale_tmp.write_text("{}", encoding="utf-8")
    two_hours_ago = time.time() - 7200
    for path in (stale, stale_tmp):
        os.utime(path, (two_hours_ago, two_hours_ago))

    (gen,) = _publish(tmp_path)

    assert sorted(p.name for p in generations.iterdir()) == [fresh.name, gen.id]
    assert not stale_tmp.exists()


# --------------------------------------------------------------------------- os.replace on Windows


def _flaky_replace(monkeypatch: pytest.MonkeyPatch, failures: int | None) -> list[str]:
    """Make os.replace onto CURRENT.json raise PermissionError ``failures`` times (None: always)."""
    real_replace = os.replace
    attempts: list[str] = []

    def replace(source: Any, target: Any) -> None:
        if Path(target).name == "CURRENT.json":
            attempts.append(Path(target).name)
            if failures is None or len(attempts) <= failures:
                raise PermissionError(13, "Access is denied", str(target))
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", replace)
    return attempts


def test_publish_retries_a_pointer_held_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _flaky_replace(monkeypatch, failures=2)

    (gen,) = _publish(tmp_path)

    assert len(attempts) == 3
    assert current_pointer(tmp_path) == gen.id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT.json", "generations"]


def test_publish_gives_up_on_a_pointer_held_open_for_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (previous,) = _publish(tmp_path)
    monkeypatch.setattr(files, "REPLACE_RETRY_SECONDS", 0.2)
    attempts = _flaky_replace(monkeypatch, failures=None)
    started = time.monotonic()

    with pytest.raises(SnapshotError) as caught:
        _publish(tmp_path)

    assert 0.2 <= time.monotonic() - started < 2
    assert len(attempts) > 2
    assert f"cannot replace {tmp_path / 'CURRENT.json'}" in str(caught.value)
    assert isinstance(caught.value.__cause__, PermissionError)
    assert current_pointer(tmp_path) == previous.id
    assert list_generations(tmp_path) == [previous.id]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT.json", "generations"]


# --------------------------------------------------------------------------- concurrency


def _read_all_lines(gen: Generation) -> set[str]:
    """Every generation id found in the files' data lines."""
    ids: set[str] = set()
    for name in gen.files:
        with gen.path(name).open(encoding="utf-8") as handle:
            lines = handle.read().splitlines()[1:]
        ids.update(line.split(",")[0] for line in lines)
    return ids


def _reader_loop(root: str, ready: Any, stop: Any, results: Any, budget: float) -> None:
    """Runs in a spawned process: read the latest good generation over and over."""
    seen: list[str] = []
    errors: list[str] = []
    mixes: list[str] = []
    ready.set()
    deadline = time.monotonic() + budget
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            gen, problems = latest_good_generation(Path(root), verify=True)
            found = _read_all_lines(gen)
        except Exception as exc:
            errors.append(repr(exc))
            continue
        errors.extend(problems)
        if found != {gen.id}:
            mixes.append(f"{gen.id}: {sorted(found)}")
        seen.append(gen.id)
    results.put({"seen": seen, "errors": errors[:10], "mixes": mixes[:10]})


def test_reader_in_another_process_never_sees_a_torn_generation(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    published = _publish(tmp_path, 1, keep=10)
    # keep=10: a reader descheduled between verifying and reading must not lose its
    # generation to retention; retention itself is tested above.
    reader = ctx.Process(target=_reader_loop, args=(str(tmp_path), ready, stop, results, 8.0))
    reader.start()
    try:
        assert ready.wait(timeout=20), "reader process did not start"
        started = time.monotonic()
        while len(published) < 31 and time.monotonic() - started < 4:
            published += _publish(tmp_path, 1, keep=10)
            time.sleep(0.06)
        stop.set()
        report = results.get(timeout=20)
        reader.join(timeout=10)
    finally:
        if reader.is_alive():
            reader.kill()
            reader.join()

    assert reader.exitcode == 0
    assert report["errors"] == []
    assert report["mixes"] == []
    assert len(published) >= 20
    distinct = set(report["seen"])
    assert distinct <= {g.id for g in published}
    assert len(distinct) >= 3
    assert report["seen"] == sorted(report["seen"])  # never went back to an older generation


# --------------------------------------------------------------------------- partial verification


def test_verify_only_hashes_the_files_a_reader_reads(tmp_path: Path) -> None:
    first, second = _publish(tmp_path, 2)
    damaged = second.folder / "b.csv"
    damaged.write_bytes(b"#" * damaged.stat().st_size)  # the same size, other bytes
    chosen, problems = latest_good_generation(
        tmp_path, verify_only=lambda names: [n for n in names if n != "b.csv"]
    )
    assert (chosen.id, problems) == (second.id, []), "a file the reader skips is not hashed"
    fallback, problems = latest_good_generation(tmp_path)
    assert fallback.id == first.id and "b.csv" in problems[0], "full verification still catches it"


def test_a_file_the_reader_skips_is_still_checked_for_its_size(tmp_path: Path) -> None:
    first, second = _publish(tmp_path, 2)
    (second.folder / "b.csv").write_text("damaged\n", encoding="utf-8")  # shorter
    chosen, problems = latest_good_generation(
        tmp_path, verify_only=lambda names: [n for n in names if n != "b.csv"]
    )
    assert chosen.id == first.id, "a mapped file shorter than its manifest would crash a reader"
    assert "b.csv has 8 bytes" in problems[0]


def test_a_file_hashed_while_written_is_published_with_that_hash(tmp_path: Path) -> None:
    body = b"\xef\xbb\xbfid,name\n" + b"".join(b"%d,row\n" % i for i in range(200_000))

    def write(folder: Path) -> sf.WrittenFiles:
        with sf.HashingWriter(folder / "big.csv") as out:
            for start in range(0, len(body), 1000):  # many small writes, like COPY's rows
                out.write(body[start : start + 1000])
        (folder / "small.csv").write_bytes(b"a\n1\n")
        return {"big.csv": out.hashed(200_000), "small.csv": 1}

    generation = publish_generation(tmp_path, write, batches=[])
    big = generation.files["big.csv"]
    assert (big.rows, big.bytes, big.sha256) == (
        200_000,
        len(body),
        hashlib.sha256(body).hexdigest(),
    )
    assert generation.files["small.csv"].sha256 == hashlib.sha256(b"a\n1\n").hexdigest()
    assert read_generation(tmp_path, generation.id).files == generation.files  # verifies


def test_a_hashed_file_changed_before_publish_is_refused(tmp_path: Path) -> None:
    def write(folder: Path) -> sf.WrittenFiles:
        with sf.HashingWriter(folder / "a.csv") as out:
            out.write(b"a\n1\n")
        (folder / "a.csv").write_bytes(b"a\n1\n2\n")
        return {"a.csv": out.hashed(1)}

    with pytest.raises(SnapshotError, match=r"a\.csv has 6 bytes, its writer wrote 4"):
        publish_generation(tmp_path, write, batches=[])
    assert list_generations(tmp_path) == []
