"""The ``fmw`` command: the admin's one entry point.

Every command turns an ``FmwError`` into one red line and exit code 1. This
module parses arguments and prints; it must never contain SQL about records or
file-format logic (those live in ``db/`` and ``loader/``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fmw import database, migrations
from fmw.cli_backup import backup_app, restore
from fmw.cli_deploy import deploy_app
from fmw.cli_doctor import doctor
from fmw.cli_jobs import job_app, scheduler_app
from fmw.cli_nginx import nginx_app
from fmw.cli_report import report_app
from fmw.cli_service import service_app
from fmw.cli_support import clean_errors, console, err, note, open_database, row_progress
from fmw.cli_ui import after_demo, ui
from fmw.errors import FmwError
from fmw.loader.landing import BatchResult, SourceSpec, load_file, reprocess_batch
from fmw.settings import load_settings
from fmw.settings_secrets import secret_warnings
from fmw.sync import SyncReport, publish_snapshot, require_sources, run_sync, spec_for

app = typer.Typer(
    help="FMW: policy and feature statuses from many spreadsheets, in one PostgreSQL database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: migrations and the embedded server.", no_args_is_help=True)
batch_app = typer.Typer(
    help="Loaded batches: list, inspect, approve held ones.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(batch_app, name="batch")
app.add_typer(job_app, name="job")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(backup_app, name="backup")
app.command("restore")(restore)
app.add_typer(service_app, name="service")
app.add_typer(deploy_app, name="deploy")
app.add_typer(nginx_app, name="nginx")
app.add_typer(report_app, name="report")
app.command("ui")(ui)
app.command("doctor")(doctor)


def print_batch(result: BatchResult) -> None:
    colour = {"processed": "green", "skipped": "yellow", "held": "yellow"}.get(result.status, "red")
    console.print(
        f"[{colour}]{result.status}[/{colour}] {escape(result.source)} ← {escape(result.path.name)}"
        + (f" (batch {result.batch_id}, {result.encoding})" if result.batch_id else "")
    )
    if result.status in ("processed", "held"):
        console.print(
            f"  rows {result.rows or 0:,} · inserted {result.inserted or 0:,} · "
            f"updated {result.updated or 0:,} · unchanged {result.unchanged or 0:,} · "
            f"deactivated {result.deactivated or 0:,} · rejected {result.rejected or 0:,} · "
            f"issues {result.issues or 0:,}"
        )
    if result.message:
        console.print(f"  {escape(result.message)}")
    if result.rejected or result.issues:
        console.print(f"  details: fmw batch show {result.batch_id}")


def print_sync(report: SyncReport) -> None:
    for result in report.batches:
        print_batch(result)
    for line in report.errors:
        err.print(f"[red]failed[/red] {escape(line)}")
    if report.generation:
        gen = report.generation
        rows = gen.files["current_records.csv"].rows if "current_records.csv" in gen.files else 0
        console.print(f"snapshot {gen.id}: {rows:,} records in {gen.folder}")


# --- fmw db ---------------------------------------------------------------------------


@db_app.command("upgrade")
@clean_errors
def db_upgrade(
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the SQL that would run; change nothing.")
    ] = False,
) -> None:
    """Apply pending migrations, then re-apply db/functions.

    Example: fmw db upgrade --sql > pending.sql
    """
    settings = load_settings()
    with open_database(settings, require_current=False) as conn:
        if sql:
            console.print(migrations.pending_sql(conn), markup=False, soft_wrap=True)
            return
        applied = migrations.upgrade(conn, progress=note)
        console.print(f"[green]database is current[/green] ({len(applied)} migrations applied now)")


@db_app.command("status")
@clean_errors
def db_status() -> None:
    """Show applied and pending migrations and any drift; exit 1 unless current.

    Example: fmw db status
    """
    settings = load_settings()
    with open_database(settings, require_current=False) as conn:
        state = migrations.status(conn)
    table = Table("version", "name", "state", "applied at")
    for row in state.applied:
        table.add_row(f"{row.version:06d}", row.name, "applied", row.applied_at)
    for mig in state.pending:
        table.add_row(f"{mig.version:06d}", mig.name, "[yellow]pending[/yellow]", "")
    console.print(table)
    for line in state.drift:
        err.print(f"[red]drift:[/red] {line}")
    if not state.is_current:
        raise typer.Exit(1)


@db_app.command("stop")
@clean_errors
def db_stop() -> None:
    """Stop the embedded PostgreSQL (it otherwise keeps running between commands).

    Example: fmw db stop
    """
    settings = load_settings()
    stopped = database.stop_embedded(database.embedded_pgdata(settings))
    console.print(
        "embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running"
    )


# --- loading --------------------------------------------------------------------------


@app.command("load")
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


@app.command("sync")
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


@app.command("export")
@clean_errors
def export(
    force: Annotated[
        bool, typer.Option(help="Refresh every view even if nothing changed.")
    ] = False,
) -> None:
    """Refresh the snapshot views if needed and publish a new snapshot generation.

    Example: fmw export
    """
    settings = load_settings()
    report = SyncReport()
    with open_database(settings) as conn:
        publish_snapshot(conn, settings, report, force=True, progress=note)
    print_sync(report)


# --- batches --------------------------------------------------------------------------


@batch_app.command("list")
@clean_errors
def batch_list(
    limit: Annotated[int, typer.Option(help="How many of the newest batches.")] = 20,
) -> None:
    """List the newest batches with their status and counts.

    Example: fmw batch list --limit 5
    """
    settings = load_settings()
    with open_database(settings) as conn:
        rows = conn.execute(
            "SELECT batch_id, source, file_name, status, row_count, inserted, updated, "
            "unchanged, deactivated, rejected, issues, created_at::timestamp(0)::text "
            "FROM ops.batch ORDER BY batch_id DESC LIMIT %s",
            [limit],
        ).fetchall()
    table = Table(
        "batch",
        "source",
        "file",
        "status",
        "rows",
        "ins",
        "upd",
        "same",
        "deact",
        "rej",
        "issues",
        "at",
    )
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


@batch_app.command("show")
@clean_errors
def batch_show(batch_id: Annotated[int, typer.Argument(help="Batch id.")]) -> None:
    """Show a batch's rejected rows and row issues, each with file, row and column.

    Example: fmw batch show 12
    """
    settings = load_settings()
    with open_database(settings) as conn:
        head = conn.execute(
            "SELECT file_name, status, message FROM ops.batch WHERE batch_id = %s", [batch_id]
        ).fetchone()
        if head is None:
            raise FmwError(f"batch {batch_id} does not exist (see `fmw batch list`)")
        lines = conn.execute(
            "SELECT source_row, NULL, 'rejected: ' || reason, NULL FROM core.rejected_row "
            "WHERE batch_id = %s UNION ALL "
            "SELECT source_row, column_name, issue, raw_value FROM core.row_issue "
            "WHERE batch_id = %s ORDER BY 1, 2",
            [batch_id, batch_id],
        ).fetchall()
    file_name, status, message = head
    console.print(
        f"batch {batch_id}: {file_name} ({status})" + (f": {escape(message)}" if message else "")
    )
    for row, column, issue, value in lines:
        where = f"{file_name}, row {row}" + (f", column {column}" if column else "")
        shown = f" [dim](value {escape(repr(value))})[/dim]" if value is not None else ""
        console.print(f"{escape(where)}: {escape(issue)}{shown}")


@batch_app.command("approve")
@clean_errors
def batch_approve(batch_id: Annotated[int, typer.Argument(help="A held batch's id.")]) -> None:
    """Apply a held batch that deactivates more than half of its source.

    Example: fmw batch approve 12
    """
    _reprocess(batch_id, approve=True)


@batch_app.command("retry")
@clean_errors
def batch_retry(batch_id: Annotated[int, typer.Argument(help="A failed batch's id.")]) -> None:
    """Process a failed batch again after the cause was fixed (e.g. an alias was added).

    Example: fmw batch retry 12
    """
    _reprocess(batch_id, approve=False)


def _reprocess(batch_id: int, *, approve: bool) -> None:
    settings = load_settings()
    with open_database(settings) as conn:
        result = reprocess_batch(conn, batch_id, approve=approve)
    print_batch(result)
    if result.status != "processed":
        raise typer.Exit(1)


@app.command("demo")
@clean_errors
def demo(
    rows: Annotated[int, typer.Option(help="Rows per sample source.")] = 400,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the dashboard (fmw ui) until Ctrl-C.")
    ] = False,
) -> None:
    """Create sample sources, load two days of them, and export a snapshot.

    Example: fmw demo --serve
    """
    from fmw.demo import run_demo  # the sample generator is only needed here

    settings = load_settings()
    summary = run_demo(settings, rows_per_source=rows, progress=note)
    for report in summary.reports:
        print_sync(report)
    console.print(summary.text)
    after_demo(settings, serve=serve)


def main() -> None:
    """Console-script entry point."""
    for line in secret_warnings():  # a password in fmw.toml, worse when others can read it
        err.print(f"[yellow]warning:[/yellow] {escape(line)}")
    app()
