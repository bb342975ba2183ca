"""The limits every source file is read within, whatever its format, and their errors.

Its job: one definition of how big a source may be (a cell, a row, a header,
a sheet, an unpacked workbook, the notes a reader may make) and one wording
of the error when a file goes beyond it. The readers check each limit while
they read, cell by cell and row by row, so a file that goes beyond one stops
there: nothing is landed, and the error names the file, row and column.

Why these numbers (docs/sources.md says the same to admins):

* a cell: 32,767 characters, Excel's own limit, so anything Excel can save
  loads, in CSV as in XLSX (Python's csv module alone would take 131,072);
* a row: at most row 1,048,576, Excel's last row (the header counts);
* a header: 1,024 columns, far beyond any team's sheet; Excel allows 16,384;
* a workbook: 1 GiB unpacked (a full sheet of a dozen short columns is about
  half of it); a zip bomb is refused before anything is unpacked;
* merged ranges and cell notes (merged cells, formulas without a value):
  100,000 each per file.

What it must never do: read a file, or judge a value (that is SQL's job).
"""

from __future__ import annotations

from pathlib import Path

from fmw.errors import SourceFileError

MAX_CELL_CHARS = 32_767
MAX_ROW = 1_048_576
MAX_COLUMNS = 1_024
MAX_UNPACKED_BYTES = 1 << 30
MAX_MERGED_RANGES = 100_000
MAX_CELL_NOTES = 100_000


def check_row(path: Path, row: int) -> None:
    """SourceFileError when ``row`` is past the last row a source may have."""
    if row > MAX_ROW:
        raise SourceFileError(
            path,
            f"more than {MAX_ROW:,} rows (Excel's last row); split the file into two sources",
            row=row,
        )


def check_width(path: Path, row: int, width: int, where: str) -> None:
    """SourceFileError when a header of ``width`` columns is wider than a source may be."""
    if width > MAX_COLUMNS:
        raise SourceFileError(
            path,
            f"the header has {width:,} columns ({where}); a source may have at most "
            f"{MAX_COLUMNS:,}",
            row=row,
            column=MAX_COLUMNS + 1,
        )


def too_long(
    path: Path, row: int, column: str | int, length: str, cell: str = ""
) -> SourceFileError:
    """The error for a cell of ``length`` characters ("40,000"); ``cell`` is like "C5"."""
    return SourceFileError(
        path,
        f"{f'cell {cell} has' if cell else 'the cell has'} {length} characters; "
        f"a cell may hold at most {MAX_CELL_CHARS:,} (Excel's own limit)",
        row=row,
        column=column,
    )
