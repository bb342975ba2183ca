"""Open one source file (CSV or XLSX), read CSV, and stream the header and rows as text cells.

Its job: open the file (a regular file only: a FIFO or a device is refused at
once), settle its format, and for CSV its text encoding and delimiter; hand
back the header plus each data row as text, numbered as a person sees the row
in a spreadsheet. XLSX files are read by ``fmw.loader.xlsx``. Every limit of
``fmw.loader.limits`` is checked while reading. Everything that can go wrong
becomes a ``SourceFileError`` naming the file and, where known, the row and
column.

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
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Literal

from fmw.errors import SourceFileError
from fmw.loader.limits import MAX_CELL_CHARS, check_row, check_width, too_long
from fmw.loader.table import LOCKED, Cells, CsvBody, Row, SourceFormat, SourceTable, row_stream

__all__ = [
    "MAX_LINE_BYTES",
    "CsvBody",
    "SourceFormat",
    "SourceTable",
    "check_file",
    "check_kind",
    "open_file",
    "open_source",
]

_PREFIX_BYTES = 1 << 20  # how much of a CSV file encoding detection may look at
_DECODE_CHUNK = 64 << 10  # decode the prefix piecewise so its text never exists whole
MAX_LINE_BYTES = 16 << 20  # a longer physical line means the file is not CSV text
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_OLE_REASON = (
    "is an old-format .xls or a password-protected workbook; save it as .xlsx without a password"
)
_FIELD_LIMIT_ERROR = "field larger than field limit"  # Python's csv module, word for word
_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a named pipe (FIFO)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


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
        file = open_file(path)
        stack.callback(file.close)
        head = _read_head(path, file)
        if _resolve_format(path, head, fmt) == "csv":
            yield _open_csv(path, file, head, encoding, sheet, stack)
        elif head.startswith(_OLE_MAGIC):
            raise SourceFileError(path, _OLE_REASON)
        else:
            from fmw.loader.xlsx import open_xlsx  # openpyxl only when a workbook is read

            yield open_xlsx(path, file, sheet, stack)


# --- opening and format ---------------------------------------------------------------


def open_file(path: Path) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file; SourceFileError otherwise.

    A named pipe would block the open and ``/dev/zero`` would never end: what
    is not a regular file is refused before it is opened, and checked again
    once it is open.
    """
    check_kind(path)
    file = _open_binary(path)
    try:
        _check_regular(path, os.fstat(file.fileno()))
    except BaseException:
        file.close()
        raise
    return file


def check_kind(path: Path) -> None:
    """SourceFileError when ``path`` does not exist or is not a regular file (a FIFO, a
    device, a folder); nothing is opened. A file that exists but cannot be read passes."""
    try:
        _check_regular(path, path.stat())
    except FileNotFoundError:
        raise SourceFileError(path, "no such file") from None
    except OSError:
        pass  # opening it names the problem


def check_file(path: Path) -> None:
    """SourceFileError unless ``path`` is a regular file that opens for reading.

    The command checks the file it was given before anything else, so a
    mistyped path is the first thing it says.
    """
    open_file(path).close()


def _check_regular(path: Path, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _KINDS.items() if test(status.st_mode)), None)
        raise SourceFileError(path, f"is {kind or 'not a regular file'}, not a file")


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
        raise SourceFileError(path, LOCKED) from None
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
        raise SourceFileError(path, LOCKED) from None
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


# --- CSV rows -------------------------------------------------------------------------


def _last_filled(cells: Sequence[str | None]) -> int:
    """How many cells remain once trailing empty cells are dropped."""
    width = len(cells)
    while width and not cells[width - 1]:
        width -= 1
    return width


def _is_blank(cells: Sequence[str | None]) -> bool:
    return not any(cells)


def _make_header(path: Path, row: int, cells: Sequence[str]) -> list[str]:
    width = _last_filled(cells)
    check_width(path, row, width, f"the last named one is column {width:,}")
    _check_cells(path, row, cells[:width], None)
    header: list[str] = []
    for column, cell in enumerate(cells[:width], start=1):
        if not cell:
            raise SourceFileError(
                path, "header cell is empty; every column needs a name", row=row, column=column
            )
        header.append(cell)
    return header


def _check_cells(path: Path, row: int, cells: Sequence[str], header: list[str] | None) -> None:
    """SourceFileError naming the first cell longer than a cell may be."""
    if cells and max(map(len, cells)) > MAX_CELL_CHARS:
        column = next(n for n, cell in enumerate(cells) if len(cell) > MAX_CELL_CHARS)
        name = header[column] if header and column < len(header) else column + 1
        raise too_long(path, row, name, f"{len(cells[column]):,}")


def _fit_row(path: Path, row: int, cells: Sequence[str], header: list[str]) -> Cells:
    """Exactly one cell per header column, empty ones as None; others are an error."""
    width = len(header)
    filled = _last_filled(cells)
    if filled > width or len(cells) < width:
        count = filled if filled > width else len(cells)
        cells_word = "cell" if count == 1 else "cells"
        raise SourceFileError(path, f"{count} {cells_word}, the header has {width}", row=row)
    _check_cells(path, row, cells[:width], header)
    return [cell or None for cell in cells[:width]]


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
        rows=row_stream(path, reader.rows(header), stack),
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
    """A byte no cell may hold (undecodable, or NUL) met inside the line generator; located
    by the reader, which knows row and column."""

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
                yield self._record, _fit_row(self._path, self._record, record, header)

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
            if "\x00" in line:  # no text cell holds one: PostgreSQL refuses it in text
                at = raw.index(b"\x00")
                before = raw[:at].decode(self._codec, errors="replace")
                raise _UndecodableBytesError(self._offset + at, 0, before)
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
            if _FIELD_LIMIT_ERROR in str(exc):  # a cell far longer than MAX_CELL_CHARS
                raise self._too_long(row) from None
            raise SourceFileError(self._path, f"not valid CSV: {exc}", row=row) from None
        except PermissionError:
            raise SourceFileError(self._path, LOCKED, row=row) from None
        except OSError as exc:
            raise SourceFileError(
                self._path, f"cannot read: {exc.strerror or exc}", row=row
            ) from exc
        self._record = row
        check_row(self._path, row)
        return record

    def _column(self, text: str) -> str | int:
        """The header name (or number) of the cell a partial record ``text`` stopped in."""
        number = _fields_begun(text, self._delimiter)
        if self._header is not None and number <= len(self._header):
            return self._header[number - 1]
        return number

    def _too_long(self, row: int) -> SourceFileError:
        column = self._column("".join(self._pending))
        return too_long(self._path, row, column, f"more than {csv.field_size_limit():,}")

    def _decode_error(self, row: int, bad: _UndecodableBytesError) -> SourceFileError:
        column = self._column("".join(self._pending) + bad.before)
        if bad.byte == 0:
            reason = (
                f"a NUL byte (0x00 at byte offset {bad.offset}), which no text cell holds: "
                "the file is binary, or UTF-16 text without a byte order mark; save it as "
                "'CSV UTF-8' or .xlsx"
            )
        else:
            reason = (
                f"bytes not valid {self._codec} (0x{bad.byte:02x} at byte offset {bad.offset}); "
                "fix the file, or set the source's encoding in fmw.toml if it is not "
                "UTF-8 or CP949"
            )
        return SourceFileError(self._path, reason, row=row, column=column)
