"""Restore a pg_dump archive into a new database, check it, and only then give it its name.

``restore_backup`` (``fmw restore FILE [--into DATABASE] [--replace]``) never
restores into the database that will carry the name: it restores into a
staging database, runs the ``fmw db status`` checks and compares row counts
with the backup's sidecar, and only when everything passed renames the staging
database to the target. A failed restore therefore leaves every existing
database as it was. An existing, non-empty target (and the live database FMW
uses, even when empty) is replaced only with ``replace=True``, and even then it
is renamed to ``<target>_old_<time>``, never dropped.

``restore_and_check`` is the part ``fmw backup`` reuses to prove a fresh
archive: restore into a scratch database, count every table, read the
migration status.

This module must never write into an existing database's tables, and never
drop a database it did not create, except an *empty* target it replaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from fmw import database, migrations
from fmw.backup import files as backup_files
from fmw.backup.pg_tools import PgTools, archive_header, find_tools, libpq_target, run_tool
from fmw.db import SCHEMA_DIR
from fmw.errors import DatabaseUnavailableError, FmwError, RestoreError
from fmw.settings import Settings

ROLES_SQL = SCHEMA_DIR / "00_roles.sql"
MAINTENANCE_DATABASES = ("postgres", "template1")
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})
NAME_LIMIT = 63
RENAME_ATTEMPTS = 20
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_OBJECT_IN_USE = "55006"

TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
USER_OBJECTS_SQL = """
SELECT (SELECT count(*) FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%')
     + (SELECT count(*) FROM pg_catalog.pg_namespace AS n
        WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%')
"""


@dataclass(frozen=True)
class CheckedDatabase:
    """A database restored from an archive, with what the checks found in it."""

    name: str
    tables: dict[str, int]
    status: migrations.MigrationStatus

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class RestoreResult:
    """What ``restore_backup`` did."""

    archive: Path
    database: str
    kept_as: str | None  # the replaced database's new name, when one was replaced
    checked: CheckedDatabase
    header: dict[str, str]
    seconds: float


def _silent(_line: str) -> None:
    pass


# --------------------------------------------------------------------------- building blocks


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """``{"schema.table": rows}`` for every table of the database (system tables excluded)."""
    counts: dict[str, int] = {}
    for schema, table in conn.execute(TABLES_SQL).fetchall():
        query = sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def count_differences(expected: dict[str, int], found: dict[str, int]) -> list[str]:
    """One line per table whose row count differs (or that is missing on one side)."""
    lines = []
    for table in sorted(set(expected) | set(found)):
        want, got = expected.get(table), found.get(table)
        if want != got:
            lines.append(
                f"{table}: {'missing' if want is None else want} expected, "
                f"{'missing' if got is None else got} found"
            )
    return lines


def check_database_name(name: str) -> str:
    """``name`` if it is a plain database name FMW may create; RestoreError otherwise."""
    if not _NAME.fullmatch(name) or name in RESERVED_DATABASES:
        raise RestoreError(
            f"{name!r} cannot be a restore target: use lowercase letters, digits and _ "
            f"(at most {NAME_LIMIT}, not starting with a digit), and not "
            f"{', '.join(sorted(RESERVED_DATABASES))}"
        )
    return name


def create_database(admin: psycopg.Connection, name: str) -> None:
    """Create an empty UTF-8 database from template0 (what pg_restore expects)."""
    query = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
        sql.Identifier(name)
    )
    admin.execute(query)


def drop_database(admin: psycopg.Connection, name: str) -> None:
    """Drop a database FMW created (scratch or staging), closing its sessions."""
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _prepare_roles(url: str, error: type[FmwError]) -> None:
    """Create FMW's group roles when missing (a fresh server), as the first migration does."""
    try:
        with database.connect(url, autocommit=True) as conn, conn.transaction():
            conn.execute(migrations.read_sql(ROLES_SQL))
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(
            f"cannot prepare FMW's roles (fmw_owner, fmw_loader, fmw_reader) for the restore: "
            f"{reason}; restore as a user who may create roles, or create them first"
        ) from exc


def restore_and_check(
    tools: PgTools,
    archive: Path,
    server_url: str,
    admin: psycopg.Connection,
    name: str,
    *,
    error: type[FmwError],
) -> CheckedDatabase:
    """Create database ``name``, restore ``archive`` into it, count its tables, read its status.

    One transaction (``--single-transaction``): the archive applies whole or not
    at all. On any failure the database is dropped again and ``error`` names the
    cause.
    """
    create_database(admin, name)
    try:
        url = database.with_database(server_url, name)
        _prepare_roles(url, error)
        target, env = libpq_target(url, application_name="fmw-restore")
        run_tool(
            [
                tools.program("pg_restore"),
                "--single-transaction",
                "--exit-on-error",
                "--no-password",
                f"--dbname={target}",
                str(archive),
            ],
            env=env,
            error=error,
        )
        with database.connect(url, autocommit=True) as conn:
            checked = CheckedDatabase(name, table_counts(conn), migrations.status(conn))
    except BaseException:
        with contextlib.suppress(psycopg.Error):
            drop_database(admin, name)
        raise
    return checked


def uses_embedded_server(settings: Settings) -> bool:
    """True when no database URL is configured (FMW runs its embedded PostgreSQL)."""
    return not (os.environ.get(database.URL_ENV) or settings.database_url)


def tools_for(settings: Settings, conn: psycopg.Connection) -> PgTools:
    """The client programs for the server behind ``conn``."""
    return find_tools(
        settings,
        conn.info.server_version // 10000,
        embedded=uses_embedded_server(settings),
    )


@contextlib.contextmanager
def admin_connection(url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a maintenance database of ``url``'s server.

    Creating, renaming and dropping databases needs a connection to another
    database; the live one may be gone (the reason to restore), so try
    ``postgres``, then ``template1``, then the URL's own database.
    """
    last: DatabaseUnavailableError | None = None
    candidates = [database.with_database(url, name) for name in MAINTENANCE_DATABASES]
    for candidate in [*candidates, url]:
        try:
            conn = psycopg.connect(candidate, autocommit=True, application_name="fmw-restore")
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "refused"
            last = DatabaseUnavailableError(
                f"cannot connect to {database.describe(candidate)}: {reason}"
            )
            continue
        with conn:
            yield conn
        return
    assert last is not None
    raise last


# --------------------------------------------------------------------------- fmw restore


def default_target(archive: Path, now: datetime) -> str:
    """``fmw_restore_<backup time>`` for an FMW backup file, else ``fmw_restore_<now>``."""
    stem = backup_files.stem_of(archive)
    moment = (backup_files.stem_time(stem) if stem else None) or now
    return f"fmw_restore_{moment.astimezone(UTC).strftime('%Y%m%d_%H%M%S')}"


def _database_state(admin: psycopg.Connection, server_url: str, name: str) -> str:
    """``absent``, ``empty`` or ``non-empty`` (a database FMW cannot look into counts as full)."""
    exists = admin.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", [name])
    if exists.fetchone() is None:
        return "absent"
    try:
        with psycopg.connect(database.with_database(server_url, name)) as conn:
            row = conn.execute(USER_OBJECTS_SQL).fetchone()
    except psycopg.Error:
        return "non-empty"
    return "empty" if row and row[0] == 0 else "non-empty"


def _free_name(admin: psycopg.Connection, base: str, suffix: str) -> str:
    name = f"{base[: NAME_LIMIT - len(suffix)]}{suffix}"
    n = 1
    while admin.execute(
        "SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", [name]
    ).fetchone():
        n += 1
        tail = f"{suffix}_{n}"
        name = f"{base[: NAME_LIMIT - len(tail)]}{tail}"
    return name


def _rename(admin: psycopg.Connection, old: str, new: str) -> None:
    """Rename a database, riding out sessions that are still closing."""
    query = sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
        sql.Identifier(old), sql.Identifier(new)
    )
    for attempt in range(RENAME_ATTEMPTS):
        try:
            admin.execute(query)
            return
        except psycopg.Error as exc:
            if exc.sqlstate != _OBJECT_IN_USE or attempt == RENAME_ATTEMPTS - 1:
                raise
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [old],
            )
            time.sleep(0.1)


def _allow_connections(admin: psycopg.Connection, name: str, allow: bool) -> None:
    admin.execute(
        sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.Literal(allow)
        )
    )


def _put_in_place(
    admin: psycopg.Connection, staging: str, target: str, state: str, now: datetime
) -> str | None:
    """Give the staging database the target's name; return the replaced one's new name."""
    if state == "absent":
        _rename(admin, staging, target)
        return None
    if state == "empty":
        drop_database(admin, target)
        _rename(admin, staging, target)
        return None
    kept_as = _free_name(admin, target, f"_old_{now.strftime('%Y%m%d_%H%M%S')}")
    _allow_connections(admin, target, False)
    try:
        _rename(admin, target, kept_as)
    except BaseException:
        _allow_connections(admin, target, True)
        raise
    try:
        _rename(admin, staging, target)
    except BaseException:
        _rename(admin, kept_as, target)
        _allow_connections(admin, target, True)
        raise
    _allow_connections(admin, kept_as, True)
    return kept_as


def restore_backup(
    settings: Settings,
    archive: Path,
    *,
    into: str | None = None,
    replace: bool = False,
    progress: Callable[[str], None] = _silent,
) -> RestoreResult:
    """Restore ``archive`` into database ``into`` (default ``fmw_restore_<time>``), checked.

    Refuses an existing non-empty target, and the live database, unless
    ``replace``; the replaced database is kept under a new name.
    """
    started = time.monotonic()
    now = datetime.now(UTC)
    archive = Path(archive).expanduser().resolve()
    if not archive.is_file():
        raise RestoreError(f"{archive}: no such backup file (see `fmw backup list`)")
    sidecar = _matching_sidecar(archive)
    target = check_database_name(into if into is not None else default_target(archive, now))
    url = database.database_url(settings, announce=progress)
    live = conninfo_to_dict(url).get("dbname")
    if target == live and not replace:
        raise RestoreError(
            f"{target} is the live database FMW uses: restore into another one (--into NAME) "
            f"or add --replace to put the backup in its place (the current one is kept, renamed)"
        )
    with admin_connection(url) as admin:
        tools = tools_for(settings, admin)
        header = archive_header(tools, archive, error=RestoreError)
        state = _database_state(admin, url, target)
        if state == "non-empty" and not replace:
            raise RestoreError(
                f"database {target} exists and is not empty: choose another name (--into NAME) "
                f"or add --replace (the existing one is kept as {target}_old_<time>)"
            )
        staging = f"fmw_restoring_{os.getpid()}"
        drop_database(admin, staging)  # a leftover of a killed restore by a process of this pid
        progress(
            f"restoring {archive.name} into a staging database with the PostgreSQL "
            f"{tools.major} programs ({tools.origin})"
        )
        checked = restore_and_check(tools, archive, url, admin, staging, error=RestoreError)
        try:
            expected = (sidecar or {}).get("tables")
            if isinstance(expected, dict):
                problems = count_differences(expected, checked.tables)
                if problems:
                    raise RestoreError(
                        f"{archive.name}: the restored row counts differ from the ones recorded "
                        f"at backup time: {'; '.join(problems)}"
                    )
            kept_as = _put_in_place(admin, staging, target, state, now)
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                drop_database(admin, staging)
            raise
    checked = CheckedDatabase(target, checked.tables, checked.status)
    return RestoreResult(archive, target, kept_as, checked, header, time.monotonic() - started)


def _matching_sidecar(archive: Path) -> dict[str, object] | None:
    """The sidecar of an FMW backup file, after checking the file still matches it."""
    stem = backup_files.stem_of(archive)
    if stem is None or not archive.name.endswith(backup_files.DUMP_SUFFIX):
        return None
    sidecar = backup_files.read_sidecar(archive.with_name(f"{stem}{backup_files.SIDECAR_SUFFIX}"))
    if sidecar is None or not isinstance(sidecar.get("sha256"), str):
        return sidecar
    _, digest = backup_files.file_sha256(archive)
    if digest != sidecar["sha256"]:
        raise RestoreError(
            f"{archive}: its SHA-256 differs from the one recorded when it was made, so the file "
            f"was damaged or changed since: restore another backup (`fmw backup list`), or "
            f"delete {stem}{backup_files.SIDECAR_SUFFIX} to try this one anyway"
        )
    return sidecar
