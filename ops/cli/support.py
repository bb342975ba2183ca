"""What every ``fmw`` sub-command shares: consoles, error handling, opening the database.

The command-group modules import from here, never from ``fmw.cli.app``,
so the command tree can import them. Nothing here knows about records.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fmw import database, migrations
from fmw.errors import FmwError, MigrationError
from fmw.settings import Settings

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def clean_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn FMW's own errors into one clear line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FmwError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        except psycopg.Error as exc:
            err.print(f"[red]database error:[/red] {escape(str(exc).strip().splitlines()[0])}")
            raise typer.Exit(2) from None

    return wrapper


def note(line: str) -> None:
    console.print(f"[dim]{line}[/dim]")


@contextlib.contextmanager
def open_database(
    settings: Settings, *, require_current: bool = True
) -> Iterator[psycopg.Connection]:
    """An autocommit connection; refuses to work on a database with pending migrations."""
    url = database.database_url(settings, announce=note)
    with database.connect(url, autocommit=True) as conn:
        if require_current:
            state = migrations.status(conn)
            if not state.is_current:
                raise MigrationError(
                    "the database schema is not current "
                    f"({state.pending_text} pending, {len(state.drift)} drifted): "
                    "run `fmw db upgrade`"
                )
        yield conn


@contextlib.contextmanager
def row_progress(label: str) -> Iterator[Callable[[int], None]]:
    """A live 'N rows' counter for long loads."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label)

        def update(rows: int) -> None:
            bar.update(task, description=f"{label}: {rows:,} rows landed")

        yield update
