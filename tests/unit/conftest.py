"""Unit tests run without a database: opening a PostgreSQL connection here fails the test.

A test that needs PostgreSQL belongs in ``tests/integration`` (or ``migration``,
``acceptance``), where the real server is. This guard replaces psycopg's
connect for the unit tests only, so a unit test that reaches for a server fails
at once with the reason instead of quietly depending on one.
"""

from __future__ import annotations

from typing import Any, NoReturn

import psycopg
import pytest


class UnitTestConnectedError(AssertionError):
    """A unit test tried to open a database connection."""


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise UnitTestConnectedError(
            "tests/unit may not open a database connection: move this test to tests/integration"
        )

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(refuse))
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(refuse))
