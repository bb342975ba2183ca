"""Land one source file: register a batch, land its rows (``raw.row``) and keep the file
verbatim, then process it in SQL.

The loader is thin on purpose: it moves text cells and calls database
functions (``ops.register_batch``, ``core.process_batch``). It must never
normalize, hash or judge a value; that is SQL's job under ``db/functions``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from fmw.errors import BatchError, SourceFileError
from fmw.loader import original_file
from fmw.loader.cell_notes import land_cell_notes
from fmw.loader.csv_copy import land_csv_body
from fmw.loader.raw_rows import land_rows
from fmw.loader.source_file import (
    SourceFormat,
    SourceTable,
    check_kind,
    open_file,
    open_source,
)

PROGRESS_EVERY = 10_000
BATCH_REFUSED = "FM003"  # SQLSTATE raised by core.process_batch for a batch it must not run
FILE_IN_FLIGHT = "FM004"  # SQLSTATE: ops.register_batch, the same file is being landed already
_COPY_LINE = re.compile(r"\bline (\d+)\b")  # where in a COPY PostgreSQL stopped


@dataclass(frozen=True)
class SourceSpec:
    """How to read one source's files (from the settings file or the command line)."""

    name: str
    priority: int = 100
    format: SourceFormat = "auto"
    encoding: str = "auto"
    sheet: str | None = None
    full_extract: bool = True


@dataclass(frozen=True)
class BatchResult:
    """What loading one file did; counts are None where they do not apply."""

    source: str
    path: Path
    batch_id: int | None
    status: str  # processed | held | failed | skipped
    encoding: str | None = None
    rows: int | None = None
    inserted: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    deactivated: int | None = None
    rejected: int | None = None
    issues: int | None = None
    message: str | None = None
    unmapped: tuple[str, ...] = ()  # headers that map to no field: their cells were not loaded
    unknown_words: tuple[tuple[str, int], ...] = ()  # status words no synonym matched, rows

    @property
    def changed(self) -> bool:
        return bool((self.inserted or 0) + (self.updated or 0) + (self.deactivated or 0))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks; only a regular file is read (``open_file``)."""
    digest = hashlib.sha256()
    with open_file(path) as handle:
        try:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        except OSError as exc:
            raise SourceFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _register(
    conn: psycopg.Connection,
    spec: SourceSpec,
    table: SourceTable,
    sha: str,
    *,
    force: bool,
    accept_shape: bool,
) -> tuple[int | None, int | None, str | None]:
    """``ops.register_batch``: (batch, None, None) to land, (None, earlier batch, None) for a
    file loaded already, or (refused batch, None, why) for headers or a shape it refuses."""
    row = conn.execute(
        "SELECT batch_id, duplicate_of, refusal "
        "FROM ops.register_batch(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            spec.name,
            spec.priority,
            table.path.name,
            sha,
            table.encoding,
            table.header,
            force,
            spec.full_extract,
            accept_shape,
        ],
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def _copy_rows(
    conn: psycopg.Connection,
    batch_id: int,
    table: SourceTable,
    progress: Callable[[int], None] | None,
    sent: Callable[[], None] | None,
) -> int:
    """Send the reader's rows into ``pg_temp.fmw_rows``, then land them (``raw.land_rows``;
    ``sent`` is called in between)."""
    written = array("i")  # the source row of each COPY line, to name a row PostgreSQL refuses
    conn.execute("CREATE TEMP TABLE fmw_rows (source_row integer NOT NULL, cells text[])")
    statement = sql.SQL("COPY pg_temp.fmw_rows (source_row, cells) FROM STDIN (FORMAT BINARY)")
    try:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(["int4", "text[]"])
            for row_number, cells in table.rows:
                copy.write_row((row_number, cells))
                written.append(row_number)
                if progress and len(written) % PROGRESS_EVERY == 0:
                    progress(len(written))
    except psycopg.Error as exc:
        raise landing_error(table.path, exc, written) from exc
    return land_rows(conn, batch_id, view=False, sent=sent)


def landing_error(path: Path, exc: psycopg.Error, written: Sequence[int] = ()) -> SourceFileError:
    """FMW's one line for a database error while landing ``path``: the file, the row where
    PostgreSQL's COPY stopped (``written``: the source row of each line sent), and its words."""
    primary = exc.diag.message_primary or str(exc).strip().splitlines()[0]
    found = _COPY_LINE.search(exc.diag.context or "")
    line = int(found.group(1)) if found else 0
    row = written[line - 1] if 0 < line <= len(written) else None
    return SourceFileError(path, f"the database refused it, nothing landed: {primary}", row=row)


