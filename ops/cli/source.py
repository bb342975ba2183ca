"""``fmw source …``: the sources fmw.toml configures and the database knows; remove one.

Parses arguments and prints; sources are ``fmw.sources`` (which calls SQL for
every change). Changes are recorded in the admin audit log under the OS user's
name. It must never change records itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fmw import sources
from fmw.admin import os_user
from fmw.cli.support import clean_errors, console, open_database
from fmw.settings import load_settings

source_app = typer.Typer(
    help="Sources: list them, remove one, accept a file's new shape.", no_args_is_help=True
)


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else ""


@source_app.command("list")
@clean_errors
def source_list() -> None:
    """List every source: priority, mode, newest file, newest success and records.

    Sources configured in fmw.toml and sources the database knows (loaded with
    --new-source, or removed) are both listed, and marked. records: its active
    records; shown: how many of them users see from it (the others show a
    source with a lower priority number).

    Example: fmw source list
    """
    settings = load_settings()
    with open_database(settings) as conn:
        states = sources.sources(conn, settings)
    table = Table(
        "source", "fmw.toml", "priority", "mode", "newest file", "result", "last success",
        "records", "shown",
    )  # fmt: skip
    for state in states:
        configured = "yes" if state.configured else "[yellow]no[/yellow]"
        if state.removed_at:
            configured += f" (removed {_when(state.removed_at)})"
        result = state.last_status or "never loaded"
        colour = {"processed": "green", "refused": "red", "failed": "red"}.get(result, "yellow")
        table.add_row(
            escape(state.name)
            + ("\n[yellow](new shape accepted)[/yellow]" if state.accept_shape else ""),
            configured,
            "" if state.priority is None else str(state.priority),
            state.mode or "",
            escape(state.last_file or ""),
            f"[{colour}]{result}[/{colour}]"
            + (f" ({state.last_batch_id})" if state.last_batch_id else ""),
            _when(state.last_success_at),
            f"{state.active_records:,}",
            f"{state.shown_records:,}",
        )
    console.print(table)


@source_app.command("remove")
@clean_errors
def source_remove(
    name: Annotated[str, typer.Argument(help="The source, as `fmw source list` shows it.")],
) -> None:
    """Deactivate every record of a source, with history; no row is deleted.

    Delete its [sources.NAME] table from fmw.toml first. Records another source
    also reports then show that source.

    Example: fmw source remove platfrom_team
    """
    settings = load_settings()
    with open_database(settings) as conn:
        batch_id, deactivated, changed = sources.remove_source(
            conn, settings, name, actor=os_user()
        )
    console.print(
        f"[green]source {escape(name)} removed[/green]: {deactivated:,} of its records "
        f"deactivated, {changed:,} records changed (batch {batch_id}); its rows and history stay"
    )


@source_app.command("accept-shape")
@clean_errors
def source_accept_shape(
    name: Annotated[str, typer.Argument(help="The source whose next file may change shape.")],
) -> None:
    """Let a source's next file declare a new shape (which fields its files carry).

    A later file that lacks a key field or the status column, or adds a key
    field, is refused until an admin accepts it: its records get new identities.

    Example: fmw source accept-shape ops_team
    """
    settings = load_settings()
    with open_database(settings) as conn:
        shape = sources.accept_shape(conn, settings, name, actor=os_user())
    now = ", ".join(shape) if shape else "none yet"
    console.print(
        f"the next file of {escape(name)} may declare a new shape (now: {escape(now)}); "
        f"load it with `fmw load FILE --source {escape(name)}` or `fmw sync`"
    )
