"""History segments of a mapped generation: written from the export's rows, and compacted.

Its job: turn ``snapshot.export_history`` rows (history_id order) into the segment
files ``fmw.snapshot.layout`` describes, and keep the number of segments small:

* ``SegmentWriter``: rows in, segments out, at most ``SEGMENT_ROWS`` rows each (a full
  export writes a year of history as a few segments; a daily export, the day's rows
  as one). The documents are compressed and written as the rows arrive; the rest of a
  segment (about 50 bytes a row) is held until it is complete, so memory is bounded
  by ``SEGMENT_ROWS``, never by the history.
* ``compaction``: a generation keeps the previous one's segments and adds its own;
  when the newest ``FANOUT`` segments are of one *size class* (rows between
  ``FANOUT**k`` and ``FANOUT**(k+1)``) and fit in one segment, they are merged into
  one (and the check repeats). With 1% of a million records changing a day
  (10,000 rows), every eighth export merges eight daily segments into one of 80,000
  rows, every 64th merges eight of those; so a year of history is a few dozen
  segments at most, and a row is rewritten about three times in its life.

This module must never talk to the database, and never change a row: merging copies
rows and documents as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.errors import SnapshotError
from fmw.snapshot import layout, store
from fmw.snapshot.columnar import TIMESTAMP
from fmw.snapshot.generations import Generation, SnapshotFile, verify_object
from fmw.snapshot.mapped import Mapped, ObjectWriter, write_object

SEGMENT_ROWS = 1 << 20
"""Most rows in one segment (what compaction may build)."""
FANOUT = 8
DOCS_COMPRESSION = "zstd"

INDEX_SCHEMA = pa.schema(
    [
        ("history_id", pa.int64()),
        ("record", pa.int32()),
        ("changed_at", TIMESTAMP),
        ("previous_changed_at", TIMESTAMP),
        *((name, pa.dictionary(pa.int32(), pa.string())) for name in layout.SEGMENT_TEXT),
        ("batch_id", pa.int64()),
        ("by_record", pa.int32()),
    ]
)
DOCS_SCHEMA = pa.schema([(name, pa.string()) for name in layout.DOC_COLUMNS])
FEED_COLUMNS = (
    "history_id",
    "identity_hash",
    "changed_at",
    "previous_changed_at",
    "change",
    "changed_fields",
    "before",
    "after",
    "batch_id",
)
"""What ``SegmentWriter.add`` takes: the columns of ``snapshot.export_history`` it keeps
(and ``BATCH_NAMES``, else they come from the batch ids)."""
BATCH_NAMES = ("batch_source", "batch_file")

Ordinals = Callable[[pa.Array | pa.ChunkedArray], np.ndarray]
"""Identity -> record ordinal (-1: no such record), e.g. ``records.Index.find``."""


@dataclass(frozen=True)
class Segment:
    """One segment of a generation: its two files and what it holds."""

    index: SnapshotFile
    docs: SnapshotFile
    info: layout.SegmentInfo


def size_class(rows: int) -> int:
    """Which power of FANOUT ``rows`` is (0 for fewer than FANOUT rows)."""
    return int(math.log(rows, FANOUT) + 1e-9) if rows >= FANOUT else 0


def to_merge(rows: list[int]) -> int:
    """How many of the newest segments (rows of each, oldest first) to merge: 0 or FANOUT."""
    newest = rows[-FANOUT:]
    if len(newest) == FANOUT and len({size_class(r) for r in newest}) == 1:
        return FANOUT if sum(newest) <= SEGMENT_ROWS else 0
    return 0


def segments_of(generation: Generation) -> list[Segment]:
    """A generation's segments, oldest first (their metadata read from the mapped files)."""
    found = []
    for name in layout.segment_names(generation.files):
        docs = layout.docs_file(name)
        if docs not in generation.files:
            raise SnapshotError(f"generation {generation.id}: segment {name} has no {docs}")
        try:
            info = layout.SegmentInfo.from_metadata(Mapped(generation.path(name)).schema.metadata)
        except (ValueError, TypeError) as exc:
            raise SnapshotError(f"generation {generation.id}: {name}: {exc}") from exc
        found.append(Segment(generation.files[name], generation.files[docs], info))
    return found


FIXED: dict[str, type[np.generic]] = {
    "history_id": np.int64,
    "record": np.int32,
    "changed_at": np.int64,
    "previous_changed_at": np.int64,
    "batch_id": np.int64,
}
"""A segment's fixed-width columns, as held while it is filled (times in microseconds)."""


