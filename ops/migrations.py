"""Apply ``db/migrations`` in order, each in its own transaction, re-apply ``db/functions``, then
apply the ``db/vocabulary`` files not applied yet.

Why not Alembic: FMW's migrations are plain SQL files a DBA reads and reviews;
Alembic wants a Python revision per step and keeps no checksum, so it would
neither refuse an edited applied migration nor print plain SQL. This runner is
the few rules FMW needs (graphile-worker's shape): numbered files, a checksum
per applied file, a session advisory lock so two admins cannot migrate at once,
the bookkeeping row inserted first in each migration's transaction, re-running
is a no-op.

The vocabulary files (default header aliases and status words) follow the
same rules, numbered like migrations and recorded in ``ops.vocabulary_version``:
each is applied once, after the functions it calls (``core.header_key``), so a
default an admin removed later is never put back by an upgrade.

This module must never contain schema SQL itself: that lives in ``db/``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import LiteralString, cast

import psycopg

from fmw.db import FUNCTIONS_DIR, MIGRATIONS_DIR, SCHEMA_DIR, VOCABULARY_DIR, sql_files
from fmw.errors import MigrationDriftError, MigrationError, MigrationLockedError

MIGRATION_NAME = re.compile(r"^(?P<version>\d{6})_(?P<name>[a-z0-9_]+)\.sql$")
LOCK_KEY = 0x464D575F4D494752  # "FMW_MIGR": one lock for every FMW migrator of a database
OWNER_ROLE = "fmw_owner"
MIGRATION_TABLE = "ops.schema_migration"
VOCABULARY_TABLE = "ops.vocabulary_version"
VOCABULARY_KIND = "vocabulary file"

BOOTSTRAP_SQL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migration (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL DEFAULT session_user
);
"""


@dataclass(frozen=True)
class Migration:
    """One numbered file of ``db/migrations`` (or of ``db/vocabulary``)."""

    version: int
    name: str
    path: Path

    @property
    def sql(self) -> LiteralString:
        return read_sql(self.path)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AppliedMigration:
    """One row of ``ops.schema_migration`` (or of ``ops.vocabulary_version``)."""

    version: int
    name: str
    checksum: str
    applied_at: str


@dataclass(frozen=True)
class MigrationStatus:
    """Where a database stands against ``db/migrations``."""

    applied: list[AppliedMigration]
    pending: list[Migration]
    drift: list[str]  # one line per problem: edited or vanished applied files
    vocabulary_applied: list[AppliedMigration] = field(default_factory=list)
    vocabulary_pending: list[Migration] = field(default_factory=list)

    @property
    def is_current(self) -> bool:
        return not self.pending and not self.vocabulary_pending and not self.drift

    @property
    def pending_text(self) -> str:
        """What upgrading would apply, for messages: "2 migrations and 1 vocabulary file"."""
        parts = [f"{len(self.pending)} migration" + ("" if len(self.pending) == 1 else "s")]
        if self.vocabulary_pending:
            count = len(self.vocabulary_pending)
            parts.append(f"{count} vocabulary file" + ("" if count == 1 else "s"))
        return " and ".join(parts)


def read_sql(path: Path) -> LiteralString:
    """A SQL file's text with LF line endings, so a Windows checkout has the same checksum.

    Typed as a literal: FMW's own SQL files (``db/``) are code, run as they are, never input.
    """
    return cast(LiteralString, path.read_bytes().decode("utf-8").replace("\r\n", "\n"))


