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

This module must never talk to the database and never change a CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

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
_WRITE_CHUNK = 16 * HISTORY_ROW_GROUP

TWINS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "current_records.csv": ("current_records.parquet", (), RECORDS_ROW_GROUP),
    "record_history.csv": (
        "record_history.parquet",
        ("identity_hash", "history_id"),
        HISTORY_ROW_GROUP,
    ),
}
"""CSV file -> (twin file, sort columns (empty: CSV order), rows per row group)."""


class ColumnarError(ValueError):
    """A snapshot CSV file cannot be read as typed columns."""


def header(path: Path) -> list[str]:
    """Column names from a snapshot file's first line (after the UTF-8 BOM)."""
    with Path(path).open("rb") as handle:
        first = handle.readline()
    text = first.decode("utf-8-sig").rstrip("\r\n")
    return [name.strip('"') for name in text.split(",")] if text else []


def read_csv(path: Path) -> pa.Table:
    """A snapshot CSV as typed columns, text exactly as written (NULL: null, empty: "")."""
    names = header(path)
    try:
        return pv.read_csv(
            path,
            read_options=pv.ReadOptions(use_threads=True, block_size=8 << 20),
            convert_options=pv.ConvertOptions(
                column_types={n: COLUMN_TYPES.get(n, pa.string()) for n in names},
                true_values=["t"],
                false_values=["f"],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ColumnarError(f"{Path(path).name}: {exc}") from exc


def twin_of(csv_name: str) -> str | None:
    """The Parquet twin's file name for a snapshot CSV, or None when it has none."""
    twin = TWINS.get(csv_name)
    return twin[0] if twin else None


def write_parquet_twins(
    folder: Path,
    written: Mapping[str, int],
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> dict[str, int]:
    """Write the twin of every CSV in ``written`` that has one; return {twin: rows}."""
    counts: dict[str, int] = {}
    for csv_name, (twin, sort_by, row_group) in TWINS.items():
        if csv_name not in written:
            continue
        table = read_csv(folder / csv_name)
        _write(table, folder / twin, sort_by, row_group)
        counts[twin] = table.num_rows
        progress(f"exported {twin}: {table.num_rows:,} rows")
    return counts


def _write(table: pa.Table, target: Path, sort_by: tuple[str, ...], row_group: int) -> None:
    names = table.column_names
    unique = [n for n in names if n in UNIQUE_TEXT]
    compression = {n: ("none" if n in UNCOMPRESSED else "zstd") for n in names}
    with pq.ParquetWriter(
        target,
        table.schema,
        compression=compression,  # type: ignore[arg-type]
        use_dictionary=[n for n in names if n not in unique],
        write_statistics=True,
    ) as writer:
        if not sort_by:
            writer.write_table(table, row_group_size=row_group)
            return
        keys = [(name, "ascending") for name in sort_by if name in names]
        order = pc.sort_indices(table, sort_keys=keys)  # taken chunk by chunk: no second copy
        for start in range(0, table.num_rows, _WRITE_CHUNK):
            chunk = table.take(order.slice(start, _WRITE_CHUNK))
            writer.write_table(chunk, row_group_size=row_group)
