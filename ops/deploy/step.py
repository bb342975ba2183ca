"""Deploy a release: new folder and venv, backup, migrations, services, health check, rollback.

Run by ``deploy.bat`` (``py -3.11 ops\\deploy …``: this package's ``__main__``) on
the server, where no venv exists yet, or as ``python -m fmw.deploy …``. Until
the new venv exists it uses the standard library only (``fmw.errors`` and this
package). Everything after that runs in the new venv as ``python -m fmw …``.

The steps (``fmw.deploy.plan``): unpack the release into a new folder
``releases/<version>-<UTC time>``, build its venv, install from its wheelhouse
only, read its service description, back up the database, ``fmw db upgrade``,
point the services at the new venv (``fmw service install`` updates NSSM or
systemd in place), restart them, and check each dashboard's
``/_stcore/health`` (and nginx's, when configured). Only then does
``releases/current.json`` name the new release. A failure from the services
step on rolls back: the services are pointed at the previous release,
restarted and checked again. Every step goes to ``releases/deploy.log`` and
the console, with timestamps. Deploying the release that is already active
only checks its health.

Exit codes: 0 deployed (or already active and healthy); 1 failed before the
services changed (nothing to undo); 2 failed and rolled back to the previous
release, which is healthy; 3 failed and needs attention (no previous release,
the rollback failed too, or --restore-db-on-rollback could not restore).

This module must never import anything beyond the standard library and
``fmw``'s standard-library modules; it never touches the database itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from fmw.deploy.plan import (
    DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_KEEP_RELEASES,
    SWITCH_STEP,
    Command,
    DeployOptions,
    DeployPlan,
    Step,
    render,
)
from fmw.deploy.processes import START_MARK, ProcessBackend, from_description
from fmw.deploy.release import (
    Current,
    Layout,
    State,
    check_compatible,
    new_release_id,
    now_text,
    prune,
    read_current,
    read_release,
    unpack,
    write_current,
    write_state,
)
from fmw.errors import DeployBusyError, DeployError

EXIT_OK, EXIT_FAILED, EXIT_ROLLED_BACK, EXIT_ATTENTION = 0, 1, 2, 3
HEALTH_POLL_SECONDS = 0.5
HEALTH_REQUEST_TIMEOUT = 3.0
LOG_TAIL_LINES = 8


# --- logging ----------------------------------------------------------------------------


class DeployLog:
    """Timestamped lines to the console and (unless a dry run) to releases/deploy.log."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.file: IO[str] | None = None
        self.step = "deploy"

    def open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a", encoding="utf-8", newline="\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def __call__(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            stamped = f"{now_text()} [{self.step}] {line}"
            print(stamped, file=self.stream, flush=True)
            if self.file is not None:
                self.file.write(stamped + "\n")
                self.file.flush()


# --- running commands -------------------------------------------------------------------


def child_environment(extra: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """The environment of every command: pip sees the wheelhouse only, output is UTF-8."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONUTF8="1",
        PYTHONIOENCODING="utf-8",
        COLUMNS="200",
    )
    env.update(dict(extra))
    return env


def run_command(command: Command, cwd: Path, log: DeployLog, windows: bool) -> str:
    """Run one command, its output streamed into the log; DeployError unless it exits 0."""
    shown = command.shown(windows).replace("\n", " && ")
    log(f"$ {shown}")
    output: list[str] = []
    try:
        process = subprocess.Popen(
            list(command.argv),
            cwd=cwd,
            env=child_environment(command.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as exc:
        raise DeployError(f"`{shown}` cannot start: {exc}") from exc
    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            output.append(line)
            log(f"  | {line}")
    if process.returncode != 0:
        raise DeployError(f"`{shown}` failed (exit code {process.returncode})")
    return "\n".join(output)


def capture_json(command: Command, cwd: Path, log: DeployLog, windows: bool) -> dict[str, Any]:
    """Run a command whose standard output is one JSON document (logged, not echoed)."""
    shown = command.shown(windows).replace("\n", " && ")
    log(f"$ {shown}")
    done = subprocess.run(
        list(command.argv),
        cwd=cwd,
        env=child_environment(command.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    errors = done.stderr.decode("utf-8", errors="replace").strip()
    if done.returncode != 0:
        raise DeployError(f"`{shown}` failed (exit code {done.returncode}): {errors}")
    try:
        doc = json.loads(done.stdout.decode("utf-8"))
    except ValueError as exc:
        raise DeployError(f"`{shown}` did not print JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DeployError(f"`{shown}` printed JSON that is not an object")
    return doc


# --- health -----------------------------------------------------------------------------


def probe(url: str) -> str | None:
    """None when ``url`` answers 200 "ok", else what went wrong (never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=HEALTH_REQUEST_TIMEOUT) as answer:
            body = answer.read(64).decode("utf-8", errors="replace").strip()
            if answer.status == 200 and body == "ok":
                return None
            return f"HTTP {answer.status}: {body!r}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason)


def wait_healthy(
    checks: Sequence[tuple[str, str, str | None]],
    timeout: float,
    log: DeployLog,
    exited: Callable[[str], int | None] | None = None,
    log_files: dict[str, str] | None = None,
) -> None:
    """Poll every (name, url, service key) until each answers ok; DeployError at the deadline.

    ``exited`` (the process backend) fails a check at once when its process has ended.
    """
    started = time.monotonic()
    waiting = list(checks)
    last: dict[str, str] = {}
    while waiting:
        for name, url, key in list(waiting):
            problem = probe(url)
            if problem is None:
                log(f"{name}: {url} answered ok after {time.monotonic() - started:.1f} s")
                waiting.remove((name, url, key))
                continue
            last[name] = problem
            code = exited(key) if exited and key else None
            if code is not None:
                tail = _tail(log_files.get(key, "") if log_files and key else "")
                raise DeployError(
                    f"{name} exited (code {code}) before {url} answered ok"
                    + (f"; {tail}" if tail else "")
                )
        if not waiting:
            break
        if time.monotonic() - started > timeout:
            name, url, _key = waiting[0]
            raise DeployError(
                f"{name}: {url} did not answer ok within {timeout:g} s (last: {last.get(name)})"
            )
        time.sleep(HEALTH_POLL_SECONDS)


def _tail(path: str) -> str:
    if not path:
        return ""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    starts = [i for i, line in enumerate(lines) if line.startswith(START_MARK)]
    since_start = lines[starts[-1] + 1 :] if starts else lines
    shown = [line.strip() for line in since_start if line.strip()][-LOG_TAIL_LINES:]
    return f"last lines of {path}: " + " / ".join(shown) if shown else ""


# --- the deploy -------------------------------------------------------------------------


@contextlib.contextmanager
def deploy_lock(layout: Layout) -> Iterator[None]:
    """One deploy per root at a time: an OS file lock, released even when the process dies."""
    layout.releases.mkdir(parents=True, exist_ok=True)
    handle = layout.lock_file.open("a+", encoding="utf-8")
    try:
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DeployBusyError(
                f"another deploy holds {layout.lock_file}; wait for it to finish"
            ) from None
        yield
    finally:
        handle.close()


class Deployer:
    """Runs a DeployPlan's steps, logging each; rolls back when a step from 'services' on fails."""

    def __init__(self, plan: DeployPlan, log: DeployLog) -> None:
        self.plan = plan
        self.log = log
        self.layout = plan.layout
        self.description: dict[str, Any] = {}
        self.backup_file: str | None = None
        self._processes: ProcessBackend | None = None
        self._rollback_target: str | None = None

    # -- helpers ------------------------------------------------------------------------

    @property
    def processes(self) -> ProcessBackend:
        if self._processes is None:
            self._processes = ProcessBackend(self.layout, self.log)
        return self._processes

    def run(self, command: Command) -> str:
        return run_command(command, self.layout.root, self.log, self.layout.windows)

    def _begin(self, step: Step, number: str) -> float:
        self.log.step = step.key
        self.log(f"=== {number} {step.title} ===")
        return time.monotonic()

    def _end(self, started: float) -> None:
        self.log(f"done ({time.monotonic() - started:.1f} s)")

    # -- the whole deploy ---------------------------------------------------------------

    def deploy(self) -> int:
        plan = self.plan
        self.log.step = "deploy"
        self.log(f"deploy {plan.release.short} from {plan.release.source}")
        self.log(f"root {self.layout.root}; active now: {plan.previous or 'none'}")
        if not (self.layout.root / "fmw.toml").is_file() and not os.environ.get("FMW_SETTINGS"):
            self.log(f"note: no fmw.toml in {self.layout.root}: every setting has its default")
        steps = plan.steps()
        switched = False
        for number, step in enumerate(steps, start=1):
            if step.key == SWITCH_STEP:
                switched = True
                self._mark_pending()
            started = self._begin(step, f"step {number}/{len(steps)}:")
            try:
                self.do(step)
            except (DeployError, KeyboardInterrupt) as exc:
                reason = str(exc) or "interrupted (Ctrl-C)"
                self.log(f"FAILED: {reason}")
                if plan.already_active:
                    self.log.step = "deploy"
                    self.log(
                        f"the active release {plan.previous} is not healthy: see `fmw service "
                        "status` and the service logs; --force deploys the release again"
                    )
                    return EXIT_FAILED
                if not switched:
                    self._mark_release("failed", f"{step.key}: {reason}")
                    self.log.step = "deploy"
                    self.log(
                        f"the services were not touched: {plan.previous or 'no release'} stays "
                        "active; fix the cause and deploy again"
                    )
                    return EXIT_FAILED
                return self.rollback(f"{step.key}: {reason}")
            self._end(started)
        self.log.step = "deploy"
        if plan.already_active:
            self.log(f"release {plan.previous} is active and healthy: nothing to do")
        else:
            self.log(f"deployed {plan.release_id}: active and healthy")
        return EXIT_OK

    def do(self, step: Step) -> None:
        if step.skipped:
            self.log(f"skipped: {step.skipped}")
            return
        for line in step.actions:
            self.log(line)
        handler = getattr(self, f"_step_{step.key}", None)
        if handler is not None:
            handler(step)
            return
        for command in step.commands:
            self.run(command)

    # -- individual steps ---------------------------------------------------------------

    def _step_unpack(self, step: Step) -> None:
        unpack(self.plan.release, self.plan.release_dir, self.log)
        write_state(self.plan.release_dir, "unpacked")

    def _step_install(self, step: Step) -> None:
        for command in step.commands:
            self.run(command)
        write_state(self.plan.release_dir, "installed")

    def _step_describe(self, step: Step) -> None:
        (command,) = step.commands
        self.description = capture_json(command, self.layout.root, self.log, self.layout.windows)
        names = ", ".join(s["name"] for s in self.description.get("services", []))
        self.log(f"services: {names or 'none'}")

    def _step_backup(self, step: Step) -> None:
        folder = Path(self.description.get("backup_dir") or self.layout.root)
        before = set(folder.glob("*.dump")) if folder.is_dir() else set()
        for command in step.commands:
            self.run(command)
        made = sorted(set(folder.glob("*.dump")) - before) if folder.is_dir() else []
        if made:
            self.backup_file = str(made[-1])
            self.log(f"pre-deploy backup: {self.backup_file}")
        else:
            self.log(f"note: no new backup file found in {folder}")

    def _step_restart(self, step: Step) -> None:
        if self.plan.options.services != "process":
            for command in step.commands:
                self.run(command)
            return
        services = from_description(self.description.get("services", []))
        grace = float(self.description.get("stop_grace_seconds", 30))
        self.processes.stop([s.key for s in services], grace)
        self.processes.start(services, self._serving_release())

    def _step_stop(self, step: Step) -> None:
        if self.plan.options.services != "process":
            for command in step.commands:
                self.run(command)
            return
        services = from_description(self.description.get("services", []))
        self.processes.stop(
            [s.key for s in services], float(self.description.get("stop_grace_seconds", 30))
        )

    def _step_health(self, step: Step) -> None:
        checks = [
            (item["service"], item["url"], item.get("key"))
            for item in self.description.get("dashboards", [])
        ]
        if not checks:
            self.log("no dashboard among the services: nothing to check directly")
        exited = None
        log_files: dict[str, str] = {}
        if self.plan.options.services == "process":
            exited = self.processes.exit_code
            log_files = {s["key"]: s["log_file"] for s in self.description.get("services", [])}
        wait_healthy(checks, self.plan.options.health_timeout, self.log, exited, log_files)
        nginx = self.plan.options.nginx_url or self.description.get("nginx_health_url")
        if nginx:
            wait_healthy([("nginx", nginx, None)], self.plan.options.health_timeout, self.log)
        else:
            self.log("through nginx: skipped (nginx not configured; --nginx-url URL checks it)")

    def _step_activate(self, step: Step) -> None:
        plan, current = self.plan, self.plan.current
        write_current(
            self.layout,
            Current(
                release=plan.release_id,
                version=plan.release.version,
                wheel_sha256=plan.release.wheel_sha256,
                previous=plan.previous,
                pending=None,
                activated_at=now_text(),
                last_failed=current.last_failed if current else None,
            ),
        )
        write_state(plan.release_dir, "active")
        self.log(f"{self.layout.current_file} names {plan.release_id}")

    def _step_prune(self, step: Step) -> None:
        protect = {self.plan.release_id} | ({self.plan.previous} if self.plan.previous else set())
        removed, failed = prune(self.layout, self.plan.options.keep_releases, protect)
        self.log(f"removed: {', '.join(removed) if removed else 'nothing'}")
        for problem in failed:
            self.log(f"warning: could not remove {problem} (delete it by hand later)")

    def _step_restore(self, step: Step) -> None:
        if self.backup_file is None:
            raise DeployError("this deploy found no backup of its own to restore")
        for command in step.commands:
            self.run(command)

    # -- bookkeeping --------------------------------------------------------------------

    def _serving_release(self) -> str:
        return self._rollback_target or self.plan.release_id

    def _mark_pending(self) -> None:
        current = self.plan.current or Current(release=None)
        write_current(self.layout, replace(current, pending=self.plan.release_id))
        write_state(self.plan.release_dir, "switching")

    def _mark_release(self, state: State, detail: str) -> None:
        if self.plan.release_dir.is_dir():
            write_state(self.plan.release_dir, state, detail)

    # -- rollback -----------------------------------------------------------------------

    def rollback(self, reason: str) -> int:
        plan = self.plan
        self.log.step = "rollback"
        failed = {"release": plan.release_id, "reason": reason, "at": now_text()}
        previous = plan.previous
        if previous is None or not self.layout.python(previous).is_file():
            self._mark_release("failed", reason)
            write_current(
                self.layout,
                replace(
                    plan.current or Current(release=None),
                    pending=plan.release_id,
                    last_failed=failed,
                ),
            )
            self.log(
                "no previous release to roll back to"
                + (f" ({self.layout.python(previous)} is missing)" if previous else "")
                + f": the services stay on {plan.release_id}; fix the cause and deploy again"
            )
            return EXIT_ATTENTION
        self._rollback_target = previous
        steps = plan.rollback_steps(
            backup=self.backup_file or "<no backup>",
            database=str(self.description.get("database") or "<the live database>"),
        )
        self.log(f"rolling back to {previous} ({reason})")
        database_kept = False
        for number, step in enumerate(steps, start=1):
            started = self._begin(step, f"rollback {number}/{len(steps)}:")
            try:
                self.do(step)
            except (DeployError, KeyboardInterrupt) as exc:
                self.log(f"FAILED: {str(exc) or 'interrupted (Ctrl-C)'}")
                if step.key == "restore":  # the services must still go back to `previous`
                    database_kept = True
                    self.log("the database was NOT restored; the rollback goes on without it")
                    continue
                self.log.step = "rollback"
                self.log(
                    f"ROLLBACK FAILED at '{step.key}': the services need attention, {previous} "
                    "may not be running (fmw service status, the service logs, "
                    f"{self.layout.log_file})"
                )
                self._mark_release("failed", reason)
                write_current(
                    self.layout,
                    replace(
                        plan.current or Current(release=None), pending=previous, last_failed=failed
                    ),
                )
                return EXIT_ATTENTION
            self._end(started)
        assert plan.current is not None
        write_current(self.layout, replace(plan.current, pending=None, last_failed=failed))
        write_state(
            self.layout.release_dir(previous), "active", f"after rolling back {plan.release_id}"
        )
        self._mark_release("rolled back", reason)
        self.log.step = "rollback"
        self.log(
            f"rolled back: {previous} is active and healthy; {plan.release_id} failed ({reason})"
        )
        if database_kept:
            self.log(
                f"but the database was not restored: restore {self.backup_file} by hand "
                "(fmw restore FILE --into DATABASE --replace) if the migrated one will not do"
            )
            return EXIT_ATTENTION
        return EXIT_ROLLED_BACK


# --- the command line -------------------------------------------------------------------


def default_release() -> Path | None:
    """The bundle this file came in (deploy.bat inside an extracted bundle), if it is one."""
    folder = Path(__file__).resolve().parents[2]
    return folder if (folder / "release.json").is_file() else None


def parse_arguments(argv: Sequence[str] | None) -> DeployOptions:
    parser = argparse.ArgumentParser(
        prog="deploy",
        description="Deploy an FMW release: a new release folder and venv, backup, migrations, "
        "services, health check, automatic rollback. Exit codes: 0 deployed, 1 failed "
        "(nothing changed), 2 rolled back, 3 needs attention.",
        epilog="Example: deploy.bat --root C:\\fmw C:\\fmw\\in\\fmw-1.2.0-win_amd64-cp311.zip",
    )
    parser.add_argument(
        "release",
        nargs="?",
        type=Path,
        help="bundle .zip or folder from `fmw deploy bundle`, or an fmw .whl; default: the "
        "bundle this deploy.bat came in",
    )
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="install folder with fmw.toml (default: here)"
    )
    parser.add_argument("--wheelhouse", type=Path, help="a bare wheel's dependency wheels")
    parser.add_argument(
        "--services",
        choices=("auto", "process"),
        default="auto",
        help="auto: `fmw service` (NSSM on Windows, systemd on Linux); process: background "
        "processes (Linux without systemd, tests)",
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME",
        help="only this service (scheduler, dashboard, web, nginx; repeatable)",
    )
    parser.add_argument(
        "--health-timeout",
        type=float,
        default=DEFAULT_HEALTH_TIMEOUT,
        metavar="SECONDS",
        help=f"wait at most this long for each health check (default {DEFAULT_HEALTH_TIMEOUT:g})",
    )
    parser.add_argument("--nginx-url", help="also check this health URL through nginx")
    parser.add_argument(
        "--no-backup", action="store_true", help="skip the backup before the migration"
    )
    parser.add_argument(
        "--restore-db-on-rollback",
        action="store_true",
        help="on rollback, also restore the pre-deploy backup (discards changes since)",
    )
    parser.add_argument(
        "--keep-releases",
        type=int,
        default=DEFAULT_KEEP_RELEASES,
        metavar="N",
        help=f"release folders kept (default {DEFAULT_KEEP_RELEASES})",
    )
    parser.add_argument(
        "--force", action="store_true", help="deploy even when the same release is already active"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print every step and command; change nothing"
    )
    args = parser.parse_args(argv)
    release = args.release or default_release()
    if release is None:
        parser.error("name the release to deploy (a bundle .zip or folder, or an fmw .whl)")
    if args.health_timeout <= 0:
        parser.error("--health-timeout must be more than 0 seconds")
    if args.keep_releases < 2:
        parser.error("--keep-releases must be at least 2 (the current and the previous release)")
    if args.restore_db_on_rollback and args.no_backup:
        parser.error("--restore-db-on-rollback needs the backup: drop --no-backup")
    return DeployOptions(
        release=release.resolve(),
        root=args.root.resolve(),
        wheelhouse=args.wheelhouse.resolve() if args.wheelhouse else None,
        services=args.services,
        only=tuple(args.service),
        health_timeout=args.health_timeout,
        nginx_url=args.nginx_url,
        backup=not args.no_backup,
        restore_db_on_rollback=args.restore_db_on_rollback,
        keep_releases=args.keep_releases,
        force=args.force,
        dry_run=args.dry_run,
    )


def make_plan(options: DeployOptions, *, now: datetime | None = None) -> DeployPlan:
    """Read and check the release and the root; DeployError for anything unusable."""
    release = read_release(options.release, options.wheelhouse)
    check_compatible(release)
    root = options.root
    if root.exists() and not root.is_dir():
        raise DeployError(f"--root {root}: not a folder")
    if release.kind == "folder" and root.is_relative_to(release.source):
        raise DeployError(
            f"--root {root} is inside the release folder {release.source}: run the deploy from "
            "the install folder (e.g. cd /d C:\\fmw) or pass --root"
        )
    layout = Layout(root)
    current = read_current(layout)
    if current and current.release and not layout.release_dir(current.release).is_dir():
        raise DeployError(
            f"{layout.current_file} names {current.release}, but its folder "
            "does not exist; fix or delete current.json"
        )
    release_id = new_release_id(layout, release.version, now or datetime.now(UTC))
    return DeployPlan(options, release, layout, release_id, current)


def main(argv: Sequence[str] | None = None, stream: IO[str] | None = None) -> int:
    """deploy.bat's entry point; returns the exit code."""
    if isinstance(sys.stdout, io.TextIOWrapper):  # a stand-in (StringIO) has no reconfigure
        with contextlib.suppress(ValueError):
            sys.stdout.reconfigure(errors="replace")
    log = DeployLog(stream)
    options = parse_arguments(argv)
    try:
        plan = make_plan(options)
        if options.dry_run:
            for line in render(plan):
                print(line, file=log.stream)
            print("dry run: nothing was changed", file=log.stream)
            return EXIT_OK
        with deploy_lock(plan.layout):
            plan = make_plan(options)  # re-read current.json now that no other deploy runs
            log.open(plan.layout.log_file)
            try:
                return Deployer(plan, log).deploy()
            finally:
                log.close()
    except DeployError as exc:
        log.step = "deploy"
        log(f"error: {exc}")
        return EXIT_FAILED
