"""Export the snapshot views into a new snapshot generation: mapped files, and CSV files.

Every generation holds what the dashboard maps (``fmw.snapshot.layout``: the records'
columns and the history segments, objects of the store) and the small views as CSV
files people open in Excel (``home_summary.csv``, ``conflicts.csv``; UTF-8 with BOM,
COPYed with the query ``snapshot.export_plan`` writes, text cells CSV-injection-safe,
hashed on their way to disk). With ``csv=True`` (``fmw export --csv``) every view is
also written as CSV, ``current_records.csv``, ``record_history.csv`` and
``recent_changes.csv`` included, as every export did before issue 14: at a million
records that alone is seconds of COPY, and history grows forever, so a daily sync
leaves the big files to whoever asks for them (the dashboard's downloads are the
other way to get them).

A *daily* export writes only what changed since the generation it follows: the records
a transaction wrote that the previous export's database snapshot did not see
(``snapshot.records_since``, merged into the previous columns: ``fmw.snapshot.records``),
and the history rows likewise (``snapshot.history_since``: one new segment, next to the
previous generation's, which it refers to; ``fmw.snapshot.history`` compacts the newest
ones now and then). A *full* export (the first, ``full=True``, or when the previous
generation cannot be built on: another format, other columns, a file that fails
verification) writes everything. Either way the files come from one REPEATABLE READ
snapshot, so they agree with each other; a second connection reads the same exported
snapshot (as ``pg_dump -j`` does) so the full export's two big COPYs run side by side.

Memory stays flat: a COPY goes to a temporary file in the store first and is read
back a block at a time; the records are written a column at a time; history a segment
at a time. Publication is atomic (``fmw.snapshot.generations``); an export starts by
removing what interrupted ones left. This module must never shape or filter data in
Python (the views and functions do).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import LiteralString, cast

import psycopg
import pyarrow as pa
import pyarrow.ipc as ipc
from psycopg import sql

from fmw.errors import SnapshotError
from fmw.snapshot import history, layout, records, store
from fmw.snapshot.columnar import header, read_csv, stream_csv
from fmw.snapshot.generations import (
    Generation,
    HashedFile,
    HashingWriter,
    WrittenFiles,
    latest_good_generation,
    publish_generation,
    remove_interrupted_publishes,
)
from fmw.snapshot.mapped import Mapped

BOM = "\ufeff".encode()
READ_ONLY_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
# Sorting a million records or history rows in memory, not in temporary files: the export
# took 14.2 s of COPY for both at 4 MB, 10.1 s at 256 MB (the same as core.process_batch).
EXPORT_WORK_MEM = "SET LOCAL work_mem = '256MB'"
SMALL_CSV = ("conflicts.csv", "home_summary.csv")
"""The CSV files every generation holds (the dashboard reads them too)."""
RECORDS_QUERY = "SELECT * FROM snapshot.current_records ORDER BY identity_hash"
HISTORY_QUERY = (
    "SELECT history_id, identity_hash, changed_at, previous_changed_at, change,"
    " changed_fields, before, after, batch_id FROM snapshot.export_history ORDER BY history_id"
)
RECORDS_SINCE = "SELECT * FROM snapshot.records_since({})"
HISTORY_SINCE = (
    "SELECT history_id, identity_hash, changed_at, previous_changed_at, change,"
    " changed_fields, before, after, batch_id FROM snapshot.history_since({})"
)


def _copy_to_file(conn: psycopg.Connection, query: str, target: Path, *, bom: bool) -> HashedFile:
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')").format(
        sql.SQL(cast(LiteralString, query))  # a query of this module or export_plan, never input
    )
    with conn.cursor() as cur, HashingWriter(target) as out:
        if bom:
            out.write(BOM)
        with cur.copy(statement) as copy:
            for chunk in copy:
                out.write(chunk)
        rows = cur.rowcount
    return out.hashed(rows)


@contextlib.contextmanager
def _spilled(conn: psycopg.Connection, root: Path, query: str) -> Iterator[Path]:
    """The rows of ``query`` as a CSV file in the store's temporary files, removed after."""
    target = store.new_temp(root, "export.csv")
    try:
        _copy_to_file(conn, query, target, bom=False)
        yield target
    finally:
        target.unlink(missing_ok=True)


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
    connections: list[psycopg.Connection], plan: list[tuple[str, str]], folder: Path
) -> dict[str, HashedFile]:
    """Each connection COPYs the next view not yet taken into its CSV file."""
    todo: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
    for item in plan:
        todo.put(item)
    written: dict[str, HashedFile] = {}

    def drain(conn: psycopg.Connection) -> None:
        while True:
            try:
                file_name, query = todo.get_nowait()
            except queue.Empty:
                return
            written[file_name] = _copy_to_file(conn, query, folder / file_name, bom=True)

    with ThreadPoolExecutor(len(connections), "fmw-copy") as pool:
        for done in [pool.submit(drain, conn) for conn in connections]:
            done.result()
    return written


