"""Read one XLSX worksheet as a stream of text rows, within ``fmw.loader.limits``.

Its job: open the workbook with openpyxl (read-only, values as Excel last
computed them), pick the sheet, and stream its rows cell by cell: only the
cells the file holds are ever built, so a row with one empty cell at column
XFD costs one cell, not 16,384. While reading it checks every limit: the
workbook's unpacked size, first as its zip directory declares it and then as
the sheet is really unpacked (a zip bomb stops there), the row number, the
header's width, each cell's length; an error names the file, row, column and
cell (``C5``).

Two things a person sees in Excel are not in a cell's value, and the reader
says what it did about them, as ``CellNote``s the landing files as row issues
(never a value dropped without a word):

* a merged range over rows (a status merged over C2:C4): Excel shows C2's
  value in C3 and C4, so they get it, with a note each;
* a formula saved without its value (by a tool that does not compute): the
  cell stays empty, with a note naming the formula.

What it must never do: judge a value (no trimming, no vocabulary: SQL's job),
hold more than one row of the sheet in memory, or parse the sheet before its
rows are read (openpyxl would, to size it).
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import (
    CELL_TAG,
    DATA_TAG,
    FORMULA_TAG,
    ROW_TAG,
    VALUE_TAG,
    WorkSheetParser,
)
from openpyxl.xml.functions import iterparse

from fmw.errors import SourceFileError
from fmw.loader.limits import (
    MAX_CELL_CHARS,
    MAX_CELL_NOTES,
    MAX_COLUMNS,
    MAX_MERGED_RANGES,
    MAX_UNPACKED_BYTES,
    check_row,
    check_width,
    too_long,
)
from fmw.loader.table import LOCKED, CellNote, Cells, Row, SourceTable, row_stream

_MAX_EXACT_FLOAT = 1e16  # beyond this a float cannot stand for one exact integer
_CHUNK = 1 << 20
_NS = rb"(?:[A-Za-z_][\w.-]*:)?"  # a namespace prefix some writers use (x:sheetData)
_END_OF_DATA = re.compile(rb"</" + _NS + rb"sheetData\s*>|<" + _NS + rb"sheetData\s*/>")
_MERGE = re.compile(
    rb"<" + _NS + rb"mergeCell\s[^>]*?\bref\s*=\s*[\"']\s*([A-Za-z]{1,3}[0-9]{1,7}:"
    rb"[A-Za-z]{1,3}[0-9]{1,7})\s*[\"']"
)
_LAST_CELL = re.compile(rb"<" + _NS + rb"c\s[^>]*?\br\s*=\s*[\"']([A-Za-z]{1,3})([0-9]{1,7})")
_END_MARK_BYTES = 64  # longer than any end tag of sheetData a chunk may cut in two
_MAX_TAG_BYTES = 4096  # longer than any mergeCell element
_CONTEXT = 4096  # bytes kept before a text, to find the cell it is in
_RUN_BYTES = 10 * MAX_CELL_CHARS + 16  # the most bytes a cell's text can take in XML


@dataclass(frozen=True)
class _Merge:
    """One merged range of the sheet, e.g. C2:C4."""

    ref: str
    left: int
    top: int
    right: int
    bottom: int

    @property
    def origin(self) -> str:
        """The top-left cell, whose value Excel shows over the whole range."""
        return f"{get_column_letter(self.left)}{self.top}"

    def covers(self, row: int, column: int) -> bool:
        return self.top <= row <= self.bottom and self.left <= column <= self.right


def open_xlsx(path: Path, file: IO[bytes], sheet: str | None, stack: ExitStack) -> SourceTable:
    """Open the sheet named ``sheet`` (None: the first worksheet); ``stack`` closes it."""
    reader = _open_workbook(path, file)
    stack.callback(reader.archive.close)
    worksheet = _pick_sheet(path, reader, sheet)
    with _Unpacked(path, reader.archive.open(worksheet.part)) as part:
        merges = _PartScan(path, sheet=True).scan(part).merges
    part = stack.enter_context(_Unpacked(path, reader.archive.open(worksheet.part)))
    parser = _SheetParser(
        part,
        reader.shared_strings,
        data_only=True,
        epoch=reader.wb.epoch,
        # openpyxl's own number-format sets, read from the styles; not in its stubs
        date_formats=reader.wb._date_formats,  # pyright: ignore[reportAttributeAccessIssue]
        timedelta_formats=reader.wb._timedelta_formats,  # pyright: ignore[reportAttributeAccessIssue]
    )
    rows = _SheetRows(path, parser, merges)
    header = rows.read_header()
    return SourceTable(
        path=path,
        format="xlsx",
        encoding="xlsx",
        delimiter=None,
        sheet=worksheet.title,
        header=header,
        rows=row_stream(path, rows.rows(), stack),
        notes=rows.notes,
    )


# --- the workbook ---------------------------------------------------------------------


class _StreamedSheet(ReadOnlyWorksheet):
    """openpyxl's read-only sheet, except that opening it reads nothing.

    openpyxl sizes a sheet when the workbook opens, which parses the whole
    sheet when it has no <dimension> element; FMW never asks for the size.
    """

    def __init__(
        self, parent: Any, title: str, worksheet_path: str, shared_strings: list[str]
    ) -> None:
        self.part = worksheet_path  # the sheet's part in the zip
        super().__init__(parent, title, worksheet_path, shared_strings)

    def _get_size(self) -> None:
        pass


class _WorkbookReader(ExcelReader):
    """openpyxl's workbook reader, making ``_StreamedSheet``s of the worksheets."""

    def read_worksheets(self) -> None:
        for sheet, rel in self.parser.find_sheets():
            if rel.target in self.valid_files and "chartsheet" not in rel.Type:
                worksheet = _StreamedSheet(self.wb, sheet.name, rel.target, self.shared_strings)
                worksheet.sheet_state = sheet.state or "visible"
                self.wb._sheets.append(worksheet)  # pyright: ignore[reportAttributeAccessIssue]  # openpyxl's own list, not in its stubs


