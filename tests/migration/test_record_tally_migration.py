"""Migration 000018 counts the records a release before it holds, and keeps counting.

A database is built with migrations 1 to 17 and given records; its home_summary refreshed
as that release did (a grouping over every record). After the upgrade the tally holds the
records' counts, home_summary says the same as before without a refresh, and a change made
after the upgrade is counted.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fmw import migrations
from tests.support.migrations import release_before
from tests.support.postgres import Server, drop_database, new_database
from tests.support.record_tally import RECORDS, SUMMARY, by_records, insert_records


@pytest.fixture
def blank(pg_server: Server):
    url = new_database(pg_server, template=None)
    yield url
    drop_database(pg_server, url)


def test_the_tally_migration_counts_every_record_and_keeps_the_summary(blank: str, tmp_path: Path):
    with psycopg.connect(blank, autocommit=True) as conn:
        release_before(conn, tmp_path, 17)
        insert_records(conn, RECORDS)
        conn.execute("REFRESH MATERIALIZED VIEW snapshot.home_summary")
        before = sorted(conn.execute(SUMMARY).fetchall(), key=repr)

        applied = [m.version for m in migrations.upgrade(conn)]

        assert applied[0] == 18
        assert sorted(conn.execute(SUMMARY).fetchall(), key=repr) == before  # populated
        assert before == by_records(conn) and len(before) == 14
        conn.execute("UPDATE core.record SET status = 'paused' WHERE feature_code = 'F-4'")
        assert (
            conn.execute(
                "SELECT problem FROM core.integrity_problems() WHERE problem LIKE '%tally%'"
            ).fetchall()
            == []
        )
        conn.execute("SELECT snapshot.refresh_view('home_summary', true)")
        assert sorted(conn.execute(SUMMARY).fetchall(), key=repr) == by_records(conn)
