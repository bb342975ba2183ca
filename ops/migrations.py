"""Apply ``db/migrations`` in order, each in its own transaction, and re-apply ``db/functions``.

Why not Alembic: FMW's migrations are plain SQL files a DBA reads and reviews;
Alembic wants a Python revision per step and keeps no checksum, so it would
neither refuse an edited applied migration nor print plain SQL. This runner is
the few rules FMW needs (graphile-worker's shape): numbered files, a checksum
per applied file, a session advisory lock so two admins cannot migrate at once,
the bookkeeping row inserted first in each migration's transaction, re-running
is a no-op.

This module must never contain schema SQL itself: that lives in ``db/``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import LiteralString, cast

import psycopg

from fmw.db import FUNCTIONS_DIR, MIGRATIONS_DIR, SCHEMA_DIR, sql_files
from fmw.errors import MigrationDriftError, MigrationError, MigrationLockedError

MIGRATION_NAME = re.compile(r"^(?P<version>\d{6})_(?P<name>[a-z0-9_]+)\.sql$")
LOCK_KEY = 0x464D575F4D494752  # "FMW_MIGR": one lock for every FMW migrator of a database
OWNER_ROLE = "fmw_owner"

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
    """One file of ``db/migrations``."""

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
    """One row of ``ops.schema_migration``."""

    version: int
    name: str
    checksum: str
    applied_at: str


@dataclass(frozen=True)
class MigrationStatus:
    """Where a database stands against ``db/migrations``."""

    applied: list[AppliedMigration]
    pending: list[Migration]
    drift: list[str]  # one line per problem: edited or vanished applied migrations

    @property
    def is_current(self) -> bool:
        return not self.pending and not self.drift


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
                f"{path}: migration files are named NNNNNN_lowercase_words.sql "
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


def _applied(conn: psycopg.Connection) -> list[AppliedMigration]:
    exists = conn.execute("SELECT to_regclass('ops.schema_migration') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at::text FROM ops.schema_migration ORDER BY 1"
    ).fetchall()
    return [AppliedMigration(*row) for row in rows]


def status(conn: psycopg.Connection, folder: Path = MIGRATIONS_DIR) -> MigrationStatus:
    """Applied, pending and drifted migrations of the database behind ``conn``."""
    files = {m.version: m for m in discover(folder)}
    applied = _applied(conn)
    drift = []
    for row in applied:
        migration = files.get(row.version)
        if migration is None:
            drift.append(f"{row.version:06d}_{row.name}.sql is applied but missing from {folder}")
        elif migration.checksum != row.checksum:
            drift.append(
                f"{migration.path.name} was edited after it was applied on {row.applied_at}; "
                f"restore it (git checkout -- {migration.path.name}) and put the change in a "
                f"new migration"
            )
    done = {row.version for row in applied}
    pending = [m for v, m in sorted(files.items()) if v not in done]
    return MigrationStatus(applied, pending, drift)


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


def pending_sql(conn: psycopg.Connection) -> str:
    """The SQL ``upgrade`` would run now, for a DBA to read (nothing is executed)."""
    current = status(conn)
    if current.drift:
        raise MigrationDriftError("; ".join(current.drift))
    chunks = [f"-- ===== {m.path.name} =====\n{m.sql}" for m in current.pending]
    chunks.append(f"-- ===== db/functions (re-applied on every upgrade, as {OWNER_ROLE}) =====")
    chunks.extend(f"-- ----- {p.name} -----\n{read_sql(p)}" for p in sql_files(FUNCTIONS_DIR))
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
        return current.pending
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def apply_declarative_schema(conn: psycopg.Connection) -> None:
    """Build the schema from ``db/schema`` + ``db/functions`` (what the migrations must equal)."""
    with conn.transaction():
        for path in sql_files(SCHEMA_DIR):
            _run_sql(conn, read_sql(path), path)
    apply_functions(conn)
