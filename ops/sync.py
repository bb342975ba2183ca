"""The daily sync: load every configured source's newest file, refresh, export.

One failing source does not stop the others: its error is reported (and a
failed batch records it) and the sync as a whole is marked failed, while the
rest still reaches the snapshot. One sync or export at a time, from before the
first file lands to the end of the export (the publisher lock).
This module must never hold record rules (SQL) nor write files itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fmw.errors import FmwError, SourceFileError, SyncBusyError
from fmw.loader.landing import BatchResult, SourceSpec, load_file, mark_interrupted
from fmw.settings import Settings, SourceSettings
from fmw.snapshot.export import export_generation
from fmw.snapshot.generations import Generation, current_pointer
from fmw.snapshot.refresh import ViewRefresh, refresh_views
from fmw.sources import SourceState, unconfigured_in_use

PUBLISH_LOCK_KEY = 0x464D575F50554253  # "FMW_PUBS"


@dataclass
class SyncReport:
    """Everything one sync did, for the CLI and the scheduler's run history."""

    batches: list[BatchResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refreshed: list[ViewRefresh] = field(default_factory=list)
    generation: Generation | None = None
    unconfigured: list[SourceState] = field(default_factory=list)  # in use, not in fmw.toml

    @property
    def failed_sources(self) -> list[str]:
        """The sources whose file could not be loaded, or whose batch failed or is held."""
        names = [line.split(":", 1)[0] for line in self.errors]
        names += [b.source for b in self.batches if b.status not in ("processed", "skipped")]
        return sorted(set(names))

    @property
    def ok(self) -> bool:
        return not self.errors and all(b.status in ("processed", "skipped") for b in self.batches)


def newest_file(settings: Settings, name: str, source: SourceSettings) -> Path:
    """The newest file (by modification time, then name) matching a source's path or glob."""
    pattern = settings.resolve(source.path)
    anchor = Path(pattern.anchor)
    matches = [p for p in anchor.glob(str(pattern.relative_to(anchor))) if p.is_file()]
    if not matches:
        raise SourceFileError(pattern, f"no file matches the path of source {name!r}")
    return max(matches, key=lambda p: (p.stat().st_mtime, p.name))


def spec_for(name: str, source: SourceSettings) -> SourceSpec:
    """The loader's view of a configured source."""
    return SourceSpec(
        name,
        source.priority,
        source.format,
        source.encoding,
        source.sheet,
        full_extract=source.mode == "full",
    )


def publish_snapshot(
    conn: psycopg.Connection,
    settings: Settings,
    report: SyncReport,
    *,
    force: bool,
    progress: Callable[[str], None],
    full: bool = False,
    csv: bool = False,
) -> None:
    """Refresh the views and export a generation, unless nothing changed and one exists.

    ``full`` and ``csv``: see ``fmw.snapshot.export.export_generation``. One publisher
    at a time per database (a session advisory lock): snapshot generations are written
    by a single process.
    """
    with publisher_lock(conn):
        report.refreshed = refresh_views(conn, force=force, progress=progress)
        if report.refreshed or force or current_pointer(settings.snapshot_path) is None:
            report.generation = export_generation(
                conn,
                settings.snapshot_path,
                keep=settings.keep_generations,
                progress=progress,
                full=full,
                csv=csv,
            )
        else:
            progress("nothing changed since the last snapshot; export skipped")


@contextlib.contextmanager
def publisher_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the database-wide snapshot publisher lock, or raise SyncBusyError at once."""
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", [PUBLISH_LOCK_KEY]).fetchone()
    if not got or not got[0]:
        raise SyncBusyError()
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [PUBLISH_LOCK_KEY])


def require_sources(settings: Settings) -> None:
    """Raise FmwError, saying how to fix it, when no source is configured."""
    if not settings.sources:
        raise FmwError(
            "no sources are configured: add [sources.NAME] to fmw.toml (see docs/sources.md)"
        )


def run_sync(
    conn: psycopg.Connection,
    settings: Settings,
    *,
    force: bool = False,
    progress: Callable[[str], None] = lambda _line: None,
    row_progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Load every configured source (lowest priority number first), then publish.

    The publisher lock is taken before the first file lands, so two syncs never
    land the same file: the second is refused at once (SyncBusyError). A source
    whose file cannot be read or landed is recorded (a failed batch, and a line
    in ``report.errors``) and the others go on.
    """
    report = SyncReport()
    require_sources(settings)
    with publisher_lock(conn):
        for batch_id, source_name, file_name, rows in mark_interrupted(conn):
            progress(
                f"batch {batch_id} ({source_name}, {file_name}, {rows:,} landed rows) was "
                f"interrupted; `fmw batch retry {batch_id}` or `fmw batch discard {batch_id}`"
            )
        for name, source in sorted(
            settings.sources.items(), key=lambda kv: (kv[1].priority, kv[0])
        ):
            try:
                path = newest_file(settings, name, source)
                progress(f"loading {name}: {path}")
                result = load_file(
                    conn, spec_for(name, source), path, force=force, progress=row_progress
                )
                report.batches.append(result)
            except FmwError as exc:
                report.errors.append(f"{name}: {exc}")
        report.unconfigured = unconfigured_in_use(conn, settings)
        publish_snapshot(conn, settings, report, force=force, progress=progress)
    return report