class _Columns:
    """A segment's index columns being filled: numpy buffers of SEGMENT_ROWS rows (only the
    rows filled take memory) and, for text, codes into values gathered as they come."""

    def __init__(self) -> None:
        self.rows = 0
        self.fixed = {name: np.empty(SEGMENT_ROWS, kind) for name, kind in FIXED.items()}
        self.previous_known = np.empty(SEGMENT_ROWS, bool)
        self.codes = {name: np.empty(SEGMENT_ROWS, np.int32) for name in layout.SEGMENT_TEXT}
        self.values: dict[str, dict[str, int]] = {name: {} for name in layout.SEGMENT_TEXT}

    def append(
        self,
        fixed: dict[str, pa.Array | pa.ChunkedArray | np.ndarray],
        text: dict[str, pa.Array | pa.ChunkedArray],
    ) -> None:
        count = len(fixed["history_id"])
        end = self.rows + count
        for name, values in fixed.items():
            if isinstance(values, np.ndarray):
                self.fixed[name][self.rows : end] = values
                continue
            numbers = values.cast(pa.int64()) if pa.types.is_timestamp(values.type) else values
            if name == "previous_changed_at":
                self.previous_known[self.rows : end] = pc.is_valid(numbers).to_numpy(
                    zero_copy_only=False
                )
                numbers = pc.fill_null(numbers, 0)
            self.fixed[name][self.rows : end] = numbers.to_numpy(zero_copy_only=False)
        for name, values in text.items():
            encoded = _dictionary(values)
            known = self.values[name]
            remap = np.array(
                [known.setdefault(v, len(known)) for v in encoded.dictionary.to_pylist()],
                dtype=np.int32,
            )
            indices = encoded.indices.to_numpy(zero_copy_only=False)
            self.codes[name][self.rows : end] = remap[indices] if len(remap) else indices
        self.rows = end

    def array(self, name: str) -> pa.Array:
        """A finished column, over the buffer (no copy)."""
        rows = self.rows
        if name in layout.SEGMENT_TEXT:
            values = pa.array(list(self.values[name]), pa.string())
            return pa.DictionaryArray.from_arrays(pa.array(self.codes[name][:rows]), values)
        values = self.fixed[name][:rows]
        if name in ("changed_at", "previous_changed_at"):
            mask = None if name == "changed_at" else ~self.previous_known[:rows]
            return pa.array(values, pa.int64(), mask=mask).cast(TIMESTAMP)
        return pa.array(values)


class SegmentWriter:
    """History rows in (``add``), finished segments out (``close``)."""

    def __init__(self, root: Path, ordinals: Ordinals, batches: dict[int, tuple[str, str]]):
        self._root = Path(root)
        self._ordinals = ordinals
        self._batches = batches
        self._columns: _Columns | None = None
        self._docs: _DocsWriter | None = None
        self.segments: list[Segment] = []

    def add(self, rows: pa.RecordBatch) -> None:
        """Rows of ``snapshot.export_history`` (at least FEED_COLUMNS), typed."""
        while rows.num_rows:
            if self._columns is None or self._docs is None:
                self._columns, self._docs = _Columns(), _DocsWriter(self._root)
            room = SEGMENT_ROWS - self._columns.rows
            part, rows = rows.slice(0, room), rows.slice(room)
            self._add(part, self._columns, self._docs)
            if self._columns.rows == SEGMENT_ROWS:
                self._finish()

    def _add(self, rows: pa.RecordBatch, columns: _Columns, docs: _DocsWriter) -> None:
        docs.add(pa.record_batch([rows[n] for n in layout.DOC_COLUMNS], schema=DOCS_SCHEMA))
        ordinals = self._ordinals(rows["identity_hash"])
        if (ordinals < 0).any():
            missing = rows["history_id"][int(np.flatnonzero(ordinals < 0)[0])].as_py()
            raise SnapshotError(
                f"history row {missing} belongs to a record current_records does not hold"
            )
        columns.append(
            {
                "history_id": rows["history_id"],
                "record": ordinals,
                "changed_at": rows["changed_at"],
                "previous_changed_at": rows["previous_changed_at"],
                "batch_id": rows["batch_id"],
            },
            {
                "change": rows["change"],
                "changed_fields": pc.fill_null(rows["changed_fields"], ""),
                **self._batch_names(rows),
            },
        )

    def _batch_names(self, rows: pa.RecordBatch) -> dict[str, pa.Array]:
        """batch_source and batch_file of each row: its own, or its batch's (ops.batch)."""
        if {"batch_source", "batch_file"} <= set(rows.schema.names):
            return {name: rows[name] for name in BATCH_NAMES}
        batch_ids = pc.unique(rows["batch_id"])
        unknown = [b for b in batch_ids.to_pylist() if b not in self._batches]
        if unknown:
            raise SnapshotError(f"history rows name unknown batches {sorted(unknown)[:5]}")
        named = pc.index_in(rows["batch_id"], value_set=batch_ids).cast(pa.int32())
        sources, files = zip(*(self._batches[b] for b in batch_ids.to_pylist()), strict=True)
        return {
            "batch_source": pa.DictionaryArray.from_arrays(named, pa.array(sources)),
            "batch_file": pa.DictionaryArray.from_arrays(named, pa.array(files)),
        }

    def _finish(self) -> None:
        columns, docs = self._columns, self._docs
        self._columns = self._docs = None
        if columns is None or docs is None:
            return
        if not columns.rows:
            docs.writer.discard()
            return
        self.segments.append(_write_segment(self._root, columns, docs))
        del columns
        pa.default_memory_pool().release_unused()

    def close(self) -> list[Segment]:
        """Finish the last segment; the segments written, oldest first."""
        self._finish()
        return self.segments

    def discard(self) -> None:
        if self._docs is not None:
            self._docs.writer.discard()


