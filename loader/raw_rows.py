"""Hand a batch's rows, put in ``pg_temp.fmw_rows`` by a reader, to ``raw.land_rows``.

Its job: one call that stores the rows (each distinct row once, the batch's
list of rows as prints: SQL decides) and then drops ``pg_temp.fmw_rows``,
whether a reader filled it as a table (rows sent one by one) or defined it as
a view (a CSV file parsed by PostgreSQL). What it must never do: look at,
print or compare the rows itself.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg


def land_rows(
    conn: psycopg.Connection,
    batch_id: int,
    *,
    view: bool,
    sent: Callable[[], None] | None = None,
) -> int:
    """Store the rows of ``pg_temp.fmw_rows`` as batch ``batch_id``'s; how many.

    ``sent`` is called first: the rows are all sent, the client is idle until SQL is done.
    """
    if sent is not None:
        sent()
    row = conn.execute("SELECT raw.land_rows(%s)", [batch_id]).fetchone()
    conn.execute("DROP VIEW pg_temp.fmw_rows" if view else "DROP TABLE pg_temp.fmw_rows")
    return int(row[0]) if row and row[0] is not None else 0
