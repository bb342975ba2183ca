"""``fmw deploy …``: the offline bundle, a release's services, the active release.

The deploy itself is ``deploy.bat`` / ``python -m fmw.deploy`` (standard
library only, it runs before any venv exists); ``fmw deploy describe`` is how
that deploy learns, from the release it installed, which services to run and
which health URLs to check. This module parses options and prints; building
the bundle is ``fmw.deploy.bundle``'s job, the release folders ``fmw.deploy.release``'s.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from psycopg.conninfo import conninfo_to_dict
from rich.markup import escape

from fmw.cli.support import clean_errors, console, err, note
from fmw.database import EMBEDDED_DATABASE, URL_ENV
from fmw.deploy.bundle import DEFAULT_LOCK, Target, build_bundle, bundle_commands
from fmw.deploy.plan import HEALTH_PATH
from fmw.deploy.release import Layout, read_current, read_state, release_ids
from fmw.edge.config import nginx_health_url
from fmw.services import dashboard
from fmw.services.model import ServicePlan, describe_services, web_health_url
from fmw.settings import Settings, load_settings, settings_file

deploy_app = typer.Typer(
    help="Releases: the offline bundle, what a release runs, which release is active. "
    "The deploy itself: deploy.bat (python -m fmw.deploy).",
    no_args_is_help=True,
)


def database_name(settings: Settings) -> str | None:
    """The live database's name (the embedded server's is fmw)."""
    url = os.environ.get(URL_ENV) or settings.database_url
    if not url:
        return EMBEDDED_DATABASE
    params = conninfo_to_dict(url)
    name = params.get("dbname") or params.get("user")
    return None if name is None else str(name)


def description(settings: Settings, plan: ServicePlan) -> dict[str, Any]:
    """What the deploy needs to run and check ``plan``'s services."""
    dashboards = []
    for spec in plan.services:
        if "--port" in spec.arguments and "ui" in spec.arguments:
            port = int(spec.arguments[spec.arguments.index("--port") + 1])
            dashboards.append(
                {
                    "service": spec.name,
                    "key": spec.key,
                    "url": dashboard.url(port).rstrip("/") + HEALTH_PATH,
                }
            )
        elif spec.key == "web":
            port = int(spec.arguments[spec.arguments.index("--port") + 1])
            dashboards.append({"service": spec.name, "key": spec.key, "url": web_health_url(port)})
    return {
        "platform": plan.platform,
        "services": [
            {
                "key": spec.key,
                "name": spec.name,
                "argv": [str(spec.executable), *spec.arguments],
                "working_dir": str(spec.working_dir),
                "environment": dict(spec.environment),
                "log_file": str(spec.log_file),
            }
            for spec in plan.services
        ],
        "dashboards": dashboards,
        "nginx_health_url": nginx_health_url(settings),
        "backup_dir": str(settings.backup_path),
        "database": database_name(settings),
        "stop_grace_seconds": plan.stop_grace_seconds,
    }


@deploy_app.command("describe")
@clean_errors
def describe(
    python: Annotated[
        Path | None,
        typer.Option("--python", help="The release venv's python the services will run."),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="Only this service: scheduler, dashboard, web, nginx (repeatable)."
        ),
    ] = None,
) -> None:
    """Print (JSON) the services a release runs and the health URLs a deploy checks.

    Example: fmw deploy describe --python releases/1.2.0-20261127T101500Z/.venv/bin/python
    """
    settings = load_settings()
    plan = describe_services(settings, settings_path=settings_file(), python=python)
    typer.echo(json.dumps(description(settings, plan.select(only or [])), indent=2))


@deploy_app.command("status")
@clean_errors
def status(
    root: Annotated[
        Path | None,
        typer.Option("--root", help="The install folder; default: the settings file's folder."),
    ] = None,
) -> None:
    """Show the active and previous release and all release folders; exit 1 if a deploy was cut off.

    Example: fmw deploy status --root C:\\fmw
    """
    layout = Layout((root or load_settings().base_dir).resolve())
    current = read_current(layout)
    if current is None or current.release is None:
        console.print(f"no release is active in {escape(str(layout.root))}")
    else:
        console.print(
            f"active: [bold]{current.release}[/bold] (fmw {current.version}, since "
            f"{current.activated_at}); rollback goes to {current.previous or 'nothing'}"
        )
    if current and current.last_failed:
        failed = current.last_failed
        console.print(
            f"[yellow]last failed:[/yellow] {failed.get('release')} at {failed.get('at')}: "
            f"{escape(str(failed.get('reason')))}"
        )
    for release_id in reversed(release_ids(layout)):
        state = read_state(layout.release_dir(release_id))
        console.print(f"  {release_id}: {state.get('state')} ({state.get('at')})")
    if current and current.pending:
        err.print(
            f"[red]a deploy of {current.pending} was cut off[/red]: the services may run it; "
            "deploy again (or deploy the active release with --force)"
        )
        raise typer.Exit(1)


@deploy_app.command("bundle")
@clean_errors
def bundle(
    source: Annotated[
        Path, typer.Option("--source", help="The fmw checkout to build from.")
    ] = Path(),
    lock: Annotated[
        Path | None,
        typer.Option("--lock", help=f"Hash-pinned lock; default SOURCE/{DEFAULT_LOCK.as_posix()}."),
    ] = None,
    no_lock: Annotated[
        bool,
        typer.Option("--no-lock", help="fmw's wheel only (its dependencies come from elsewhere)."),
    ] = False,
    out: Annotated[Path, typer.Option("--out", help="Where the zip is written.")] = Path("dist"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the pip commands; build nothing.")
    ] = False,
) -> None:
    """Build the offline bundle (our wheel + the locked win_amd64/CPython 3.11 wheels) as one zip.

    Example: fmw deploy bundle --source . --out dist
    """
    chosen = None if no_lock else (lock or source / DEFAULT_LOCK)
    if dry_run:
        for command in bundle_commands(source, out / "wheelhouse", chosen, Target()):
            console.print(" ".join(command), markup=False)
        err.print("[dim]dry run: nothing was built[/dim]")
        return
    result = build_bundle(source, out, lock=chosen, progress=note)
    console.print(
        f"[green]bundle[/green] {result.path} ({result.bytes:,} bytes): fmw {result.version}, "
        f"{result.wheels} wheels; copy it to the server and run deploy.bat inside it"
    )
    if chosen is None:
        note(
            "no lock: the bundle holds fmw's wheel only and installs only where its "
            "dependencies are already present"
        )
