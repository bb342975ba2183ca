"""FMW's long-running services, described once, and the steps that act on them.

``describe_services`` turns the ``[service]`` settings into a ``ServicePlan``: one
``ServiceSpec`` per service (the scheduler, one dashboard per port, nginx) with
the program, arguments, working folder, log file, dependencies and environment,
as paths of the *target* platform (so Windows commands can be previewed on
Linux). ``fmw.services.nssm`` renders the exact ``nssm`` command lines for an
action; ``fmw.services.systemd`` renders unit files, their writes and the
``systemctl`` commands. Every command is a ``Step``; a step may carry a
condition (e.g. ``nssm install`` only when ``nssm status`` exited 3) that
``fmw.services.control`` evaluates when it runs them.

This module is pure: it must never run a command, read or write a file, or
read a password. Running steps is ``fmw.services.control``'s job.
"""

from __future__ import annotations

import enum
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Literal

from fmw.errors import ServiceError
from fmw.settings import ServiceSettings, Settings

Platform = Literal["windows", "linux"]
Action = Literal["install", "uninstall", "start", "stop", "status"]
ACTIONS: tuple[Action, ...] = ("install", "uninstall", "start", "stop", "status")

DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
NSSM_MISSING_EXIT = 3  # `nssm status NAME` exits 3 when NAME is not installed
NSSM_RUNNING = "SERVICE_RUNNING"
NSSM_STOPPED = "SERVICE_STOPPED"
_NAME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINUX_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")


# --- the description -------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """One service: what runs, where, with which environment, logging to which file."""

    key: str  # "scheduler", "dashboard", "dashboard-2", "web", "nginx"
    name: str  # Windows service name, e.g. "FMW-Dashboard"
    unit: str  # systemd unit, e.g. "fmw-dashboard.service"
    display_name: str
    description: str
    executable: PurePath
    arguments: tuple[str, ...]
    working_dir: PurePath
    log_file: PurePath
    depends_on: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    stop_signal: str  # Linux; on Windows NSSM sends Ctrl-C
    reload_signal: str | None = None
    binds_low_ports: bool = False


@dataclass(frozen=True)
class ServicePlan:
    """Every selected service for one platform plus the policies they share."""

    platform: Platform
    services: tuple[ServiceSpec, ...]
    log_dir: PurePath
    restart_delay_seconds: int
    throttle_seconds: int
    stop_grace_seconds: int
    log_rotate_bytes: int
    log_retention_days: int
    account: str
    password_env: str
    environment_file: PurePath | None
    linux_logs: Literal["journal", "file"]
    nssm: str

    def select(self, only: Sequence[str]) -> ServicePlan:
        """The plan narrowed to the services named (key, service name or unit, any case)."""
        if not only:
            return self
        chosen: list[ServiceSpec] = []
        for wanted in only:
            needle = wanted.strip().lower()
            matches = [
                spec
                for spec in self.services
                if needle in (spec.key, spec.name.lower(), spec.unit, spec.unit[: -len(".service")])
            ]
            if not matches:
                known = ", ".join(spec.key for spec in self.services)
                raise ServiceError(f"--only {wanted}: no such FMW service (known: {known})")
            chosen += [spec for spec in matches if spec not in chosen]
        return replace(self, services=tuple(s for s in self.services if s in chosen))


WEB_HEALTH_PATH = "/api/health"
"""fmw web's health URL path: "ok" while the app serves (it needs neither PostgreSQL nor
a snapshot), checked by a deploy and by fmw doctor."""


def web_health_url(port: int) -> str:
    return f"http://127.0.0.1:{port}{WEB_HEALTH_PATH}"


def host_platform() -> Platform:
    """The platform this process runs on (anything but Windows is served by systemd)."""
    return "windows" if sys.platform == "win32" else "linux"


