"""Read one snapshot generation, once, in the shape the dashboard needs.

Its job: given the snapshot root, find the generation to show (the current
one, or the newest older one that verifies: ``fmw.snapshot.generations``), and
make its files into typed, read-only Arrow tables plus what every search needs,
once per generation:

* a generation of mapped files (``fmw.snapshot.layout``, every export since issue
  14) is *mapped*, not parsed: each records column is one Arrow IPC file whose
  arrays point into the mapping, so a new process is ready at once and every
  process shares one copy in the page cache. A text column is already integer
  codes into its distinct values (``Coded``); the history is read across its
  segments (``fmw.ui.history``);
* a generation of CSV files (format 1, before issue 14) is parsed into the same
  shape: text un-guarded (``cells.unguard_array``), codes computed, its
  record_history.csv one segment in memory;
* search: per searched field, the ``normalize.search_key`` of each distinct value
  — a term is matched against the few distinct values and mapped to rows through
  the codes, never a pass over a million strings; facet counts are one
  ``numpy.bincount`` of the codes; sort orders are computed on first use and kept.

Before its bytes are first read, each file is verified (its SHA-256, once per
process: ``generations.verify_file``): resolving a generation only checks that every
file is there with its size, so a page hashes only what it reads, and a file that
fails raises ``SnapshotDamagedError``, which the dashboard answers by falling back to
the previous good generation (``view``).

A ``Snapshot`` never changes after construction apart from lazily filled,
lock-protected caches, so one instance is shared by every session of the process
(the Streamlit edge keeps it in ``st.cache_resource`` keyed by the generation id).
Callers must never mutate its tables or arrays.

This module must never import Streamlit, psycopg or SQLAlchemy, and never
write anything: the dashboard reads snapshot files only.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.errors import NoSnapshotError, SnapshotError
from fmw.snapshot import layout
from fmw.snapshot.columnar import UNIQUE_TEXT, ColumnarError, read_csv
from fmw.snapshot.generations import (
    Generation,
    current_pointer,
    latest_good_generation,
    list_generations,
    verify_file,
    verify_opened,
)
from fmw.snapshot.mapped import Mapped
from fmw.snapshot.tables import with_previous
from fmw.ui.cells import unguard_array
from fmw.ui.history import History, MappedDocs, Segment, TableDocs
from fmw.ui.normalize import code_key_array, search_key_array

RECORDS = "current_records.csv"
SUMMARY = "home_summary.csv"
HISTORY = "record_history.csv"
CHANGES = "recent_changes.csv"
CONFLICTS = "conflicts.csv"

SEARCH_FIELDS = (
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "owner",
    "team",
    "note",
    "region",
    "platform",
)
"""Fields free-text search looks in, each on its own (a term never spans two fields).

