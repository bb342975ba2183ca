"""Small team files loaded into a test database, and what tests compare before and after.

Shared by the SQL-level tests of sources and vocabulary and the web console's tests:
``load`` writes a CSV and loads it with the loader the commands use; ``counts`` is
every FMW table's row count (what must not change when something is refused);
``actions`` is the admin audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import psycopg

from fmw.loader.landing import BatchResult, SourceSpec, load_file

HEADER = "Feature Code,Policy Code,market,platform,Status,owner"
ROWS = ["PAY-1,P1,KR,iOS,on,kim", "PAY-2,P1,KR,iOS,보류,lee", "PAY-3,P2,JP,iOS,보류,park"]


def write(path: Path, header: str, rows: Sequence[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def load(
    conn: psycopg.Connection,
    folder: Path,
    source: str,
    header: str = HEADER,
    rows: Sequence[str] = ROWS,
    *,
    priority: int = 10,
    accept_shape: bool = False,
) -> BatchResult:
    path = write(folder / f"{source}_{len(list(folder.iterdir()))}.csv", header, rows)
    return load_file(conn, SourceSpec(source, priority), path, accept_shape=accept_shape)


def counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows of every FMW table and view: what must not change when something is refused."""
    tables = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('ops', 'raw', 'core') AND c.relkind IN ('r', 'v') ORDER BY 1"
    ).fetchall()
    return {
        name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
        for (name,) in tables
    }


def actions(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT action, target, actor FROM ops.admin_action ORDER BY action_id"
    ).fetchall()
