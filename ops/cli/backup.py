"""``fmw backup`` (now, list, verify, schedule) and ``fmw restore``: arguments and printing.

The work is done by ``fmw.backup.dump``, ``fmw.backup.restore`` and ``fmw.backup.schedule``;
this module must never hold backup logic or SQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fmw import migrations
from fmw.backup import files as backup_files
from fmw.backup import schedule as backup_schedule
from fmw.backup.dump import run_backup, verify_backup
from fmw.backup.restore import restore_backup
from fmw.cli.support import clean_errors, console, err, note
from fmw.errors import FmwError, ScheduledTaskError
from fmw.settings import Settings, load_settings, settings_file

backup_app = typer.Typer(no_args_is_help=False)

QuickOption = Annotated[
    bool,
    typer.Option(
        "--quick",
        help="Verify by reading the whole archive and counting its rows instead of restoring "
        "it into a scratch database (no CREATEDB needed; proves less).",
    ),
]


def _status_line(status: migrations.MigrationStatus) -> str:
    if status.is_current:
        return f"schema current ({len(status.applied)} migrations applied)"
    return (
        f"[yellow]schema NOT current[/yellow]: {status.pending_text} pending, "
        f"{len(status.drift)} drifted"
    )


def _backup_file(settings: Settings, file: Path) -> Path:
    """FILE as given, or the file of that name in the backup folder."""
    if file.exists() or file.is_absolute():
        return file
    in_folder = settings.backup_path / file
    return in_folder if in_folder.exists() else file


@backup_app.callback(invoke_without_command=True)
@clean_errors
def backup(
    ctx: typer.Context,
    quick: QuickOption = False,
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Run as if started in this folder (where fmw.toml is); scheduled tasks use it."
        ),
    ] = None,
) -> None:
    """Back up the database now: pg_dump, proven by a restore, the snapshot archived beside it.

    Without a subcommand: dump to a partial file, verify it (restore into a
    scratch database, row counts of every table compared), rename it, zip the
    current snapshot generation beside it, delete backups older than
    backup_keep_days (never the newest verified one).

    Example: fmw backup
    """
    if workdir is not None:
        if not workdir.is_dir():
            raise FmwError(f"--workdir {workdir}: no such folder")
        os.chdir(workdir)
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    result = run_backup(settings, note, method="read" if quick else None)
    check = result.verification
    console.print(
        f"[green]backup[/green] {result.path.name}: {result.bytes:,} bytes, "
        f"{len(result.tables)} tables, {result.rows:,} rows"
    )
    console.print(f"  verified ({check.method}, {check.seconds:.1f} s): {escape(check.detail)}")
    if result.snapshot_archive:
        console.print(
            f"  snapshot {result.snapshot_generation} archived as {result.snapshot_archive.name}"
        )
    for line in result.notes:
        err.print(f"[yellow]note:[/yellow] {escape(line)}")
    if result.removed:
        console.print(f"  removed {len(result.removed)} old backups: {', '.join(result.removed)}")
    console.print(f"  in {result.path.parent}")


@backup_app.command("list")
@clean_errors
def backup_list() -> None:
    """List the backups in the backup folder, newest first, with their verification.

    Example: fmw backup list
    """
    settings = load_settings()
    folder = settings.backup_path
    backups = backup_files.list_backups(folder)
    if not backups:
        console.print(f"no backups yet in {folder}: run `fmw backup`")
        return
    table = Table("backup", "made (UTC)", "bytes", "rows", "verified", "snapshot")
    for item in backups:
        side = item.sidecar or {}
        tables = side.get("tables")
        rows = f"{sum(tables.values()):,}" if isinstance(tables, dict) else ""
        check = item.verification
        if item.dump_bytes is None:
            verified = "[red]archive missing[/red]"
        elif item.verified:
            verified = f"[green]✓[/green] {check.get('method', '?')} {check.get('at', '')}"
        elif check:
            verified = f"[red]✗[/red] {check.get('method', '?')} {check.get('at', '')}"
        else:
            verified = "[yellow]not verified[/yellow]"
        snapshot = side.get("snapshot")
        table.add_row(
            item.dump.name,
            item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "" if item.dump_bytes is None else f"{item.dump_bytes:,}",
            rows,
            verified,
            snapshot.get("generation", "") if isinstance(snapshot, dict) else "",
        )
    console.print(table)
    console.print(f"in {folder}", style="dim")


@backup_app.command("verify")
@clean_errors
def backup_verify(
    file: Annotated[Path, typer.Argument(help="A backup file (or its name in the backup folder).")],
    quick: QuickOption = False,
) -> None:
    """Prove an existing backup again: checksum, then a restore (or --quick full read).

    Example: fmw backup verify fmw_20261127T023000Z.dump
    """
    settings = load_settings()
    path = _backup_file(settings, file)
    check = verify_backup(settings, path, note, method="read" if quick else None)
    console.print(f"[green]verified[/green] {path.name} ({check.method}, {check.seconds:.1f} s)")
    console.print(f"  {escape(check.detail)}")


@backup_app.command("schedule")
@clean_errors
def backup_schedule_command(
    at: Annotated[str, typer.Option(help="Daily start time, HH:MM (24-hour).")] = (
        backup_schedule.DEFAULT_TIME
    ),
    task_name: Annotated[str, typer.Option(help="Task Scheduler task name.")] = (
        backup_schedule.TASK_NAME
    ),
    run_as: Annotated[
        str, typer.Option(help="Account the task runs as; schtasks asks for its password.")
    ] = "SYSTEM",
    workdir: Annotated[
        Path | None,
        typer.Option(help="Folder the task runs in; default: the settings file's, else this one."),
    ] = None,
    quick: QuickOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the exact schtasks command; run nothing.")
    ] = False,
) -> None:
    """Create or update (schtasks /F) a Windows scheduled task running `fmw backup` daily.

    Example: fmw backup schedule --at 02:30 --dry-run
    """
    if os.environ.get("FMW_SETTINGS") and workdir is None:
        configured = settings_file()
        if configured is None or configured.name != "fmw.toml":
            raise ScheduledTaskError(
                "a scheduled task cannot see FMW_SETTINGS: put the settings in a file named "
                "fmw.toml and give its folder with --workdir"
            )
    folder = workdir or (settings_file() or Path.cwd() / "fmw.toml").parent
    argv = backup_schedule.schtasks_create(
        python=sys.executable,
        workdir=str(Path(folder).resolve()),
        at=at,
        task_name=task_name,
        run_as=run_as,
        quick=quick,
    )
    line = backup_schedule.command_line(argv)
    if dry_run:
        console.print(line, markup=False, highlight=False)
        return
    if os.name != "nt":
        raise ScheduledTaskError(
            "schtasks is Windows' Task Scheduler: on this system the scheduler's daily backup "
            "job runs `fmw backup` (fmw job list); --dry-run prints the Windows command"
        )
    done = subprocess.run(argv, check=False)
    if done.returncode != 0:
        raise ScheduledTaskError(f"schtasks failed (exit code {done.returncode}): {line}")
    console.print(f"[green]scheduled[/green] {task_name}: `fmw backup` daily at {at}")


@clean_errors
def restore(
    file: Annotated[Path, typer.Argument(help="A backup file (or its name in the backup folder).")],
    into: Annotated[
        str | None,
        typer.Option(help="Database to restore into; default fmw_restore_<backup time>."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Allow replacing an existing non-empty database, even the live one (it is "
            "kept, renamed to NAME_old_<time>).",
        ),
    ] = False,
) -> None:
    """Restore a backup into a new database, check it like `fmw db status`; exit 1 unless current.

    Example: fmw restore var/backups/fmw_20261127T023000Z.dump --into fmw_drill
    """
    settings = load_settings()
    path = _backup_file(settings, file)
    result = restore_backup(settings, path, into=into, replace=replace, progress=note)
    checked = result.checked
    console.print(
        f"[green]restored[/green] {result.archive.name} into database {result.database} "
        f"({result.seconds:.1f} s): {len(checked.tables)} tables, {checked.rows:,} rows"
    )
    console.print(f"  {_status_line(checked.status)}")
    for line in checked.status.drift:
        err.print(f"[red]drift:[/red] {escape(line)}")
    if result.kept_as:
        console.print(f"  the database it replaced is kept as {result.kept_as}")
    if not checked.status.is_current:
        err.print(f"run `fmw db upgrade` against {result.database} to bring it up to date")
        raise typer.Exit(1)
