"""Read one snapshot generation into memory, once, in the shape the dashboard needs.

Its job: given the snapshot root, find the generation to show (the current
one, or the newest older one that verifies: ``fmw.snapshot.generations``), read its
files into typed, read-only Arrow tables and build what every search needs
exactly once per generation:

* ``current_records`` comes from its Parquet twin when the generation has one
  (``fmw.snapshot.columnar``: a fraction of a second for a million rows), else
  from the CSV; both give the same table;
* every text column (but the unique ``identity_hash``) is held as integer
  codes into its distinct values (``Coded``), with the CSV guard removed from
  those values (``cells.unguard_array``) so people see real text; a missing
  value is "";
* search: per searched field, the ``normalize.search_key`` of each distinct
  value — a term is matched against the few distinct values and mapped to rows
  through the codes, so a search is a handful of small scans plus one numpy
  gather per field, never a pass over a million strings;
* facet counts are one ``numpy.bincount`` of the codes;
* sort orders are computed on first use per column and kept.

A ``Snapshot`` never changes after construction apart from those lazily
filled, lock-protected caches, so one instance is shared by every session of
the process (the Streamlit edge keeps it in ``st.cache_resource`` keyed by the
generation id). Callers must never mutate its tables or arrays.

A record's history is read on demand: from ``record_history.parquet`` (sorted
by identity, so one small row group is read) or, for a generation without the
twin, from the CSV parsed once on first use.

This module must never import Streamlit, psycopg or SQLAlchemy, and never
write anything: the dashboard reads snapshot files only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fmw.errors import NoSnapshotError, SnapshotError
from fmw.snapshot.columnar import UNIQUE_TEXT, ColumnarError, read_csv, twin_of
from fmw.snapshot.generations import (
    Generation,
    current_pointer,
    latest_good_generation,
    list_generations,
)
from fmw.ui.cells import unguard_array
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

IDENTITY = ("feature_code", "policy_code", "region", "platform")
"""The key fields: the tie-breaker of every sort."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    RECORDS: ("identity_hash", *SEARCH_FIELDS, "status", "is_active"),
    SUMMARY: ("dimension", "value", "status", "records", "active_records"),
    CHANGES: ("history_id", "changed_at", "change", "identity_hash", "batch_id"),
    CONFLICTS: ("identity_hash", "source", "priority", "is_shown", "status"),
    HISTORY: ("identity_hash", "changed_at", "change", "before", "after", "batch_id"),
}


class SnapshotFileError(SnapshotError):
    """A snapshot file verified but cannot be used (a missing column, an unparseable cell)."""


@dataclass(frozen=True)
class Coded:
    """A text column as distinct values plus, per row, the index of its value."""

    values: pa.Array
    """Distinct un-guarded texts (a missing value is "")."""
    codes: np.ndarray
    """int32 per row: an index into ``values``."""

    def code_of(self, value: str) -> int | None:
        """The code of ``value``, or None when no row has it."""
        found = pc.index(self.values, value).as_py()
        return None if found < 0 else found


@dataclass(frozen=True)
class Facet:
    """One filterable column: its distinct values and, per row, the index of its value."""

    name: str
    values: tuple[str, ...]
    codes: np.ndarray

    def code_of(self, value: str) -> int | None:
        try:
            return self.values.index(value)
        except ValueError:
            return None


