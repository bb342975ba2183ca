"""Build a database as an older release left it: its migrations only, for upgrade tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg

from fmw import migrations
from fmw.db import MIGRATIONS_DIR


def release_before(conn: psycopg.Connection, tmp_path: Path, last: int) -> None:
    """The schema as migrations 1 to ``last`` left it (their functions are not applied)."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql"))[:last]:
        shutil.copy(path, folder / path.name)
    conn.execute(migrations.BOOTSTRAP_SQL)
    for migration in migrations.status(conn, folder).pending:
        with conn.transaction():
            conn.execute(
                "INSERT INTO ops.schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
                [migration.version, migration.name, migration.checksum],
            )
            conn.execute(migration.sql)
