"""``fmw load``, ``fmw sync`` and ``fmw export``: files in, snapshot out.

Parses options, shows progress and prints each batch's counts; loading is
``fmw.loader``, syncing and publishing ``fmw.sync``. It must never read a file
format or hold SQL about records.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fmw.cli.batch import print_batch
from fmw.cli.support import clean_errors, console, err, note, open_database, row_progress
from fmw.loader.landing import SourceSpec, load_file
from fmw.settings import load_settings
from fmw.snapshot.export import records_in
from fmw.sync import SyncReport, publish_snapshot, require_sources, run_sync, spec_for


def print_sync(report: SyncReport) -> None:
    for result in report.batches:
        print_batch(result)
    for line in report.errors:
        err.print(f"[red]failed[/red] {escape(line)}")
    if report.generation:
        gen = report.generation
        console.print(f"snapshot {gen.id}: {records_in(gen):,} records in {gen.folder}")


@clean_errors
def load(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file to load.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Source name (as in fmw.toml).")],
    force: Annotated[bool, typer.Option(help="Reload a file that was already loaded.")] = False,
    priority: Annotated[int | None, typer.Option(help="Override the source's priority.")] = None,
    encoding: Annotated[str | None, typer.Option(help="auto, utf-8, cp949, ...")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name (default: first).")] = None,
) -> None:
    """Load one file as a batch of a source and print what it changed.

    Example: fmw load exports/team_a.csv --source team_a
    """
    settings = load_settings()
    configured = settings.sources.get(source)
    spec = spec_for(source, configured) if configured else SourceSpec(source)
    spec = dataclasses.replace(
        spec,
        priority=spec.priority if priority is None else priority,
        encoding=encoding or spec.encoding,
        sheet=sheet or spec.sheet,
    )
    with open_database(settings) as conn, row_progress(f"loading {file.name}") as progress:
        result = load_file(conn, spec, file, force=force, progress=progress)
    print_batch(result)
    if result.status in ("failed", "held"):
        raise typer.Exit(1)


@clean_errors
def sync(
    force: Annotated[bool, typer.Option(help="Reload files already loaded; re-export.")] = False,
) -> None:
    """Load every configured source's newest file, refresh the snapshot views, export.

    Example: fmw sync
    """
    settings = load_settings()
    require_sources(settings)
    with open_database(settings) as conn, row_progress("sync") as progress:
        report = run_sync(conn, settings, force=force, progress=note, row_progress=progress)
    print_sync(report)
    if not report.ok:
        raise typer.Exit(1)


@clean_errors
def export(
    force: Annotated[
        bool, typer.Option(help="Refresh every view even if nothing changed.")
    ] = False,
    csv: Annotated[
        bool,
        typer.Option(
            "--csv",
            help="Also write every view as a CSV file (current_records.csv, "
            "record_history.csv, ...); a sync writes only the small ones.",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Write every record and history row anew, not only what changed since "
            "the last snapshot (after `fmw doctor` names a damaged snapshot file).",
        ),
    ] = False,
) -> None:
    """Refresh the snapshot views if needed and publish a new snapshot generation.

    Example: fmw export --csv
    """
    settings = load_settings()
    report = SyncReport()
    with open_database(settings) as conn:
        publish_snapshot(conn, settings, report, force=True, progress=note, full=full, csv=csv)
    print_sync(report)