def _open_workbook(path: Path, file: IO[bytes]) -> _WorkbookReader:
    try:
        reader = _WorkbookReader(file, read_only=True, data_only=True)
    except PermissionError:
        raise SourceFileError(path, LOCKED) from None
    except Exception as exc:  # openpyxl fails on a bad workbook with many exception types
        raise SourceFileError(path, f"not a valid .xlsx workbook ({exc})") from exc
    declared = sum(info.file_size for info in reader.archive.infolist())
    if declared > MAX_UNPACKED_BYTES:
        reader.archive.close()
        raise SourceFileError(path, _too_big(f"{declared:,} bytes"))
    try:
        for name in reader.valid_files:
            if name.lower().endswith("sharedstrings.xml"):  # openpyxl holds it all in memory
                with _Unpacked(path, reader.archive.open(name)) as part:
                    _PartScan(path, sheet=False).scan(part)
        with warnings.catch_warnings():
            # "extension is not supported", "no default style": noise about parts we never read
            warnings.simplefilter("ignore", UserWarning)
            reader.read()
    except SourceFileError:
        reader.archive.close()
        raise
    except Exception as exc:
        reader.archive.close()
        raise SourceFileError(path, f"not a valid .xlsx workbook ({exc})") from exc
    return reader


def _too_big(size: str) -> str:
    return (
        f"the workbook unpacks to {size}; FMW reads workbooks of at most "
        f"{MAX_UNPACKED_BYTES:,} bytes unpacked (save it without other sheets, or as CSV)"
    )


def _pick_sheet(path: Path, reader: _WorkbookReader, sheet: str | None) -> _StreamedSheet:
    worksheets = [ws for ws in reader.wb.worksheets if isinstance(ws, _StreamedSheet)]
    if not worksheets:
        raise SourceFileError(path, "the workbook has no worksheets")
    if sheet is None:
        return worksheets[0]
    for worksheet in worksheets:
        if worksheet.title == sheet:
            return worksheet
    names = ", ".join(repr(ws.title) for ws in worksheets)
    raise SourceFileError(path, f"no sheet named {sheet!r}; the sheets are {names}")


