"""What an opened source file is, whatever its format: ``SourceTable`` and its row stream.

Its job: the shapes both readers (``source_file`` for CSV, ``xlsx`` for XLSX)
hand to the landing: the header, the data rows as text cells numbered as a
person sees them in a spreadsheet, the reader's notes about cells it had to
fill or leave empty (``CellNote``), and a row stream that refuses to run once
its file is closed.

What it must never do: read a file, or judge a value.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from fmw.errors import SourceFileError

Cells = list[str | None]
Row = tuple[int, Cells]
SourceFormat = Literal["auto", "csv", "xlsx"]

LOCKED = "cannot open: locked by another program or access denied"


@dataclass(frozen=True)
class CsvBody:
    """A UTF-8 CSV file's bytes after its header record, as they are in the file.

    The k-th record in them (blank ones counted) is row ``header_row + k``.
    """

    delimiter: str
    header_row: int  # the header record's row number
    header_cells: int  # cells in the header record, trailing empty ones included
    file: IO[bytes]
    offset: int  # where the first data record starts

    def chunks(self, size: int) -> Generator[bytes, None, None]:
        """The bytes in ``size`` pieces; leaves the file where ``SourceTable.rows`` reads on."""
        try:
            self.file.seek(self.offset)
            while chunk := self.file.read(size):
                yield chunk
        finally:
            self.file.seek(self.offset)


@dataclass(frozen=True)
class CellNote:
    """What the reader did with one cell that a person must hear about.

    Data, not a rule: the reader says what it saw in the file (a merged cell
    whose value it copied, a formula saved without its value) and SQL files
    it as a row issue under the header of ``column``.
    """

    row: int  # the row number, as ``SourceTable.rows`` numbers it
    column: int  # 1-based, in header order
    note: str  # starts with the cell's reference, e.g. "C4: merged cell C2:C4; …"
    value: str | None  # the value landed in the cell, or the formula left out


@dataclass(frozen=True)
class SourceTable:
    """One opened source file: how it was read, its header, and a stream of its data rows."""

    path: Path
    format: Literal["csv", "xlsx"]
    encoding: str  # "utf-8", "utf-8-sig", "cp949", … for CSV; "xlsx" for XLSX
    delimiter: str | None  # "," or "\t" for CSV, None for XLSX
    sheet: str | None  # sheet read, None for CSV
    header: list[str]  # header cells as they are in the file
    rows: Iterator[tuple[int, list[str | None]]]  # (row_number, exactly len(header) cells)
    body: CsvBody | None = None  # UTF-8 CSV only: the bytes ``rows`` are read from
    notes: list[CellNote] = field(default_factory=list)  # complete once ``rows`` is exhausted


class RowStream(Iterator[Row]):
    """The ``rows`` iterator: refuses to run once its file is closed."""

    def __init__(self, path: Path, rows: Iterator[Row]) -> None:
        self._path = path
        self._rows = rows
        self._closed = False

    def __next__(self) -> Row:
        if self._closed:
            raise SourceFileError(
                self._path, "rows read after the file was closed; iterate inside the with block"
            )
        return next(self._rows)

    def close(self) -> None:
        self._closed = True
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()


def row_stream(path: Path, rows: Iterator[Row], stack: ExitStack) -> RowStream:
    """``rows`` as a ``RowStream`` that ``stack`` closes with the file."""
    stream = RowStream(path, rows)
    stack.callback(stream.close)
    return stream
