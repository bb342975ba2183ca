"""Carry out a ServicePlan: run its nssm/systemctl steps, write or remove unit files, read states.

``check_ready`` refuses, before anything changes, what would fail half-way (no
nssm, a missing python.exe, an unset password variable, an unwritable unit
folder). ``carry_out`` then runs the steps ``fmw.services.model`` built, in order,
evaluating their conditions against the last status probe (``nssm status``
exit code 3 means "not installed", so install runs ``nssm install`` only then
and ``nssm set`` always). Every command must succeed; a failure raises
ServiceCommandError naming the command (secrets as ``%VARIABLE%``) and its
output. Commands run without a shell, through a ``Runner`` (tests pass a fake
one: NSSM exists only on Windows).

This module never builds a command itself (``fmw.services.nssm`` and ``.systemd`` do), never
prints (it reports through ``progress``) and never reinstalls a service that
exists: an update is ``nssm set`` in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fmw.errors import ServiceCommandError, ServiceError
from fmw.services.model import (
    NSSM_MISSING_EXIT,
    NSSM_RUNNING,
    NSSM_STOPPED,
    Action,
    Secret,
    ServicePlan,
    Step,
    When,
)
from fmw.services.nssm import decode_nssm_output, needs_password, nssm_steps
from fmw.services.systemd import systemd_steps

COMMAND_TIMEOUT = 120.0  # seconds; a start or stop also gets the stop grace period
SYSTEMD_RUNNING = Path("/run/systemd/system")  # exists exactly when systemd is PID 1 (sd_booted)


@dataclass(frozen=True)
class CommandResult:
    """What a command returned: its exit code and its stdout+stderr as text."""

    returncode: int
    output: str


Runner = Callable[[Sequence[str], float], CommandResult]


@dataclass(frozen=True)
class ServiceState:
    """A service as its manager reports it."""

    name: str
    installed: bool
    running: bool
    detail: str  # e.g. SERVICE_RUNNING, "active (running)", "not installed"


def run_command(argv: Sequence[str], timeout: float) -> CommandResult:
    """Run one command without a shell; a missing program or a timeout is a failed result."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        )
    except FileNotFoundError:
        return CommandResult(127, f"{argv[0]}: program not found")
    except subprocess.TimeoutExpired:
        return CommandResult(124, f"no answer within {timeout:.0f} s")
    return CommandResult(done.returncode, decode_nssm_output(done.stdout + done.stderr))