def compact(root: Path, segments: list[Segment]) -> Segment:
    """Merge ``segments`` (store objects under ``root``; oldest first) into one.

    Rows and documents are copied as they are, in the segments' order; each input is
    verified (SHA-256, once per process) before it is read.
    """
    if sum(s.info.rows for s in segments) > SEGMENT_ROWS:
        raise SnapshotError(f"segments of more than {SEGMENT_ROWS:,} rows in all cannot merge")
    columns, docs = _Columns(), _DocsWriter(root)
    try:
        for segment in segments:
            for file in (segment.index, segment.docs):
                verify_object(root, file)
            index = Mapped(store.object_path(root, str(segment.index.object)))
            table = index.table()
            columns.append(
                {name: table[name] for name in FIXED},
                {name: table[name] for name in layout.SEGMENT_TEXT},
            )
            del table
            index.release()
            mapped = Mapped(store.object_path(root, str(segment.docs.object)))
            for number in range(mapped.batches):
                docs.add(mapped.batch(number))
            mapped.release()
    except BaseException:
        docs.writer.discard()
        raise
    return _write_segment(root, columns, docs)


def _dictionary(values: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """Text (plain or dictionary, in chunks) as one int32 dictionary array."""
    if isinstance(values, pa.ChunkedArray):
        if pa.types.is_dictionary(values.type):
            values = values.unify_dictionaries()
        values = values.combine_chunks()
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)
    assert isinstance(values, pa.DictionaryArray)
    return pa.DictionaryArray.from_arrays(values.indices.cast(pa.int32()), values.dictionary)


def _write_segment(root: Path, columns: _Columns, docs: _DocsWriter) -> Segment:
    """Write the index of ``columns`` (rows in segment order) and finish ``docs``."""
    try:
        rows = columns.rows
        ids = columns.fixed["history_id"][:rows]
        changed = columns.fixed["changed_at"][:rows]
        record = columns.fixed["record"][:rows]
        by_record = np.lexsort((ids, changed, record)).astype(np.int32)
        info = _info(columns)
        name = layout.segment_file(info.first_history_id)
        arrays = [
            pa.array(by_record) if field.name == "by_record" else columns.array(field.name)
            for field in INDEX_SCHEMA
        ]
        schema = INDEX_SCHEMA.with_metadata({layout.METADATA_KEY: info.to_bytes()})
        index = write_object(root, name, schema, [pa.record_batch(arrays, schema=schema)])
        docs_file = docs.close(layout.docs_file(name))
    except BaseException:
        docs.writer.discard()
        raise
    if docs_file.rows != index.rows:
        raise SnapshotError(f"{name}: {index.rows} rows but {docs_file.rows} documents")
    return Segment(index, docs_file, info)


def _info(columns: _Columns) -> layout.SegmentInfo:
    rows = columns.rows
    ids = columns.fixed["history_id"][:rows]
    changed = columns.fixed["changed_at"][:rows]
    batches = columns.fixed["batch_id"][:rows]
    inserted = columns.codes["change"][:rows] == columns.values["change"].get("inserted", -1)
    codes = columns.codes["batch_source"][:rows]
    names = list(columns.values["batch_source"])
    pairs = np.unique(np.stack([batches[inserted], codes[inserted]]), axis=1)
    return layout.SegmentInfo(
        rows=rows,
        first_history_id=int(ids.min()),
        last_history_id=int(ids.max()),
        changed_from=int(changed.min()),
        changed_to=int(changed.max()),
        first_batch=int(batches.min()),
        last_batch=int(batches.max()),
        updated_sources=sorted({names[c] for c in np.unique(codes[~inserted]).tolist()}),
        inserted_batches={str(b): names[c] for b, c in pairs.T.tolist()},
        docs_rows=layout.DOC_ROWS,
    )


class _DocsWriter:
    """The documents of a segment being written, in batches of DOC_ROWS rows, compressed."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # Written under a provisional name: the segment's name is known when it is complete.
        self.writer = ObjectWriter(
            root, "history.docs.arrow", DOCS_SCHEMA, compression=DOCS_COMPRESSION
        )
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= layout.DOC_ROWS:
            self._flush(whole_only=True)

    def _flush(self, *, whole_only: bool) -> None:
        table = pa.Table.from_batches(self._pending, schema=DOCS_SCHEMA)
        full = table.num_rows - table.num_rows % layout.DOC_ROWS if whole_only else table.num_rows
        for start in range(0, full, layout.DOC_ROWS):
            chunk = table.slice(start, min(layout.DOC_ROWS, full - start)).combine_chunks()
            self.writer.write(chunk.to_batches()[0])
        rest = table.slice(full)
        self._pending = rest.combine_chunks().to_batches() if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self, name: str) -> SnapshotFile:
        if self._pending_rows:
            self._flush(whole_only=False)
        return self.writer.close(name)
