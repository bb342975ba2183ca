"""Arrow IPC files of the object store: written once, then mapped into memory to be read.

Its job: the one way FMW writes the dashboard's files (``write_object``: through a
hashing writer into a temporary file of the store, fsynced, then put under its
content's name) and the one way it reads them (``Mapped``: the file mapped read-only,
its arrays pointing into the mapping). Nothing is parsed or copied on reading, so a
new process is ready at once and every process mapping a file shares one copy of it
in the operating system's page cache.

Windows: a mapped file cannot be deleted or replaced. Objects are never replaced
(a new content is a new object), and retention defers deleting an object a process
maps (``fmw.snapshot.store.prune``). ``Mapped.release`` gives this process's pages of
a file back (they stay in the page cache), so reading a whole file once, as the
export and verification do, does not keep it in the process's resident memory.

This module must never map the snapshot pointer or a manifest (small files are read
whole and closed at once), never write into a mapped file, and never talk to the
database.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from fmw.errors import SnapshotError
from fmw.snapshot import store
from fmw.snapshot.generations import HashingWriter, SnapshotFile, fsync_file

HASH_CHUNK = 1 << 20  # a multiple of every page size: each chunk can be given back


class ObjectWriter:
    """Write record batches as one Arrow IPC file into the store, one batch at a time.

    ``close()`` fsyncs the file, puts it into the store and returns its manifest entry
    (``rows`` counts the rows written); ``discard()`` (or an exception inside a ``with``
    block) leaves nothing in the store.
    """

    def __init__(
        self, root: Path, name: str, schema: pa.Schema, *, compression: str | None = None
    ) -> None:
        self._root, self._name = Path(root), name
        self._temp = store.new_temp(root, name)
        self._out = HashingWriter(self._temp).__enter__()
        options = ipc.IpcWriteOptions(compression=compression)
        self._writer = ipc.new_file(pa.PythonFile(self._out, mode="w"), schema, options=options)
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self, name: str | None = None) -> SnapshotFile:
        """Finish the file as logical file ``name`` (default: the name it was opened with)."""
        name = name or self._name
        try:
            self._writer.close()
            self._out.__exit__(None, None, None)
            hashed = self._out.hashed(self.rows)
            fsync_file(self._temp)
            stored = store.put(self._root, self._temp, name, hashed.sha256, hashed.bytes)
        except BaseException:
            self.discard()
            raise
        return SnapshotFile(name, self.rows, hashed.sha256, hashed.bytes, stored)

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            self._out.__exit__(ValueError, None, None)
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if exc_type is not None:
            self.discard()


def write_object(
    root: Path,
    name: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    compression: str | None = None,
) -> SnapshotFile:
    """Write ``batches`` as the Arrow IPC file ``name`` into the store; its manifest entry."""
    with ObjectWriter(root, name, schema, compression=compression) as writer:
        for batch in batches:
            writer.write(batch)
        return writer.close()


def write_array(root: Path, name: str, column: str, values: pa.Array) -> SnapshotFile:
    """One column in one batch: a records file, or the identity order."""
    schema = pa.schema([pa.field(column, values.type)])
    return write_object(root, name, schema, [pa.record_batch([values], schema=schema)])


class Mapped:
    """One Arrow IPC file, mapped read-only; its batches' arrays point into the mapping."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with self.path.open("rb") as handle:  # the mapping keeps its own handle
                self.opened = os.fstat(handle.fileno())
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._buffer = pa.py_buffer(self._map)
            self._reader = ipc.open_file(pa.BufferReader(self._buffer))
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise SnapshotError(f"{self.path.name} cannot be mapped: {exc}") from exc

    @property
    def schema(self) -> pa.Schema:
        return self._reader.schema

    @property
    def batches(self) -> int:
        return self._reader.num_record_batches

    def batch(self, index: int, columns: list[str] | None = None) -> pa.RecordBatch:
        """Batch ``index`` (only ``columns``, when given): zero-copy unless compressed."""
        try:
            if columns is None:
                return self._reader.get_batch(index)
            fields = [self.schema.get_field_index(name) for name in columns]
            options = ipc.IpcReadOptions(included_fields=fields, use_threads=False)
            return ipc.open_file(pa.BufferReader(self._buffer), options=options).get_batch(index)
        except (OSError, pa.ArrowException) as exc:
            raise SnapshotError(f"{self.path.name}: batch {index} cannot be read: {exc}") from exc

    def table(self) -> pa.Table:
        """Every batch, as one table (zero-copy unless compressed)."""
        return pa.Table.from_batches([self.batch(i) for i in range(self.batches)], self.schema)

    def column(self, name: str | None = None) -> pa.Array:
        """A column of a one-batch file (the first column when no name is given)."""
        if self.batches != 1:
            raise SnapshotError(f"{self.path.name} holds {self.batches} batches, not one")
        batch = self.batch(0)
        return batch.column(0) if name is None else batch.column(name)

    def digest(self) -> tuple[int, str]:
        """(size, SHA-256) of the bytes mapped, a chunk at a time, each given back after."""
        sha256 = hashlib.sha256()
        view = memoryview(self._map)
        try:
            for start in range(0, len(view), HASH_CHUNK):
                sha256.update(view[start : start + HASH_CHUNK])
                self.release(start, HASH_CHUNK)
        finally:
            view.release()
        return len(self._map), sha256.hexdigest()

    def release(self, start: int = 0, length: int | None = None) -> None:
        """Give this process's pages of the file (or of ``length`` bytes from ``start``, a
        multiple of the page size) back; the page cache keeps them."""
        advise = getattr(self._map, "madvise", None)
        dont_need = getattr(mmap, "MADV_DONTNEED", None)
        if advise is not None and dont_need is not None:
            with contextlib.suppress(OSError, ValueError):
                advise(dont_need, start, min(length or len(self._map), len(self._map) - start))