def _land_rows(
    conn: psycopg.Connection,
    batch_id: int,
    table: SourceTable,
    progress: Callable[[int], None] | None,
    sent: Callable[[], None] | None,
) -> int:
    """Land the data rows: UTF-8 CSV through PostgreSQL's CSV parser where it reads them
    exactly as the Python reader does, everything else row by row from the reader, with
    the reader's notes about cells (``land_cell_notes``); ``sent`` is called once the rows
    are all sent, before SQL lands them."""
    if table.body is not None:
        count = land_csv_body(conn, batch_id, len(table.header), table.body, sent=sent)
        if count is not None:
            return count
    count = _copy_rows(conn, batch_id, table, progress, sent)
    land_cell_notes(conn, batch_id, table.notes)
    return count


def _land_file(
    conn: psycopg.Connection,
    batch_id: int,
    table: SourceTable,
    sha: str,
    progress: Callable[[int], None] | None,
) -> None:
    """Land the rows and keep the file verbatim (compressed in a thread while SQL lands the
    rows), once per content; ``progress`` hears the row count when both are in."""
    with original_file.compressing(conn, table.path, sha) as keeping:
        sent = keeping.start if keeping is not None else None
        count = _land_rows(conn, batch_id, table, progress, sent)
        if keeping is not None:
            original_file.store(conn, table.path, keeping.result(), sha)
    if progress:
        progress(count)


@dataclass
class _Attempt:
    """What is known about a file being loaded, for the failed batch that records it."""

    path: Path
    sha: str | None = None
    table: SourceTable | None = None


def _record_failure(
    conn: psycopg.Connection, spec: SourceSpec, attempt: _Attempt, reason: str
) -> int | None:
    """Leave a failed batch behind so admins see the attempt; never fails the caller."""
    table = attempt.table
    try:
        row = conn.execute(
            "SELECT ops.record_failed_file(%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                spec.name,
                spec.priority,
                attempt.path.name,
                attempt.sha,
                table.encoding if table else None,
                table.header if table else None,
                spec.full_extract,
                reason,
            ],
        ).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def _land(
    conn: psycopg.Connection,
    spec: SourceSpec,
    table: SourceTable,
    sha: str,
    *,
    force: bool,
    accept_shape: bool,
    progress: Callable[[int], None] | None,
) -> tuple[int | None, int | None, str | None]:
    """Register and land the file in one transaction (``_register``'s three values).

    A database error becomes FMW's own: SourceFileError naming the file (the
    same file in flight elsewhere: BatchError, and no failed batch).
    """
    try:
        with conn.transaction():
            batch_id, duplicate_of, refusal = _register(
                conn, spec, table, sha, force=force, accept_shape=accept_shape
            )
            if batch_id is not None and refusal is None:
                _land_file(conn, batch_id, table, sha, progress)
    except psycopg.Error as exc:
        if exc.sqlstate == FILE_IN_FLIGHT:
            raise BatchError(exc.diag.message_primary or str(exc)) from None
        raise landing_error(table.path, exc) from exc
    return batch_id, duplicate_of, refusal


def mark_interrupted(conn: psycopg.Connection) -> list[tuple[int, str, str, int]]:
    """Mark interrupted every landed batch no session is landing or processing any more;
    (batch, source, file name, landed rows) of each one marked."""
    rows = conn.execute(
        "SELECT batch_id, source, file_name, raw_rows FROM ops.mark_interrupted_batches()"
    ).fetchall()
    return [(int(b), str(s), str(f), int(n)) for b, s, f, n in rows]


def _release(conn: psycopg.Connection, batch_id: int) -> None:
    """Give up the batch's landing lock (ops.register_batch took it); the connection may
    be gone, and then the lock went with it."""
    with contextlib.suppress(psycopg.Error):
        conn.execute("SELECT pg_advisory_unlock(ops.batch_lock_key(%s))", [batch_id])


def _process(
    conn: psycopg.Connection,
    batch_id: int,
    *,
    allow_mass_deactivation: bool,
    source: str,
    path: Path,
    encoding: str | None,
    actor: str | None = None,
) -> BatchResult:
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT status, row_count, inserted, updated, unchanged, deactivated, rejected, "
                "issues, message, unmapped_columns FROM core.process_batch(%s, %s, %s)",
                [batch_id, allow_mass_deactivation, actor],
            ).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate == BATCH_REFUSED:
            raise BatchError(exc.diag.message_primary or str(exc)) from exc
        primary = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        raise BatchError(
            f"{path.name}: batch {batch_id} was not processed, no record changed (database "
            f"error: {primary}); `fmw batch retry {batch_id}` processes it again"
        ) from exc
    assert row is not None
    status, rows, inserted, updated, unchanged, deactivated, rejected, issues, message, unmapped = (
        row
    )
    words = conn.execute(
        "SELECT word, rows FROM core.batch_status_words(%s)", [batch_id]
    ).fetchall()
    return BatchResult(
        source,
        path,
        batch_id,
        status,
        encoding,
        rows,
        inserted,
        updated,
        unchanged,
        deactivated,
        rejected,
        issues,
        message,
        tuple(unmapped),
        tuple((word, count) for word, count in words),
    )