def check_ready(
    plan: ServicePlan,
    action: Action,
    *,
    unit_dir: Path,
    systemctl: bool = True,
    environ: Mapping[str, str] = os.environ,
    which: Callable[[str], str | None] = shutil.which,
) -> None:
    """Refuse, before anything changes, an action that cannot complete here."""
    if action == "install" and needs_password(plan) and not environ.get(plan.password_env):
        raise ServiceError(
            f"service.account '{plan.account}' needs its password in the environment "
            f"variable {plan.password_env} (set it for this command only; it is never stored)"
        )
    if plan.platform == "windows":
        if which(plan.nssm) is None:
            raise ServiceError(
                f"nssm not found (service.nssm = '{plan.nssm}'): install NSSM 2.24-101 or "
                "later and put nssm.exe on PATH, or set service.nssm to its full path"
            )
    else:
        if not systemctl and action not in ("install", "uninstall"):
            raise ServiceError(f"--no-systemctl: `fmw service {action}` needs systemctl")
        if systemctl and (which("systemctl") is None or not SYSTEMD_RUNNING.is_dir()):
            raise ServiceError(
                "systemd is not running on this machine "
                "(--no-systemctl writes or removes the unit files only)"
            )
        if action in ("install", "uninstall") and not os.access(unit_dir, os.W_OK):
            raise ServiceError(
                f"{unit_dir}: cannot write unit files here (run as root, or choose --unit-dir)"
            )
    if action != "install":
        return
    for spec in plan.services:
        setting = "service.nginx.executable" if spec.key == "nginx" else "service.python"
        if not Path(spec.executable).is_file():
            raise ServiceError(f"{spec.name}: {spec.executable} does not exist (see {setting})")
        if not Path(spec.working_dir).is_dir():
            raise ServiceError(f"{spec.name}: working folder {spec.working_dir} does not exist")
    if plan.environment_file is not None and not Path(plan.environment_file).is_file():
        raise ServiceError(f"service.environment_file: {plan.environment_file} does not exist")
    try:
        Path(plan.log_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceError(f"service.log_dir: cannot create {plan.log_dir}: {exc}") from exc


def carry_out(
    plan: ServicePlan,
    action: Action,
    *,
    runner: Runner = run_command,
    unit_dir: Path,
    systemctl: bool = True,
    environ: Mapping[str, str] = os.environ,
    progress: Callable[[str], None] = lambda line: None,
) -> list[ServiceState]:
    """Run ``action``'s steps; return the states the status probes found (before the action)."""
    if plan.platform == "windows":
        return _carry_out_nssm(plan, action, runner, environ, progress)
    return _carry_out_systemd(plan, action, runner, unit_dir, systemctl, progress)


def service_states(plan: ServicePlan, *, runner: Runner = run_command) -> list[ServiceState]:
    """Each service's state, read-only (what `fmw service status` and `fmw doctor` show)."""
    return carry_out(plan, "status", runner=runner, unit_dir=Path("/nonexistent"))


# --- Windows ---------------------------------------------------------------------------


def _carry_out_nssm(
    plan: ServicePlan,
    action: Action,
    runner: Runner,
    environ: Mapping[str, str],
    progress: Callable[[str], None],
) -> list[ServiceState]:
    steps = nssm_steps(plan, action)
    # Status probes first: they change nothing, and every condition is known (and every
    # "not installed" refusal made) before the first command that changes something.
    found: dict[str, str | None] = {}  # service name -> NSSM state, None when not installed
    for step in (s for s in steps if s.probe):
        result = runner(_argv(step, environ), COMMAND_TIMEOUT)
        if result.returncode == NSSM_MISSING_EXIT:
            found[step.service or ""] = None
        elif result.returncode == 0:
            found[step.service or ""] = _nssm_state(result.output)
        else:
            raise ServiceCommandError(step.shown("windows"), result.returncode, result.output)
    states = [
        ServiceState(name, state is not None, state == NSSM_RUNNING, state or "not installed")
        for name, state in found.items()
    ]
    decided = [(step, _applies(step, found)) for step in steps if not step.probe]
    for step, applies in decided:
        shown = step.shown("windows")
        name = step.service or ""
        if not applies:
            progress(f"{name} is {found.get(name) or 'not installed'}: skipped {shown}")
            continue
        progress(shown)
        timeout = COMMAND_TIMEOUT + (plan.stop_grace_seconds if action in ("start", "stop") else 0)
        result = runner(_argv(step, environ), timeout)
        if result.returncode != 0:
            raise ServiceCommandError(shown, result.returncode, result.output)
    return states


def _nssm_state(output: str) -> str:
    """The SERVICE_* word in `nssm status` output (the last non-empty line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown"


def _applies(step: Step, found: Mapping[str, str | None]) -> bool:
    current = found.get(step.service or "")
    if step.when is When.ALWAYS:
        return True
    if step.when is When.MISSING:
        return current is None
    if step.when is When.INSTALLED:
        return current is not None
    if step.when is When.STOPPED:
        if current is None:
            raise ServiceError(f"{step.service} is not installed: run `fmw service install` first")
        return current == NSSM_STOPPED
    return current is not None and current != NSSM_STOPPED  # When.NOT_STOPPED


def _argv(step: Step, environ: Mapping[str, str]) -> list[str]:
    words: list[str] = []
    for arg in step.argv:
        if isinstance(arg, Secret):
            value = environ.get(arg.env)
            if not value:
                raise ServiceError(f"the environment variable {arg.env} is not set")
            words.append(value)
        else:
            words.append(arg)
    return words


# --- Linux -----------------------------------------------------------------------------


def _carry_out_systemd(
    plan: ServicePlan,
    action: Action,
    runner: Runner,
    unit_dir: Path,
    systemctl: bool,
    progress: Callable[[str], None],
) -> list[ServiceState]:
    if action == "uninstall":
        present = [s for s in plan.services if (unit_dir / s.unit).exists()]
        if not present:
            progress("no FMW unit files to remove")
            return []
        plan = replace(plan, services=tuple(present))
    steps = systemd_steps(plan, action, unit_dir)
    if action == "install":
        steps = [step for step in steps if not _unit_is_current(step)]
        if not any(step.write for step in steps):
            progress("unit files are already current")
    states: list[ServiceState] = []
    for step in steps:
        if step.write is not None:
            path, content = step.write
            progress(f"writing {path}")
            _write_atomically(Path(path), content)
            continue
        if step.remove is not None:
            progress(f"removing {step.remove}")
            Path(step.remove).unlink(missing_ok=True)
            continue
        if not systemctl:
            continue
        shown = step.shown("linux")
        if not step.probe:
            progress(shown)
        timeout = COMMAND_TIMEOUT + plan.stop_grace_seconds
        result = runner([str(arg) for arg in step.argv], timeout)
        if result.returncode != 0:
            raise ServiceCommandError(shown, result.returncode, result.output)
        if step.probe:
            states.append(_systemd_state(step.service or "", result.output))
    return states


def _unit_is_current(step: Step) -> bool:
    if step.write is None:
        return False
    path, content = step.write
    try:
        return Path(path).read_text(encoding="utf-8") == content
    except OSError:
        return False


def _write_atomically(path: Path, content: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(content, encoding="utf-8")
        partial.chmod(0o644)
        partial.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise ServiceError(f"{path}: cannot write the unit file: {exc}") from exc


def _systemd_state(unit: str, output: str) -> ServiceState:
    props = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    load, active, sub = (props.get(k, "") for k in ("LoadState", "ActiveState", "SubState"))
    if load in ("", "not-found"):
        return ServiceState(unit, False, False, "not installed")
    return ServiceState(unit, True, active == "active", f"{active} ({sub})")
