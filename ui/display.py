"""How stored values read for people: on screen and in the files they download.

Its job: one place that turns a stored value into what a colleague reads, so
the screen and the downloads say the same thing:

* ``Reader``: the reader's language, time zone and the source display names
  (``[sources.<name>] display_name`` in the settings);
* ``Reader.cell(column, value)``: one value as text — status and change codes
  as words, booleans as 예/아니요 (or 있음/빠짐 for the source lists), times in
  the reader's zone (``YYYY-MM-DD HH:MM``), dates as ``YYYY-MM-DD``, a source
  by its display name, changed fields by their labels; a missing value is
  blank, never ``None``;
* ``Reader.table(table)``: a whole Arrow table the same way, vectorized (a
  million rows in a download): labelled columns, times as naive local
  timestamps (XLSX writes real date-time cells; CSV ``YYYY-MM-DD HH:MM``);
  ``download_table``: the rows and columns of a view that way.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.ui import messages

SOURCE_COLUMNS = ("source", "batch_source")
LIST_COLUMNS = ("changed_fields",)
"""Text columns holding a comma-separated list of field names."""


@dataclass(frozen=True)
class Reader:
    """Who reads: their language, their time zone, and what the sources are called."""

    lang: str = messages.DEFAULT_LANGUAGE
    zone: dt.tzinfo = dt.UTC
    sources: Mapping[str, str] = field(default_factory=dict)
    """Source name -> display name (a source without one keeps its name)."""

    def header(self, column: str) -> str:
        return messages.field_label(column, self.lang)

    def source(self, name: str | None) -> str:
        return "" if not name else self.sources.get(name, name)

    def when(self, moment: dt.datetime | None) -> str:
        """A moment as the reader's local ``YYYY-MM-DD HH:MM``."""
        return "" if moment is None else moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def zone_name(self) -> str:
        return str(getattr(self.zone, "key", None) or self.zone)

    def cell(self, column: str, value: object) -> str:
        """One stored value as people read it (blank when missing)."""
        if value is None or value == "":
            return ""
        if column in messages.KINDS:
            return messages.value_label(messages.KINDS[column], value, self.lang)
        if column in SOURCE_COLUMNS:
            return self.source(str(value))
        if column in LIST_COLUMNS:
            return ", ".join(self.header(part) for part in str(value).split(", ") if part)
        if isinstance(value, dt.datetime):
            return self.when(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, bool):
            return messages.value_label("bool", value, self.lang)
        return str(value)

    def table(self, table: pa.Table) -> pa.Table:
        """``table`` as people read it: labels, display names, local times (naive)."""
        columns = [self._column(name, table[name]) for name in table.column_names]
        return pa.table(columns, names=[self.header(name) for name in table.column_names])

    def _column(self, name: str, column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = kind.value_type
        if pa.types.is_timestamp(kind):
            zoned = column.cast(pa.timestamp("us", tz=self.zone_name()))
            return pc.local_timestamp(zoned)
        if pa.types.is_boolean(kind):
            column = pc.if_else(column, "true", "false")
            kind = pa.string()
        if pa.types.is_string(kind) and (
            name in messages.KINDS or name in SOURCE_COLUMNS or name in LIST_COLUMNS
        ):
            encoded = pc.dictionary_encode(column).combine_chunks()
            labels = pa.array(
                [self.cell(name, v) for v in encoded.dictionary.to_pylist()], pa.string()
            )
            return pc.fill_null(labels.take(encoded.indices), "")
        return column


def download_table(
    reader: Reader,
    records: pa.Table,
    rows: np.ndarray,
    columns: list[str],
    before: pa.Table | None = None,
    before_suffix: str = "",
) -> pa.Table:
    """Rows ``rows`` of ``records`` with ``columns``, as ``reader`` reads them (a download
    that matches the screen); with ``before`` (the same rows on an earlier day, for a
    comparison) each column's earlier value follows, headed ``<label><before_suffix>``."""
    taken = pa.array(rows, pa.int64())
    table = reader.table(records.select(columns).take(taken))
    if before is None:
        return table
    earlier = reader.table(before.select(columns).take(taken))
    for name, column in zip(earlier.column_names, earlier.columns, strict=True):
        table = table.append_column(name + before_suffix, column)
    return table
