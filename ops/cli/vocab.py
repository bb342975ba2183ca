"""``fmw vocab …``: which header means which field and which word means which status.

Parses arguments and prints; the vocabulary is ``fmw.vocabulary`` (which calls
the SQL that holds the rules). Changes are recorded in the admin audit log under
the OS user's name. It must never decide what a header or word means.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fmw import vocabulary
from fmw.admin import os_user
from fmw.cli.support import clean_errors, console, err, open_database
from fmw.settings import load_settings
from fmw.vocabulary import Change, Kind, Reresolved

vocab_app = typer.Typer(
    help="The vocabulary: header aliases and status words; what is unknown; re-resolving.",
    no_args_is_help=True,
)
alias_app = typer.Typer(
    help="Header aliases: which header feeds which field.", no_args_is_help=True
)
status_app = typer.Typer(help="Status words: which word means which status.", no_args_is_help=True)
vocab_app.add_typer(alias_app, name="alias")
vocab_app.add_typer(status_app, name="status")

LATER_HELP = "Change the vocabulary only; records follow with `fmw vocab apply` or their next load."


@vocab_app.command("list")
@clean_errors
def vocab_list() -> None:
    """List every field with its header aliases, and every status with its words.

    Example: fmw vocab list
    """
    settings = load_settings()
    with open_database(settings) as conn:
        fields = vocabulary.fields(conn)
        statuses = vocabulary.statuses(conn)
    table = Table("field", "", "headers that map to it (fmw vocab alias add HEADER FIELD)")
    for term in fields:
        table.add_row(term.name, term.label, escape(", ".join(term.words)))
    console.print(table)
    table = Table("status", "", "words that mean it (fmw vocab status add WORD STATUS)")
    for term in statuses:
        table.add_row(term.name, term.label, escape(", ".join(term.words)))
    console.print(table)


@vocab_app.command("unknown")
@clean_errors
def vocab_unknown() -> None:
    """List the headers and status words FMW met but does not know, with the fix for each.

    Headers: every header that refused a file or was left unloaded in a loaded
    one. Status words: every word that made a row unknown. Each with counts,
    sources and the newest batch.

    Example: fmw vocab unknown
    """
    settings = load_settings()
    with open_database(settings) as conn:
        headers = vocabulary.unknown_headers(conn)
        words = vocabulary.unknown_words(conn)
    if not headers and not words:
        console.print("every header and status word in the loaded files is known")
        return
    if headers:
        console.print("[bold]headers that map to no field[/bold] (their columns are not loaded)")
        for item in headers:
            sources = escape(", ".join(item.sources))
            console.print(
                f"  {escape(item.header)}: {_count(item.files, 'file')} of {sources}, "
                f"newest batch {item.latest_batch_id}"
                + (" [red](a file was refused)[/red]" if item.refused else "")
            )
            console.print(f"    fix: {escape(item.fix)}")
    if words:
        console.print("[bold]status words that mean no status[/bold] (their rows show unknown)")
        for item in words:
            console.print(
                f"  {escape(item.word)}: {_count(item.records, 'active record')} of "
                f"{escape(', '.join(item.sources))}, newest batch {item.latest_batch_id}"
            )
            console.print(f"    fix: fmw vocab status add {escape(item.typed)} STATUS")
    console.print("[dim]fields and statuses: fmw vocab list[/dim]")


@vocab_app.command("apply")
@clean_errors
def vocab_apply() -> None:
    """Re-resolve every source's records from its kept raw rows with today's vocabulary.

    One transaction; history rows for what changed. Needed only after a change
    made with --later.

    Example: fmw vocab apply
    """
    settings = load_settings()
    with open_database(settings) as conn:
        outcomes = vocabulary.reresolve(conn, actor=os_user())
    _print_reresolved(outcomes)


@alias_app.command("add")
@clean_errors
def alias_add(
    header: Annotated[str, typer.Argument(help="The header as the file writes it.")],
    field: Annotated[str, typer.Argument(help="The field it feeds (fmw vocab list).")],
    later: Annotated[bool, typer.Option("--later", help=LATER_HELP)] = False,
) -> None:
    """Make a header feed a field, then re-resolve the records it affects.

    Example: fmw vocab alias add "기능 ID" feature_code
    """
    _change("alias", "add", header, field, later=later)


@alias_app.command("remove")
@clean_errors
def alias_remove(
    header: Annotated[str, typer.Argument(help="The header, as an alias lists it.")],
    field: Annotated[str, typer.Argument(help="The field it feeds now.")],
    later: Annotated[bool, typer.Option("--later", help=LATER_HELP)] = False,
) -> None:
    """Make a header feed no field any more, then re-resolve the records it affects.

    Example: fmw vocab alias remove remarks note
    """
    _change("alias", "remove", header, field, later=later)


@status_app.command("add")
@clean_errors
def status_add(
    word: Annotated[str, typer.Argument(help="The word as the files write it.")],
    status: Annotated[str, typer.Argument(help="The status it means (fmw vocab list).")],
    later: Annotated[bool, typer.Option("--later", help=LATER_HELP)] = False,
) -> None:
    """Make a word mean a status, then re-resolve the records it affects.

    Example: fmw vocab status add 보류 planned
    """
    _change("status", "add", word, status, later=later)


@status_app.command("remove")
@clean_errors
def status_remove(
    word: Annotated[str, typer.Argument(help="The word, as the vocabulary lists it.")],
    status: Annotated[str, typer.Argument(help="The status it means now.")],
    later: Annotated[bool, typer.Option("--later", help=LATER_HELP)] = False,
) -> None:
    """Make a word mean no status any more, then re-resolve the records it affects.

    Example: fmw vocab status remove test pilot
    """
    _change("status", "remove", word, status, later=later)


def _change(kind: Kind, change: Change, word: str, target: str, *, later: bool) -> None:
    settings = load_settings()
    with open_database(settings) as conn:
        done, outcomes = vocabulary.change_vocabulary(
            conn, kind, change, word, target, actor=os_user(), reresolve=not later
        )
    noun = "header" if kind == "alias" else "status word"
    verb = "feeds" if kind == "alias" else "means"
    if not done.changed:
        console.print(f"{noun} {escape(word)} {verb} {escape(target)} already: nothing changed")
        return
    now = f"now {verb} {escape(target)}" if change == "add" else f"no longer {verb} {target}"
    console.print(f"[green]{noun} {escape(word)} {now}[/green] (recorded for {os_user()})")
    if outcomes is None:
        console.print("records follow with `fmw vocab apply` or with each source's next load")
    else:
        _print_reresolved(outcomes)


def _print_reresolved(outcomes: list[Reresolved]) -> None:
    changed = sum(o.records_changed or 0 for o in outcomes)
    console.print(
        f"re-resolved {_count(len(outcomes), 'source')} from their kept rows: "
        f"{_count(changed, 'record')} changed as users see them"
    )
    for outcome in outcomes:
        if outcome.status == "processed":
            console.print(
                f"  {escape(outcome.source)}: batch {outcome.batch_id} changed "
                f"{_count(outcome.source_changes or 0, 'of its records', 'of its records')}, "
                f"{_count(outcome.records_changed or 0, 'record')} as shown "
                f"(history: fmw batch show {outcome.batch_id})"
            )
        elif outcome.status != "unchanged":
            err.print(
                f"  [yellow]{outcome.status}[/yellow] {escape(outcome.source)}: "
                f"{escape(outcome.message or '')}"
            )


def _count(number: int, noun: str, plural: str | None = None) -> str:
    if number == 1:
        return f"1 {noun}"
    return f"{number:,} {plural or noun + 's'}"