Region and platform are searched too, so "PAY-001 KR" narrows to one market."""

CODE_FIELDS = ("feature_code", "policy_code")
"""Searched fields compared as codes too (``normalize.code_key``: separators ignored)."""

FACETS = ("status", "region", "platform", "team", "owner", "has_conflict", "is_active")
"""Columns counted per value (filters, Home's links); ``is_active`` values are "true"/"false"."""

STATUS_ORDER = ("enabled", "pilot", "planned", "disabled", "deprecated", "unknown")
"""How statuses are listed; any other status follows, alphabetically."""

IDENTITY = ("feature_code", "policy_code", "region", "platform")
"""The key fields: the tie-breaker of every sort."""

CHANGE_COLUMNS = (
    "changed_at",
    "change",
    "feature_code",
    "policy_code",
    "region",
    "platform",
    "changed_fields",
    "batch_id",
    "batch_source",
    "identity_hash",
    "history_id",
)
"""A listed change as the Home and Changes pages show it (the key texts: the record's now)."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    RECORDS: ("identity_hash", *SEARCH_FIELDS, "status", "is_active"),
    SUMMARY: ("dimension", "value", "status", "records", "active_records"),
    CHANGES: ("history_id",),
    CONFLICTS: ("identity_hash", "source", "priority", "is_shown", "status"),
    HISTORY: ("history_id", "identity_hash", "changed_at", "change", "before", "after", "batch_id"),
}


class SnapshotFileError(SnapshotError):
    """A snapshot file verified but cannot be used (a missing column, an unparseable cell)."""


class SnapshotDamagedError(SnapshotError):
    """A file of the generation shown failed verification when it was first read."""

    def __init__(self, generation_id: str, problem: str) -> None:
        super().__init__(problem)
        self.generation_id = generation_id


@dataclass(frozen=True)
class Coded:
    """A text column as distinct values plus, per row, the index of its value."""

    values: pa.Array
    """Distinct texts (a missing value is "")."""
    codes: np.ndarray
    """Per row, an index into ``values`` (int8, int16 or int32, as the file holds it)."""

    def code_of(self, value: str) -> int | None:
        """The code of ``value``, or None when no row has it."""
        found = pc.index(self.values, value).as_py()
        return None if found < 0 else found


def ordered_statuses(statuses: list[str]) -> list[str]:
    """Statuses in STATUS_ORDER, others after them alphabetically."""
    known = [s for s in STATUS_ORDER if s in statuses]
    return known + sorted(s for s in set(statuses) if s not in STATUS_ORDER)


@dataclass(frozen=True)
class Facet:
    """One filterable column: its distinct values and, per row, the index of its value."""

    name: str
    values: tuple[str, ...]
    codes: np.ndarray

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:
        """Every value in the order a filter lists it: statuses in STATUS_ORDER, other
        columns sorted, the blank value last. The same list whatever is searched, so a
        search that changes the counts never changes a filter's choices."""
        listed = list(self.values)
        ordered = ordered_statuses(listed) if self.name == "status" else sorted(listed)
        return tuple(v for v in ordered if v) + (("",) if "" in listed else ())

    def code_of(self, value: str) -> int | None:
        try:
            return self.values.index(value)
        except ValueError:
            return None


def read_sparsely(name: str) -> bool:
    """Whether a page reads file ``name`` a few rows at a time (``Files.release_sparse``)."""
    return name in (layout.records_file(layout.IDENTITY), layout.IDENTITY_ORDER) or (
        name.startswith(layout.HISTORY_PREFIX)
    )


class Files:
    """The generation's files as this process reads them: mapped, each verified (its
    SHA-256, over the bytes mapped) before its first use."""

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        self._mapped: dict[str, Mapped] = {}
        self._good: set[str] = set()
        self._lock = threading.Lock()

    def verify(self, names: Iterable[str]) -> None:
        """Hash each named file not yet checked; SnapshotDamagedError when one differs."""
        for name in names:
            if name in self._good:
                continue
            with self._lock:
                if name in self._good:
                    continue
                try:
                    held = self._mapped.get(name)
                    if held is None:
                        verify_file(self.generation, name)
                    else:
                        verify_opened(self.generation, name, held.opened, held.digest)
                except SnapshotError as exc:
                    raise SnapshotDamagedError(self.generation.id, str(exc)) from exc
                self._good.add(name)

    def release_sparse(self) -> None:
        """Give back this process's pages of the files a page reads a few rows of: the
        identities (a page's 50 links, a binary search), their order and the history
        segments. The page cache keeps them, so the next read is a minor fault; kept
        mapped, they filled the process: each row read maps the whole cached chunk around
        it (up to 2 MiB on Linux 6), 44 MiB of identities after a dozen searches.
        The records' other columns stay: every search and filter reads all of them."""
        with self._lock:
            held = [mapped for name, mapped in self._mapped.items() if read_sparsely(name)]
        for mapped in held:
            mapped.release()

    def mapped(self, name: str) -> Mapped:
        """File ``name`` mapped (not yet verified: call ``verify`` before reading it)."""
        try:
            held = Mapped(self.generation.path(name))
        except SnapshotError as exc:
            self._unreadable(name, exc)
        with self._lock:
            return self._mapped.setdefault(name, held)

    def column(self, name: str) -> pa.Array:
        """The one column of file ``name``, mapped (not yet verified)."""
        held = self.mapped(name)
        try:
            return held.column()
        except SnapshotError as exc:
            self._unreadable(name, exc)

    def _unreadable(self, name: str, problem: SnapshotError) -> NoReturn:
        """A file that cannot be mapped: damaged (SnapshotDamagedError says how), or not
        what this dashboard reads (SnapshotFileError)."""
        self.verify([name])
        raise SnapshotFileError(f"generation {self.generation.id}: {problem}") from problem


@dataclass
class Snapshot:
    """One generation, mapped (or parsed) and indexed; shared read-only by every session."""

    root: Path
    generation: Generation
    columns: dict[str, pa.Array]
    """current_records by column: text as dictionary arrays (``Coded``)."""
    coded: dict[str, Coded]
    summary: pa.Table
    conflicts: pa.Table
    log: History
    """The history, across its segments."""
    files: Files
    load_seconds: float = 0.0
    present: np.ndarray | None = None
    """Rows that exist in this view (None: all). A view of a past day (``fmw.ui.as_of``)
    keeps every row of the generation and marks the ones not yet loaded then."""
    base: Snapshot | None = None
    """The generation's own snapshot, when this one is a view of another day."""
    record_files: tuple[str, ...] = ()
    """The files the records are read from (verified before ``records`` is first used)."""
    identity_sorted: np.ndarray | None = None
    """The rows sorted by identity_hash (int32), for finding one identity."""
    _identity_order: np.ndarray | None = field(default=None, repr=False)
    _identity_rank: np.ndarray | None = field(default=None, repr=False)
    _orders: dict[tuple[str, bool], np.ndarray] = field(default_factory=dict, repr=False)
    _lazy: dict[str, Any] = field(default_factory=dict, repr=False)
    _derived: dict[Any, Any] = field(default_factory=dict, repr=False)
    _pinned: dict[Any, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def id(self) -> str:
        return self.generation.id

    @property
    def generation_snapshot(self) -> Snapshot:
        """The snapshot of the generation as exported (this one, unless a past day's view)."""
        return self.base or self

    @property
    def records(self) -> pa.Table:
        """current_records (text as dictionary arrays), its files verified on first use."""
        self.files.verify(self.record_files)
        return self._once("records", lambda: pa.table(self.columns))

    @property
    def search_keys(self) -> dict[str, pa.Array]:
        """Searched field -> ``search_key`` of each of its distinct values (aligned with codes)."""
        return self._once(
            "search_keys",
            lambda: {name: search_key_array(self.coded[name].values) for name in SEARCH_FIELDS},
        )

    @property
    def code_keys(self) -> dict[str, pa.Array]:
        """CODE_FIELDS field -> ``code_key`` of each of its distinct values."""
        return self._once(
            "code_keys",
            lambda: {name: code_key_array(self.coded[name].values) for name in CODE_FIELDS},
        )

    @property
    def facets(self) -> dict[str, Facet]:
        return self._once(
            "facets",
            lambda: {
                name: _facet(name, self.records, self.coded)
                for name in FACETS
                if name in self.columns
            },
        )

    def _once(self, key: str, build: Any) -> Any:
        with self._lock:
            if key in self._lazy:
                return self._lazy[key]
        value = build()
        with self._lock:
            return self._lazy.setdefault(key, value)

    def row_index(self, identity_hash: str) -> int | None:
        """The records row of one identity, or None (a binary search: microseconds)."""
        records = self.records
        order = self.identity_sorted
        if order is None:
            row = pc.index(records["identity_hash"], identity_hash).as_py()
            return None if row < 0 else row
        identities = self.columns["identity_hash"]
        low, high = 0, len(order)
        while low < high:
            middle = (low + high) // 2
            if identities[int(order[middle])].as_py() < identity_hash:
                low = middle + 1
            else:
                high = middle
        if low < len(order) and identities[int(order[low])].as_py() == identity_hash:
            return int(order[low])
        return None

    def record(self, identity_hash: str) -> dict[str, Any] | None:
        """Every field of one record as Python values, or None when it is not in this snapshot."""
        row = self.row_index(identity_hash)
        if row is None:
            return None
        return self.records.slice(row, 1).to_pylist()[0]

    def conflicts_of(self, identity_hash: str) -> pa.Table:
        """One row per active source of a record whose sources disagree (empty otherwise)."""
        rows = self.conflicts.filter(pc.equal(self.conflicts["identity_hash"], identity_hash))
        return rows.sort_by([("priority", "ascending"), ("source", "ascending")])

    @property
    def identity_rank(self) -> np.ndarray:
        self._index_identity()
        assert self._identity_rank is not None  # set by _index_identity
        return self._identity_rank

    def _index_identity(self) -> None:
        """The identity sort order and each row's place in it (the tie-breaker of every sort)."""
        with self._lock:
            if self._identity_order is not None:
                return
        order = _identity_order(self)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        rank.setflags(write=False)
        with self._lock:
            if self._identity_order is None:
                self._identity_order, self._identity_rank = order, rank

    def sort_order(self, column: str, *, descending: bool = False) -> np.ndarray:
        """Row indices of all records sorted by ``column`` (then the identity), computed once.

        Missing values sort last in both directions; ties are broken by the
        identity (feature code, policy code, region, platform), ascending.
        One sort of a single int64 key: the column's rank times the row count
        plus the row's identity rank.
        """
        if column == IDENTITY[0] and not descending:
            self._index_identity()
            assert self._identity_order is not None  # set by _index_identity
            return self._identity_order
        key = (column, descending)
        with self._lock:
            order = self._orders.get(key)
        if order is not None:
            return order
        if column not in self.records.column_names:
            raise SnapshotError(f"cannot sort by {column!r}: no such column")
        rows = self.records.num_rows
        primary = _rank(self, column, descending=descending)
        order = np.argsort(primary * max(rows, 1) + self.identity_rank).astype(np.int64)
        order.setflags(write=False)
        with self._lock:
            return self._orders.setdefault(key, order)

    # ---------------------------------------------------------------- history

    def history(self, identity_hash: str) -> pa.Table:
        """One record's timeline, oldest first, ``before``/``after`` still JSON text."""
        row = self.generation_snapshot.row_index(identity_hash)
        if row is None:
            return self.log.of_record(-1)
        return self.log.of_record(row)

    def changes(
        self, *, since: int | None = None, batches: Iterable[int] | None = None
    ) -> pa.Table:
        """Listed changes with CHANGE_COLUMNS, newest first (``History.changes``): from
        ``since`` (microseconds since 1970; None: all) and of ``batches`` (None: any).
        The key texts are the records' (as exported), whichever day this view shows."""
        wanted = None if batches is None else tuple(sorted(set(batches)))
        own = self.generation_snapshot
        return own.cached(
            ("changes", since, wanted),
            lambda: own._with_keys(own.log.changes(since=since, batches=wanted)),
        )

    def _with_keys(self, rows: pa.Table) -> pa.Table:
        """``rows`` with the key texts of their records. A text unique to a record (the
        identity) is referred to, not copied: a dictionary whose values are the mapped
        column, so only the rows a page shows read theirs (taking a week's 80,000 would
        read most of the 64 MiB identity column into this process's memory)."""
        records = rows["record"].to_numpy(zero_copy_only=False).astype(np.int64)
        rows_of = pa.array(records, pa.int32())
        self.files.verify(self.record_files)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for name in CHANGE_COLUMNS:
            if name in rows.column_names:
                columns[name] = rows[name]
            elif name in self.coded:
                coded = self.coded[name]
                columns[name] = coded.values.take(pa.array(coded.codes[records]))
            else:
                columns[name] = pa.DictionaryArray.from_arrays(rows_of, self.columns[name])
        return pa.table(columns)

    def holds(self, key: Any) -> bool:
        """Whether ``cached`` has ``key`` built already (it then returns at once)."""
        with self._lock:
            return key in self._derived or key in self._pinned

    def cached(self, key: Any, build: Any, *, keep: int = 4, pin: bool = False) -> Any:
        """``build()`` once per ``key`` for this generation, shared by every session.

        At most ``keep`` results stay (the oldest is dropped), except ``pin``-ned ones,
        kept as long as the generation. Built outside the lock, so two sessions may
        build the same thing once each; the first one kept wins.
        """
        store = self._pinned if pin else self._derived
        with self._lock:
            if key in store:
                return store[key]
        value = build()
        with self._lock:
            value = store.setdefault(key, value)
            while len(self._derived) > keep:
                self._derived.pop(next(iter(self._derived)))
            return value


# --------------------------------------------------------------------------- loading


def pointer(root: Path) -> str | None:
    """The generation CURRENT.json names: the cheap per-interaction check (one small read)."""
    return current_pointer(root)


def resolve(root: Path, *, skip: Mapping[str, str] | None = None) -> tuple[Generation, list[str]]:
    """The generation to show and the problems of the newer ones skipped.

    Its small files are verified, every other file only checked to exist with its
    size (a snapshot verifies each before first reading it). ``skip``: generations
    found damaged since, with why. Raises NoSnapshotError when nothing was ever published,
    SnapshotError when no generation is usable.
    """
    root = Path(root)
    if current_pointer(root) is None and not list_generations(root):
        raise NoSnapshotError(f"no snapshot yet under {root}: run `fmw demo` or `fmw sync`")
    return latest_good_generation(root, verify_only=files_read, skip=skip)


def files_read(names: list[str]) -> list[str]:
    """The files verified as soon as a generation is chosen: the small ones (a CSV of a
    mapped generation). The mapped files are verified when first read."""
    if layout.is_mapped(names):
        return [name for name in names if name.endswith(".csv")]
    return list(names)


def load_snapshot(root: Path) -> tuple[Snapshot, list[str]]:
    """``resolve`` then ``parse``: the snapshot to show, ready to search, and the
    problems of the newer generations skipped (empty when the newest is shown)."""
    generation, problems = resolve(root)
    return parse(Path(root), generation), problems


def parse(root: Path, generation: Generation) -> Snapshot:
    """Map (or, for a CSV generation, read) and index one generation."""
    started = time.perf_counter()
    if layout.is_mapped(generation.files):
        snapshot = _mapped(root, generation)
    else:
        snapshot = _from_csv(root, generation)
    snapshot.load_seconds = time.perf_counter() - started
    return snapshot


def _mapped(root: Path, generation: Generation) -> Snapshot:
    files = Files(generation)
    try:
        state = layout.ExportState.from_extra(generation.extra)
    except (ValueError, TypeError) as exc:
        raise SnapshotFileError(f"generation {generation.id}: {exc}") from exc
    names = {column: layout.records_file(column) for column in state.columns}
    columns = {column: files.column(name) for column, name in names.items()}
    missing = [c for c in _REQUIRED[RECORDS] if c not in columns]
    if missing:
        raise SnapshotFileError(f"generation {generation.id} has no column {', '.join(missing)}")
    coded = {
        name: Coded(values.dictionary, values.indices.to_numpy(zero_copy_only=True))
        for name, values in columns.items()
        if isinstance(values, pa.DictionaryArray)
    }
    sorted_rows = files.column(layout.IDENTITY_ORDER).to_numpy(zero_copy_only=True)
    segments = []
    for name in layout.segment_names(generation.files):
        index = files.mapped(name)
        try:
            info = layout.SegmentInfo.from_metadata(index.schema.metadata)
        except (ValueError, TypeError) as exc:
            raise SnapshotFileError(f"generation {generation.id}: {name}: {exc}") from exc
        docs = layout.docs_file(name)
        documents = MappedDocs(files.mapped(docs), info.docs_rows)
        segments.append(Segment(info, index.table(), documents, files=(name, docs)))
    return Snapshot(
        root=root,
        generation=generation,
        columns=columns,
        coded=coded,
        summary=read_table(generation, SUMMARY),
        conflicts=read_table(generation, CONFLICTS),
        log=History(segments, state.initial_batches, files.verify),
        files=files,
        record_files=(*names.values(), layout.IDENTITY_ORDER),
        identity_sorted=sorted_rows,
    )


def _from_csv(root: Path, generation: Generation) -> Snapshot:
    """A generation of format 1: every file a CSV (text guarded), parsed into the same shape."""
    raw = read_table(generation, RECORDS, unguard=False)
    coded = {
        name: _coded(raw[name])
        for name in raw.column_names
        if pa.types.is_string(raw[name].type) and name not in UNIQUE_TEXT
    }
    columns = {
        name: _dictionary(coded[name]) if name in coded else raw[name].combine_chunks()
        for name in raw.column_names
    }
    identities = columns["identity_hash"]
    sorted_rows = pc.sort_indices(identities).to_numpy().astype(np.int32)
    files = Files(generation)
    return Snapshot(
        root=root,
        generation=generation,
        columns=columns,
        coded=coded,
        summary=read_table(generation, SUMMARY),
        conflicts=read_table(generation, CONFLICTS),
        log=_history_from_csv(generation, identities, sorted_rows),
        files=files,
        identity_sorted=sorted_rows,
    )


def _history_from_csv(
    generation: Generation, identities: pa.Array, sorted_rows: np.ndarray
) -> History:
    """record_history.csv as one segment in memory (recent_changes.csv says what is listed)."""
    table = with_previous(read_table(generation, HISTORY))
    rows = pc.index_in(table["identity_hash"], value_set=identities)
    if rows.null_count:
        raise SnapshotFileError(
            f"generation {generation.id}: record_history has {rows.null_count} row(s) of "
            "records that current_records does not hold"
        )
    listed_ids = read_table(generation, CHANGES)["history_id"]
    record = rows.to_numpy(zero_copy_only=False).astype(np.int32)
    changed = table["changed_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    ids = table["history_id"].to_numpy(zero_copy_only=False)

    def text(name: str) -> pa.Array:
        values = table[name] if name in table.column_names else pa.nulls(table.num_rows)
        return pc.dictionary_encode(pc.fill_null(values.cast(pa.string()), "")).combine_chunks()

    index = pa.table(
        {
            "history_id": table["history_id"],
            "record": pa.array(record),
            "changed_at": table["changed_at"],
            "previous_changed_at": pc.fill_null(
                table["previous_changed_at"].cast(pa.int64()), 0
            ).cast(table["changed_at"].type),
            **{name: text(name) for name in ("change", "changed_fields", "batch_source")},
            "batch_id": table["batch_id"],
            "batch_file": text("batch_file"),
            "by_record": pa.array(np.lexsort((ids, changed, record)).astype(np.int32)),
        }
    )
    listed = pc.is_in(table["history_id"], value_set=listed_ids)
    segment = Segment(
        _info(index),
        index,
        TableDocs(table.select(["before", "after"])),
        listed=listed.to_numpy(zero_copy_only=False),
    )
    return History([segment] if table.num_rows else [], ())


def _info(index: pa.Table) -> layout.SegmentInfo:
    if not index.num_rows:
        return layout.SegmentInfo(0, 0, 0, 0, 0, 0, 0)
    changed = index["changed_at"].cast(pa.int64())
    return layout.SegmentInfo(
        rows=index.num_rows,
        first_history_id=pc.min(index["history_id"]).as_py(),
        last_history_id=pc.max(index["history_id"]).as_py(),
        changed_from=pc.min(changed).as_py(),
        changed_to=pc.max(changed).as_py(),
        first_batch=pc.min(index["batch_id"]).as_py(),
        last_batch=pc.max(index["batch_id"]).as_py(),
    )


def derive(
    parent: Snapshot,
    columns: dict[str, Coded | pa.Array | pa.ChunkedArray],
    present: np.ndarray | None,
) -> Snapshot:
    """A view of ``parent`` with some columns replaced (same rows, same order).

    Unchanged columns, codes and sort orders are shared with ``parent`` (no copy);
    only what the replaced columns feed is computed again.
    """
    coded = dict(parent.coded)
    coded.update({name: c for name, c in columns.items() if isinstance(c, Coded)})
    replaced: dict[str, pa.Array] = {}
    for name, column in columns.items():
        if isinstance(column, Coded):
            replaced[name] = _dictionary(column)
        elif isinstance(column, pa.ChunkedArray):
            replaced[name] = column.combine_chunks()
        else:
            replaced[name] = column
    parent.records  # noqa: B018  # the parent's files verified: the view reads them
    snapshot = Snapshot(
        root=parent.root,
        generation=parent.generation,
        columns={name: replaced.get(name, values) for name, values in parent.columns.items()},
        coded=coded,
        summary=parent.summary,
        conflicts=parent.conflicts,
        log=parent.log,
        files=parent.files,
        present=present,
        base=parent.generation_snapshot,
        record_files=parent.record_files,
        identity_sorted=parent.identity_sorted,
    )
    keys = {"search_keys": search_key_array, "code_keys": code_key_array}
    for key, function in keys.items():
        inherited = parent.search_keys if key == "search_keys" else parent.code_keys
        snapshot._lazy[key] = {
            name: function(coded[name].values) if name in columns else values
            for name, values in inherited.items()
        }
    snapshot._lazy["facets"] = {
        name: _facet(name, snapshot.records, coded) if name in columns else facet
        for name, facet in parent.facets.items()
    }
    if not any(name in columns for name in IDENTITY):
        parent._index_identity()
        snapshot._identity_order = parent._identity_order
        snapshot._identity_rank = parent._identity_rank
    return snapshot


def _dictionary(coded: Coded) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(coded.codes, pa.int32()), coded.values)


def _rank(snapshot: Snapshot, column: str, *, descending: bool) -> np.ndarray:
    """Per row, the dense rank of its ``column`` value (missing values rank last)."""
    coded = snapshot.coded.get(column)
    if coded is not None:
        texts = coded.values.to_pylist()
        ranks = np.empty(len(texts), dtype=np.int64)
        ranks[sorted(range(len(texts)), key=texts.__getitem__)] = np.arange(len(texts))
        if descending:
            ranks = len(texts) - 1 - ranks
        empty = coded.code_of("")
        if empty is not None:
            ranks[empty] = len(texts)
        return ranks[coded.codes]
    values = snapshot.records[column]
    if pa.types.is_boolean(values.type):
        values = pc.cast(values, pa.int8())
    elif pa.types.is_date32(values.type):
        values = pc.cast(values, pa.int32())
    numbers = pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)
    missing = pc.is_null(values).to_numpy(zero_copy_only=False)
    distinct, ranks = np.unique(np.where(missing, 0, numbers), return_inverse=True)
    ranks = ranks.astype(np.int64)
    if descending:
        ranks = len(distinct) - 1 - ranks
    return np.where(missing, len(distinct), ranks)


def _identity_order(snapshot: Snapshot) -> np.ndarray:
    """Rows sorted by the identity fields: one int64 key when it fits, else lexsort."""
    ranks = [_rank(snapshot, name, descending=False) for name in IDENTITY]
    combined = np.zeros(snapshot.records.num_rows, dtype=np.int64)
    limit = 1
    for rank in ranks:
        size = int(rank.max(initial=0)) + 1
        limit *= size
        if limit >= 2**62:
            order = np.lexsort(list(reversed(ranks)))
            break
        combined = combined * size + rank
    else:
        order = np.argsort(combined, kind="stable")
    order = order.astype(np.int64)
    order.setflags(write=False)
    return order


def read_table(generation: Generation, name: str, *, unguard: bool = True) -> pa.Table:
    """One snapshot CSV as an Arrow table: typed columns, text cells un-guarded.

    A missing (NULL) cell is null, an empty text is ""; SnapshotFileError names
    the file and what is wrong.
    """
    where = f"generation {generation.id}: {name}"
    try:
        table = read_csv(generation.path(name))
    except (ColumnarError, OSError) as exc:
        raise SnapshotFileError(f"{where} cannot be read: {exc}") from exc
    _check_columns(table, name, where)
    return _unguarded(table) if unguard else table


def _check_columns(table: pa.Table, name: str, where: str) -> None:
    missing = [c for c in _REQUIRED.get(name, ()) if c not in table.column_names]
    if missing:
        raise SnapshotFileError(f"{where} has no column {', '.join(missing)}")


def _unguarded(table: pa.Table) -> pa.Table:
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        guarded = pa.types.is_string(column.type) and name not in ("before", "after")
        columns.append(unguard_array(column) if guarded else column)
    return pa.table(columns, names=table.column_names)


def _coded(column: pa.ChunkedArray) -> Coded:
    """Distinct un-guarded values and per-row codes of a guarded text column."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    if column.num_chunks == 0:
        return Coded(pa.array([], pa.string()), np.zeros(0, dtype=np.int32))
    merged = column.unify_dictionaries().combine_chunks()
    texts = pc.fill_null(unguard_array(merged.dictionary), "")
    # Un-guarding may make two values equal ("'=x" and "=x"); re-encode the few values.
    distinct = pc.dictionary_encode(pc.fill_null(texts, ""))
    values = distinct.dictionary
    remap = distinct.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    nulls = pc.is_null(merged.indices)
    if pc.any(nulls).as_py():
        empty = pc.index(values, "").as_py()
        if empty < 0:
            values = pa.concat_arrays([values, pa.array([""])])
            empty = len(values) - 1
        remap = np.append(remap, np.int32(empty))
        indices = pc.fill_null(merged.indices, len(remap) - 1)
    else:
        indices = merged.indices
    codes = remap[indices.to_numpy(zero_copy_only=False)]
    codes.setflags(write=False)
    return Coded(values, codes)


def _facet(name: str, records: pa.Table, coded: dict[str, Coded]) -> Facet:
    if name in coded:
        return Facet(name, tuple(coded[name].values.to_pylist()), coded[name].codes)
    column = records[name]
    if pa.types.is_boolean(column.type) and not column.null_count:
        flags = column.combine_chunks().to_numpy(zero_copy_only=False)
        return Facet(name, ("false", "true"), flags.view(np.uint8))
    encoded = _coded(pc.fill_null(column.cast(pa.string()), ""))
    return Facet(name, tuple(encoded.values.to_pylist()), encoded.codes)


# --------------------------------------------------------------------------- record details


@dataclass(frozen=True)
class FieldChange:
    """One field of one history row: its value before and after."""

    field: str
    before: Any
    after: Any


def field_changes(before_json: str | None, after_json: str | None) -> list[FieldChange]:
    """The fields a history row changed (before -> after), from its JSON columns, sorted.

    An inserted row (no ``before``) lists every field it set, with ``before`` None.
    """
    before = None if before_json is None else _json_object(before_json)
    return document_changes(before, _json_object(after_json))


def document_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> list[FieldChange]:
    """``field_changes`` of two parsed documents (``before`` None: an insert)."""
    known = before or {}
    return [
        FieldChange(name, known.get(name), after.get(name))
        for name in sorted(set(known) | set(after))
        if before is None or known.get(name) != after.get(name)
    ]


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SnapshotFileError(f"{HISTORY}: a before/after cell is not JSON ({exc})") from exc
    return value if isinstance(value, dict) else {}
