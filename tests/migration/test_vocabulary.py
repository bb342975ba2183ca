"""The vocabulary's defaults (db/vocabulary): the same in a fresh and a migrated database,
applied once each, never putting back what an admin removed; and migration 000010 on a
database loaded before it."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from fmw import migrations
from fmw.db import FUNCTIONS_DIR, MIGRATIONS_DIR, VOCABULARY_DIR
from fmw.errors import MigrationDriftError
from tests.support.postgres import Server, drop_database, new_database

VOCABULARY = {
    "core.field": "SELECT name, is_key, description FROM core.field ORDER BY 1",
    "core.status": "SELECT * FROM core.status ORDER BY 1",
    "core.header_alias": "SELECT alias_key, field, alias FROM core.header_alias ORDER BY 1",
    "core.status_synonym": "SELECT synonym_key, status, synonym FROM core.status_synonym "
    "ORDER BY 1",
    "ops.vocabulary_version": "SELECT version, name, checksum FROM ops.vocabulary_version",
}


def vocabulary(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in VOCABULARY.items()}  # type: ignore[arg-type]


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


def test_a_fresh_and_a_migrated_database_hold_the_same_vocabulary(blank: str, second_blank: str):
    with psycopg.connect(blank, autocommit=True) as conn:
        migrations.upgrade(conn)
    with psycopg.connect(second_blank, autocommit=True) as conn:
        migrations.apply_declarative_schema(conn)
    migrated, fresh = vocabulary(blank), vocabulary(second_blank)
    assert len(fresh["core.header_alias"]) == 33 and len(fresh["core.status_synonym"]) == 32
    assert len(fresh["core.field"]) == 12 and len(fresh["core.status"]) == 6
    assert fresh["ops.vocabulary_version"] == [
        (1, "defaults", migrations.discover(VOCABULARY_DIR)[0].checksum)
    ]
    assert migrated == fresh, "db/schema + db/vocabulary and db/migrations hold one vocabulary"


def test_a_default_an_admin_removed_stays_removed_after_upgrades(conn: psycopg.Connection):
    conn.execute("SELECT core.remove_header_alias('remarks', 'note', 'kim')")
    conn.execute("SELECT core.remove_status_synonym('test', 'pilot', 'kim')")
    migrations.upgrade(conn)
    migrations.upgrade(conn)
    assert conn.execute(
        "SELECT count(*) FROM core.header_alias WHERE alias = 'remarks'"
    ).fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM core.status_synonym WHERE synonym = 'test'"
    ).fetchone() == (0,)


def test_a_new_defaults_file_is_applied_once_and_an_admins_mapping_wins(
    conn: psycopg.Connection, tmp_path: Path
):
    shutil.copy(VOCABULARY_DIR / "000001_defaults.sql", tmp_path)
    (tmp_path / "000002_more.sql").write_text(
        "INSERT INTO core.header_alias (alias_key, field, alias)\n"
        "SELECT core.header_key(v.alias), v.field, v.alias\n"
        "FROM (VALUES ('메모', 'note'), ('OS', 'platform')) AS v (alias, field)\n"
        "ON CONFLICT (alias_key) DO NOTHING;\n",
        encoding="utf-8",
    )
    conn.execute("SELECT core.add_header_alias('OS', 'note', 'kim')")  # the admin's own choice
    first = migrations.apply_vocabulary(conn, tmp_path)
    conn.execute("DELETE FROM core.header_alias WHERE alias = '메모'")
    second = migrations.apply_vocabulary(conn, tmp_path)
    assert [m.name for m in first] == ["more"] and second == []
    assert conn.execute(
        "SELECT alias, field FROM core.header_alias WHERE alias IN ('메모', 'OS')"
    ).fetchall() == [("OS", "note")], "applied once; the admin's mapping of OS is kept"


def test_an_edited_applied_vocabulary_file_is_refused(conn: psycopg.Connection, tmp_path: Path):
    edited = tmp_path / "000001_defaults.sql"
    edited.write_text((VOCABULARY_DIR / "000001_defaults.sql").read_text() + "\n-- edited\n")
    with pytest.raises(MigrationDriftError, match=r"000001_defaults\.sql was edited after it was"):
        migrations.apply_vocabulary(conn, tmp_path)
    state = migrations.status(conn, vocabulary_folder=tmp_path)
    assert not state.is_current and "new vocabulary file" in state.drift[0]


def test_migration_000010_keeps_a_loaded_database_loading(blank: str):
    """A database at 000008 with sources and batches: after the upgrade each source has the
    shape of its newest processed file, and the default vocabulary is not applied twice."""
    with psycopg.connect(blank, autocommit=True) as conn:
        conn.execute(migrations.BOOTSTRAP_SQL)
        for migration in migrations.discover()[:8]:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO ops.schema_migration (version, name, checksum) "
                    "VALUES (%s, %s, %s)",
                    [migration.version, migration.name, migration.checksum],
                )
                conn.execute(migration.sql)
        with conn.transaction():  # the functions 000010 reads data with, as fmw_owner
            conn.execute("SET LOCAL ROLE fmw_owner")
            conn.execute(migrations.read_sql(FUNCTIONS_DIR / "10_normalize.sql"))
        conn.execute(
            "INSERT INTO ops.source (name, priority) VALUES ('team', 10);"
            "INSERT INTO ops.batch (source, file_name, file_sha256, headers, status, "
            "processed_at) VALUES "
            "('team', 'a.csv', repeat('a', 64), '{기능코드,상태,국가,메모}', 'processed', now()),"
            "('team', 'b.csv', repeat('b', 64), '{기능코드,상태}', 'failed', now())"
        )
        aliases = conn.execute("SELECT count(*) FROM core.header_alias").fetchone()

        applied = migrations.upgrade(conn)

        assert [m.version for m in applied] == list(range(9, len(migrations.discover()) + 1))
        assert conn.execute("SELECT shape, shape_batch_id FROM ops.source").fetchone() == (
            ["feature_code", "region", "status"],
            1,
        )
        assert conn.execute(
            "SELECT batch_id, unmapped_columns FROM ops.batch ORDER BY 1"
        ).fetchall() == [(1, ["메모"]), (2, [])]
        assert conn.execute("SELECT count(*) FROM core.header_alias").fetchone() == aliases
        assert migrations.status(conn).is_current
    assert (MIGRATIONS_DIR / "000010_sources_vocabulary.sql").exists()