class _Unpacked:
    """A sheet part as it is unpacked, counted: past the limit it raises SourceFileError.

    Python's zipfile stops at a part's declared size anyway; counting here
    holds even if a zip directory lies or a reader does not stop.
    """

    def __init__(self, path: Path, source: IO[bytes]) -> None:
        self._path = path
        self._source = source
        self._count = 0

    def read(self, size: int = _CHUNK) -> bytes:
        data = self._source.read(size if size >= 0 else _CHUNK)
        self._count += len(data)
        if self._count > MAX_UNPACKED_BYTES:
            raise SourceFileError(self._path, _too_big(f"more than {MAX_UNPACKED_BYTES:,} bytes"))
        return data

    def __enter__(self) -> _Unpacked:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._source.close()


class _PartScan:
    """One pass over a part's bytes as they are unpacked, before openpyxl parses it.

    It costs an unpacking, not a parse, and finds two things:

    * a text longer than any cell may hold (a run of more than ``_RUN_BYTES``
      bytes without a ``<``: no character takes more than 10 bytes in XML,
      ``&#x10FFFF;``), so such a cell is refused before its text is built in
      memory, with the cell named from the tag before it;
    * in a sheet, its merged ranges, which it lists after its rows: only the
      bytes after <sheetData> are searched for <mergeCell ref="…">.
    """

    def __init__(self, path: Path, *, sheet: bool) -> None:
        self._path = path
        self._in_rows = sheet  # False: no merged ranges to look for (or past the rows)
        self._sheet = sheet
        self._carry = b""  # bytes a merge search must see again with the next chunk
        self._run = 0  # bytes since the last "<"
        self._context = b""  # the bytes up to the last "<" seen, for naming a cell
        self.merges: list[_Merge] = []

    def scan(self, part: _Unpacked) -> _PartScan:
        while chunk := part.read(_CHUNK):
            self._check_runs(chunk)
            if self._sheet:
                self._find_merges(chunk)
        return self

    def _check_runs(self, chunk: bytes) -> None:
        first, last = chunk.find(b"<"), chunk.rfind(b"<")
        if first == -1:
            self._run += len(chunk)
            self._check_run(self._run, self._context)
            return
        self._check_run(self._run + first, self._context)
        # Every run longer than _RUN_BYTES holds a whole window of half that: one find each.
        for start in range(first + 1, last, _RUN_BYTES // 2):
            end = min(start + _RUN_BYTES // 2, last)
            if end - start == _RUN_BYTES // 2 and chunk.find(b"<", start, end) == -1:
                before = chunk.rfind(b"<", 0, start)
                context = self._context + chunk[max(0, before + 1 - _CONTEXT) : before + 1]
                self._check_run(chunk.find(b"<", end) - before - 1, context)
        self._context = (self._context + chunk[max(0, last + 1 - _CONTEXT) : last + 1])[-_CONTEXT:]
        self._run = len(chunk) - last - 1

    def _check_run(self, run: int, context: bytes) -> None:
        if run <= _RUN_BYTES:
            return
        cell = _LAST_CELL.findall(context[-_CONTEXT:]) if self._sheet else []
        if not cell:
            where = "a cell" if self._sheet else "a text of the workbook's shared strings"
            raise SourceFileError(
                self._path,
                f"{where} has more than {MAX_CELL_CHARS:,} characters; a cell may hold at "
                f"most {MAX_CELL_CHARS:,} (Excel's own limit)",
            )
        column, row = cell[-1][0].decode("ascii"), int(cell[-1][1])
        raise too_long(self._path, row, column, f"more than {MAX_CELL_CHARS:,}", f"{column}{row}")

    def _find_merges(self, chunk: bytes) -> None:
        data, start = self._carry + chunk, 0
        if self._in_rows:
            end = _END_OF_DATA.search(data)
            if end is None:
                self._carry = data[-_END_MARK_BYTES:]
                return
            self._in_rows, start = False, end.end()
        cut = max(data.rfind(b">") + 1, start)
        for match in _MERGE.finditer(data, start, cut):
            self.merges.append(_merge(self._path, match.group(1).decode("ascii")))
            if len(self.merges) > MAX_MERGED_RANGES:
                raise SourceFileError(
                    self._path, f"more than {MAX_MERGED_RANGES:,} merged ranges; unmerge the cells"
                )
        self._carry = data[cut:][-_MAX_TAG_BYTES:]


def _merge(path: Path, ref: str) -> _Merge:
    try:
        left, top, right, bottom = range_boundaries(ref)
    except ValueError as exc:
        raise SourceFileError(path, f"not a valid .xlsx workbook (merged range {ref})") from exc
    assert left is not None and top is not None and right is not None and bottom is not None
    return _Merge(ref.upper(), left, top, right, bottom)


# --- the rows -------------------------------------------------------------------------

ParsedCell = dict[str, Any]  # openpyxl's: row, column, value, data_type, style_id; formula


class _SheetParser(WorkSheetParser):
    """openpyxl's cell parser over a stream of the sheet's rows, one row in memory.

    openpyxl's own ``parse`` keeps every row element it has read (emptied) and
    a dict per row with a height; this drops each row once it is read.
    """

    def parse_cell(self, element: Any) -> ParsedCell:
        cell: ParsedCell = super().parse_cell(element)
        if (
            cell["value"] is None
            and element.find(FORMULA_TAG) is not None
            and element.find(VALUE_TAG) is None
        ):
            cell["formula"] = "=" + (element.findtext(FORMULA_TAG) or "")
        return cell

    def rows(self) -> Iterator[tuple[int, list[ParsedCell]]]:
        """(row number, the cells the file holds in it) for each row element, in file order."""
        sheet_data = None
        for event, element in iterparse(self.source, events=("start", "end")):
            if event == "start":
                if element.tag == DATA_TAG:
                    sheet_data = element
            elif element.tag == ROW_TAG:
                number = element.get("r")
                self.row_counter = int(number) if number is not None else self.row_counter + 1
                self.col_counter = 0
                yield self.row_counter, [self.parse_cell(c) for c in element if c.tag == CELL_TAG]
                element.clear()
                if sheet_data is not None:
                    sheet_data.clear()
            elif element.tag == DATA_TAG:
                return


@dataclass
class _RowCells:
    """One row's cells with a value, and its formulas without one, by column."""

    number: int
    texts: dict[int, str]
    formulas: dict[int, str]

    @property
    def blank(self) -> bool:
        return not self.texts and not self.formulas


class _SheetRows:
    """Turns parsed rows into the header and text rows, checking limits, filling merges."""

    def __init__(self, path: Path, parser: _SheetParser, merges: list[_Merge]) -> None:
        self._path = path
        self._parsed = parser.rows()
        self._merges = merges
        self._spanning = sorted((m for m in merges if m.bottom > m.top), key=lambda m: m.top)
        self._next_merge = 0
        self._filling: dict[int, tuple[_Merge, str]] = {}  # column -> merge, its value
        self._last_row = 0
        self._header_row = 0
        self._header: list[str] = []
        self.notes: list[CellNote] = []

    def read_header(self) -> list[str]:
        for cells in self._row_cells(MAX_COLUMNS):
            if cells.blank:
                continue
            self._header_row = cells.number
            self._advance_merges(cells)
            width = max([*cells.texts, *cells.formulas])
            for column in range(1, width + 1):
                if column not in cells.texts:
                    why = self._why(cells, column)
                    raise SourceFileError(
                        self._path,
                        f"header cell is empty; every column needs a name{why}",
                        row=cells.number,
                        column=column,
                    )
            self._header = [cells.texts[column] for column in range(1, width + 1)]
            return self._header
        raise SourceFileError(self._path, "no header row")

    def rows(self) -> Iterator[Row]:
        width = len(self._header)
        for cells in self._row_cells(width):
            if cells.blank:
                continue
            self._advance_merges(cells)
            row: Cells = [None] * width
            for column, text in cells.texts.items():
                row[column - 1] = text
            for column, formula in cells.formulas.items():
                self._note(
                    cells.number,
                    column,
                    "formula without a saved value; left empty (open the file in Excel and "
                    "save it, so the values are saved with it)",
                    formula if formula != "=" else None,
                )
            for column, (merge, value) in self._filling.items():
                if column <= width and row[column - 1] is None and column not in cells.formulas:
                    row[column - 1] = value
                    self._note(
                        cells.number,
                        column,
                        f"merged cell {merge.ref}; value taken from {merge.origin}",
                        value,
                    )
            yield cells.number, row

    def _row_cells(self, width: int) -> Iterator[_RowCells]:
        """Each row's cells up to ``width``; a value past it is an error, empty cells are not."""
        while True:
            try:
                parsed = next(self._parsed, None)
            except SourceFileError:
                raise
            except Exception as exc:  # a corrupt sheet part fails in many ways
                raise SourceFileError(
                    self._path, f"not a valid .xlsx workbook ({exc})", row=self._last_row + 1
                ) from exc
            if parsed is None:
                return
            number, cells = parsed
            if number <= self._last_row:
                raise SourceFileError(
                    self._path,
                    f"not a valid .xlsx workbook (row {number} comes after row "
                    f"{self._last_row}); save it again in Excel",
                    row=number,
                )
            self._last_row = number
            check_row(self._path, number)
            yield self._cells(number, cells, width)

    def _cells(self, number: int, cells: list[ParsedCell], width: int) -> _RowCells:
        texts: dict[int, str] = {}
        formulas: dict[int, str] = {}
        beyond = 0
        for cell in cells:
            column, value = cell["column"], cell["value"]
            if column > width:
                if value is not None and value != "":
                    beyond = max(beyond, column)
                continue
            text = _cell_text(value)
            if text is None:
                if "formula" in cell:
                    formulas[column] = cell["formula"]
                continue
            if len(text) > MAX_CELL_CHARS:
                name = self._header[column - 1] if self._header else column
                cell_ref = f"{get_column_letter(column)}{number}"
                raise too_long(self._path, number, name, f"{len(text):,}", cell_ref)
            texts[column] = text
        if beyond:
            self._beyond(number, beyond, width)
        return _RowCells(number, texts, formulas)

    def _beyond(self, number: int, column: int, width: int) -> None:
        cell = f"{get_column_letter(column)}{number}" if column <= 16_384 else f"column {column}"
        if not self._header:  # the header row itself
            check_width(self._path, number, column, f"cell {cell} has a value")
        cells_word = "cell" if column == 1 else "cells"
        raise SourceFileError(
            self._path, f"{column} {cells_word}, the header has {width}", row=number
        )

    def _advance_merges(self, cells: _RowCells) -> None:
        """Start filling down the merged ranges whose top row this is; stop those past it."""
        while (
            self._next_merge < len(self._spanning)
            and self._spanning[self._next_merge].top <= cells.number
        ):
            merge = self._spanning[self._next_merge]
            self._next_merge += 1
            value = cells.texts.get(merge.left)
            if merge.top == cells.number and merge.top > self._header_row and value is not None:
                self._filling[merge.left] = (merge, value)
        for column in [c for c, (m, _) in self._filling.items() if m.bottom < cells.number]:
            del self._filling[column]

    def _why(self, cells: _RowCells, column: int) -> str:
        """Why a header cell is empty, when the file says."""
        if column in cells.formulas:
            return " (it holds a formula without a saved value: save the file in Excel)"
        merge = next((m for m in self._merges if m.covers(cells.number, column)), None)
        if merge is not None:
            return f" (it is part of merged cell {merge.ref}: unmerge the header)"
        return ""

    def _note(self, row: int, column: int, note: str, value: str | None) -> None:
        if len(self.notes) >= MAX_CELL_NOTES:
            raise SourceFileError(
                self._path,
                f"more than {MAX_CELL_NOTES:,} merged cells or formulas without a saved value; "
                "unmerge the cells, or open the file in Excel and save it",
                row=row,
            )
        cell = f"{get_column_letter(column)}{row}"
        self.notes.append(CellNote(row, column, f"{cell}: {note}", value))


# --- values as text -------------------------------------------------------------------


def _cell_text(value: object) -> str | None:
    """A cell value as the text a person reads in Excel; empty as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        return _datetime_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        moment = _round_to_second(dt.datetime.combine(dt.date(2000, 1, 1), value))
        return moment.time().isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    return str(value)


def _float_text(value: float) -> str:
    if value.is_integer() and abs(value) < _MAX_EXACT_FLOAT:
        return str(int(value))
    return repr(value)


def _round_to_second(value: dt.datetime) -> dt.datetime:
    if value.microsecond >= 500_000:
        value += dt.timedelta(seconds=1)
    return value.replace(microsecond=0)


def _datetime_text(value: dt.datetime) -> str:
    value = _round_to_second(value)
    if value.time() == dt.time(0):
        return value.date().isoformat()
    return value.isoformat(timespec="seconds")


def _duration_text(value: dt.timedelta) -> str:
    """Like Excel's [h]:mm:ss."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
