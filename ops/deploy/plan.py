"""What a deploy will do: its steps, in order, each with the exact commands it runs.

``DeployPlan`` turns the options, the release and the deploy root's state into
steps; ``deploy --dry-run`` prints them and ``fmw.deploy.step`` runs the very same
objects, so the preview is what happens. A step is commands (each the exact
argv and the environment variables it adds) and/or actions the deploy does
itself (unpacking, process control, HTTP health checks, pointer writes), in
words. Everything from the ``services`` step on is undone by the rollback
steps when it fails (the database migration is not: migrations are
forward-only, see docs/deploy.md, "The database is not rolled back").

This module is pure: it must never run anything, read or write a file, or
import anything beyond the standard library.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fmw.deploy.release import Current, Layout, Release

ServiceBackend = Literal["auto", "process"]
SWITCH_STEP = "services"  # from this step on, a failure rolls back to the previous release
PYTHON_OVERRIDE = "FMW_SERVICE__PYTHON"  # `fmw service install` then points services at it
DEFAULT_HEALTH_TIMEOUT = 120.0
DEFAULT_KEEP_RELEASES = 3
HEALTH_PATH = "/_stcore/health"


@dataclass(frozen=True)
class DeployOptions:
    """What the admin asked for (deploy.bat's arguments)."""

    release: Path
    root: Path
    wheelhouse: Path | None = None
    services: ServiceBackend = "auto"
    only: tuple[str, ...] = ()
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    nginx_url: str | None = None
    backup: bool = True
    restore_db_on_rollback: bool = False
    keep_releases: int = DEFAULT_KEEP_RELEASES
    force: bool = False
    dry_run: bool = False
    python: Path = field(default_factory=lambda: Path(sys.executable))


@dataclass(frozen=True)
class Command:
    """One program run: its exact argv and the environment variables the deploy adds."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    def shown(self, windows: bool) -> str:
        """As an admin would type it (cmd.exe on Windows, a POSIX shell elsewhere)."""
        if windows:
            line = subprocess.list2cmdline(self.argv)
            return "\n".join([*(f'set "{k}={v}"' for k, v in self.env), line])
        words = [f"{k}={shlex.quote(v)}" for k, v in self.env]
        return " ".join([*words, shlex.join(self.argv)])


@dataclass(frozen=True)
class Step:
    """One logged step: commands to run and/or what the deploy does itself."""

    key: str
    title: str
    commands: tuple[Command, ...] = ()
    actions: tuple[str, ...] = ()
    skipped: str | None = None  # why this step does nothing this time

    def lines(self, windows: bool) -> list[str]:
        """The step as dry-run and the log print it."""
        if self.skipped:
            return [f"skipped: {self.skipped}"]
        out = list(self.actions)
        for command in self.commands:
            out += command.shown(windows).splitlines()
        return out


@dataclass(frozen=True)
class DeployPlan:
    """Every step of deploying ``release`` into ``layout`` as the new folder ``release_id``."""

    options: DeployOptions
    release: Release
    layout: Layout
    release_id: str
    current: Current | None

    @property
    def windows(self) -> bool:
        return self.layout.windows

    @property
    def release_dir(self) -> Path:
        return self.layout.release_dir(self.release_id)

    @property
    def python(self) -> Path:
        return self.layout.python(self.release_id)

    @property
    def previous(self) -> str | None:
        """The release a rollback returns to: the active one before this deploy."""
        return self.current.release if self.current else None

    @property
    def already_active(self) -> bool:
        """The same wheel is active and no deploy was cut off: only the health is re-checked."""
        current = self.current
        return (
            not self.options.force
            and current is not None
            and current.release is not None
            and current.pending is None
            and current.wheel_sha256 == self.release.wheel_sha256
        )

    def fmw(self, python: Path, *args: str) -> Command:
        return Command((str(python), "-m", "fmw", *args))

    def only_args(self) -> tuple[str, ...]:
        return tuple(word for name in self.options.only for word in ("--only", name))

    # -- the deploy ---------------------------------------------------------------------

    def steps(self) -> list[Step]:
        """The steps of this deploy, in order (only the health check when already active)."""
        if self.already_active:
            assert self.current is not None and self.current.release is not None
            return [
                self.describe_step(self.current.release),
                self.health_step(
                    f"release {self.current.release} (the same wheel) is already active: "
                    "only its health is checked"
                ),
            ]
        opts, python, folder = self.options, self.python, self.release_dir
        wheelhouse = folder / "wheelhouse"
        previous = self.previous or "none (first deploy)"
        return [
            Step(
                "unpack",
                "unpack the release into a new release folder",
                actions=(
                    f"{'extract' if self.release.kind == 'zip' else 'copy'} {self.release.source}"
                    f" into {folder}.partial",
                    f"check every wheel against its SHA-256 in release.json, then rename it to "
                    f"{folder}",
                ),
            ),
            Step(
                "venv",
                "build the release's venv",
                commands=(Command((str(opts.python), "-m", "venv", str(folder / ".venv"))),),
            ),
            Step(
                "install",
                "install from the release's wheelhouse only (no index)",
                actions=(
                    "pip runs with PIP_CONFIG_FILE="
                    + _devnull(self.windows)
                    + " and no PIP_* variables: nothing but the wheelhouse is used",
                ),
                commands=(
                    Command(
                        (
                            str(python),
                            "-m",
                            "pip",
                            "install",
                            "--no-index",
                            "--find-links",
                            str(wheelhouse),
                            "--only-binary=:all:",
                            "--require-hashes",
                            "-r",
                            str(folder / "requirements.txt"),
                        )
                    ),
                ),
            ),
            self.describe_step(self.release_id),
            Step(
                "backup",
                "back up the database",
                commands=(self.fmw(python, "backup"),),
                skipped=None if opts.backup else "--no-backup (no backup before the migration)",
            ),
            Step(
                "migrate",
                "apply database migrations",
                commands=(self.fmw(python, "db", "upgrade"),),
            ),
            *self.switch_steps(self.release_id, previous_note=previous),
            self.health_step(),
            Step(
                "activate",
                "record the new release as current",
                actions=(
                    f"replace {self.layout.current_file} atomically: release {self.release_id}, "
                    f"previous {previous}",
                ),
            ),
            Step(
                "prune",
                "delete old release folders",
                actions=(
                    f"keep the newest {opts.keep_releases} release folders (never the current or "
                    "previous one); delete leftover .partial folders",
                ),
            ),
        ]

    def describe_step(self, release_id: str) -> Step:
        python = self.layout.python(release_id)
        return Step(
            "describe",
            "read the services and health checks from the release",
            commands=(
                self.fmw(python, "deploy", "describe", "--python", str(python), *self.only_args()),
            ),
        )

    def switch_steps(self, release_id: str, *, previous_note: str | None = None) -> list[Step]:
        """Point the services at ``release_id``'s venv, then restart them."""
        python = self.layout.python(release_id)
        only = self.only_args()
        if self.options.services == "process":
            grace = "the services' stop_grace_seconds"
            return [
                Step(
                    "services",
                    f"point the services at {release_id}",
                    actions=(
                        "process backend: nothing to register; the restart runs the command lines "
                        f"`fmw deploy describe` gave for {python}",
                    ),
                ),
                Step(
                    "restart",
                    "restart the services",
                    actions=(
                        f"stop the processes recorded in {self.layout.processes_file} "
                        f"(SIGINT to each process group, SIGKILL after {grace})",
                        f"start each described service as a background process of {python}, "
                        "recorded there",
                    ),
                ),
            ]
        note = f" (the previous release, {previous_note}, keeps running until the restart)"
        return [
            Step(
                "services",
                f"point the services at {release_id}" + (note if previous_note else ""),
                commands=(
                    Command(
                        (str(python), "-m", "fmw", "service", "install", *only),
                        env=((PYTHON_OVERRIDE, str(python)),),
                    ),
                ),
            ),
            Step(
                "restart",
                "restart the services",
                commands=(
                    self.fmw(python, "service", "stop", *only),
                    self.fmw(python, "service", "start", *only),
                ),
            ),
        ]

    def health_step(self, note: str | None = None) -> Step:
        timeout = f"{self.options.health_timeout:g}"
        nginx = (
            f"GET {self.options.nginx_url} through nginx, until it answers ok (at most {timeout} s)"
            if self.options.nginx_url
            else "then through nginx, when it is configured (--nginx-url URL)"
        )
        return Step(
            "health",
            "check the dashboards' health",
            actions=(
                *([note] if note else []),
                f"GET http://127.0.0.1:<port>{HEALTH_PATH} of every dashboard that "
                f"`fmw deploy describe` lists, until each answers ok (at most {timeout} s)",
                nginx,
            ),
        )

    # -- the rollback -------------------------------------------------------------------

    def rollback_steps(
        self,
        backup: str = "<the backup this deploy made>",
        database: str = "<the live database>",
    ) -> list[Step]:
        """What a failure from the ``services`` step on does: back to the previous release."""
        previous = self.previous
        if previous is None:
            return []
        python = self.layout.python(previous)
        steps = [self.describe_step(previous)]
        if self.options.restore_db_on_rollback:
            if self.options.services == "process":
                stop = Step(
                    "stop",
                    "stop the services before the restore",
                    actions=(f"stop the processes recorded in {self.layout.processes_file}",),
                )
            else:
                stop = Step(
                    "stop",
                    "stop the services before the restore",
                    commands=(self.fmw(python, "service", "stop", *self.only_args()),),
                )
            restore = Step(
                "restore",
                "restore the pre-deploy backup (--restore-db-on-rollback)",
                commands=(self.fmw(python, "restore", backup, "--into", database, "--replace"),),
                skipped=None if self.options.backup else "--no-backup: there is no backup",
            )
            steps += [stop, restore]
        steps += self.switch_steps(previous)
        steps.append(self.health_step())
        steps.append(
            Step(
                "record",
                "record the rollback",
                actions=(
                    f"{self.layout.current_file} names {previous} again; {self.release_id} is "
                    "marked failed (the migration stays applied unless the restore ran)",
                ),
            )
        )
        return steps


def _devnull(windows: bool) -> str:
    return "nul" if windows else "/dev/null"


def render(plan: DeployPlan) -> list[str]:
    """The whole plan as dry-run prints it: every step and command, then the rollback."""
    opts, release = plan.options, plan.release
    lines = [
        f"deploy {release.short}",
        f"  from {release.source}",
        f"  into {plan.layout.root} (release folder {plan.release_dir})",
        f"  services: {opts.services}" + (f", only {', '.join(opts.only)}" if opts.only else ""),
        f"  active now: {plan.previous or 'none'}"
        + (
            f" (a deploy of {plan.current.pending} was cut off)"
            if plan.current and plan.current.pending
            else ""
        ),
    ]
    steps = plan.steps()
    for number, step in enumerate(steps, start=1):
        lines.append(f"{number}. {step.key}: {step.title}")
        lines += [f"     {line}" for line in step.lines(plan.windows)]
    if plan.already_active:
        return lines
    rollback = plan.rollback_steps()
    lines.append(f"if a step from '{SWITCH_STEP}' on fails, roll back:")
    if not rollback:
        lines.append(
            "     nothing to roll back to (first deploy): the services stay on this release"
        )
    for number, step in enumerate(rollback, start=1):
        lines.append(f"R{number}. {step.key}: {step.title}")
        lines += [f"     {line}" for line in step.lines(plan.windows)]
    return lines
