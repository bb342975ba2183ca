"""``fmw batch …``: what each load did, its rejected rows and issues; approve and retry; the
file a batch landed, as it arrived.

Parses options and prints; processing a batch again is ``fmw.loader.landing``'s
``reprocess_batch`` (which calls SQL). It must never decide about records.
"""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fmw.admin import os_user
from fmw.batches import batch_detail, list_batches
from fmw.cli.support import clean_errors, console, open_database
from fmw.errors import KeptFileError
from fmw.loader import original_file
from fmw.loader.landing import BatchResult, discard_batch, reprocess_batch
from fmw.settings import load_settings

batch_app = typer.Typer(
    help="Loaded batches: list, inspect, approve held ones.", no_args_is_help=True
)


def print_batch(result: BatchResult, *, prefix: str = "") -> None:
    """What loading one file did (or, with a prefix such as "would be ", would do)."""
    colour = {"processed": "green", "skipped": "yellow", "held": "yellow"}.get(result.status, "red")
    console.print(
        f"[{colour}]{prefix}{result.status}[/{colour}] {escape(result.source)} ← "
        f"{escape(result.path.name)}"
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
    if result.unmapped:
        console.print(
            f"  [yellow]columns not loaded[/yellow] (no field): "
            f"{escape(', '.join(result.unmapped))}; `fmw vocab alias add HEADER FIELD` maps one"
        )
    if result.unknown_words:
        words = ", ".join(f"{word} ×{rows:,}" for word, rows in result.unknown_words)
        console.print(
            f"  [yellow]unknown status words[/yellow] (rows shown as unknown): {escape(words)}; "
            "`fmw vocab status add WORD STATUS` maps one"
        )
    if (result.rejected or result.issues) and not prefix:
        console.print(f"  details: fmw batch show {result.batch_id}")


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
        rows = list_batches(conn, limit)
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
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


@batch_app.command("show")
@clean_errors
def batch_show(batch_id: Annotated[int, typer.Argument(help="Batch id.")]) -> None:
    """Show a batch's unloaded columns, unknown status words, rejected rows and row issues.

    Each rejected row and issue with file, row and column.

    Example: fmw batch show 12
    """
    settings = load_settings()
    with open_database(settings) as conn:
        detail = batch_detail(conn, batch_id)
    file_name, status, message, kind = detail.file_name, detail.status, detail.message, detail.kind
    raw_batch_id, unmapped, words = detail.raw_batch_id, detail.unmapped, detail.words
    what = {"reresolve": f", re-resolved from batch {raw_batch_id}", "remove": ", a removal"}
    console.print(
        f"batch {batch_id}: {file_name} ({status}{what.get(kind, '')})"
        + (f": {escape(message)}" if message else "")
    )
    if detail.file_kept and kind == "file":
        console.print(f"the file as it arrived: `fmw batch original {batch_id}` writes it out")
    if unmapped:
        console.print(
            f"columns not loaded (no field): {escape(', '.join(unmapped))}; "
            "`fmw vocab alias add HEADER FIELD` maps one"
        )
    if words:
        listed = ", ".join(f"{word} ×{rows:,}" for word, rows in words)
        console.print(
            f"unknown status words: {escape(listed)}; `fmw vocab status add WORD STATUS` maps one"
        )
    for row, column, issue, value in (astuple(line) for line in detail.lines):
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
def batch_retry(
    batch_id: Annotated[int, typer.Argument(help="A failed or interrupted batch's id.")],
) -> None:
    """Process a failed or interrupted batch again (after the cause was fixed, e.g. an
    alias was added, or after the load was killed).

    Example: fmw batch retry 12
    """
    _reprocess(batch_id, approve=False)


@batch_app.command("discard")
@clean_errors
def batch_discard(
    batch_id: Annotated[int, typer.Argument(help="An interrupted, failed or held batch's id.")],
) -> None:
    """Give up on an interrupted, failed or held batch: drop its landed rows; no record changes.

    Example: fmw batch discard 12
    """
    settings = load_settings()
    with open_database(settings) as conn:
        rows = discard_batch(conn, batch_id, actor=os_user())
    console.print(f"discarded batch {batch_id}: {rows:,} landed rows dropped, no record changed")


@batch_app.command("original")
@clean_errors
def batch_original(
    batch_id: Annotated[int, typer.Argument(help="The batch whose file to write out.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write it; default: its own name in this folder."),
    ] = None,
) -> None:
    """Write out the file a batch landed, byte for byte as it arrived (checked by its SHA-256).

    Example: fmw batch original 12 --out C:\\fmw\\team-2026-12-01.csv
    """
    settings = load_settings()
    with open_database(settings) as conn:
        name, sha256 = original_file.batch_file(conn, batch_id)
        target = out if out is not None else Path(Path(name).name)
        if target.exists():
            raise KeptFileError(f"{target} exists already: --out names another path")
        size = original_file.restore(conn, sha256, target)
    console.print(f"wrote {escape(str(target))}: {size:,} bytes, SHA-256 {sha256} as landed")


def _reprocess(batch_id: int, *, approve: bool) -> None:
    settings = load_settings()
    with open_database(settings) as conn:
        result = reprocess_batch(conn, batch_id, approve=approve, actor=os_user())
    print_batch(result)
    if result.status != "processed":
        raise typer.Exit(1)
