"""``fmw doctor``: prints the doctor's checks, one ✓/✗ line each, exit 1 when any is red.

Only formatting lives here; the checks are in ``fmw.doctor.checks``.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from fmw.cli.support import clean_errors, console
from fmw.doctor.checks import Check, run_checks
from fmw.settings import load_settings


def _marks() -> dict[bool | None, str]:
    """✓/✗/– where the console can print them, else plain words (a cp949 log file)."""
    try:
        "✓✗–".encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return {True: "OK ", False: "BAD", None: "-- "}
    return {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[dim]–[/dim]"}


def format_check(check: Check, marks: dict[bool | None, str]) -> str:
    line = f"{marks[check.ok]} {escape(check.name)}: {escape(check.detail)}"
    if check.ok is False and check.next_step:
        line += f" [dim]→ {escape(check.next_step)}[/dim]"
    return line


@clean_errors
def doctor() -> None:
    """Check the database, last sync, success rate, snapshot, backup, what interrupted
    exports and backups left, scheduler, services and free disk; one line each, exit 1
    when anything is red.

    Example: fmw doctor
    """
    results = run_checks(load_settings())
    marks = _marks()
    for check in results:
        console.print(format_check(check, marks))
    red = [c for c in results if c.ok is False]
    console.print(f"{len(results) - len(red)} of {len(results)} checks fine" if red else "all fine")
    if red:
        raise typer.Exit(1)