def describe_services(
    settings: Settings,
    platform: Platform | None = None,
    *,
    settings_path: Path | None = None,
    python: str | PurePath | None = None,
    working_dir: str | PurePath | None = None,
) -> ServicePlan:
    """The services FMW runs, as paths and commands of ``platform`` (default: this one).

    ``settings_path`` is the settings file the services must read (passed as
    FMW_SETTINGS); ``python`` and ``working_dir`` override the settings (a
    deploy points services at a new release this way). Raises ServiceError
    naming the setting when a value cannot work.
    """
    target: Platform = platform or host_platform()
    conf = settings.service
    flavour: type[PurePath] = PureWindowsPath if target == "windows" else PurePosixPath
    base = flavour(str(settings.base_dir))

    def resolve(value: str | PurePath, where: str, against: PurePath = base) -> PurePath:
        text = str(value)
        _check_text(text, where)
        path = flavour(text)
        return path if path.is_absolute() else against / path

    _check_prefix(conf.name_prefix)
    ports = conf.dashboard_ports
    for port in ports:
        if not 1 <= port <= 65535:
            raise ServiceError(f"service.dashboard_ports: {port} is not a TCP port")
    if len(set(ports)) != len(ports):
        raise ServiceError(f"service.dashboard_ports: {ports} lists a port twice")
    if target == "windows" and conf.log_rotate_bytes >= 2**32:
        raise ServiceError("service.log_rotate_bytes: NSSM rotates at most 4 GiB; use less")
    _check_account(conf.account, target)
    _check_text(conf.postgresql_service, "service.postgresql_service")
    if conf.environment_file and target == "windows":
        raise ServiceError(
            "service.environment_file is Linux-only (systemd); on Windows use [service.environment]"
        )

    app_dir = resolve(working_dir or conf.working_dir or base, "service.working_dir")
    interpreter = resolve(python or conf.python or _default_python(target), "service.python")
    log_dir = resolve(conf.log_dir or PurePath(str(settings.var_dir)) / "logs", "service.log_dir")
    env = _environment(conf, settings_path)
    prefix = conf.name_prefix

    def spec(
        key: str,
        title: str,
        arguments: Sequence[str],
        description: str,
        *,
        executable: PurePath = interpreter,
        folder: PurePath = app_dir,
        depends_on: tuple[str, ...] = (),
        environment: tuple[tuple[str, str], ...] = env,
        stop_signal: str = "SIGINT",
        reload_signal: str | None = None,
        binds_low_ports: bool = False,
    ) -> ServiceSpec:
        name = f"{prefix}{title}"
        return ServiceSpec(
            key=key,
            name=name,
            unit=f"{name.lower()}.service",
            display_name=f"FMW {title.replace('-', ' ')}",
            description=description,
            executable=executable,
            arguments=tuple(arguments),
            working_dir=folder,
            log_file=log_dir / f"{name}.log",
            depends_on=depends_on,
            environment=environment,
            stop_signal=stop_signal,
            reload_signal=reload_signal,
            binds_low_ports=binds_low_ports,
        )

    pg = (conf.postgresql_service.strip(),) if conf.postgresql_service.strip() else ()
    services = [
        spec(
            "scheduler",
            "Scheduler",
            ["-m", "fmw", "scheduler", "run"],
            "FMW scheduler: runs the jobs in ops.job (daily sync, backup, pruning).",
            depends_on=pg,
        )
    ]
    for number, port in enumerate(ports, start=1):
        services.append(
            spec(
                "dashboard" if number == 1 else f"dashboard-{number}",
                "Dashboard" if number == 1 else f"Dashboard-{number}",
                ["-m", "fmw", "ui", "--port", str(port)],
                f"FMW dashboard: Streamlit on 127.0.0.1:{port}, reading snapshot files only.",
            )
        )
    if settings.web.enabled:
        services.append(
            spec(
                "web",
                "Web",
                ["-m", "fmw", "web", "--port", str(settings.web.port)],
                f"FMW web: the admin console and APIs (Django, waitress) on "
                f"127.0.0.1:{settings.web.port}.",
                depends_on=pg,
            )
        )
    if conf.nginx.enabled:
        nginx_prefix = resolve(conf.nginx.prefix, "service.nginx.prefix")
        default_nginx = (
            nginx_prefix / "nginx.exe" if target == "windows" else PurePosixPath("/usr/sbin/nginx")
        )
        conf_file = flavour(conf.nginx.conf)
        _check_text(conf.nginx.conf, "service.nginx.conf")
        services.append(
            spec(
                "nginx",
                "Nginx",
                # nginx wants forward slashes on Windows too; `daemon off` keeps it in the
                # foreground so NSSM's Ctrl-C and systemd's signals reach the master process.
                [
                    "-p",
                    nginx_prefix.as_posix(),
                    "-c",
                    conf_file.as_posix(),
                    "-g",
                    "daemon off;",
                ],
                "FMW edge: nginx in front of the dashboard, allowlisted addresses only.",
                executable=(
                    resolve(conf.nginx.executable, "service.nginx.executable", nginx_prefix)
                    if conf.nginx.executable
                    else default_nginx
                ),
                folder=nginx_prefix,
                environment=tuple(conf.environment.items()),
                stop_signal="SIGQUIT",
                reload_signal="SIGHUP",
                binds_low_ports=True,
            )
        )
    return ServicePlan(
        platform=target,
        services=tuple(services),
        log_dir=log_dir,
        restart_delay_seconds=conf.restart_delay_seconds,
        throttle_seconds=conf.throttle_seconds,
        stop_grace_seconds=conf.stop_grace_seconds,
        log_rotate_bytes=conf.log_rotate_bytes,
        log_retention_days=conf.log_retention_days,
        account=conf.account.strip(),
        password_env=conf.password_env,
        environment_file=(
            resolve(conf.environment_file, "service.environment_file")
            if conf.environment_file
            else None
        ),
        linux_logs=conf.linux_logs,
        nssm=conf.nssm,
    )


