"""Files people download from the dashboard: CSV for anything, XLSX for Excel users.

Its job: turn a (filtered) Arrow table into file bytes that are safe to open in
Excel:

* CSV: UTF-8 with a BOM (so Excel shows Hangul), every text cell guarded with
  ``cells.guard_array`` exactly like ``snapshot.csv_safe`` guards the exported
  snapshot files, headers in the reader's language;
* XLSX: every text cell written as a string cell (xlsxwriter with formula,
  URL and number detection off), so nothing in it is ever evaluated; dates and
  times as real date and date-time cells; a filter button on every header,
  the header row frozen, each column as wide as its longest value (sampled);
  at most ``XLSX_MAX_ROWS`` data rows (Excel's limit).

What the cells say is the caller's choice: the pages pass a table already in
the reader's words and time zone (``display.Reader.table``: timestamps naive
local times, written ``YYYY-MM-DD HH:MM``), or the stored codes for programs
(timestamps with a zone are written in UTC, ISO 8601, so such a file means the
same anywhere).
This module must never import Streamlit, psycopg or SQLAlchemy, and writes
no file of its own (xlsxwriter streams rows through temporary files; the
bytes are returned for Streamlit to send).
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import xlsxwriter

from fmw.ui.cells import guard_array

BOM = b"\xef\xbb\xbf"
XLSX_MAX_ROWS = 1_048_575
"""Excel's 1,048,576 rows minus the header row."""
CSV_MIME = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _headed(table: pa.Table, headers: Mapping[str, str]) -> list[str]:
    return [headers.get(name, name) for name in table.column_names]


def _for_files(table: pa.Table, *, text_times: bool = True) -> pa.Table:
    """Dictionary columns decoded, lists joined, times as text (``text_times``): zoned ones
    as UTC ISO 8601, naive (local) ones as ``YYYY-MM-DD HH:MM``."""
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_timestamp(column.type) and text_times:
            if column.type.tz:
                whole_seconds = pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False)
                column = pc.strftime(whole_seconds, UTC_ISO)
            else:
                column = pc.strftime(column, format="%Y-%m-%d %H:%M")
        elif pa.types.is_list(column.type):
            column = pc.binary_join(column, ", ")
        columns.append(column)
    return pa.table(columns, names=table.column_names)


UTC_ISO = "%Y-%m-%dT%H:%M:%SZ"
WIDTH_SAMPLE = 2_000
"""Rows read to fit each XLSX column's width."""


def _width(text: str) -> int:
    """Display width: East Asian wide characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fitted_widths(table: pa.Table, headers: list[str]) -> list[float]:
    sample = table.slice(0, WIDTH_SAMPLE)
    widths = []
    for header, column in zip(headers, sample.columns, strict=True):
        longest = _width(header) + 3  # the filter button
        kind = column.type
        if pa.types.is_timestamp(kind):
            longest = max(longest, 16)
        elif pa.types.is_date(kind):
            longest = max(longest, 10)
        else:
            for value in column.to_pylist():
                if value is not None:
                    longest = max(longest, _width(str(value)))
        widths.append(min(60, longest + 2))
    return widths


def csv_bytes(table: pa.Table, headers: Mapping[str, str] | None = None) -> bytes:
    """``table`` as CSV: UTF-8 with BOM, header row, text cells guarded against formulas."""
    table = _for_files(table)
    columns = [
        guard_array(column) if pa.types.is_string(column.type) else column
        for column in table.columns
    ]
    out = pa.table(columns, names=_headed(table, headers or {}))
    buffer = io.BytesIO()
    buffer.write(BOM)
    pv.write_csv(out, buffer, write_options=pv.WriteOptions(quoting_style="needed"))
    return buffer.getvalue()


def xlsx_bytes(
    table: pa.Table, headers: Mapping[str, str] | None = None, *, sheet: str = "FMW"
) -> bytes:
    """``table`` as an XLSX workbook of one sheet; text stays text, never a formula."""
    table = _for_files(table.slice(0, XLSX_MAX_ROWS), text_times=False)
    names = _headed(table, headers or {})
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "constant_memory": True,  # rows are streamed: flat memory for big downloads
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = workbook.add_format({"bold": True})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    time_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    worksheet = workbook.add_worksheet(sheet[:31])
    for col, width in enumerate(_fitted_widths(table, names)):
        worksheet.set_column(col, col, width)
    worksheet.write_row(0, 0, names, bold)
    worksheet.freeze_panes(1, 0)
    worksheet.autofilter(0, 0, max(table.num_rows, 1), max(len(names) - 1, 0))
    is_date = [pa.types.is_date(column.type) for column in table.columns]
    zoned = [pa.types.is_timestamp(c.type) and bool(c.type.tz) for c in table.columns]
    row = 0
    for batch in table.to_batches(max_chunksize=10_000):
        for values in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            row += 1
            for col, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, dt.datetime):
                    if zoned[col]:  # stored codes: UTC, as in the CSV for programs
                        value = value.astimezone(dt.UTC)
                    worksheet.write_datetime(row, col, value.replace(tzinfo=None), time_format)
                elif is_date[col] and isinstance(value, dt.date):
                    worksheet.write_datetime(row, col, value, date_format)  # pyright: ignore[reportArgumentType]  # xlsxwriter documents a date as accepted; its annotation says datetime only
                elif isinstance(value, str):
                    worksheet.write_string(row, col, value)
                else:
                    worksheet.write(row, col, value)
    workbook.close()
    return buffer.getvalue()
