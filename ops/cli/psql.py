"""``fmw psql``: psql on FMW's database as the owner, or read-only.

Parses options and runs; finding psql, the database and the role is
``fmw.psql``. Arguments after the options go to psql as they are.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from fmw.cli.support import clean_errors, err, note
from fmw.psql import plan_psql, run_psql
from fmw.settings import load_settings


@clean_errors
def psql(
    ctx: typer.Context,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only", help="As fmw_reader (the snapshot views), in read-only transactions."
        ),
    ] = False,
) -> None:
    """Open psql on the configured or embedded database, as fmw_owner or read-only.

    Any further arguments go to psql: fmw psql --read-only -c "TABLE snapshot.home_summary"

    Example: fmw psql --read-only
    """
    settings = load_settings()
    launch = plan_psql(settings, read_only=read_only, extra=list(ctx.args), announce=note)
    err.print(
        f"[dim]psql on {escape(launch.target)} as {escape(launch.login)}, role {launch.role}[/dim]"
    )
    raise typer.Exit(run_psql(launch))