def _default_python(target: Platform) -> PurePath:
    """The running venv's interpreter, as the target platform spells it."""
    if target == host_platform():
        return Path(sys.executable)  # not resolved: a venv's python is a link or launcher
    if target == "windows":
        return PureWindowsPath(sys.prefix) / "Scripts" / "python.exe"
    return PurePosixPath(sys.prefix.replace("\\", "/")) / "bin" / "python"


def _environment(conf: ServiceSettings, settings_path: Path | None) -> tuple[tuple[str, str], ...]:
    env = {"PYTHONUNBUFFERED": "1", "PYTHONUTF8": "1"}
    if settings_path is not None:
        env["FMW_SETTINGS"] = str(settings_path)
    for key, value in conf.environment.items():
        if not _ENV_KEY.match(key):
            raise ServiceError(f"service.environment: {key!r} is not a variable name")
        _check_text(value, f"service.environment.{key}")
        env[key] = value
    return tuple(env.items())


def _check_text(value: str, where: str) -> None:
    if any(ch in value for ch in "\r\n\0"):
        raise ServiceError(f"{where}: line breaks and NUL characters are not allowed")


def _check_prefix(prefix: str) -> None:
    if not _NAME_PREFIX.match(prefix):
        raise ServiceError(
            f"service.name_prefix: {prefix!r} must start with a letter and hold only "
            "letters, digits, '_', '.' and '-'"
        )


def _check_account(account: str, target: Platform) -> None:
    account = account.strip()
    _check_text(account, "service.account")
    if not account or target == "windows":
        return
    if account.lower() == "virtual":
        raise ServiceError("service.account = 'virtual' is Windows-only; name a Linux user")
    if not _LINUX_USER.match(account):
        raise ServiceError(f"service.account: '{account}' is not a Linux user name")


# --- steps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    """A value taken from an environment variable when the step runs, never printed."""

    env: str

    def shown(self, platform: Platform) -> str:
        return f"%{self.env}%" if platform == "windows" else f"${self.env}"


Arg = str | Secret


class When(enum.StrEnum):
    """Condition on the service's state, as the last status probe found it."""

    ALWAYS = "always"
    MISSING = "missing"  # `nssm status` exited 3
    INSTALLED = "installed"
    STOPPED = "stopped"  # installed and stopped (not installed: an error)
    NOT_STOPPED = "not stopped"  # installed and not stopped (not installed: nothing to do)


@dataclass(frozen=True)
class Step:
    """One command (or unit file write/removal), with the service and condition it belongs to."""

    argv: tuple[Arg, ...] = ()
    service: str | None = None
    when: When = When.ALWAYS
    probe: bool = False  # a status query: its result decides the following conditions
    write: tuple[PurePath, str] | None = None  # a unit file and its content
    remove: PurePath | None = None

    def shown(self, platform: Platform) -> str:
        """The exact command as an admin would type it (secrets as variable references)."""
        if self.write is not None:
            path, content = self.write
            return f"cat > {shlex.quote(str(path))} <<'UNIT'\n{content}UNIT"
        if self.remove is not None:
            return f"rm -f {shlex.quote(str(self.remove))}"
        words = [a.shown(platform) if isinstance(a, Secret) else a for a in self.argv]
        return subprocess.list2cmdline(words) if platform == "windows" else shlex.join(words)

    def condition_note(self) -> str | None:
        """A comment line explaining the condition, for dry-run output."""
        if self.when is When.ALWAYS:
            return None
        text = {
            When.MISSING: f"only when `nssm status {self.service}` exits "
            f"{NSSM_MISSING_EXIT} (not installed)",
            When.INSTALLED: f"only when {self.service} is installed",
            When.STOPPED: f"only when {self.service} is stopped",
            When.NOT_STOPPED: f"only when {self.service} is installed and not stopped",
        }[self.when]
        return f"rem {text}:"


def ordered(plan: ServicePlan, action: Action) -> tuple[ServiceSpec, ...]:
    """Start order (scheduler, dashboards, nginx); stopping and removing go in reverse."""
    return tuple(reversed(plan.services)) if action in ("stop", "uninstall") else plan.services
