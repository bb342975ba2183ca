"""Migration 000017 moves every landed row into the raw store and loses none.

A database is built with the migrations before it (as a release before issue 14 had it:
raw.row a table), given landed rows, then upgraded: raw.row shows the same rows, each
distinct row is stored once, and the records' old prints (which included the context) are
cleared so the next load reads every row again.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fmw import migrations
from tests.support.migrations import release_before
from tests.support.postgres import Server, drop_database, new_database

BEFORE = 16  # the last migration before the raw store
ROWS = [
    (1, 2, ["F-1", "on", "kim"]),
    (1, 3, ["F-2", "off", None]),
    (1, 5, ["F-3", "on", '쉼표, "따옴표"']),
    (2, 2, ["F-1", "on", "kim"]),  # the same row in the next day's file
    (2, 3, ["F-2", "on", None]),
]


@pytest.fixture
def blank(pg_server: Server):
    url = new_database(pg_server, template=None)
    yield url
    drop_database(pg_server, url)


def test_the_raw_store_migration_keeps_every_landed_row(blank: str, tmp_path: Path):
    with psycopg.connect(blank, autocommit=True) as conn:
        release_before(conn, tmp_path, BEFORE)
        conn.execute(
            "INSERT INTO ops.source (name, priority, resolved_priority) VALUES ('t', 1, 1)"
        )
        for batch in (1, 2):
            conn.execute(
                "INSERT INTO ops.batch (source, file_name, file_sha256, headers, status) "
                "VALUES ('t', %s, %s, '{feature_code,status,owner}', 'processed')",
                [f"day{batch}.csv", str(batch) * 64],
            )
        with conn.cursor() as cur, cur.copy("COPY raw.row FROM STDIN") as copy:
            for row in ROWS:
                copy.write_row(row)
        conn.execute(
            "INSERT INTO core.source_record (source, identity_hash, feature_code, status, "
            "source_row, content_hash, first_seen_at, last_changed_at, first_batch_id, "
            "last_changed_batch_id, raw_print) VALUES ('t', repeat('a', 64), 'F-1', 'enabled', "
            "2, md5('x')::uuid, now(), now(), 2, 2, md5('old print')::uuid)"
        )

        applied = [m.version for m in migrations.upgrade(conn)]
        assert applied == list(range(17, len(migrations.discover()) + 1))

        landed = conn.execute(
            "SELECT batch_id, source_row, cells FROM raw.row ORDER BY 1, 2"
        ).fetchall()
        assert landed == [(b, n, cells) for b, n, cells in ROWS]
        assert conn.execute("SELECT count(*) FROM raw.cells").fetchone() == (4,)
        assert conn.execute(
            "SELECT count(*) FROM raw.cells WHERE print <> md5(cells::text)::uuid"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT raw_print, print_context FROM core.source_record"
        ).fetchall() == [(None, None)]
        assert conn.execute("SELECT * FROM core.integrity_problems()").fetchall() == []
