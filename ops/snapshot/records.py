"""The records' column files of a mapped generation: written in full, or carried forward.

Its job: turn ``snapshot.current_records`` rows into the files ``fmw.snapshot.layout``
describes, one column at a time so that memory holds one column, never the table:

* ``write_all``: every column from scratch (a full export); the rows' order is their
  ordinal (record order), ``order.identity_hash.arrow`` sorts them by identity;
* ``merge``: the previous generation's columns with the records a day changed:
  a changed record keeps its ordinal, a new record is appended. A column whose values
  did not change is the previous generation's object, referred to again, not written;
  a text column's distinct values are exactly those its rows use, and its codes are the
  narrowest integers that index them.

Both return an ``Index`` that finds the ordinal of an identity (binary search through
the identity order, vectorized), which the history segments store per row.

Values are kept as the database gave them (no CSV guard); a missing text is "" in a
dictionary column (``layout``). This module must never talk to the database and never
change a column's values, only their encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.errors import SnapshotError
from fmw.snapshot import layout, store
from fmw.snapshot.columnar import COLUMN_TYPES
from fmw.snapshot.generations import Generation, SnapshotFile, verify_file
from fmw.snapshot.mapped import Mapped, write_array

KEY_BYTES = 64
"""An identity_hash is 64 lowercase hex digits (core.record's CHECK)."""
ORDINAL = "ordinal"

Files = dict[str, SnapshotFile]


@dataclass(frozen=True)
class Index:
    """Finds records by identity: their identities in record order and the identity order,
    both read from the mapped files (a search reads them only where it probes)."""

    keys: np.ndarray
    """dtype S64: each record's identity_hash, by ordinal."""
    order: np.ndarray
    """int32: the ordinals sorted by identity_hash."""
    mapped: tuple[Mapped, ...] = ()

    def find(self, identities: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The ordinal of each identity (int64), -1 where no record has it."""
        found = find(self.keys, self.order, identity_keys(identities))[0]
        for file in self.mapped:  # many searches touch every page: give them back
            file.release()
        return found


def index_of(root: Path, files: Files) -> Index:
    """The Index of the records files ``files`` (objects under ``root``), mapped."""
    identities = Mapped(
        store.object_path(root, _object(files, layout.records_file(layout.IDENTITY)))
    )
    order = Mapped(store.object_path(root, _object(files, layout.IDENTITY_ORDER)))
    keys = identity_keys(identities.column())
    ordinals = order.column().to_numpy(zero_copy_only=True)
    if len(ordinals) != len(keys):
        raise SnapshotError(f"the identity order has {len(ordinals)} rows, the records {len(keys)}")
    return Index(keys, ordinals, (identities, order))


def _object(files: Files, name: str) -> str:
    stored = files[name].object
    if stored is None:
        raise SnapshotError(f"{name} is not an object of the store")
    return stored


def identity_keys(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Identities as a numpy ``S64`` array, over the Arrow buffer when it is one chunk.

    SnapshotError unless every value is 64 bytes (a damaged or foreign file).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if len(values) == 0:
        return np.zeros(0, dtype=f"S{KEY_BYTES}")
    if values.null_count or not pa.types.is_string(values.type):
        raise SnapshotError("identity_hash has missing or non-text values")
    offsets = np.frombuffer(
        values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4
    )
    if not (np.diff(offsets) == KEY_BYTES).all():
        raise SnapshotError(f"identity_hash values are not all {KEY_BYTES} characters")
    return np.frombuffer(
        values.buffers()[2], dtype=f"S{KEY_BYTES}", count=len(values), offset=int(offsets[0])
    )


def find(keys: np.ndarray, order: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ordinal or -1, place in the identity order) of each target: a vectorized binary
    search that reads ``keys`` only at the probed places (it may be a mapped file)."""
    count = len(order)
    low = np.zeros(len(targets), dtype=np.int64)
    high = np.full(len(targets), count, dtype=np.int64)
    while True:
        active = np.flatnonzero(low < high)
        if not len(active):
            break
        middle = (low[active] + high[active]) // 2
        less = keys[order[middle]] < targets[active]
        low[active] = np.where(less, middle + 1, low[active])
        high[active] = np.where(less, high[active], middle)
    ordinals = np.full(len(targets), -1, dtype=np.int64)
    inside = np.flatnonzero(low < count)
    hit = inside[keys[order[low[inside]]] == targets[inside]]
    ordinals[hit] = order[low[hit]]
    return ordinals, low


def is_text(name: str) -> bool:
    return name != layout.IDENTITY and name not in COLUMN_TYPES


def encode(name: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as the records files hold it (one chunk; text as a dictionary, ``coded``)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if name == layout.IDENTITY:
        identity_keys(values)  # checks the width
        return values
    if not is_text(name):
        return values.cast(COLUMN_TYPES[name])
    texts = pc.fill_null(values.cast(pa.string()), "")
    encoded = pc.dictionary_encode(texts)
    return coded(encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary)


def coded(codes: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    """A text column from its codes, kept in the narrowest signed integers that index
    ``dictionary`` (int8 up to 128 distinct values, int16 up to 32,768, else int32): a
    filter or a search reads every row's code, so a column of few values costs each
    dashboard process a quarter of the memory of int32 codes."""
    largest = len(dictionary) - 1
    kind = next((k for k in (np.int8, np.int16) if largest <= np.iinfo(k).max), np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(kind)), dictionary)


def write_all(
    root: Path, columns: list[str], column: Callable[[str], pa.Array | pa.ChunkedArray]
) -> tuple[Files, Index]:
    """Write every column (``column(name)`` gives its values, in record order)."""
    files: Files = {}
    for name in columns:
        file = layout.records_file(name)
        values = encode(name, column(name))
        files[file] = write_array(root, file, name, values)
        if name == layout.IDENTITY:
            order = np.argsort(identity_keys(values), kind="stable").astype(np.int32)
            files[layout.IDENTITY_ORDER] = write_array(
                root, layout.IDENTITY_ORDER, ORDINAL, pa.array(order)
            )
        del values
        pa.default_memory_pool().release_unused()
    return files, index_of(root, files)


def merge(
    root: Path, previous: Generation, columns: list[str], changed: pa.Table
) -> tuple[Files, Index]:
    """The previous generation's records with ``changed`` (current_records rows, typed)
    merged in: each column written anew, or the previous object when it did not change.

    Every previous file read is verified first (its SHA-256), so a damaged file is never
    carried forward; SnapshotError says which.
    """
    merger = _Merge(root, previous, changed)
    files = {layout.records_file(name): merger.column(name) for name in columns}
    files[layout.IDENTITY_ORDER] = merger.identity_order()
    return files, index_of(root, files)


class _Merge:
    """Where each changed row goes: an existing record's ordinal, or a new one appended."""

    def __init__(self, root: Path, previous: Generation, changed: pa.Table) -> None:
        self.root, self.previous, self.changed = root, previous, changed
        self.old_ids = self._column(layout.records_file(layout.IDENTITY))
        old_keys = identity_keys(self.old_ids)
        self.old_order = self._column(layout.IDENTITY_ORDER).to_numpy(zero_copy_only=True)
        self.old_count = len(old_keys)
        if len(self.old_order) != self.old_count:
            raise SnapshotError(
                f"generation {previous.id}: the identity order has {len(self.old_order)} rows, "
                f"the records {self.old_count}"
            )
        keys = identity_keys(changed[layout.IDENTITY])
        ordinals, places = find(old_keys, self.old_order, keys)
        self.existing = np.flatnonzero(ordinals >= 0)
        """Rows of ``changed`` that update a record; ``self.updated`` their ordinals."""
        self.updated = ordinals[self.existing]
        fresh = np.flatnonzero(ordinals < 0)
        self.fresh = fresh[np.argsort(keys[fresh], kind="stable")]
        """Rows of ``changed`` that are new records, by identity: ordinals old_count, ..."""
        self.places = places[self.fresh]
        self.count = self.old_count + len(self.fresh)

    def _column(self, name: str) -> pa.Array:
        verify_file(self.previous, name)
        return Mapped(self.previous.path(name)).column()

    def identity_order(self) -> SnapshotFile:
        """The identity order with the new records inserted where their identities sort."""
        if not len(self.fresh):
            return self.previous.files[layout.IDENTITY_ORDER]
        new = np.arange(self.old_count, self.count, dtype=np.int32)
        order = np.insert(self.old_order, self.places, new).astype(np.int32)
        return write_array(self.root, layout.IDENTITY_ORDER, ORDINAL, pa.array(order))

    def column(self, name: str) -> SnapshotFile:
        file = layout.records_file(name)
        old = self.old_ids if name == layout.IDENTITY else self._column(file)
        new = self.changed[name]
        if is_text(name):
            values = self._text(old, new)
        else:
            values = self._plain(old, new.combine_chunks().cast(old.type))
        if values is None:
            return self.previous.files[file]
        written = write_array(self.root, file, name, values)
        del values
        pa.default_memory_pool().release_unused()
        return written

    def _plain(self, old: pa.Array, new: pa.Array) -> pa.Array | None:
        if not len(self.fresh):
            before = old.take(pa.array(self.updated))
            if before.equals(new.take(pa.array(self.existing))):
                return None
        take = np.arange(self.count, dtype=np.int64)
        take[self.updated] = self.old_count + self.existing
        take[self.old_count :] = self.old_count + self.fresh
        return pa.concat_arrays([old, new]).take(pa.array(take))

    def _text(self, old: pa.DictionaryArray, new: pa.ChunkedArray) -> pa.Array | None:
        texts = pc.fill_null(new.combine_chunks().cast(pa.string()), "")
        dictionary = old.dictionary
        known = pc.index_in(texts, value_set=dictionary)
        codes = old.indices.to_numpy(zero_copy_only=True)
        if not len(self.fresh) and not known.null_count:
            found = known.to_numpy(zero_copy_only=False)
            if (found[self.existing] == codes[self.updated]).all():
                return None
        if known.null_count:
            unknown = pc.unique(texts.filter(pc.is_null(known)))
            dictionary = pa.concat_arrays([dictionary, unknown])
        found = pc.index_in(texts, value_set=dictionary).to_numpy(zero_copy_only=False)
        merged = np.empty(self.count, dtype=np.int32)
        merged[: self.old_count] = codes
        merged[self.updated] = found[self.existing]
        merged[self.old_count :] = found[self.fresh]
        used = np.bincount(merged, minlength=len(dictionary)) > 0
        if not used.all():  # a value no record has any more: gone from the column
            merged = (np.cumsum(used) - 1).astype(np.int32)[merged]
            dictionary = dictionary.filter(pa.array(used))
        return coded(merged, dictionary)
