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
from fmw.loader.dry_run import DryRun, dry_run
from fmw.loader.landing import SourceSpec, load_file
from fmw.loader.source_file import check_file
from fmw.settings import check_source_name_grammar, load_settings
from fmw.snapshot.export import records_in
from fmw.sources import check_source_name
from fmw.sync import SyncReport, publish_snapshot, require_sources, run_sync, spec_for
from fmw.vocabulary import alias_hints


def print_sync(report: SyncReport) -> None:
    for result in report.batches:
        print_batch(result)
    for line in report.errors:
        err.print(f"[red]failed[/red] {escape(line)}")
    if report.failed_sources:
        err.print(
            f"[red]sync incomplete:[/red] {len(report.failed_sources)} source(s) failed: "
            f"{escape(', '.join(report.failed_sources))}; the others were loaded"
        )
    for state in report.unconfigured:
        err.print(
            f"[yellow]note:[/yellow] source {escape(state.name)} ({state.active_records:,} active "
            f"records) is not in fmw.toml, so sync does not load it; configure it, or "
            f"`fmw source remove {escape(state.name)}` deactivates its records"
        )
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
    dry_run_: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the header mapping, unknown columns and status words, and what would "
            "be inserted, updated or deactivated; write nothing.",
        ),
    ] = False,
    accept_shape: Annotated[
        bool,
        typer.Option(
            "--accept-shape",
            help="Let this file declare a new shape for its source (fields it carries), "
            "as `fmw source accept-shape` does.",
        ),
    ] = False,
    new_source: Annotated[
        bool,
        typer.Option(
            "--new-source", help="Load into a source that fmw.toml does not configure yet."
        ),
    ] = False,
) -> None:
    """Load one file as a batch of a source and print what it changed.

    The source must be configured in fmw.toml or have loaded files before;
    --new-source starts a new one. Exits 1 when the file is refused, held or
    failed (with --dry-run: would be).

    Example: fmw load exports/team_a.csv --source team_a --dry-run
    """
    check_file(file)
    check_source_name_grammar(source)
    settings = load_settings()
    configured = settings.sources.get(source)
    spec = spec_for(source, configured) if configured else SourceSpec(source)
    spec = dataclasses.replace(
        spec,
        priority=spec.priority if priority is None else priority,
        encoding=encoding or spec.encoding,
        sheet=sheet or spec.sheet,
    )
    with open_database(settings) as conn:
        check_source_name(conn, settings, source, new_source=new_source)
        if dry_run_:
            report = dry_run(conn, spec, file, force=force, accept_shape=accept_shape)
            print_dry_run(report, alias_hints(conn, report.mapping))
            if not report.would_load:
                raise typer.Exit(1)
            return
        with row_progress(f"loading {file.name}") as progress:
            result = load_file(
                conn, spec, file, force=force, accept_shape=accept_shape, progress=progress
            )
    print_batch(result)
    if result.status in ("failed", "held"):
        raise typer.Exit(1)


def print_dry_run(report: DryRun, hints: dict[str, str]) -> None:
    """Everything a dry run found (``hints``: the command that maps an unmapped header);
    nothing of it was written."""
    console.print(f"[bold]dry run[/bold] {escape(report.source)} ← {escape(report.path.name)}")
    for header, field in report.mapping:
        target = field or (
            f"[yellow]no field, not loaded[/yellow]; maps with: {escape(hints.get(header, ''))}"
        )
        console.print(f"  {escape(header)} → {target}")
    if report.refusal is not None:
        err.print(f"[red]would be refused:[/red] {escape(report.refusal)}")
    elif report.result is not None:
        print_batch(report.result, prefix="would be ")
    console.print("[dim]nothing was written (dry run)[/dim]")


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
