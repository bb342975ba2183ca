"""``fmw demo``: sample sources for two days, loaded, exported and (``--serve``) served.

Parses options and prints; the demo itself is ``fmw.demo.run``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fmw.cli.data import print_sync
from fmw.cli.support import clean_errors, console, note
from fmw.cli.ui import after_demo
from fmw.settings import load_settings


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
    from fmw.demo.run import run_demo  # the sample generator is only needed here

    settings = load_settings()
    summary = run_demo(settings, rows_per_source=rows, progress=note)
    for report in summary.reports:
        print_sync(report)
    console.print(summary.text)
    after_demo(settings, serve=serve)
