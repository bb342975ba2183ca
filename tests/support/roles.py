"""Least-privilege helpers for SQL-level role tests: act as a group role with SET ROLE, and a
landed (registered) or processed batch to act on.

Its job: the setup the role tests share. It must never assert a privilege itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import sql

from tests.support.raw_rows import land_raw_rows

HEADERS = ["feature_code", "status", "owner"]


@contextlib.contextmanager
def acting_as(conn: psycopg.Connection, role: str) -> Iterator[None]:
    """Run the block as ``role`` (autocommit: each statement is its own transaction)."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        yield
    finally:
        conn.execute("RESET ROLE")


def register(conn: psycopg.Connection, sha_digit: str = "a") -> int:
    row = conn.execute(
        "SELECT batch_id FROM ops.register_batch('team', 10, 'team.csv', %s, 'utf-8', %s)",
        [sha_digit * 64, HEADERS],
    ).fetchone()
    assert row is not None and row[0] is not None
    return row[0]


def processed_batch(conn: psycopg.Connection) -> int:
    """A processed batch with one record, landed as the connecting (admin) user."""
    batch_id = register(conn, "b")
    land_raw_rows(conn, batch_id, [(2, ["PAY-001", "on", "김민준"])])
    conn.execute("SELECT core.process_batch(%s)", [batch_id])
    return batch_id
