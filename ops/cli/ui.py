"""``fmw ui``: serve the dashboard on this machine (127.0.0.1 only) until Ctrl-C or a stop
signal (SIGTERM, Ctrl-Break: ``fmw.services.dashboard.serve`` stops the server too).

It parses arguments and prints; how the dashboard is launched lives in
``fmw.services.dashboard``. It must never import Streamlit itself nor open the database.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fmw.cli.support import clean_errors, console
from fmw.services import dashboard
from fmw.settings import Settings, load_settings
from fmw.snapshot.generations import current_pointer


def announce(settings: Settings, port: int, base_url_path: str) -> None:
    """Print where the dashboard will answer and what it shows."""
    console.print(
        f"FMW dashboard: [bold]{dashboard.url(port, base_url_path)}[/bold] (Ctrl-C stops it)"
    )
    if current_pointer(settings.snapshot_path) is None:
        console.print(
            f"[yellow]no snapshot yet in {settings.snapshot_path}[/yellow]: "
            "run `fmw demo` or `fmw sync`; the dashboard shows it on the next click"
        )


@clean_errors
def ui(
    port: Annotated[
        int, typer.Option("--port", help="Port on 127.0.0.1.")
    ] = dashboard.DEFAULT_PORT,
    base_url_path: Annotated[
        str,
        typer.Option("--base-url-path", help="URL path prefix, e.g. fmw (behind nginx)."),
    ] = "",
) -> None:
    """Serve the dashboard on 127.0.0.1 (headless) until Ctrl-C; it reads snapshot files only.

    Example: fmw ui --port 8501
    """
    settings = load_settings()
    path = dashboard.checked_base_url_path(base_url_path)
    dashboard.checked_port(port)
    dashboard.ensure_port_free(port)
    announce(settings, port, path)
    code = dashboard.serve(settings, port, path)
    if not dashboard.stopped(code):  # e.g. -2: the dashboard itself got Ctrl-C
        raise typer.Exit(code)


def after_demo(settings: Settings, *, serve: bool, port: int = dashboard.DEFAULT_PORT) -> None:
    """``fmw demo``'s last step: serve the dashboard (``--serve``) or say how to."""
    if not serve:
        console.print(
            f"\nnext: [bold]fmw ui[/bold] serves the dashboard on {dashboard.url(port)} "
            "(or run [bold]fmw demo --serve[/bold]); [bold]fmw web --local-admin NAME[/bold] "
            f"the admin console and APIs on http://127.0.0.1:{settings.web.port}/api/dev/console/"
        )
        return
    dashboard.ensure_port_free(port)
    announce(settings, port, "")
    code = dashboard.serve(settings, port, "")
    if not dashboard.stopped(code):
        raise typer.Exit(code)
