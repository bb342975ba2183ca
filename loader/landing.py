"""Land one source file: register a batch, COPY its rows into ``raw.row``, process it in SQL.

The loader is thin on purpose: it moves text cells and calls database
functions (``ops.register_batch``, ``core.process_batch``). It must never
normalize, hash or judge a value; that is SQL's job under ``db/functions``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from fmw.errors import BatchError, SourceFileError
from fmw.loader.cell_notes import land_cell_notes
from fmw.loader.csv_copy import land_csv_body
from fmw.loader.source_file import SourceFormat, SourceTable, open_file, open_source

PROGRESS_EVERY = 10_000
BATCH_REFUSED = "FM003"  # SQLSTATE raised by core.process_batch for a batch it must not run


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
) -> int:
    count = 0
    statement = sql.SQL("COPY raw.row (batch_id, source_row, cells) FROM STDIN (FORMAT BINARY)")
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["int8", "int4", "text[]"])
        for row_number, cells in table.rows:
            copy.write_row((batch_id, row_number, cells))
            count += 1
            if progress and count % PROGRESS_EVERY == 0:
                progress(count)
    if progress:
        progress(count)
    return count


def _land_rows(
    conn: psycopg.Connection,
    batch_id: int,
    table: SourceTable,
    progress: Callable[[int], None] | None,
) -> int:
    """Land the data rows: UTF-8 CSV through PostgreSQL's CSV parser where it reads them
    exactly as the Python reader does, everything else row by row from the reader, with
    the reader's notes about cells (``land_cell_notes``)."""
    if table.body is not None:
        count = land_csv_body(conn, batch_id, len(table.header), table.body)
        if count is not None:
            if progress:
                progress(count)
            return count
    count = _copy_rows(conn, batch_id, table, progress)
    land_cell_notes(conn, batch_id, table.notes)
    return count


def _record_failure(
    conn: psycopg.Connection,
    spec: SourceSpec,
    table: SourceTable,
    sha: str,
    reason: str,
    *,
    accept_shape: bool,
) -> int | None:
    """Leave a failed batch behind so admins see the attempt; never fails the caller."""
    try:
        with conn.transaction():
            batch_id, _, _ = _register(
                conn, spec, table, sha, force=True, accept_shape=accept_shape
            )
            conn.execute("SELECT ops.fail_batch(%s, %s)", [batch_id, reason])
        return batch_id
    except psycopg.Error:
        return None


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
        raise
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

    Landing is one transaction: a file that cannot be read completely leaves no
    rows behind (a failed batch records the attempt) and raises SourceFileError.
    Headers or a shape ``ops.register_batch`` refuses raise SourceFileError at
    row 1, and leave a refused batch naming the fix; ``accept_shape`` lets the
    file declare a new shape for its source.
    """
    path = Path(path)
    sha = file_sha256(path)
    with open_source(path, fmt=spec.format, encoding=spec.encoding, sheet=spec.sheet) as table:
        try:
            with conn.transaction():
                batch_id, duplicate_of, refusal = _register(
                    conn, spec, table, sha, force=force, accept_shape=accept_shape
                )
                if batch_id is not None and refusal is None:
                    _land_rows(conn, batch_id, table, progress)
        except SourceFileError as exc:
            _record_failure(conn, spec, table, sha, str(exc), accept_shape=accept_shape)
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
    return _process(
        conn,
        batch_id,
        allow_mass_deactivation=False,
        source=spec.name,
        path=path,
        encoding=table.encoding,
    )


def reprocess_batch(
    conn: psycopg.Connection, batch_id: int, *, approve: bool, actor: str | None = None
) -> BatchResult:
    """Process a landed batch again: a held one (``approve``) or a failed one after a fix.

    ``actor`` is who the admin audit log (ops.admin_action) names; None: the login.
    """
    found = conn.execute(
        "SELECT source, file_name, status, file_encoding, "
        "EXISTS (SELECT FROM raw.row AS r "
        "        WHERE r.batch_id = coalesce(b.raw_batch_id, b.batch_id)) "
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
    wanted = "held" if approve else "failed"
    if current != wanted:
        verb = "approve" if approve else "retry"
        raise BatchError(
            f"batch {batch_id} is {current}; `fmw batch {verb}` takes {wanted} batches"
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
