"""``fmw service …``: the dashboard, scheduler and nginx as NSSM (Windows) or systemd services.

Parses options, prints the exact commands (``--dry-run``) or progress, and
exits non-zero on failure. What the services are is ``fmw.services.model``; running
the commands is ``fmw.services.control``. This module must never build a
command line or touch a unit file itself.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, cast

import typer

from fmw.cli.support import clean_errors, console, err, note
from fmw.errors import ServiceCommandError, ServiceError
from fmw.services.control import ServiceState, carry_out, check_ready
from fmw.services.model import (
    DEFAULT_UNIT_DIR,
    Action,
    Platform,
    ServicePlan,
    describe_services,
    host_platform,
    ordered,
)
from fmw.services.nssm import nssm_steps
from fmw.services.systemd import systemd_steps
from fmw.settings import load_settings, settings_file

service_app = typer.Typer(
    help="The dashboard, scheduler and nginx as services (NSSM on Windows, systemd on Linux).",
    no_args_is_help=True,
)


class PlatformChoice(enum.StrEnum):
    auto = "auto"
    windows = "windows"
    linux = "linux"


DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the exact commands (and unit files); change nothing."),
]
PlatformOption = Annotated[
    PlatformChoice,
    typer.Option(
        "--platform",
        help="auto: this machine's; windows: NSSM commands; linux: systemd units. "
        "Another machine's platform needs --dry-run.",
    ),
]
Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help="Only this service: scheduler, dashboard, web, nginx or a service name (repeatable).",
    ),
]
UnitDir = Annotated[Path, typer.Option("--unit-dir", help="Linux: the folder for the unit files.")]
NoSystemctl = Annotated[
    bool,
    typer.Option("--no-systemctl", help="Linux: write or remove unit files only; no systemctl."),
]


@service_app.command("install")
@clean_errors
def install(
    dry_run: DryRun = False,
    platform: PlatformOption = PlatformChoice.auto,
    only: Only = None,
    unit_dir: UnitDir = DEFAULT_UNIT_DIR,
    no_systemctl: NoSystemctl = False,
) -> None:
    """Register the services, or update them in place (never remove-and-reinstall).

    Example: fmw service install --dry-run --platform windows
    """
    plan, _ = _perform("install", platform, only, dry_run, unit_dir, no_systemctl)
    names = ", ".join(spec.name for spec in plan.services)
    console.print(f"[green]installed or updated[/green] {names}")
    note(
        "running services use the new settings after a restart: "
        "fmw service stop, then fmw service start"
    )


@service_app.command("uninstall")
@clean_errors
def uninstall(
    dry_run: DryRun = False,
    platform: PlatformOption = PlatformChoice.auto,
    only: Only = None,
    unit_dir: UnitDir = DEFAULT_UNIT_DIR,
    no_systemctl: NoSystemctl = False,
) -> None:
    """Stop and remove the services (logs and data stay).

    Example: fmw service uninstall --only nginx
    """
    plan, _ = _perform("uninstall", platform, only, dry_run, unit_dir, no_systemctl)
    console.print("[green]removed[/green] " + ", ".join(spec.name for spec in plan.services))


@service_app.command("start")
@clean_errors
def start(
    dry_run: DryRun = False,
    platform: PlatformOption = PlatformChoice.auto,
    only: Only = None,
) -> None:
    """Start the services: the scheduler, then the dashboards, then nginx.

    Example: fmw service start
    """
    plan, _ = _perform("start", platform, only, dry_run)
    console.print("[green]started[/green] " + ", ".join(s.name for s in ordered(plan, "start")))


@service_app.command("stop")
@clean_errors
def stop(
    dry_run: DryRun = False,
    platform: PlatformOption = PlatformChoice.auto,
    only: Only = None,
) -> None:
    """Stop the services (Ctrl-C / SIGINT first, so a running job can finish or roll back).

    Example: fmw service stop --only scheduler
    """
    plan, _ = _perform("stop", platform, only, dry_run)
    console.print("[green]stopped[/green] " + ", ".join(s.name for s in ordered(plan, "stop")))


@service_app.command("status")
@clean_errors
def status(
    dry_run: DryRun = False,
    platform: PlatformOption = PlatformChoice.auto,
    only: Only = None,
) -> None:
    """Show whether each service is installed and running; exit 1 unless all run.

    Example: fmw service status
    """
    _, states = _perform("status", platform, only, dry_run)
    for state in states:
        mark = "[green]✓[/green]" if state.running else "[red]✗[/red]"
        console.print(f"{mark} {state.name}: {state.detail}")
    if not all(state.running for state in states):
        raise typer.Exit(1)


def _perform(
    action: Action,
    platform: PlatformChoice,
    only: list[str] | None,
    dry_run: bool,
    unit_dir: Path = DEFAULT_UNIT_DIR,
    no_systemctl: bool = False,
) -> tuple[ServicePlan, list[ServiceState]]:
    """Plan ``action`` and carry it out: the plan and the states it left.

    With ``dry_run`` it prints the exact commands instead and ends the command (exit 0).
    """
    plan = _plan(platform, only, dry_run)
    if _dry_run(plan, action, dry_run, unit_dir, no_systemctl):
        raise typer.Exit()
    return plan, _carry_out(plan, action, unit_dir, no_systemctl)


def _plan(platform: PlatformChoice, only: list[str] | None, dry_run: bool) -> ServicePlan:
    host = host_platform()
    target = host if platform is PlatformChoice.auto else cast(Platform, platform.value)
    if target != host and not dry_run:
        raise ServiceError(
            f"--platform {target}: this machine's services are {host}'s; "
            f"add --dry-run to print the {target} commands"
        )
    settings = load_settings()
    return describe_services(settings, target, settings_path=settings_file()).select(only or [])


def _dry_run(
    plan: ServicePlan, action: Action, dry_run: bool, unit_dir: Path, no_systemctl: bool
) -> bool:
    """Print the exact commands when ``dry_run``; True when it did (and nothing else may run)."""
    if not dry_run:
        return False
    if plan.platform == "windows":
        current = None
        for step in nssm_steps(plan, action):
            if step.service != current:
                current = step.service
                console.print(f"rem --- {current} ---", markup=False)
            if (condition := step.condition_note()) is not None:
                console.print(condition, markup=False)
            console.print(step.shown("windows"), markup=False)
    else:
        for step in systemd_steps(plan, action, unit_dir):
            if no_systemctl and step.argv:
                continue
            console.print(step.shown("linux"), markup=False)
    err.print("[dim]dry run: nothing was changed[/dim]")
    return True


def _carry_out(
    plan: ServicePlan, action: Action, unit_dir: Path, no_systemctl: bool
) -> list[ServiceState]:
    check_ready(plan, action, unit_dir=unit_dir, systemctl=not no_systemctl)
    try:
        return carry_out(plan, action, unit_dir=unit_dir, systemctl=not no_systemctl, progress=note)
    except ServiceCommandError as exc:
        if action != "install":
            raise
        raise ServiceError(
            f"{exc}; fix the cause and run `fmw service install` again (it updates in place)"
        ) from exc