class _Export:
    """One export: its database snapshot, the generation it builds on, the objects it wrote."""

    def __init__(
        self,
        conn: psycopg.Connection,
        other: psycopg.Connection,
        root: Path,
        progress: Callable[[str], None],
    ) -> None:
        self.conn, self.other, self.root, self.progress = conn, other, root, progress
        row = conn.execute(
            "SELECT pg_current_snapshot()::text, snapshot.initial_batches()"
        ).fetchone()
        assert row is not None  # one row per call
        self.db_snapshot, self.initial = str(row[0]), list(row[1])
        self.batches = {
            int(b): (str(s), str(f))
            for b, s, f in conn.execute("SELECT batch_id, source, file_name FROM ops.batch")
        }

    def previous(self) -> tuple[Generation, layout.ExportState] | None:
        """The generation to build on (the newest good one, verified), or None: export all."""
        try:
            generation, _ = latest_good_generation(self.root, verify_only=_records_files)
            state = layout.ExportState.from_extra(generation.extra)
        except SnapshotError as exc:
            self.progress(f"a full export: no generation to build on ({exc})")
            return None
        except (ValueError, TypeError):
            return None  # a generation of format 1, or written without mapped files
        if not state.db_snapshot:
            return None  # written from tables (a test, a demo): not from this database
        return generation, state

    def full(self) -> tuple[records.Files, layout.ExportState]:
        with (
            ThreadPoolExecutor(1, "fmw-history") as pool,
            _spilled(self.conn, self.root, RECORDS_QUERY) as spilled_records,
        ):
            spilling = pool.submit(_spill_to_keep, self.other, self.root, HISTORY_QUERY)
            columns = header(spilled_records)
            files, index = _records_from(self.root, spilled_records, columns)
            spilled_history = spilling.result()
        self.progress(f"exported {len(index.keys):,} records")
        try:
            segments = self._segments(spilled_history, index)
        finally:
            spilled_history.unlink(missing_ok=True)
        files.update(_segment_files(segments))
        lineage = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        return files, self._state(lineage, columns, len(index.keys))

    def since(
        self, generation: Generation, state: layout.ExportState
    ) -> tuple[records.Files, layout.ExportState] | None:
        """The previous generation's files with what changed since; None: columns changed."""
        seen = sql.Literal(state.db_snapshot)
        records_since = sql.SQL(RECORDS_SINCE).format(seen).as_string(self.conn)
        with _spilled(self.conn, self.root, records_since) as spilled:
            columns = header(spilled)
            if columns != state.columns:
                self.progress("a full export: the records' columns changed")
                return None
            changed = read_csv(spilled)
        files, index = records.merge(self.root, generation, columns, changed)
        self.progress(f"exported {changed.num_rows:,} changed of {len(index.keys):,} records")
        history_since = sql.SQL(HISTORY_SINCE).format(seen).as_string(self.conn)
        with _spilled(self.conn, self.root, history_since) as spilled:
            new = self._segments(spilled, index)
        segments = self._compacted([*history.segments_of(generation), *new])
        files.update(_segment_files(segments))
        return files, self._state(state.lineage, columns, len(index.keys))

    def _segments(self, spilled: Path, index: records.Index) -> list[history.Segment]:
        def consume(batches: Iterator[pa.RecordBatch]) -> list[history.Segment]:
            writer = history.SegmentWriter(self.root, index.find, self.batches)
            try:
                for batch in batches:
                    writer.add(batch)
                return writer.close()
            except BaseException:
                writer.discard()
                raise

        segments = stream_csv(spilled, consume)
        rows = sum(s.info.rows for s in segments)
        self.progress(f"exported {rows:,} history rows in {len(segments)} new segment(s)")
        return segments

    def _compacted(self, segments: list[history.Segment]) -> list[history.Segment]:
        segments = sorted(segments, key=lambda s: s.info.first_history_id)
        while count := history.to_merge([s.info.rows for s in segments]):
            merged = history.compact(self.root, segments[-count:])
            self.progress(f"compacted {count} history segments into one of {merged.info.rows:,}")
            segments = sorted([*segments[:-count], merged], key=lambda s: s.info.first_history_id)
        return segments

    def _state(self, lineage: str, columns: list[str], count: int) -> layout.ExportState:
        return layout.ExportState(lineage, self.db_snapshot, columns, count, self.initial)


