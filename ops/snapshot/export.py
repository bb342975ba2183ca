"""Export the snapshot views as CSV files into a new snapshot generation.

Each view becomes ``<view>.csv`` (UTF-8 with BOM so Excel opens Hangul), COPYed
straight from PostgreSQL with the query ``snapshot.export_plan`` writes (text
cells already CSV-injection-safe), and hashed on its way to disk, so publishing
need not read it back. Two connections COPY views side by side, both reading one
exported snapshot (as ``pg_dump -j`` does), so the files still agree with each
other. The big files also get a Parquet twin, converted from the CSV just written
(``fmw.snapshot.columnar``), for the dashboard: in a background thread while the
other views are COPYed. Publication is atomic (``fmw.snapshot.generations``);
an export starts by removing what interrupted ones left (``.partial`` folders).
This module must never shape or filter data in Python.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import LiteralString, cast

import psycopg
from psycopg import sql

from fmw.snapshot.generations import (
    Generation,
    HashedFile,
    HashingWriter,
    WrittenFiles,
    publish_generation,
    remove_interrupted_publishes,
)

BOM = "\ufeff".encode()
READ_ONLY_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
# Sorting a million records or history rows in memory, not in temporary files: the export
# took 14.2 s of COPY for both at 4 MB, 10.1 s at 256 MB (the same as core.process_batch).
EXPORT_WORK_MEM = "SET LOCAL work_mem = '256MB'"


def _copy_to_file(conn: psycopg.Connection, query: str, target: Path) -> HashedFile:
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')").format(
        sql.SQL(cast(LiteralString, query))  # a query snapshot.export_plan built, never input
    )
    with conn.cursor() as cur, HashingWriter(target) as out:
        out.write(BOM)
        with cur.copy(statement) as copy:
            for chunk in copy:
                out.write(chunk)
        rows = cur.rowcount
    return out.hashed(rows)


@contextlib.contextmanager
def _same_snapshot(conn: psycopg.Connection, snapshot_id: str) -> Iterator[psycopg.Connection]:
    """A second connection, as ``conn``'s role, reading exactly ``conn``'s exported snapshot."""
    with (
        psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True) as other,
        other.transaction(),
    ):
        other.execute(READ_ONLY_SNAPSHOT)
        other.execute(EXPORT_WORK_MEM)
        other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))
        yield other


def _write_views(
    connections: list[psycopg.Connection],
    plan: list[tuple[str, str]],
    folder: Path,
    progress: Callable[[str], None],
) -> WrittenFiles:
    """Each connection COPYs the next view not yet taken; twins follow in a background thread."""
    # pyarrow is imported only here so that other fmw commands start fast.
    from fmw.snapshot.columnar import twin_of, write_parquet_twin

    todo: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
    for item in plan:
        todo.put(item)
    written: WrittenFiles = {}
    twins: list[Future[tuple[str, int]]] = []
    with ThreadPoolExecutor(1, "fmw-twin") as twin_pool:

        def drain(conn: psycopg.Connection) -> None:
            while True:
                try:
                    file_name, query = todo.get_nowait()
                except queue.Empty:
                    return
                csv_file = _copy_to_file(conn, query, folder / file_name)
                written[file_name] = csv_file
                progress(f"exported {file_name}: {csv_file.rows:,} rows")
                if twin_of(file_name):  # Parquet for the dashboard, while COPY goes on
                    twins.append(twin_pool.submit(write_parquet_twin, folder, file_name))

        with ThreadPoolExecutor(len(connections), "fmw-copy") as copy_pool:
            for done in [copy_pool.submit(drain, conn) for conn in connections]:
                done.result()
        for twin in twins:
            name, rows = twin.result()
            written[name] = rows
            progress(f"exported {name}: {rows:,} rows")
    return written


def export_generation(
    conn: psycopg.Connection,
    root: Path,
    *,
    keep: int,
    progress: Callable[[str], None] = lambda _line: None,
) -> Generation:
    """Write every snapshot view to a new generation under ``root`` and publish it.

    All files come from one REPEATABLE READ snapshot, so they agree with each other.
    The caller holds the publisher lock (``fmw.sync.publisher_lock``), so no other
    export is writing: the ``.partial`` folders interrupted exports left are removed
    first.
    """
    for name in remove_interrupted_publishes(root):
        progress(f"removed {name}, left by an interrupted export")
    with conn.transaction():
        conn.execute(READ_ONLY_SNAPSHOT)
        conn.execute(EXPORT_WORK_MEM)
        exported = conn.execute("SELECT pg_export_snapshot()").fetchone()
        plan = conn.execute("SELECT file_name, query FROM snapshot.export_plan()").fetchall()
        covered = conn.execute("SELECT snapshot.covered_batches()").fetchone()
        assert exported is not None and covered is not None  # one row per function call
        snapshot_id, batches = exported[0], covered[0]
        with _same_snapshot(conn, snapshot_id) as other:
            return publish_generation(
                root,
                lambda folder: _write_views([conn, other], plan, folder, progress),
                batches=list(batches),
                keep=keep,
            )
