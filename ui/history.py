"""A generation's history, read across its segments: timelines, changes, past days.

Its job: answer the three questions the dashboard asks of history without holding
it in memory, whatever its length:

* ``of_record(ordinal)``: one record's changes (a binary search per segment on the
  segment's ``by_record`` order, then its rows and their documents);
* ``changes(since=..., batches=...)``: the *listed* changes (every change but the
  inserts of each source's initial load, as ``snapshot.recent_changes``) from a
  moment on, or of some batches, newest first; only the segments whose time or
  batch range overlaps are looked at;
* ``after(moment)``: every history row from a moment on, with what a past day's view
  needs (record, time, kind, previous change, where its document is).

A segment is the mapped files ``fmw.snapshot.layout`` describes: its index columns
point into the mapping (shared with every other dashboard process through the page
cache); its documents are compressed in batches of ``DOC_ROWS`` rows and
decompressed only when asked for, a few batches kept (``DOC_CACHE``). A generation
of format 1 (CSV files) becomes one segment held in memory. Before a segment's
bytes are read, ``verify`` (the snapshot's) checks its files once.

This module must never import Streamlit, psycopg or SQLAlchemy, and never write.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.snapshot import layout
from fmw.snapshot.history import INDEX_SCHEMA
from fmw.snapshot.mapped import Mapped

DOC_CACHE = 16
"""Decompressed batches of documents kept per segment (a batch is DOC_ROWS rows)."""
CHANGE_FIELDS = ("history_id", "record", "changed_at", "change", "changed_fields", "batch_id")
TIMELINE_FIELDS = ("history_id", "changed_at", "change", "changed_fields", "batch_id")
BATCH_FIELDS = ("batch_source", "batch_file")


class Docs(Protocol):
    """The ``before`` and ``after`` documents of a segment's rows."""

    def take(
        self, positions: np.ndarray, columns: Sequence[str] = layout.DOC_COLUMNS
    ) -> pa.Table: ...


class MappedDocs:
    """Documents in a mapped, compressed file: a batch is decompressed when first asked for."""

    def __init__(self, mapped: Mapped, rows_per_batch: int) -> None:
        self._mapped = mapped
        self._rows = rows_per_batch or layout.DOC_ROWS
        self._cache: OrderedDict[int, pa.RecordBatch] = OrderedDict()
        self._lock = threading.Lock()

    def _batch(self, number: int) -> pa.RecordBatch:
        with self._lock:
            if number in self._cache:
                self._cache.move_to_end(number)
                return self._cache[number]
        batch = self._mapped.batch(number)
        with self._lock:
            self._cache[number] = batch
            while len(self._cache) > DOC_CACHE:
                self._cache.popitem(last=False)
        return batch

    def take(self, positions: np.ndarray, columns: Sequence[str] = layout.DOC_COLUMNS) -> pa.Table:
        """``columns`` of the rows at ``positions``, in that order (ascending positions, as
        a past view asks for them, are gathered without a reorder)."""
        numbers = positions // self._rows
        batches = np.unique(numbers)
        if not len(batches):
            return pa.table({name: pa.array([], pa.string()) for name in columns})
        ascending = bool(np.all(positions[1:] >= positions[:-1]))
        if ascending:  # each batch's rows are one slice of the request
            bounds = [*np.searchsorted(numbers, batches).tolist(), len(numbers)]
            picks = [np.arange(lo, hi) for lo, hi in itertools.pairwise(bounds)]
        else:
            picks = [np.flatnonzero(numbers == number) for number in batches.tolist()]
        parts = []
        for number, picked in zip(batches.tolist(), picks, strict=True):
            inside = pa.array(positions[picked] - number * self._rows)
            parts.append(pa.Table.from_batches([self._batch(number).select(columns).take(inside)]))
        table = pa.concat_tables(parts)
        if ascending:
            return table
        # the rows came batch by batch: put them back in the order asked for
        return table.take(pa.array(np.argsort(np.concatenate(picks), kind="stable")))


class TableDocs:
    """Documents held in memory (a generation of format 1)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def take(self, positions: np.ndarray, columns: Sequence[str] = layout.DOC_COLUMNS) -> pa.Table:
        return self._table.select(columns).take(pa.array(positions, pa.int64()))


@dataclass
class Segment:
    """One segment: its index columns (numpy views where read row by row) and documents."""

    info: layout.SegmentInfo
    index: pa.Table
    docs: Docs
    files: tuple[str, ...] = ()
    """The generation's files this segment is read from (verified before first use)."""
    listed: np.ndarray | None = None
    """Format 1: which rows are listed changes (recent_changes.csv); None: from the batches."""
    _numbers: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def numbers(self, name: str) -> np.ndarray:
        """An integer index column (times: microseconds since 1970, 0 when missing; text:
        its codes) as numpy, over the column's buffer: no copy of a mapped file."""
        if name not in self._numbers:
            column = self.index[name]
            array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
            if pa.types.is_dictionary(array.type):
                array = array.indices
            kind = np.dtype(np.int32 if array.type.bit_width == 32 else np.int64)
            numbers = np.frombuffer(
                array.buffers()[1],
                dtype=kind,
                count=len(array),
                offset=array.offset * kind.itemsize,
            )
            self._numbers[name] = numbers
        return self._numbers[name]

    def code_of(self, column: str, value: str) -> int:
        dictionary = self.index[column].combine_chunks().dictionary
        return int(pc.index(dictionary, value).as_py())


