"""``fmw nginx render``: write the edge's nginx site from the settings, tested by ``nginx -t``.

Parses options and prints what was written. What the site says is
``fmw.edge.config``; writing and testing it is ``fmw.edge.install``. This module must
never build configuration text itself nor start or reload nginx.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from fmw.cli.support import clean_errors, console, err, note
from fmw.edge.config import edge_plan, nginx_executable, render_files
from fmw.edge.install import install
from fmw.errors import EdgeError
from fmw.settings import load_settings

nginx_app = typer.Typer(
    help="The edge: nginx in front of the dashboard (allowlists, /api/dev).", no_args_is_help=True
)


@nginx_app.command("render")
@clean_errors
def render(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the files that would be written; write none.")
    ] = False,
    test: Annotated[
        bool | None,
        typer.Option(
            "--test/--no-test",
            help="Check with `nginx -t` before anything goes live (default: when nginx is "
            "found; --test: fail without it).",
        ),
    ] = None,
) -> None:
    """Render the nginx site (allowlists, dashboard upstream, /api/dev) into nginx's prefix.

    The files go live only after `nginx -t` accepts them; restart the nginx
    service to apply them.

    Example: fmw nginx render --dry-run
    """
    settings = load_settings()
    plan = edge_plan(settings)
    if dry_run:
        for relative, text in render_files(plan).items():
            console.print(f"# ===== {plan.conf_dir / relative} =====", markup=False)
            console.print(text, markup=False, end="")
        return
    nginx = nginx_executable(settings) if test is not False else None
    if test and nginx is None:
        raise EdgeError(
            "--test: no nginx found (service.nginx.executable, PREFIX/nginx.exe on Windows, "
            "/usr/sbin/nginx or nginx on PATH)"
        )
    result = install(plan, nginx=nginx, progress=note)
    for path in result.written:
        console.print(f"wrote {escape(str(path))}")
    if result.unchanged:
        note(f"{len(result.unchanged)} files unchanged")
    if result.backup:
        note(f"the previous main file is kept as {result.backup}")
    if result.tested_with:
        console.print(f"[green]nginx -t accepted it[/green] ({escape(str(result.tested_with))})")
    else:
        err.print("[yellow]not tested[/yellow]: no nginx here to run `nginx -t` with")
    admins = len({e.name for e in plan.admins})
    local = settings.edge.local_name.strip()
    console.print(
        f"{len(plan.team)} users and {admins} admins let in"
        + (f" (and this server as {local!r})" if local else "")
        + "; dashboard upstream "
        f"{', '.join(f'127.0.0.1:{p}' for p in plan.dashboard_ports)}; admin folder "
        f"{escape(str(plan.admin_dir))}; logs in {escape(str(plan.logs_path))}"
    )
    if not plan.team and not plan.admins:
        err.print(
            "[yellow]warning:[/yellow] [edge.users] and [edge.admins] are empty: every "
            "address but this server's own gets 403"
        )
    if result.written:
        console.print(
            "next: restart nginx to apply it (`fmw service stop --only nginx`, then "
            "`fmw service start --only nginx`)"
        )
