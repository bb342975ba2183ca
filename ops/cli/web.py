"""``fmw web``: serve the admin console and APIs (``/api/dev/``, ``/api/v1/``) on 127.0.0.1
with waitress until Ctrl-C or a stop signal (what the FMW-Web service runs).

It parses arguments and prints; the app is ``fmw.web`` (its ``__main__`` starts
waitress). It must never open the database itself: the read API answers from
snapshot files while PostgreSQL is down.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fmw.cli.support import clean_errors, console
from fmw.services.dashboard import checked_port, ensure_port_free
from fmw.settings import load_settings
from fmw.snapshot.generations import current_pointer


@clean_errors
def web(
    port: Annotated[
        int | None, typer.Option("--port", help="Port on 127.0.0.1; default [web] port.")
    ] = None,
    local_admin: Annotated[
        str,
        typer.Option(
            "--local-admin",
            help="Name requests that come straight to the port (no nginx in front) as this "
            "admin: for a console opened on the server itself.",
        ),
    ] = "",
) -> None:
    """Serve the admin console (/api/dev/console/), the admin API (/api/dev/api/) and the read
    API (/api/v1/) on 127.0.0.1 until Ctrl-C. nginx in front names the admin.

    Example: fmw web --port 8510
    """
    settings = load_settings()
    chosen = checked_port(port or settings.web.port)
    ensure_port_free(chosen)
    if current_pointer(settings.snapshot_path) is None:
        console.print(
            f"[yellow]no snapshot yet in {settings.snapshot_path}[/yellow]: /api/v1 answers 503 "
            "until `fmw sync` or `fmw demo` exports one"
        )
    from fmw.web.__main__ import main  # Django is loaded only by this command

    main(["--port", str(chosen), "--local-admin", local_admin])
