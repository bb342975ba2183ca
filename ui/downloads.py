"""Files people download from the dashboard: CSV for anything, XLSX for Excel users.

Its job: turn a (filtered) Arrow table into file bytes that are safe to open in
Excel:

* CSV: UTF-8 with a BOM (so Excel shows Hangul), every text cell guarded with
  ``cells.guard_array`` exactly like ``snapshot.csv_safe`` guards the exported
  snapshot files, headers in the reader's language;
* XLSX: every text cell written as a string cell (xlsxwriter with formula,
  URL and number detection off), so nothing in it is ever evaluated; dates as
  real dates; at most ``XLSX_MAX_ROWS`` data rows (Excel's limit).

Timestamps are written in UTC, ISO 8601, so a file means the same anywhere.
This module must never import Streamlit, psycopg or SQLAlchemy, and writes
no file of its own (xlsxwriter streams rows through temporary files; the
bytes are returned for Streamlit to send).
"""

from __future__ import annotations

import datetime as dt
import io
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


def _for_files(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded, timestamps as UTC ISO text, lists joined: plain values."""
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_timestamp(column.type):
            column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
        elif pa.types.is_list(column.type):
            column = pc.binary_join(column, ", ")
        columns.append(column)
    return pa.table(columns, names=table.column_names)


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
    table = _for_files(table.slice(0, XLSX_MAX_ROWS))
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
    worksheet = workbook.add_worksheet(sheet[:31])
    worksheet.write_row(0, 0, _headed(table, headers or {}), bold)
    worksheet.freeze_panes(1, 0)
    is_date = [pa.types.is_date(column.type) for column in table.columns]
    row = 0
    for batch in table.to_batches(max_chunksize=10_000):
        for values in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            row += 1
            for col, value in enumerate(values):
                if value is None:
                    continue
                if is_date[col] and isinstance(value, dt.date):
                    worksheet.write_datetime(row, col, value, date_format)  # pyright: ignore[reportArgumentType]  # xlsxwriter takes a date too
                elif isinstance(value, str):
                    worksheet.write_string(row, col, value)
                else:
                    worksheet.write(row, col, value)
    workbook.close()
    return buffer.getvalue()
