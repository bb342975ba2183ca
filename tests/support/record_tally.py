"""Records of a few combinations, and what snapshot.home_summary must say of them."""

from __future__ import annotations

import psycopg

# The definition snapshot.home_summary had before the tally: a grouping over every record.
BY_RECORDS = """
SELECT CASE WHEN GROUPING(r.team) = 0 THEN 'team' WHEN GROUPING(r.region) = 0 THEN 'region'
            WHEN GROUPING(r.platform) = 0 THEN 'platform' ELSE 'total' END,
       coalesce(r.team, r.region, r.platform), r.status, count(*),
       count(*) FILTER (WHERE r.is_active)
FROM core.record AS r
GROUP BY GROUPING SETS ((r.status), (r.team, r.status), (r.region, r.status),
                        (r.platform, r.status))
"""
SUMMARY = "SELECT dimension, value, status, records, active_records FROM snapshot.home_summary"
TALLY = (
    "SELECT team, region, platform, status, is_active, records FROM core.record_tally "
    "ORDER BY 1, 2, 3, 4, 5, 6"
)
RECORDS = [
    # n, team, region, platform, status, active
    (1, "결제팀", "KR", "iOS", "enabled", True),
    (2, "결제팀", "KR", "iOS", "enabled", True),
    (3, "결제팀", "JP", None, "disabled", True),
    (4, None, "KR", "Android", "enabled", False),
    (5, "검색팀", None, None, "planned", True),
]


def insert_records(conn: psycopg.Connection, records: list[tuple[object, ...]]) -> None:
    conn.execute(
        "INSERT INTO core.record (identity_hash, feature_code, status, team, region, platform, "
        "is_active, source, source_row, content_hash, first_seen_at, last_changed_at, "
        "last_batch_id) "
        "SELECT lpad(to_hex(n), 64, '0'), 'F-' || n, status, team, region, platform, active, "
        "'t', n, md5(n::text)::uuid, now(), now(), 1 "
        "FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], %s::text[], %s::boolean[]) "
        "AS x (n, team, region, platform, status, active)",
        [list(column) for column in zip(*records, strict=True)],
    )


def by_records(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return sorted(conn.execute(BY_RECORDS).fetchall(), key=repr)
