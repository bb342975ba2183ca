"""Land raw rows for a test the way the loader does, without a file.

Its job: put (source row, cells) pairs in ``pg_temp.fmw_rows`` and hand them
to ``raw.land_rows`` as whoever the connection acts as, so privilege and
landing-check tests exercise the real path. It must never write the raw
tables directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from fmw.loader.raw_rows import land_rows


def land_raw_rows(
    conn: psycopg.Connection,
    batch_id: int,
    rows: Iterable[tuple[int, Sequence[str | None] | None]],
) -> int:
    """Land ``rows`` as batch ``batch_id``'s; how many (``raw.land_rows``)."""
    conn.execute("CREATE TEMP TABLE fmw_rows (source_row integer NOT NULL, cells text[])")
    try:
        with (
            conn.cursor() as cur,
            cur.copy("COPY pg_temp.fmw_rows (source_row, cells) FROM STDIN") as copy,
        ):
            for number, cells in rows:
                copy.write_row((number, None if cells is None else list(cells)))
        return land_rows(conn, batch_id, view=False)
    finally:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            conn.execute("DROP TABLE IF EXISTS pg_temp.fmw_rows")