def discover(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``folder``, checked for names and gap-free numbering."""
    migrations = []
    for path in sql_files(folder):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"{path}: files in {folder.name}/ are named NNNNNN_lowercase_words.sql "
                f"(six digits, e.g. 000002_add_owner_index.sql); rename it"
            )
        migrations.append(Migration(int(match["version"]), match["name"], path))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{migration.path}: expected version {expected:06d} next; versions must run "
                f"1, 2, 3… without gaps or repeats"
            )
    return migrations


def _applied(
    conn: psycopg.Connection, table: LiteralString = MIGRATION_TABLE
) -> list[AppliedMigration]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at::text FROM " + table + " ORDER BY 1"
    ).fetchall()
    return [AppliedMigration(*row) for row in rows]


def _compare(
    files: list[Migration],
    applied: list[AppliedMigration],
    folder: Path,
    drift: list[str],
    kind: str = "migration",
) -> list[Migration]:
    """The files not applied yet; a line in ``drift`` per applied file edited or gone."""
    by_version = {m.version: m for m in files}
    for row in applied:
        migration = by_version.get(row.version)
        if migration is None:
            drift.append(f"{row.version:06d}_{row.name}.sql is applied but missing from {folder}")
        elif migration.checksum != row.checksum:
            drift.append(
                f"{migration.path.name} was edited after it was applied on {row.applied_at}; "
                f"restore it (git checkout -- {migration.path.name}) and put the change in a "
                f"new {kind}"
            )
    done = {row.version for row in applied}
    return [m for m in files if m.version not in done]


def status(
    conn: psycopg.Connection,
    folder: Path = MIGRATIONS_DIR,
    vocabulary_folder: Path = VOCABULARY_DIR,
) -> MigrationStatus:
    """Applied, pending and drifted migrations and vocabulary files of the database."""
    drift: list[str] = []
    applied = _applied(conn)
    pending = _compare(discover(folder), applied, folder, drift)
    vocabulary_applied = _applied(conn, VOCABULARY_TABLE)
    vocabulary_pending = _compare(
        discover(vocabulary_folder), vocabulary_applied, vocabulary_folder, drift, VOCABULARY_KIND
    )
    return MigrationStatus(applied, pending, drift, vocabulary_applied, vocabulary_pending)


def _run_sql(conn: psycopg.Connection, sql: LiteralString, origin: Path) -> None:
    try:
        conn.execute(sql)  # no parameters: psycopg sends it as one multi-statement script
    except psycopg.Error as exc:
        diag = exc.diag
        detail = diag.message_primary or str(exc)
        where = f" ({diag.context.splitlines()[0]})" if diag.context else ""
        raise MigrationError(f"{origin}: {detail}{where}") from exc


def apply_functions(conn: psycopg.Connection, folder: Path = FUNCTIONS_DIR) -> int:
    """Re-apply every ``db/functions`` file as fmw_owner in one transaction; return the count."""
    files = sql_files(folder)
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
        for path in files:
            _run_sql(conn, read_sql(path), path)
    return len(files)


def apply_vocabulary(
    conn: psycopg.Connection,
    folder: Path = VOCABULARY_DIR,
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[Migration]:
    """Apply the ``db/vocabulary`` files not applied yet, each once, as fmw_owner."""
    drift: list[str] = []
    applied = _applied(conn, VOCABULARY_TABLE)
    current = _compare(discover(folder), applied, folder, drift, VOCABULARY_KIND)
    if drift:
        raise MigrationDriftError("; ".join(drift))
    for vocabulary in current:
        progress(f"applying vocabulary {vocabulary.path.name}")
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
            conn.execute(
                "INSERT INTO ops.vocabulary_version (version, name, checksum) VALUES (%s, %s, %s)",
                [vocabulary.version, vocabulary.name, vocabulary.checksum],
            )
            _run_sql(conn, vocabulary.sql, vocabulary.path)
    return current


def pending_sql(conn: psycopg.Connection) -> str:
    """The SQL ``upgrade`` would run now, for a DBA to read (nothing is executed)."""
    current = status(conn)
    if current.drift:
        raise MigrationDriftError("; ".join(current.drift))
    chunks = [f"-- ===== {m.path.name} =====\n{m.sql}" for m in current.pending]
    chunks.append(f"-- ===== db/functions (re-applied on every upgrade, as {OWNER_ROLE}) =====")
    chunks.extend(f"-- ----- {p.name} -----\n{read_sql(p)}" for p in sql_files(FUNCTIONS_DIR))
    chunks.extend(
        f"-- ===== db/vocabulary/{m.path.name} (once, as {OWNER_ROLE}) =====\n{m.sql}"
        for m in current.vocabulary_pending
    )
    return "\n".join(chunks)


def upgrade(
    conn: psycopg.Connection,
    *,
    progress: Callable[[str], None] = lambda _line: None,
    folder: Path = MIGRATIONS_DIR,
) -> list[Migration]:
    """Apply pending migrations, then the functions; return the migrations applied.

    ``conn`` must be in autocommit mode: each migration gets its own transaction.
    """
    if not conn.autocommit:
        raise MigrationError("upgrade needs an autocommit connection (one transaction per step)")
    got_lock = conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
    if not got_lock or not got_lock[0]:
        raise MigrationLockedError()
    try:
        conn.execute(BOOTSTRAP_SQL)
        current = status(conn, folder)
        if current.drift:
            raise MigrationDriftError("; ".join(current.drift))
        for migration in current.pending:
            progress(f"applying {migration.path.name}")
            with conn.transaction():
                conn.execute(
                    "INSERT INTO ops.schema_migration (version, name, checksum) "
                    "VALUES (%s, %s, %s)",
                    [migration.version, migration.name, migration.checksum],
                )
                _run_sql(conn, migration.sql, migration.path)
        count = apply_functions(conn)
        progress(f"re-applied {count} function files from db/functions")
        apply_vocabulary(conn, progress=progress)
        return current.pending
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def apply_declarative_schema(conn: psycopg.Connection) -> None:
    """Build the schema from ``db/schema`` + ``db/functions`` + ``db/vocabulary`` (what the
    migrations must equal)."""
    with conn.transaction():
        for path in sql_files(SCHEMA_DIR):
            _run_sql(conn, read_sql(path), path)
    apply_functions(conn)
    apply_vocabulary(conn)
