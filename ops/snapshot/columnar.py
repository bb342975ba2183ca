"""Typed reading of snapshot CSV files, and their Parquet twins for fast readers.

Its job: one definition of the snapshot files' column types (the non-text
columns of db/schema/40_snapshot.sql; every other column is text), used both
to read a CSV (``read_csv``) and to write a columnar *twin* of the big files
into the same generation (``write_parquet_twins``), so the dashboard can load
a million records in a fraction of a second and look up one record's history
without holding the whole history in memory:

* ``current_records.parquet``: the same rows in the same order as the CSV;
  text columns dictionary-encoded (few distinct values), ``identity_hash``
  plain and uncompressed (unique values: the fastest to read);
* ``record_history.parquet``: sorted by ``identity_hash`` then ``history_id``
  in row groups of ``HISTORY_ROW_GROUP`` rows, so a reader filtering on one
  identity reads one row group (min/max statistics) instead of the file.

A twin is converted from the CSV just written, so it holds exactly the CSV's
values (text cells still guarded by ``snapshot.csv_safe``; a NULL stays null,
an empty text stays ""). The CSV files stay: people open them in Excel.

Any row the loader accepts must convert: Arrow reads a CSV in blocks and
refuses a row longer than a block, and a record at the loader's limits (cells
of 32,767 characters, many times longer after NFKC; its history row holds it
twice) is tens of MiB. A file Arrow refuses is read again in blocks sized to
its longest row (``_longest_line``), so the common case costs nothing extra.

This module must never talk to the database and never change a CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

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
}
"""Non-text columns of the snapshot files; every other column is text."""

UNIQUE_TEXT = ("identity_hash", "before", "after")
"""Text columns with (nearly) unique values: never dictionary-encoded."""
UNCOMPRESSED = ("identity_hash",)
"""Random hex: compression gains nothing there and costs read time."""

RECORDS_ROW_GROUP = 128 * 1024
HISTORY_ROW_GROUP = 8 * 1024
_WRITE_CHUNK = 4 * HISTORY_ROW_GROUP  # rows sorted at a time: more costs memory, not time
_STREAM_BLOCK = 1 << 20  # CSV bytes per streamed batch: Arrow reads several blocks ahead
_READ_BLOCK = 8 << 20  # CSV bytes per block when a whole file is read
_MAX_BLOCK = (1 << 31) - 1  # Arrow's block size is a 32-bit integer
_SCAN_CHUNK = 8 << 20

TWINS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "current_records.csv": ("current_records.parquet", (), RECORDS_ROW_GROUP),
    "record_history.csv": (
        "record_history.parquet",
        ("identity_hash", "history_id"),
        HISTORY_ROW_GROUP,
    ),
}
"""CSV file -> (twin file, sort columns (empty: CSV order), rows per row group)."""


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


def twin_of(csv_name: str) -> str | None:
    """The Parquet twin's file name for a snapshot CSV, or None when it has none."""
    twin = TWINS.get(csv_name)
    return twin[0] if twin else None


def write_parquet_twins(
    folder: Path,
    written: Mapping[str, object],
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> dict[str, int]:
    """Write the twin of every CSV in ``written`` that has one; return {twin: rows}."""
    counts: dict[str, int] = {}
    for csv_name in TWINS:
        if csv_name in written:
            twin, rows = write_parquet_twin(folder, csv_name)
            counts[twin] = rows
            progress(f"exported {twin}: {rows:,} rows")
    return counts


def write_parquet_twin(folder: Path, csv_name: str) -> tuple[str, int]:
    """Write the twin of ``folder / csv_name`` (a key of TWINS); return (twin name, rows).

    A twin in CSV order is converted while the CSV streams through, one row group at a
    time, so it never holds the whole file; a sorted twin needs the whole table.
    """
    twin, sort_by, row_group = TWINS[csv_name]
    source, target = folder / csv_name, folder / twin
    if sort_by:
        table = read_csv(source)
        _write_sorted(table, target, sort_by, row_group)
        return twin, table.num_rows
    rows = _with_room(
        source, _STREAM_BLOCK, lambda block: _write_streamed(source, target, row_group, block)
    )
    return twin, rows


def _writer(target: Path, schema: pa.Schema) -> pq.ParquetWriter:
    names = schema.names
    # ParquetWriter is unannotated, so pyright types each parameter by its default value.
    return pq.ParquetWriter(
        target,
        schema,
        compression={n: ("none" if n in UNCOMPRESSED else "zstd") for n in names},  # pyright: ignore[reportArgumentType]  # not only str
        use_dictionary=[n for n in names if n not in UNIQUE_TEXT],  # pyright: ignore[reportArgumentType]  # not only bool
        write_statistics=True,
    )


def _write_streamed(source: Path, target: Path, row_group: int, block: int) -> int:
    """Copy the CSV into Parquet row groups of ``row_group`` rows, in CSV order (anew)."""
    reader = pv.open_csv(source, **_csv_options(source, block))
    rows = pending_rows = 0
    pending: list[pa.RecordBatch] = []
    with _writer(target, reader.schema) as writer:
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows < row_group:
                continue
            gathered = pa.Table.from_batches(pending, reader.schema)
            full = pending_rows - pending_rows % row_group
            writer.write_table(gathered.slice(0, full), row_group_size=row_group)
            pending, pending_rows = gathered.slice(full).to_batches(), pending_rows - full
            rows += full
        rest = pa.Table.from_batches(pending, reader.schema)
        if rest.num_rows or not rows:
            writer.write_table(rest, row_group_size=row_group)
    return rows + rest.num_rows


def _write_sorted(table: pa.Table, target: Path, sort_by: tuple[str, ...], row_group: int) -> None:
    keys = [(name, "ascending") for name in sort_by if name in table.column_names]
    order = pc.sort_indices(table, sort_keys=keys)
    with _writer(target, table.schema) as writer:
        for start in range(0, table.num_rows, _WRITE_CHUNK):
            chunk = _take(table, order.slice(start, _WRITE_CHUNK))
            writer.write_table(chunk, row_group_size=row_group)


def _take(table: pa.Table, indices: pa.Array) -> pa.Table:
    """``table.take(indices)`` without the whole-column copy Arrow makes of a chunked string column.

    Arrow's take from a many-chunk text column first joins its chunks into one
    (here: every before/after document, hundreds of MiB, once per slice); this
    takes from each chunk alone what it holds, then puts the rows in order.
    """
    pieces: list[pa.Table] = []
    positions: list[pa.Array] = []
    start = 0
    for batch in table.to_batches():
        end = start + batch.num_rows
        inside = pc.and_(pc.greater_equal(indices, start), pc.less(indices, end))
        if pc.any(inside).as_py():
            local = pc.subtract(pc.filter(indices, inside), start)
            pieces.append(pa.Table.from_batches([batch.take(local)]))
            positions.append(pc.indices_nonzero(inside))
        start = end
    gathered = pa.concat_tables(pieces, promote_options="none").combine_chunks()
    return gathered.take(pc.sort_indices(pa.concat_arrays(positions)))
