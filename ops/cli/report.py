"""``fmw report security`` and ``fmw report usage``: the edge's bars, from nginx's logs.

Parses options, prints the numbers and where the JSON and HTML were written.
Counting is ``fmw.edge.reports``; reading logs is ``fmw.edge.logs``. This
module must never parse a log line nor compute a number itself.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from fmw.cli.support import clean_errors, console, err, note
from fmw.edge.reports import DEFAULT_SECURITY_DAYS, DEFAULT_WEEKS, run_security, run_usage
from fmw.errors import ReportError
from fmw.settings import load_settings

report_app = typer.Typer(
    help="The edge's bars as numbers, from nginx's logs (also written under /api/dev/).",
    no_args_is_help=True,
)

LogDir = Annotated[
    Path | None,
    typer.Option("--log-dir", help="Read the logs here instead (default: edge.log_dir)."),
]


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"--since {text!r}: give a date as YYYY-MM-DD") from None


def _print_read(doc: dict[str, Any], written: list[Path]) -> None:
    malformed = doc["malformed"]
    note(
        f"read {len(doc['files'])} log files in {doc['log_dir']}: {doc['lines']:,} lines, "
        f"{malformed['count']:,} malformed"
    )
    for example in malformed["examples"][:3]:
        note(f"  malformed: {example['file']} line {example['line']}: {example['reason']}")
    for problem in doc["problems"]:
        err.print(f"[yellow]warning:[/yellow] {escape(problem)}")
    for path in written:
        note(f"wrote {path}")


@report_app.command("security")
@clean_errors
def security(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help=f"First day (YYYY-MM-DD); default: the last {DEFAULT_SECURITY_DAYS}."
        ),
    ] = None,
    log_dir: LogDir = None,
) -> None:
    """Off-list and admin-surface requests and how many were served (both bars: 0), per day.

    Exits 1 when a bar is broken. Also writes security.json and security.html
    into the admin folder (served under /api/dev/).

    Example: fmw report security --since 2026-11-01
    """
    settings = load_settings()
    doc, written = run_security(settings, since=_date(since), log_dir=log_dir)
    totals, bars = doc["totals"], doc["bars"]
    console.print(
        f"security report {doc['since']} .. {doc['until']}: {totals['requests']:,} requests"
    )
    off, adm = bars["off_list_served"], bars["admin_surface_served_to_non_admins"]
    console.print(
        f"  off-list addresses: {totals['off_list']:,} requests, "
        f"{_bar(off['value'], off['met'])} served (bar: 0)"
    )
    console.print(
        f"  /api/dev from non-admins: {totals['admin_surface_non_admin']:,} requests, "
        f"{_bar(adm['value'], adm['met'])} served (bar: 0)"
    )
    console.print(f"  rate-limited (429): {totals['rate_limited']:,}")
    active_days = [d for d in doc["days"] if d["requests"]]
    if active_days:
        table = Table("day", "requests", "off-list", "served", "/api/dev non-admin", "served")
        for d in active_days:
            table.add_row(
                d["date"],
                f"{d['requests']:,}",
                f"{d['off_list']:,}",
                str(d["off_list_served"]),
                f"{d['admin_surface_non_admin']:,}",
                str(d["admin_surface_non_admin_served"]),
            )
        console.print(table)
    if doc["top_offenders"]:
        table = Table("address", "requests", "off-list", "/api/dev", "served", "last")
        for o in doc["top_offenders"]:
            table.add_row(
                o["addr"],
                f"{o['requests']:,}",
                f"{o['off_list']:,}",
                f"{o['admin_surface']:,}",
                str(o["served"]),
                o["last"],
            )
        console.print("top offending addresses:")
        console.print(table)
    _print_read(doc, written)
    if not doc["ok"]:
        err.print("[red]a security bar is broken[/red]: see the breaches in security.html")
        raise typer.Exit(1)


@report_app.command("usage")
@clean_errors
def usage(
    weeks: Annotated[
        int, typer.Option("--weeks", help="ISO weeks, ending with this one.")
    ] = DEFAULT_WEEKS,
    log_dir: LogDir = None,
) -> None:
    """Weekly active users out of the users allowlist (bar: 70%), sessions, peak concurrency.

    Also writes usage.json and usage.html into the admin folder (served under /api/dev/).

    Example: fmw report usage --weeks 8
    """
    settings = load_settings()
    doc, written = run_usage(settings, weeks=weeks, log_dir=log_dir)
    table = Table("week", "active", "of", "share", "sessions", "peak at once", "not seen")
    for w in doc["weeks"]:
        share = "n/a" if w["ratio"] is None else f"{w['ratio']:.0%}"
        if not w["partial"] and w["met"] is not None:
            share = _bar(share, w["met"])
        table.add_row(
            w["week"] + (" (so far)" if w["partial"] else ""),
            str(w["active_users"]),
            str(w["team_size"]),
            share,
            str(w["sessions"]),
            str(w["peak_concurrent_sessions"]),
            escape(", ".join(w["inactive"])),
        )
    console.print(f"usage: weekly active users out of {doc['team_size']} (bar: {doc['bar']:.0%})")
    console.print(table)
    if not doc["team_size"]:
        err.print("[yellow]warning:[/yellow] [edge.users] is empty: there is no team to count")
    _print_read(doc, written)


def _bar(value: object, met: bool) -> str:
    colour = "green" if met else "red"
    return f"[{colour}]{value}[/{colour}]"
