"""Read one source file (CSV or XLSX) and stream its header and rows as text cells.

Its job: open the file, settle its format, text encoding, delimiter and sheet,
and hand back the header plus each data row as text, numbered as a person sees
the row in a spreadsheet. Everything that can go wrong becomes a
``SourceFileError`` naming the file and, where known, the row and column.

What it must never do:

* apply business rules: no header aliases, no trimming or normalizing of
  values, no status vocabulary; those live in SQL, which gets the cells as
  they are (empty cells as ``None``);
* read a whole file into memory: rows are streamed, and only the first MiB of
  a CSV file is held at once, to detect its encoding.

A UTF-8 CSV file also offers its bytes after the header record (``CsvBody``),
so the loader can hand them to PostgreSQL's own CSV parser.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import warnings
from collections.abc import Generator, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from fmw.errors import SourceFileError

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

Cells = list[str | None]
Row = tuple[int, Cells]
SourceFormat = Literal["auto", "csv", "xlsx"]

_PREFIX_BYTES = 1 << 20  # how much of a CSV file encoding detection may look at
_DECODE_CHUNK = 64 << 10  # decode the prefix piecewise so its text never exists whole
MAX_LINE_BYTES = 16 << 20  # a longer physical line means the file is not CSV text
_MAX_EXACT_FLOAT = 1e16  # beyond this a float cannot stand for one exact integer
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_LOCKED = "cannot open: locked by another program or access denied"
_OLE_REASON = (
    "is an old-format .xls or a password-protected workbook; save it as .xlsx without a password"
)


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


@contextmanager
def open_source(
    path: Path | str,
    *,
    fmt: SourceFormat = "auto",
    encoding: str = "auto",
    sheet: str | None = None,
) -> Iterator[SourceTable]:
    """Open a CSV or XLSX file; iterate ``rows`` inside the ``with`` block.

    Row numbers are those a spreadsheet shows (header usually row 1); fully
    blank rows are skipped but still counted. ``encoding`` applies to CSV only,
    ``sheet`` to XLSX only (default: the first worksheet).
    """
    path = Path(path)
    with ExitStack() as stack:
        file = _open_binary(path)
        stack.callback(file.close)
        head = _read_head(path, file)
        if _resolve_format(path, head, fmt) == "csv":
            yield _open_csv(path, file, head, encoding, sheet, stack)
        else:
            yield _open_xlsx(path, file, head, sheet, stack)


# --- opening and format ---------------------------------------------------------------


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise SourceFileError(path, "no such file") from None
    except IsADirectoryError:
        raise SourceFileError(path, "is a directory, not a file") from None
    except PermissionError:
        # Windows reports a directory as PermissionError too.
        if _is_dir(path):
            raise SourceFileError(path, "is a directory, not a file") from None
        raise SourceFileError(path, _LOCKED) from None
    except OSError as exc:
        raise SourceFileError(path, f"cannot open: {exc.strerror or exc}") from exc


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _read_head(path: Path, file: IO[bytes]) -> bytes:
    """The first bytes, for format sniffing; an empty file is an error."""
    try:
        head = file.read(len(_OLE_MAGIC))
        file.seek(0)
    except PermissionError:
        raise SourceFileError(path, _LOCKED) from None
    except OSError as exc:
        raise SourceFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    if not head:
        raise SourceFileError(path, "file is empty")
    return head


def _resolve_format(path: Path, head: bytes, fmt: str) -> Literal["csv", "xlsx"]:
    if fmt == "csv" or fmt == "xlsx":
        return fmt
    if fmt != "auto":
        raise ValueError(f"fmt must be 'auto', 'csv' or 'xlsx', not {fmt!r}")
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix in _XLSX_SUFFIXES:
        return "xlsx"
    return "xlsx" if head.startswith((_ZIP_MAGIC, _OLE_MAGIC)) else "csv"


# --- rows shared by both formats ------------------------------------------------------


class _RowStream(Iterator[Row]):
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


def _row_stream(path: Path, rows: Iterator[Row], stack: ExitStack) -> _RowStream:
    stream = _RowStream(path, rows)
    stack.callback(stream.close)
    return stream


def _last_filled(cells: Sequence[str | None]) -> int:
    """How many cells remain once trailing empty cells are dropped."""
    width = len(cells)
    while width and not cells[width - 1]:
        width -= 1
    return width


def _is_blank(cells: Sequence[str | None]) -> bool:
    return not any(cells)


def _make_header(path: Path, row: int, cells: Sequence[str | None]) -> list[str]:
    header: list[str] = []
    for column, cell in enumerate(cells[: _last_filled(cells)], start=1):
        if not cell:
            raise SourceFileError(
                path, "header cell is empty; every column needs a name", row=row, column=column
            )
        header.append(cell)
    return header


def _fit_row(path: Path, row: int, cells: Sequence[str | None], width: int, *, pad: bool) -> Cells:
    """Exactly ``width`` cells, empty ones as None; extra filled cells are an error."""
    filled = _last_filled(cells)
    if filled > width or (len(cells) < width and not pad):
        count = filled if filled > width else len(cells)
        cells_word = "cell" if count == 1 else "cells"
        raise SourceFileError(path, f"{count} {cells_word}, the header has {width}", row=row)
    fitted: Cells = [cell or None for cell in cells[:width]]
    fitted.extend([None] * (width - len(fitted)))
    return fitted


# --- CSV ------------------------------------------------------------------------------


def _open_csv(
    path: Path, file: IO[bytes], head: bytes, encoding: str, sheet: str | None, stack: ExitStack
) -> SourceTable:
    if sheet is not None:
        raise SourceFileError(path, f"is a CSV file; it has no sheet {sheet!r}")
    if head.startswith(_ZIP_MAGIC):
        raise SourceFileError(path, "is an Excel workbook, not CSV text; name it .xlsx")
    if head.startswith(_OLE_MAGIC):
        raise SourceFileError(path, _OLE_REASON)
    prefix, at_eof = _read_prefix(path, file)
    chosen = _choose_encoding(path, prefix, at_eof, encoding)
    bom = len(codecs.BOM_UTF8) if chosen == "utf-8-sig" else 0
    codec = "utf-8" if chosen == "utf-8-sig" else chosen
    delimiter = _sniff_delimiter(prefix[bom:], codec)
    del prefix
    file.seek(bom)
    reader = _CsvReader(path, file, codec, delimiter, offset=bom)
    header = reader.read_header()
    body = None
    if codec == "utf-8":
        body = CsvBody(delimiter, reader.header_row, reader.header_cells, file, reader.offset)
    return SourceTable(
        path=path,
        format="csv",
        encoding=chosen,
        delimiter=delimiter,
        sheet=None,
        header=header,
        rows=_row_stream(path, reader.rows(header), stack),
        body=body,
    )


def _read_prefix(path: Path, file: IO[bytes]) -> tuple[bytes, bool]:
    try:
        prefix = file.read(_PREFIX_BYTES)
        at_eof = not file.read(1)
        file.seek(0)
    except OSError as exc:
        raise SourceFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    return prefix, at_eof


def _choose_encoding(path: Path, prefix: bytes, at_eof: bool, encoding: str) -> str:
    if encoding != "auto":
        chosen = _explicit_encoding(path, prefix, encoding)
    else:
        chosen = _detect_encoding(path, prefix, at_eof)
    if not _ascii_compatible("utf-8" if chosen == "utf-8-sig" else chosen):
        raise SourceFileError(
            path,
            f"text encoding {chosen} is not supported; save the file as 'CSV UTF-8' or .xlsx",
        )
    return chosen


def _explicit_encoding(path: Path, prefix: bytes, encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise SourceFileError(path, f"unknown text encoding {encoding!r}") from None
    if name in ("utf-8", "utf-8-sig"):
        # Excel's "CSV UTF-8" starts with a BOM; it is never part of the first header cell.
        return "utf-8-sig" if prefix.startswith(codecs.BOM_UTF8) else "utf-8"
    return encoding


def _detect_encoding(path: Path, prefix: bytes, at_eof: bool) -> str:
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceFileError(
            path, "is UTF-16 text (Excel 'Unicode Text'); save it as 'CSV UTF-8' or .xlsx"
        )
    reach: dict[str, int] = {}
    for candidate in ("utf-8", "cp949"):
        bad_at = _first_bad_byte(prefix, candidate, final=at_eof)
        if bad_at is None:
            return candidate
        reach[candidate] = bad_at
    # Nothing fits. Guessing another code page would load mojibake without a word, so
    # read with the candidate that got furthest: the reader's error then names the row
    # and column of the first bad byte, and says how to name the encoding explicitly.
    return max(reach, key=reach.__getitem__)


def _first_bad_byte(data: bytes, encoding: str, *, final: bool) -> int | None:
    """Roughly where strict ``encoding`` fails on ``data``; None if it does not.

    A character cut at the end of ``data`` is fine unless ``final``.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    view = memoryview(data)
    start = 0
    try:
        for start in range(0, len(view), _DECODE_CHUNK):
            decoder.decode(view[start : start + _DECODE_CHUNK], final=False)
        start = len(view)
        decoder.decode(b"", final=final)
    except UnicodeDecodeError as exc:
        return start + exc.start
    return None


