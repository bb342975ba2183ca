"""Refresh the snapshot materialized views, each in its own transaction.

Which views, in which order and whether CONCURRENTLY is decided in SQL
(``snapshot.refresh_plan``); this module only runs the plan and times it. It
must never write files (that is ``fmw.snapshot.export``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class ViewRefresh:
    """One refreshed view: its row count and how long it took."""

    view: str
    concurrently: bool
    rows: int
    seconds: float


def refresh_views(
    conn: psycopg.Connection,
    *,
    force: bool = False,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[ViewRefresh]:
    """Refresh what ``snapshot.refresh_plan`` lists; empty when nothing changed since last time."""
    plan = conn.execute("SELECT view_name, is_concurrent FROM snapshot.refresh_plan(%s)", [force])
    done = []
    for view, concurrently in plan.fetchall():
        started = time.perf_counter()
        with conn.transaction():
            row = conn.execute(
                "SELECT snapshot.refresh_view(%s, %s)", [view, concurrently]
            ).fetchone()
            assert row is not None  # one row per function call
            rows = row[0]
        seconds = time.perf_counter() - started
        progress(f"refreshed snapshot.{view}: {rows:,} rows in {seconds:.1f} s")
        done.append(ViewRefresh(view, concurrently, rows, seconds))
    if done:
        with conn.transaction():
            conn.execute("SELECT snapshot.mark_refreshed()")
    return done
