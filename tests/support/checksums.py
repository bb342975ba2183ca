"""Checksums of what the loader must never lose or half-change: records and their history.

``data_checksums(conn)`` is one md5 over every core.record row and one over every
core.record_history row (and the raw rows they came from), so a test can take them
before a hostile input and prove afterwards that nothing changed.
"""

from __future__ import annotations

import psycopg

CHECKSUMS = """
SELECT
    (SELECT md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r.identity_hash), ''))
     FROM core.record AS r),
    (SELECT md5(coalesce(string_agg(h::text, E'\\n' ORDER BY h.history_id), ''))
     FROM core.record_history AS h),
    (SELECT md5(coalesce(string_agg(w::text, E'\\n' ORDER BY w.batch_id, w.source_row), ''))
     FROM raw.row AS w)
"""


def data_checksums(conn: psycopg.Connection) -> dict[str, str]:
    """{"records": md5, "history": md5, "raw": md5} of the database's data as it is now."""
    found = conn.execute(CHECKSUMS).fetchone()
    assert found is not None
    return dict(zip(("records", "history", "raw"), found, strict=True))
