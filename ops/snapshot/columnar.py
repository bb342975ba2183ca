"""Typed reading of snapshot CSV files: the one definition of the snapshot's column types.

Its job: the non-text columns of db/schema/40_snapshot.sql (every other column is
text), used to read a CSV whole (``read_csv``: the small files the dashboard reads,
a format-1 generation's files) or batch by batch (``stream_csv``: what the export
COPYs out of PostgreSQL on its way into the mapped files). Text is read exactly as
written: a NULL stays null, an empty text stays "".

Any row the loader accepts must read: Arrow reads a CSV in blocks and refuses a row
longer than a block, and a record at the loader's limits (cells of 32,767
characters, many times longer after NFKC; its history row holds it twice) is tens
of MiB. A file Arrow refuses is read again in blocks sized to its longest row
(``_longest_line``), so the common case costs nothing extra.

This module must never talk to the database and never change a CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.csv as pv

from fmw.errors import SnapshotError

TIMESTAMP = pa.timestamp("us", tz="UTC")
COLUMN_TYPES: dict[str, pa.DataType] = {
    "is_active": pa.bool_(),
    "has_conflict": pa.bool_(),
    "is_shown": pa.bool_(),
    "source_row": pa.int64(),
    "source_count": pa.int64(),
    "priority": pa.int64(),
    "records": pa.int64(),
    "active_records": pa.int64(),
    "history_id": pa.int64(),
    "batch_id": pa.int64(),
    "effective_from": pa.date32(),
    "effective_to": pa.date32(),
    "first_seen_at": TIMESTAMP,
    "last_changed_at": TIMESTAMP,
    "changed_at": TIMESTAMP,
    "previous_changed_at": TIMESTAMP,
}
"""Non-text columns of the snapshot files; every other column is text."""

UNIQUE_TEXT = ("identity_hash", "before", "after")
"""Text columns with (nearly) unique values: never dictionary-encoded."""

_STREAM_BLOCK = 1 << 20  # CSV bytes per streamed batch
_READ_BLOCK = 8 << 20  # CSV bytes per block when a whole file is read
_MAX_BLOCK = (1 << 31) - 1  # Arrow's block size is a 32-bit integer
_SCAN_CHUNK = 8 << 20


class ColumnarError(SnapshotError, ValueError):
    """A snapshot CSV file cannot be read as typed columns."""


T = TypeVar("T")


def header(path: Path) -> list[str]:
    """Column names from a snapshot file's first line (after the UTF-8 BOM)."""
    with Path(path).open("rb") as handle:
        first = handle.readline()
    text = first.decode("utf-8-sig").rstrip("\r\n")
    return [name.strip('"') for name in text.split(",")] if text else []


def _csv_options(path: Path, block_size: int) -> dict[str, object]:
    names = header(path)
    return {
        "read_options": pv.ReadOptions(use_threads=True, block_size=block_size),
        "convert_options": pv.ConvertOptions(
            column_types={n: COLUMN_TYPES.get(n, pa.string()) for n in names},
            true_values=["t"],
            false_values=["f"],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    }


def read_csv(path: Path) -> pa.Table:
    """A snapshot CSV as typed columns, text exactly as written (NULL: null, empty: "")."""
    return _with_room(
        path, _READ_BLOCK, lambda block: pv.read_csv(path, **_csv_options(path, block))
    )


def stream_csv(path: Path, consume: Callable[[Iterator[pa.RecordBatch]], T]) -> T:
    """``consume`` the CSV's typed batches (in file order, a block at a time).

    When Arrow refuses a row longer than its blocks, ``consume`` is called again
    from the start, in blocks that hold the longest row: it must start afresh.
    """

    def batches(block: int) -> Iterator[pa.RecordBatch]:
        yield from pv.open_csv(path, **_csv_options(path, block))

    return _with_room(path, _STREAM_BLOCK, lambda block: consume(batches(block)))


def _with_room(path: Path, block: int, read: Callable[[int], T]) -> T:
    """``read(block)``; if Arrow refuses, again with blocks that hold the file's longest row.

    ColumnarError when it is refused either way (it is then not about room).
    """
    try:
        try:
            return read(block)
        except pa.ArrowInvalid:
            roomy = min(_MAX_BLOCK, 2 * _longest_line(path) + (1 << 20))
            if roomy <= block:
                raise
            return read(roomy)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ColumnarError(f"{Path(path).name}: {exc}") from exc


def _longest_line(path: Path) -> int:
    """The length in bytes of the file's longest line (a snapshot row is one line)."""
    longest = run = 0
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            first, last = chunk.find(b"\n"), chunk.rfind(b"\n")
            if first == -1:
                run += len(chunk)
                continue
            inner = max(map(len, chunk[first + 1 : last].split(b"\n"))) if last > first else 0
            longest = max(longest, run + first, inner)
            run = len(chunk) - last - 1
    return max(longest, run)