class History:
    """Every history row of one generation, across its segments (oldest first)."""

    def __init__(
        self,
        segments: list[Segment],
        initial_batches: Iterable[int],
        verify: Callable[[Iterable[str]], None] = lambda _names: None,
    ) -> None:
        self.segments = segments
        self.initial = np.array(sorted(set(initial_batches)), dtype=np.int64)
        self._verify = verify

    def _use(self, numbers: Iterable[int]) -> list[int]:
        chosen = list(numbers)
        self._verify([name for i in chosen for name in self.segments[i].files])
        return chosen

    # ------------------------------------------------------------------ one record

    def of_record(self, ordinal: int) -> pa.Table:
        """One record's changes, oldest first: TIMELINE_FIELDS, batch source and file,
        before and after."""
        parts = []
        for number in self._use(range(len(self.segments))):
            segment = self.segments[number]
            positions = _record_rows(segment, ordinal)
            if len(positions):
                parts.append(self._rows(number, positions, TIMELINE_FIELDS, documents=True))
        if not parts:
            return _empty(TIMELINE_FIELDS, documents=True)
        table = pa.concat_tables(parts)
        return table.sort_by([("changed_at", "ascending"), ("history_id", "ascending")])

    # ------------------------------------------------------------------ changes

    def changes(
        self, *, since: int | None = None, batches: Iterable[int] | None = None
    ) -> pa.Table:
        """Listed changes (CHANGE_FIELDS and batch_source), newest first: from ``since``
        (microseconds since 1970; None: all) and of ``batches`` (None: any)."""
        wanted = None if batches is None else np.array(sorted(set(batches)), dtype=np.int64)
        parts = []
        for number, segment in enumerate(self.segments):
            info = segment.info
            if since is not None and info.changed_to < since:
                continue
            if wanted is not None and not _overlaps(wanted, info.first_batch, info.last_batch):
                continue
            self._use([number])
            mask = self._listed(segment)
            if since is not None:
                mask &= segment.numbers("changed_at") >= since
            if wanted is not None:
                mask &= np.isin(segment.numbers("batch_id"), wanted)
            positions = np.flatnonzero(mask)
            if len(positions):
                parts.append(self._rows(number, positions, CHANGE_FIELDS, documents=False))
        if not parts:
            return _empty(CHANGE_FIELDS, documents=False)
        table = pa.concat_tables(parts)
        return table.sort_by([("changed_at", "descending"), ("history_id", "descending")])

    def _listed(self, segment: Segment) -> np.ndarray:
        if segment.listed is not None:
            return segment.listed.copy()
        inserted = segment.numbers("change") == segment.code_of("change", "inserted")
        return ~inserted | ~np.isin(segment.numbers("batch_id"), self.initial)

    def sources(self) -> list[str]:
        """The sources of the listed changes (from the segments' metadata)."""
        found: set[str] = set()
        for segment in self.segments:
            if segment.listed is not None:
                table = segment.index.filter(pa.array(segment.listed))
                found.update(table["batch_source"].cast(pa.string()).to_pylist())
                continue
            found.update(segment.info.updated_sources)
            initial = set(self.initial.tolist())
            inserted = segment.info.inserted_batches.items()
            found.update(source for b, source in inserted if int(b) not in initial)
        return sorted(found)

    def fields(self) -> list[str]:
        """Every field a change changed (the segments' distinct changed_fields)."""
        found: set[str] = set()
        for segment in self.segments:
            values = segment.index["changed_fields"].combine_chunks().dictionary.to_pylist()
            for cell in values:
                found.update(part for part in (cell or "").split(", ") if part)
        return sorted(found)

    # ------------------------------------------------------------------ past days

    def after(self, moment: int) -> dict[str, np.ndarray]:
        """Every history row changed at or after ``moment``: record, changed_at,
        history_id, inserted, previous_changed_at (0 when none), and
        segment and position (to fetch its document)."""
        gathered: dict[str, list[np.ndarray]] = {k: [] for k in _AFTER}
        for number, segment in enumerate(self.segments):
            if segment.info.changed_to < moment:
                continue
            self._use([number])
            positions = np.flatnonzero(segment.numbers("changed_at") >= moment)
            inserted = segment.numbers("change") == segment.code_of("change", "inserted")
            gathered["record"].append(segment.numbers("record")[positions].astype(np.int64))
            gathered["changed_at"].append(segment.numbers("changed_at")[positions])
            gathered["history_id"].append(segment.numbers("history_id")[positions])
            gathered["inserted"].append(inserted[positions])
            gathered["previous_changed_at"].append(
                segment.numbers("previous_changed_at")[positions]
            )
            gathered["segment"].append(np.full(len(positions), number, dtype=np.int64))
            gathered["position"].append(positions.astype(np.int64))
        return {k: np.concatenate(v) if v else np.zeros(0, _AFTER[k]) for k, v in gathered.items()}

    def before_texts(self, segments: np.ndarray, positions: np.ndarray) -> pa.Array:
        """The ``before`` document (JSON text) of each (segment, position), in that order.

        Read segment by segment in file order (a past view a year back asks for most of
        a million documents), only the ``before`` column, then placed as asked.
        """
        request = np.lexsort((positions, segments))
        in_order, where = segments[request], positions[request]
        parts = []
        for number in np.unique(in_order).tolist():
            lo, hi = np.searchsorted(in_order, [number, number + 1]).tolist()
            taken = self.segments[number].docs.take(where[lo:hi], ("before",))
            parts.extend(taken["before"].chunks)
        if not parts:
            return pa.array([], pa.string())
        texts = pa.chunked_array(parts, pa.string()).combine_chunks()
        placed = np.empty_like(request)
        placed[request] = np.arange(len(request))
        return texts.take(pa.array(placed))

    def documents(self, history_ids: list[int]) -> list[tuple[str | None, str | None]]:
        """(before, after) JSON text of each history row (None, None when unknown)."""
        out: list[tuple[str | None, str | None]] = [(None, None)] * len(history_ids)
        wanted = np.asarray(history_ids, dtype=np.int64)
        for number, segment in enumerate(self.segments):
            info = segment.info
            inside = np.flatnonzero(
                (wanted >= info.first_history_id) & (wanted <= info.last_history_id)
            )
            if not len(inside):
                continue
            self._use([number])
            ids = segment.numbers("history_id")
            hits = np.isin(ids, wanted[inside])
            positions = np.flatnonzero(hits)
            if not len(positions):
                continue
            table = segment.docs.take(positions)
            found = dict(
                zip(
                    ids[positions].tolist(),
                    zip(table["before"].to_pylist(), table["after"].to_pylist(), strict=True),
                    strict=True,
                )
            )
            for place in inside.tolist():
                if history_ids[place] in found:
                    out[place] = found[history_ids[place]]
        return out

    # ------------------------------------------------------------------ rows

    def _rows(
        self, number: int, positions: np.ndarray, fields: tuple[str, ...], *, documents: bool
    ) -> pa.Table:
        segment = self.segments[number]
        taken = pa.array(positions, pa.int64())
        names = (*fields, *BATCH_FIELDS)
        columns = {name: _plain(segment.index[name].take(taken)) for name in names}
        if documents:
            docs = segment.docs.take(positions)
            columns.update({name: docs[name] for name in layout.DOC_COLUMNS})
        return pa.table(columns)