@dataclass
class Snapshot:
    """One generation, parsed and indexed; shared read-only by every session."""

    root: Path
    generation: Generation
    records: pa.Table
    """current_records: text columns dictionary-typed over un-guarded values."""
    coded: dict[str, Coded]
    search_keys: dict[str, pa.Array]
    """Searched field -> ``search_key`` of each of its distinct values (aligned with codes)."""
    code_keys: dict[str, pa.Array]
    """CODE_FIELDS field -> ``code_key`` of each of its distinct values."""
    facets: dict[str, Facet]
    summary: pa.Table
    changes: pa.Table
    conflicts: pa.Table
    load_seconds: float = 0.0
    present: np.ndarray | None = None
    """Rows that exist in this view (None: all). A view of a past day (``fmw.ui.as_of``)
    keeps every row of the generation and marks the ones not yet loaded then."""
    _identity_order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    _identity_rank: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    _orders: dict[tuple[str, bool], np.ndarray] = field(default_factory=dict, repr=False)
    _history: pa.Table | None = field(default=None, repr=False)
    _derived: dict[Any, Any] = field(default_factory=dict, repr=False)
    _pinned: dict[Any, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def id(self) -> str:
        return self.generation.id

    def row_index(self, identity_hash: str) -> int | None:
        """The records row of one identity, or None (a vectorized scan: milliseconds)."""
        row = pc.index(self.records["identity_hash"], identity_hash).as_py()
        return None if row < 0 else row

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

    def sort_order(self, column: str, *, descending: bool = False) -> np.ndarray:
        """Row indices of all records sorted by ``column`` (then the identity), computed once.

        Missing values sort last in both directions; ties are broken by the
        identity (feature code, policy code, region, platform), ascending.
        One sort of a single int64 key: the column's rank times the row count
        plus the row's identity rank (computed at load).
        """
        if column == IDENTITY[0] and not descending:
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
        order = np.argsort(primary * max(rows, 1) + self._identity_rank).astype(np.int64)
        order.setflags(write=False)
        with self._lock:
            return self._orders.setdefault(key, order)

    def history(self, identity_hash: str) -> pa.Table:
        """One record's timeline, oldest first, ``before``/``after`` still JSON text."""
        twin = twin_of(HISTORY)
        if twin in self.generation.files:
            where = f"generation {self.id}: {twin}"
            try:
                rows = pq.read_table(
                    self.generation.path(twin), filters=[("identity_hash", "=", identity_hash)]
                )
            except (OSError, pa.ArrowException) as exc:
                raise SnapshotFileError(f"{where} cannot be read: {exc}") from exc
            rows = _unguarded(rows)
        else:
            table = self._history_table()
            rows = table.filter(pc.equal(table["identity_hash"], identity_hash))
        return rows.sort_by([("changed_at", "ascending"), ("history_id", "ascending")])

    def _history_table(self) -> pa.Table:
        with self._lock:
            if self._history is None:
                self._history = read_table(self.generation, HISTORY)
            return self._history

    def history_columns(self, columns: list[str]) -> pa.Table:
        """Some columns of every history row (from the Parquet twin when there is one)."""
        twin = twin_of(HISTORY)
        if twin not in self.generation.files:
            return self._history_table().select(columns)
        try:
            return _unguarded(pq.read_table(self.generation.path(twin), columns=columns))
        except (OSError, pa.ArrowException) as exc:
            raise SnapshotFileError(f"generation {self.id}: {twin} cannot be read: {exc}") from exc

    def cached(self, key: Any, build: Any, *, keep: int = 4, pin: bool = False) -> Any:
        """``build()`` once per ``key`` for this generation, shared by every session.

        At most ``keep`` results stay (the oldest is dropped), except ``pin``-ned ones
        (the history index), kept as long as the generation. Built outside the lock, so
        two sessions may build the same thing once each; the first one kept wins.
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


def resolve(root: Path) -> tuple[Generation, list[str]]:
    """The generation to show (verified) and the problems of the newer ones skipped.

    Raises NoSnapshotError when nothing was ever published, SnapshotError when
    no generation verifies.
    """
    root = Path(root)
    if current_pointer(root) is None and not list_generations(root):
        raise NoSnapshotError(f"no snapshot yet under {root}: run `fmw demo` or `fmw sync`")
    return latest_good_generation(root, verify_only=files_read)


def files_read(names: list[str]) -> list[str]:
    """The files the dashboard reads (and so verifies): a CSV with a Parquet twin is not."""
    present = set(names)
    return [name for name in names if twin_of(name) not in present]


def load_snapshot(root: Path) -> tuple[Snapshot, list[str]]:
    """``resolve`` then ``parse``: the snapshot to show, ready to search, and the
    problems of the newer generations skipped (empty when the newest is shown)."""
    generation, problems = resolve(root)
    return parse(Path(root), generation), problems


def parse(root: Path, generation: Generation) -> Snapshot:
    """Read and index one (verified) generation."""
    started = time.perf_counter()
    raw = _read_records(generation)
    coded = {
        name: _coded(raw[name])
        for name in raw.column_names
        if pa.types.is_string(_value_type(raw[name].type)) and name not in UNIQUE_TEXT
    }
    records = _table(raw, coded)
    snapshot = Snapshot(
        root=root,
        generation=generation,
        records=records,
        coded=coded,
        search_keys={name: search_key_array(coded[name].values) for name in SEARCH_FIELDS},
        code_keys={name: code_key_array(coded[name].values) for name in CODE_FIELDS},
        facets={
            name: _facet(name, records, coded) for name in FACETS if name in records.column_names
        },
        summary=read_table(generation, SUMMARY),
        changes=read_table(generation, CHANGES),
        conflicts=read_table(generation, CONFLICTS),
    )
    _index_identity(snapshot)
    snapshot.load_seconds = time.perf_counter() - started
    return snapshot


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
    plain = {name: c for name, c in columns.items() if not isinstance(c, Coded)}
    base = pa.table(
        [plain.get(name, parent.records[name]) for name in parent.records.column_names],
        names=parent.records.column_names,
    )
    records = _table(base, coded, only=[n for n in columns if n in coded], parent=parent.records)
    snapshot = Snapshot(
        root=parent.root,
        generation=parent.generation,
        records=records,
        coded=coded,
        search_keys={
            name: search_key_array(coded[name].values) if name in columns else key
            for name, key in parent.search_keys.items()
        },
        code_keys={
            name: code_key_array(coded[name].values) if name in columns else key
            for name, key in parent.code_keys.items()
        },
        facets={
            name: _facet(name, records, coded) if name in columns else facet
            for name, facet in parent.facets.items()
        },
        summary=parent.summary,
        changes=parent.changes,
        conflicts=parent.conflicts,
        present=present,
    )
    if any(name in columns for name in IDENTITY):
        _index_identity(snapshot)
    else:
        snapshot._identity_order = parent._identity_order
        snapshot._identity_rank = parent._identity_rank
    return snapshot


def _table(
    raw: pa.Table,
    coded: dict[str, Coded],
    *,
    only: list[str] | None = None,
    parent: pa.Table | None = None,
) -> pa.Table:
    """``raw`` with its coded columns as dictionary columns (``only`` those, the others
    taken from ``parent`` as they are)."""
    columns = []
    for name in raw.column_names:
        if name in coded and (only is None or name in only):
            dictionary = pa.DictionaryArray.from_arrays(
                pa.array(coded[name].codes), coded[name].values
            )
            columns.append(pa.chunked_array([dictionary]))
        elif parent is not None and name in coded:
            columns.append(parent[name])
        else:
            columns.append(raw[name])
    return pa.table(columns, names=raw.column_names)


def _index_identity(snapshot: Snapshot) -> None:
    """The identity sort order and each row's place in it (the tie-breaker of every sort)."""
    snapshot._identity_order = _identity_order(snapshot)
    rank = np.empty(snapshot.records.num_rows, dtype=np.int64)
    rank[snapshot._identity_order] = np.arange(snapshot.records.num_rows, dtype=np.int64)
    snapshot._identity_rank = rank


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


def read_table(generation: Generation, name: str) -> pa.Table:
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
    return _unguarded(table)


def _read_records(generation: Generation) -> pa.Table:
    """current_records as typed columns, text still guarded: from the twin when there is one."""
    twin = twin_of(RECORDS)
    if twin not in generation.files:
        where = f"generation {generation.id}: {RECORDS}"
        try:
            table = read_csv(generation.path(RECORDS))
        except (ColumnarError, OSError) as exc:
            raise SnapshotFileError(f"{where} cannot be read: {exc}") from exc
        _check_columns(table, RECORDS, where)
        return table
    where = f"generation {generation.id}: {twin}"
    try:
        schema = pq.read_schema(generation.path(twin))
        text = [f.name for f in schema if pa.types.is_string(f.type) and f.name not in UNIQUE_TEXT]
        table = pq.read_table(generation.path(twin), read_dictionary=text)
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotFileError(f"{where} cannot be read: {exc}") from exc
    _check_columns(table, RECORDS, where)
    return table


def _check_columns(table: pa.Table, name: str, where: str) -> None:
    missing = [c for c in _REQUIRED.get(name, ()) if c not in table.column_names]
    if missing:
        raise SnapshotFileError(f"{where} has no column {', '.join(missing)}")


def _value_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _unguarded(table: pa.Table) -> pa.Table:
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        guarded = pa.types.is_string(column.type) and name not in ("before", "after")
        columns.append(unguard_array(column) if guarded else column)
    return pa.table(columns, names=table.column_names)


def _coded(column: pa.ChunkedArray) -> Coded:
    """Distinct un-guarded values and per-row codes of a text column (plain or dictionary)."""
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
    if pa.types.is_boolean(column.type):
        column = pc.if_else(column, "true", "false")
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
    before = _json_object(before_json)
    after = _json_object(after_json)
    names = sorted(set(before) | set(after))
    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in names
        if before_json is None or before.get(name) != after.get(name)
    ]


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SnapshotFileError(f"{HISTORY}: a before/after cell is not JSON ({exc})") from exc
    return value if isinstance(value, dict) else {}