def _ascii_compatible(encoding: str) -> bool:
    """Whether the CSV syntax bytes mean the same as in ASCII, so lines split on b"\\n"."""
    probe = '\r\n\t,"azAZ09 '
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def _sniff_delimiter(prefix: bytes, codec: str) -> str:
    """Tab if the header line has more tabs than commas (outside quotes), else comma."""
    start = 0
    while start < len(prefix):
        end = prefix.find(b"\n", start)
        end = len(prefix) if end == -1 else end
        line = prefix[start:end].decode(codec, errors="replace")
        if line.strip(',\t"\r'):
            tabs, commas = _count_unquoted(line, "\t"), _count_unquoted(line, ",")
            return "\t" if tabs > commas else ","
        start = end + 1
    return ","


def _count_unquoted(line: str, char: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            count += 1
    return count


def _fields_begun(text: str, delimiter: str) -> int:
    """How many fields a partial CSV record has begun; the last one is where it stopped."""
    count, state = 1, "start"
    for ch in text:
        if state == "quoted":
            state = "quote_in_quoted" if ch == '"' else "quoted"
        elif ch == delimiter:
            count, state = count + 1, "start"
        elif ch == '"' and state in ("start", "quote_in_quoted"):
            state = "quoted"  # a field's opening quote, or the second of a doubled one
        else:
            state = "field"
    return count


class _UndecodableBytesError(Exception):
    """Raised inside the line generator; located by the reader, which knows row and column."""

    def __init__(self, offset: int, byte: int, before: str) -> None:
        super().__init__(offset)
        self.offset = offset  # byte offset of the bad byte in the file
        self.byte = byte
        self.before = before  # the line's text before the bad byte


class _CsvReader:
    """Streams CSV records, decoding line by line so a bad byte is found exactly."""

    def __init__(
        self, path: Path, file: IO[bytes], codec: str, delimiter: str, *, offset: int
    ) -> None:
        self._path = path
        self._file = file
        self._codec = codec
        self._delimiter = delimiter
        self._offset = offset
        self._record = 0  # records read so far; the last one's row number
        self._pending: list[str] = []  # lines of the record being parsed
        self._header: list[str] | None = None
        self._reader = csv.reader(self._lines(), delimiter=delimiter, strict=True)
        self.header_row = 0  # set by read_header, like the two below
        self.header_cells = 0  # the header record's cells, trailing empty ones included

    @property
    def offset(self) -> int:
        """Bytes of the file read so far: where the next record starts."""
        return self._offset

    def read_header(self) -> list[str]:
        while (record := self._next_record()) is not None:
            if not _is_blank(record):
                self._header = _make_header(self._path, self._record, record)
                self.header_row, self.header_cells = self._record, len(record)
                return self._header
        raise SourceFileError(self._path, "no header row")

    def rows(self, header: list[str]) -> Iterator[Row]:
        while (record := self._next_record()) is not None:
            if not _is_blank(record):
                yield (
                    self._record,
                    _fit_row(self._path, self._record, record, len(header), pad=False),
                )

    def _lines(self) -> Iterator[str]:
        while raw := self._file.readline(MAX_LINE_BYTES + 1):
            if len(raw) > MAX_LINE_BYTES:
                raise csv.Error(f"a line is longer than {MAX_LINE_BYTES >> 20} MiB")
            try:
                line = raw.decode(self._codec)
            except UnicodeDecodeError as exc:
                before = raw[: exc.start].decode(self._codec, errors="replace")
                raise _UndecodableBytesError(
                    self._offset + exc.start, raw[exc.start], before
                ) from None
            self._offset += len(raw)
            self._pending.append(line)
            yield line

    def _next_record(self) -> list[str] | None:
        row = self._record + 1
        self._pending.clear()
        try:
            record = next(self._reader)
        except StopIteration:
            return None
        except _UndecodableBytesError as bad:
            raise self._decode_error(row, bad) from None
        except csv.Error as exc:
            raise SourceFileError(self._path, f"not valid CSV: {exc}", row=row) from None
        except PermissionError:
            raise SourceFileError(self._path, _LOCKED, row=row) from None
        except OSError as exc:
            raise SourceFileError(
                self._path, f"cannot read: {exc.strerror or exc}", row=row
            ) from exc
        self._record = row
        return record

    def _decode_error(self, row: int, bad: _UndecodableBytesError) -> SourceFileError:
        text = "".join(self._pending) + bad.before
        number = _fields_begun(text, self._delimiter)
        column: str | int = number
        if self._header is not None and number <= len(self._header):
            column = self._header[number - 1]
        return SourceFileError(
            self._path,
            f"bytes not valid {self._codec} (0x{bad.byte:02x} at byte offset {bad.offset}); "
            "fix the file, or set the source's encoding in fmw.toml if it is not "
            "UTF-8 or CP949",
            row=row,
            column=column,
        )


# --- XLSX -----------------------------------------------------------------------------


def _open_xlsx(
    path: Path, file: IO[bytes], head: bytes, sheet: str | None, stack: ExitStack
) -> SourceTable:
    if head.startswith(_OLE_MAGIC):
        raise SourceFileError(path, _OLE_REASON)
    workbook = _load_workbook(path, file)
    stack.callback(workbook.close)
    worksheet = _pick_sheet(path, workbook, sheet)
    worksheet.reset_dimensions()  # a wrong <dimension> tag would otherwise cut rows off
    values = _xlsx_rows(path, worksheet)
    for number, cells in values:
        if not _is_blank(cells):
            header = _make_header(path, number, cells)
            break
    else:
        raise SourceFileError(path, "no header row")
    rows = (
        (number, _fit_row(path, number, cells, len(header), pad=True))
        for number, cells in values
        if not _is_blank(cells)
    )
    return SourceTable(
        path=path,
        format="xlsx",
        encoding="xlsx",
        delimiter=None,
        sheet=worksheet.title,
        header=header,
        rows=_row_stream(path, rows, stack),
    )


def _load_workbook(path: Path, file: IO[bytes]) -> Workbook:
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            # "extension is not supported", "no default style": noise about parts we never read
            warnings.simplefilter("ignore", UserWarning)
            return load_workbook(file, read_only=True, data_only=True)
    except PermissionError:
        raise SourceFileError(path, _LOCKED) from None
    except Exception as exc:  # openpyxl fails on a bad workbook with many exception types
        raise SourceFileError(path, f"not a valid .xlsx workbook ({exc})") from exc


def _pick_sheet(path: Path, workbook: Workbook, sheet: str | None) -> Any:
    worksheets = workbook.worksheets
    if not worksheets:
        raise SourceFileError(path, "the workbook has no worksheets")
    if sheet is None:
        return worksheets[0]
    for worksheet in worksheets:
        if worksheet.title == sheet:
            return worksheet
    names = ", ".join(repr(ws.title) for ws in worksheets)
    raise SourceFileError(path, f"no sheet named {sheet!r}; the sheets are {names}")


def _xlsx_rows(path: Path, worksheet: Any) -> Iterator[Row]:
    """Every row, numbered from 1 (openpyxl fills gaps), its cells as text."""
    values = worksheet.iter_rows(values_only=True)
    number = 0
    while True:
        number += 1
        try:
            cells = next(values)
        except StopIteration:
            return
        except Exception as exc:  # a corrupt sheet part fails in many ways
            raise SourceFileError(path, f"not a valid .xlsx workbook ({exc})", row=number) from exc
        yield number, [_cell_text(value) for value in cells]


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