_AFTER = {
    "record": np.int64,
    "changed_at": np.int64,
    "history_id": np.int64,
    "inserted": np.bool_,
    "previous_changed_at": np.int64,
    "segment": np.int64,
    "position": np.int64,
}


def _record_rows(segment: Segment, ordinal: int) -> np.ndarray:
    """Positions of one record's rows in a segment (binary search on ``by_record``)."""
    order = segment.numbers("by_record")
    records = segment.numbers("record")
    low = _bisect(order, records, ordinal)
    high = _bisect(order, records, ordinal + 1)
    return order[low:high].astype(np.int64)


def _bisect(order: np.ndarray, records: np.ndarray, target: int) -> int:
    """The first place in ``order`` whose record is >= ``target`` (reads ~log2 rows)."""
    low, high = 0, len(order)
    while low < high:
        middle = (low + high) // 2
        if records[order[middle]] < target:
            low = middle + 1
        else:
            high = middle
    return low


def _overlaps(wanted: np.ndarray, first: int, last: int) -> bool:
    place = np.searchsorted(wanted, first)
    return bool(place < len(wanted) and wanted[place] <= last)


def _plain_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _plain(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Dictionary text as plain text (a small result table is easier to use)."""
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _empty(fields: tuple[str, ...], *, documents: bool) -> pa.Table:
    types = {f.name: f.type for f in INDEX_SCHEMA}
    columns = {name: pa.array([], _plain_type(types[name])) for name in (*fields, *BATCH_FIELDS)}
    if documents:
        columns.update({name: pa.array([], pa.string()) for name in layout.DOC_COLUMNS})
    return pa.table(columns)
