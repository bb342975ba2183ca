"""Land a UTF-8 CSV file's data rows through PostgreSQL's own CSV parser.

Its job: stream the bytes after the header record (``CsvBody``) to
``COPY ... (FORMAT csv)`` into a temporary staging table, then land them
(``raw.land_rows``, through a view), numbered and shaped exactly as ``source_file``'s
reader lands them: row numbers count blank records, blank records are
skipped, empty cells (quoted or not) are NULL, trailing empty cells past the
header are dropped.

It vouches only for bytes that PostgreSQL and Python's csv reader read alike.
Anything else (a quote inside an unquoted cell, a bare carriage return, a
ragged or blank line, bad UTF-8, a cell or line the reader finds too long)
makes it give up: its savepoint is rolled back and it returns None, so the
caller lands the file with the reader, which lands it or names the problem.

What it must never do: judge or change a value (building the cells array is
landing, not normalization), or report a problem in a file itself.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable
from contextlib import closing

import psycopg
from psycopg import sql

from fmw.loader.limits import MAX_CELL_CHARS, MAX_ROW
from fmw.loader.raw_rows import land_rows
from fmw.loader.source_file import MAX_LINE_BYTES, CsvBody

CHUNK_BYTES = 1 << 20
_MAX_COLUMNS = 1599  # PostgreSQL's 1600 columns per table, less the row counter
_STAGE = sql.Identifier("pg_temp", "fmw_landing")


class _ReadDifferentlyError(Exception):
    """These bytes may mean something else to PostgreSQL than to the Python reader."""


class _SameReading:
    """Checks, chunk by chunk, that PostgreSQL's CSV parser reads the bytes as Python's does.

    Both read alike CSV whose every quote opens a cell (after a delimiter or
    a line feed), closes one (before a delimiter or a line end) or is doubled
    inside one, with no line longer than the reader takes and none starting
    with backslash-dot (PostgreSQL before 18 ends the data there). A quoted
    cell still open at a chunk's end is carried into the next chunk, up to
    the longest cell the reader accepts. Carriage returns are left to
    PostgreSQL: see ``_pinning_line``.
    """

    def __init__(self, delimiter: str) -> None:
        d = re.escape(delimiter.encode())
        quoted = rb"(?<![^" + d + rb'\n])"(?:[^"]*+"")*+[^"]*+"'
        self._cells = re.compile(rb"(?:[^\"]*+" + quoted + rb"(?=[" + d + rb"\r\n]))*+[^\"]*+")
        self._cells_at_end = re.compile(
            rb"(?:[^\"]*+" + quoted + rb"(?=[" + d + rb"\r\n]|\Z))*+[^\"]*+"
        )
        self._max_carry = min(4 * csv.field_size_limit() + 2, MAX_LINE_BYTES)
        self._carry = b""  # bytes not yet vouched for, after _start bytes of context
        self._start = 0
        self._line = 0  # bytes since the last line feed
        self._lines = 0  # line feeds seen: at least as many as records
        self._tail = b"\n"  # the last bytes seen: the data starts a line

    def feed(self, chunk: bytes) -> None:
        backslash = b"\\" in chunk or self._tail.endswith(b"\\")
        if backslash and b"\n\\." in self._tail + chunk:
            raise _ReadDifferentlyError
        self._tail = chunk[-2:]
        self._check_line_length(chunk)
        self._lines += chunk.count(b"\n")
        if self._lines >= MAX_ROW:  # the reader names the row past the last one a source has
            raise _ReadDifferentlyError
        if len(self._carry) > self._start or b'"' in chunk:
            self._scan(self._carry + chunk)
        else:
            self._carry, self._start = chunk[-1:], 1

    def finish(self) -> None:
        match = self._cells_at_end.match(self._carry, self._start)
        if match is None or match.end() != len(self._carry):
            raise _ReadDifferentlyError

    def _check_line_length(self, chunk: bytes) -> None:
        first = chunk.find(b"\n")
        if first != -1:
            if self._line + first + 1 > MAX_LINE_BYTES:
                raise _ReadDifferentlyError
            self._line = len(chunk) - chunk.rfind(b"\n") - 1
        else:
            self._line += len(chunk)
        if self._line > MAX_LINE_BYTES:
            raise _ReadDifferentlyError

    def _scan(self, data: bytes) -> None:
        match = self._cells.match(data, self._start)
        end = match.end() if match else self._start
        if len(data) - end > self._max_carry:
            raise _ReadDifferentlyError
        self._carry = data[end - 1 :] if end else data
        self._start = min(end, 1)


def _pinning_line(width: int, delimiter: str, first_chunk: bytes) -> bytes:
    """A line of empty cells, ended as most lines of the first chunk are, to send first.

    PostgreSQL takes its line end (LF, CRLF or a lone CR) from the first line
    and refuses any other outside quotes; Python's reader takes LF and CRLF
    and refuses a lone CR. This line pins PostgreSQL to LF or CRLF, so a lone
    CR (where the reader would fail) fails the COPY too. It is blank, so it
    is not landed.
    """
    crlf = 2 * first_chunk.count(b"\r\n") >= first_chunk.count(b"\n") > 0
    end = b"\r\n" if crlf else b"\n"
    return delimiter.encode() * (width - 1) + end


def _columns(count: int) -> list[sql.Identifier]:
    return [sql.Identifier(f"c{number}") for number in range(1, count + 1)]


def _copy(conn: psycopg.Connection, body: CsvBody, columns: list[sql.Identifier]) -> None:
    names = sql.SQL(", ").join(columns)
    conn.execute(
        sql.SQL("CREATE TEMP TABLE fmw_landing (n bigint GENERATED ALWAYS AS IDENTITY, {})").format(
            sql.SQL(", ").join(sql.SQL("{} text").format(c) for c in columns)
        )
    )
    statement = sql.SQL(
        "COPY {} ({}) FROM STDIN (FORMAT csv, DELIMITER {}, ENCODING 'UTF8', FORCE_NULL ({}))"
    ).format(_STAGE, names, sql.Literal(body.delimiter), names)
    guard = _SameReading(body.delimiter)
    with closing(body.chunks(CHUNK_BYTES)) as chunks, conn.cursor() as cur:
        first = next(chunks, b"")
        with cur.copy(statement) as copy:
            copy.write(_pinning_line(len(columns), body.delimiter, first))
            for chunk in itertools.chain((first,) if first else (), chunks):
                guard.feed(chunk)
                copy.write(chunk)
            guard.finish()


def _land(
    conn: psycopg.Connection,
    batch_id: int,
    body: CsvBody,
    columns: list[sql.Identifier],
    width: int,
    sent: Callable[[], None] | None,
) -> int:
    """Land the staged rows (``raw.land_rows``, after calling ``sent``); a row the reader
    would refuse aborts it.

    ``pg_temp.fmw_rows`` is a view of the staged rows, numbered and shaped as
    the reader lands them. A row the reader would refuse (a filled cell past
    the header, a cell longer than a cell may be, a row past the last one a
    source may have: ``fmw.loader.limits``) gets NULL cells, which
    ``raw.land_rows`` refuses (not-null violation): the caller then lets the
    reader name the problem.
    """
    extra = sql.SQL(" AND ROW({}) IS NULL").format(sql.SQL(", ").join(columns[width:]))
    conn.execute(
        sql.SQL(
            "CREATE TEMP VIEW fmw_rows AS "
            "SELECT ({before} + n)::integer AS source_row, "
            "CASE WHEN (greatest({octets}) <= {limit} OR greatest({lengths}) <= {limit}) "
            "AND {before} + n <= {last}{extra} "
            "THEN ARRAY[{cells}]::text[] END AS cells "
            "FROM {stage} WHERE NOT ROW({all}) IS NULL"
        ).format(
            before=sql.Literal(body.header_row - 1),  # n = 1 is _pinning_line
            # Bytes first: a cell has at most as many characters as bytes, and octet_length
            # reads the length word, where char_length counts characters.
            octets=sql.SQL(", ").join(sql.SQL("octet_length({})").format(c) for c in columns),
            lengths=sql.SQL(", ").join(sql.SQL("char_length({})").format(c) for c in columns),
            limit=sql.Literal(MAX_CELL_CHARS),
            last=sql.Literal(MAX_ROW),
            extra=extra if len(columns) > width else sql.SQL(""),
            cells=sql.SQL(", ").join(columns[:width]),
            stage=_STAGE,
            all=sql.SQL(", ").join(columns),
        )
    )
    count = land_rows(conn, batch_id, view=True, sent=sent)
    conn.execute(sql.SQL("DROP TABLE {}").format(_STAGE))
    return count


def land_csv_body(
    conn: psycopg.Connection,
    batch_id: int,
    width: int,
    body: CsvBody,
    *,
    sent: Callable[[], None] | None = None,
) -> int | None:
    """Land ``body``'s rows as batch ``batch_id``'s (``raw.row``); how many, or None.

    ``width`` is the header's width; ``sent`` is called once the rows are all
    sent, before SQL lands them. None means nothing was landed (the savepoint
    was rolled back): land the file with the reader instead.
    """
    if body.header_cells > _MAX_COLUMNS:
        return None
    columns = _columns(body.header_cells)
    try:
        with conn.transaction():
            _copy(conn, body, columns)
            return _land(conn, batch_id, body, columns, width, sent)
    except (
        _ReadDifferentlyError,  # bytes PostgreSQL may read differently
        psycopg.DataError,  # COPY refused them: ragged or blank line, bad UTF-8, NUL, ...
        psycopg.errors.NotNullViolation,  # a row the reader refuses (see _land)
        psycopg.errors.InsufficientPrivilege,  # no TEMPORARY right on the database
        OSError,  # the reader will name the row it could not read
    ):
        return None
