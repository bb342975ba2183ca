"""``fmw db …``: migrations and the embedded server.

Parses options and prints; migrating is ``fmw.migrations``, finding the server
``fmw.database``. It must never hold schema SQL.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fmw import database, migrations
from fmw.cli.support import clean_errors, console, err, note, open_database
from fmw.settings import load_settings

db_app = typer.Typer(help="The database: migrations and the embedded server.", no_args_is_help=True)


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
    """Show applied and pending migrations and vocabulary files, and any drift; exit 1 unless
    current.

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
    for row in state.vocabulary_applied:
        table.add_row(f"{row.version:06d}", f"vocabulary/{row.name}", "applied", row.applied_at)
    for mig in state.vocabulary_pending:
        table.add_row(
            f"{mig.version:06d}", f"vocabulary/{mig.name}", "[yellow]pending[/yellow]", ""
        )
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
