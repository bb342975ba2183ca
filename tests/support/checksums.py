"""Checksums of what the loader must never lose or half-change: records and their history.

``data_checksums(conn)`` is one md5 over every core.record row and one over every
core.record_history row (and the raw rows and kept files they came from), so a test can take them
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
     FROM raw.row AS w),
    (SELECT md5(coalesce(string_agg(f::text, E'\\n' ORDER BY f.file_sha256), ''))
     FROM raw.file AS f)
"""


def data_checksums(conn: psycopg.Connection) -> dict[str, str]:
    """{"records", "history", "raw", "files"}: an md5 of each, as the database is now."""
    found = conn.execute(CHECKSUMS).fetchone()
    assert found is not None
    return dict(zip(("records", "history", "raw", "files"), found, strict=True))
