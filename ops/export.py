"""Export the snapshot views as CSV files into a new snapshot generation.

Each view becomes ``<view>.csv`` (UTF-8 with BOM so Excel opens Hangul), COPYed
straight from PostgreSQL with the query ``snapshot.export_plan`` writes (text
cells already CSV-injection-safe). The big files also get a Parquet twin, converted
from the CSV just written (``fmw.snapshot_columnar``), for the dashboard.
Publication is atomic (``fmw.snapshot_files``).
This module must never shape or filter data in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from fmw.snapshot_files import Generation, publish_generation

BOM = "\ufeff".encode()


def _copy_to_file(conn: psycopg.Connection, query: str, target: Path) -> int:
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')").format(
        sql.SQL(query)  # type: ignore[arg-type]  # the query comes from snapshot.export_plan
    )
    with target.open("wb") as handle, conn.cursor() as cur:
        handle.write(BOM)
        with cur.copy(statement) as copy:
            for chunk in copy:
                handle.write(chunk)
        return cur.rowcount


def export_generation(
    conn: psycopg.Connection,
    root: Path,
    *,
    keep: int,
    progress: Callable[[str], None] = lambda _line: None,
) -> Generation:
    """Write every snapshot view to a new generation under ``root`` and publish it.

    All files come from one REPEATABLE READ transaction, so they agree with each other.
    """
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        plan = conn.execute("SELECT file_name, query FROM snapshot.export_plan()").fetchall()
        batches = conn.execute("SELECT snapshot.covered_batches()").fetchone()[0]  # type: ignore[index]

        def write_files(folder: Path) -> dict[str, int]:
            counts = {}
            for file_name, query in plan:
                counts[file_name] = _copy_to_file(conn, query, folder / file_name)
                progress(f"exported {file_name}: {counts[file_name]:,} rows")
            # Parquet twins of the big files, for the dashboard; pyarrow is imported
            # only here so that other fmw commands start fast.
            from fmw.snapshot_columnar import write_parquet_twins

            counts.update(write_parquet_twins(folder, counts, progress=progress))
            return counts

        return publish_generation(root, write_files, batches=list(batches), keep=keep)