def load_file(
    conn: psycopg.Connection,
    spec: SourceSpec,
    path: Path,
    *,
    force: bool = False,
    accept_shape: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Land ``path`` as a batch of ``spec.name`` and process it.

    Landing is one transaction: a file that cannot be read or landed completely
    leaves no rows behind (a failed batch records the attempt, naming the file
    and where known its row and column) and raises SourceFileError; a path that
    is not a file at all (missing, a FIFO, a device) is refused before anything
    is recorded.
    Headers or a shape ``ops.register_batch`` refuses raise SourceFileError at
    row 1, and leave a refused batch naming the fix; ``accept_shape`` lets the
    file declare a new shape for its source.
    """
    attempt = _Attempt(Path(path))
    path = attempt.path
    check_kind(path)  # what is not a file at all is refused before anything is recorded
    mark_interrupted(conn)
    try:
        attempt.sha = file_sha256(path)
        with open_source(path, fmt=spec.format, encoding=spec.encoding, sheet=spec.sheet) as table:
            attempt.table = table
            batch_id, duplicate_of, refusal = _land(
                conn,
                spec,
                table,
                attempt.sha,
                force=force,
                accept_shape=accept_shape,
                progress=progress,
            )
    except SourceFileError as exc:
        _record_failure(conn, spec, attempt, str(exc))
        raise
    if refusal is not None:  # the refused batch is committed: `fmw batch list` shows it
        raise SourceFileError(path, refusal, row=1)
    if batch_id is None:
        return BatchResult(
            spec.name,
            path,
            duplicate_of,
            "skipped",
            table.encoding,
            message=f"already loaded as batch {duplicate_of}; --force reloads it",
        )
    try:
        result = _process(
            conn,
            batch_id,
            allow_mass_deactivation=False,
            source=spec.name,
            path=path,
            encoding=table.encoding,
        )
    except BatchError as exc:
        # Left landed: fail it with the reason while the connection lasts; when it is
        # gone, the next start marks the batch interrupted (ops.mark_interrupted_batches).
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT ops.fail_batch(%s, %s)", [batch_id, str(exc)])
        raise
    finally:
        _release(conn, batch_id)
    return result


def reprocess_batch(
    conn: psycopg.Connection, batch_id: int, *, approve: bool, actor: str | None = None
) -> BatchResult:
    """Process a landed batch again: a held one (``approve``) or a failed one after a fix.

    ``actor`` is who the admin audit log (ops.admin_action) names; None: the login.
    """
    found = conn.execute(
        "SELECT source, file_name, status, file_encoding, "
        "EXISTS (SELECT FROM raw.batch_rows AS r "
        "        WHERE r.batch_id = coalesce(b.raw_batch_id, b.batch_id) "
        "          AND cardinality(r.prints) > 0) "
        "FROM ops.batch AS b WHERE batch_id = %s",
        [batch_id],
    ).fetchone()
    if found is None:
        raise BatchError(f"batch {batch_id} does not exist (see `fmw batch list`)")
    source, file_name, current, encoding, landed = found
    if current == "refused":
        raise BatchError(
            f"batch {batch_id} was refused, so nothing of {file_name} landed: run the command "
            f"its message names (`fmw batch show {batch_id}`), then load the file again"
        )
    wanted = ("held",) if approve else ("failed", "interrupted")
    if current not in wanted:
        verb = "approve" if approve else "retry"
        raise BatchError(
            f"batch {batch_id} is {current}; `fmw batch {verb}` takes {' or '.join(wanted)} batches"
        )
    if not landed:
        raise BatchError(
            f"batch {batch_id} has no landed rows ({file_name} could not be read): fix the file "
            "and load it again"
        )
    return _process(
        conn,
        batch_id,
        allow_mass_deactivation=approve,
        source=source,
        path=Path(file_name),
        encoding=encoding,
        actor=actor,
    )


def discard_batch(conn: psycopg.Connection, batch_id: int, *, actor: str | None = None) -> int:
    """Drop an interrupted, failed or held batch's landed rows (``ops.discard_batch``);
    how many rows. No record changes."""
    try:
        row = conn.execute("SELECT ops.discard_batch(%s, %s)", [batch_id, actor]).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate == BATCH_REFUSED:
            raise BatchError(exc.diag.message_primary or str(exc)) from None
        raise
    return int(row[0]) if row else 0