def _records_files(names: list[str]) -> list[str]:
    """What an export reads of the generation it builds on (hashed); the rest is referred to."""
    return [n for n in names if n.startswith(layout.RECORDS_PREFIX) or n == layout.IDENTITY_ORDER]


def _spill_to_keep(conn: psycopg.Connection, root: Path, query: str) -> Path:
    """Like ``_spilled``, but the caller removes the file (it outlives this thread)."""
    target = store.new_temp(root, "export.csv")
    try:
        _copy_to_file(conn, query, target, bom=False)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _records_from(
    root: Path, spilled: Path, columns: list[str]
) -> tuple[records.Files, records.Index]:
    """Every records column from a spilled CSV, through a columnar spill (one column in memory)."""
    arrow = store.new_temp(root, "export.arrow")
    try:

        def consume(batches: Iterator[pa.RecordBatch]) -> bool:
            writer: ipc.RecordBatchFileWriter | None = None
            try:
                for batch in batches:
                    if writer is None:
                        writer = ipc.new_file(str(arrow), batch.schema)
                    writer.write_batch(batch)
            finally:
                if writer is not None:
                    writer.close()
            return writer is not None

        if stream_csv(spilled, consume):
            return _records_from_arrow(root, arrow, columns)
        return records.write_all(root, columns, lambda _name: pa.array([], pa.string()))
    finally:
        arrow.unlink(missing_ok=True)  # mapped no more: _records_from_arrow has returned


def _records_from_arrow(
    root: Path, arrow: Path, columns: list[str]
) -> tuple[records.Files, records.Index]:
    mapped = Mapped(arrow)
    table = mapped.table()

    def column(name: str) -> pa.Array:
        values = table[name].combine_chunks()
        mapped.release()  # read: the spill's pages are not needed any more
        return values

    return records.write_all(root, columns, column)  # its index maps what it wrote


def _segment_files(segments: list[history.Segment]) -> records.Files:
    files: records.Files = {}
    for segment in segments:
        files[segment.index.name] = segment.index
        files[segment.docs.name] = segment.docs
    return files


def records_in(generation: Generation) -> int:
    """How many records a generation holds (its export state, or its records CSV)."""
    try:
        return layout.ExportState.from_extra(generation.extra).records
    except (ValueError, TypeError):
        csv_file = generation.files.get("current_records.csv")
        return csv_file.rows if csv_file else 0


def export_generation(
    conn: psycopg.Connection,
    root: Path,
    *,
    keep: int,
    progress: Callable[[str], None] = lambda _line: None,
    full: bool = False,
    csv: bool = False,
) -> Generation:
    """Write a new generation under ``root`` from the snapshot views and publish it.

    ``full``: write every record and history row, not only what changed since the
    generation before; ``csv``: every view as a CSV file too. The caller holds the
    publisher lock (``fmw.sync.publisher_lock``), so no other export is writing: what
    interrupted exports left is removed first.
    """
    for name in remove_interrupted_publishes(root):
        progress(f"removed {name}, left by an interrupted export")
    with conn.transaction():
        conn.execute(READ_ONLY_SNAPSHOT)
        conn.execute(EXPORT_WORK_MEM)
        exported = conn.execute("SELECT pg_export_snapshot()").fetchone()
        covered = conn.execute("SELECT snapshot.covered_batches()").fetchone()
        plan = conn.execute("SELECT file_name, query FROM snapshot.export_plan()").fetchall()
        assert exported is not None and covered is not None  # one row per function call
        if not csv:
            plan = [(name, query) for name, query in plan if name in SMALL_CSV]
        with _same_snapshot(conn, exported[0]) as other:
            export = _Export(conn, other, Path(root), progress)
            states: list[layout.ExportState] = []

            def write_files(folder: Path) -> WrittenFiles:
                previous = None if full else export.previous()
                built = export.since(*previous) if previous else None
                objects, state = built or export.full()
                states.append(state)
                written = _write_views([conn, other], plan, folder)
                for name, entry in sorted(written.items()):
                    progress(f"exported {name}: {entry.rows:,} rows")
                return {**written, **objects}

            return publish_generation(
                root,
                write_files,
                batches=list(covered[0]),
                extra=lambda: states[-1].to_extra(),
                keep=keep,
            )
