"""FMW's long-running services, described once and rendered for NSSM (Windows) or systemd (Linux).

``describe_services`` turns the ``[service]`` settings into a ``ServicePlan``: one
``ServiceSpec`` per service (the scheduler, one dashboard per port, nginx) with
the program, arguments, working folder, log file, dependencies and environment,
as paths of the *target* platform (so Windows commands can be previewed on
Linux). ``nssm_steps`` renders the exact ``nssm`` command lines for an action;
``systemd_unit`` renders a unit file and ``systemd_steps`` the file writes and
``systemctl`` commands. Every command is a ``Step``; a step may carry a
condition (e.g. ``nssm install`` only when ``nssm status`` exited 3) that
``fmw.service_control`` evaluates when it runs them.

This module is pure: it must never run a command, read or write a file, or
read a password. Running steps is ``fmw.service_control``'s job.
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
WELL_KNOWN_WINDOWS_ACCOUNTS = {
    name.lower()
    for name in (
        "LocalSystem",
        "System",
        "NT Authority\\System",
        "LocalService",
        "Local Service",
        "NT Authority\\Local Service",
        "NT Authority\\LocalService",
        "NetworkService",
        "Network Service",
        "NT Authority\\Network Service",
        "NT Authority\\NetworkService",
    )
}
_NAME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINUX_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")
_SYSTEMD_PLAIN = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


# --- the description -------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """One service: what runs, where, with which environment, logging to which file."""

    key: str  # "scheduler", "dashboard", "dashboard-2", "nginx"
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


# --- NSSM (Windows) --------------------------------------------------------------------


def nssm_steps(plan: ServicePlan, action: Action) -> list[Step]:
    """Every nssm command for ``action``, service by service, each led by its status probe."""
    steps: list[Step] = []
    for spec in ordered(plan, action):
        steps += nssm_service_steps(plan, spec, action)
    return steps


def nssm_service_steps(plan: ServicePlan, spec: ServiceSpec, action: Action) -> list[Step]:
    """One service's nssm commands for ``action``; install updates in place, never removes."""
    nssm, name = plan.nssm, spec.name
    probe = Step((nssm, "status", name), service=name, probe=True)
    if action == "status":
        return [probe]
    if action == "start":
        return [probe, Step((nssm, "start", name), service=name, when=When.STOPPED)]
    if action == "stop":
        return [probe, Step((nssm, "stop", name), service=name, when=When.NOT_STOPPED)]
    if action == "uninstall":
        return [
            probe,
            Step((nssm, "stop", name), service=name, when=When.NOT_STOPPED),
            Step((nssm, "remove", name, "confirm"), service=name, when=When.INSTALLED),
        ]
    install = Step((nssm, "install", name, str(spec.executable)), service=name, when=When.MISSING)
    return [probe, install, *(Step(argv, service=name) for argv in nssm_settings(plan, spec))]


def nssm_settings(plan: ServicePlan, spec: ServiceSpec) -> list[tuple[Arg, ...]]:
    """The ``nssm set``/``reset`` commands that make an installed service match ``spec``."""
    nssm, name = plan.nssm, spec.name
    log = str(spec.log_file)

    def put(*args: Arg) -> tuple[Arg, ...]:
        return (nssm, "set", name, *args)

    def reset(parameter: str) -> tuple[Arg, ...]:
        return (nssm, "reset", name, parameter)

    env = [f"{key}={value}" for key, value in spec.environment]
    commands = [
        put("Application", str(spec.executable)),
        # NSSM starts `"Application" AppParameters`: the parameters are one command-line tail.
        put("AppParameters", subprocess.list2cmdline(spec.arguments)),
        put("AppDirectory", str(spec.working_dir)),
        put("DisplayName", spec.display_name),
        put("Description", spec.description),
        put("Start", "SERVICE_DELAYED_AUTO_START"),
        put("AppExit", "Default", "Restart"),
        put("AppRestartDelay", str(plan.restart_delay_seconds * 1000)),
        put("AppThrottle", str(plan.throttle_seconds * 1000)),
        # A console of its own is what lets NSSM send Ctrl-C (it attaches to the app's
        # console); AppNoConsole=1 would leave only WM_CLOSE and TerminateProcess.
        put("AppNoConsole", "0"),
        put("AppStopMethodSkip", "0"),
        put("AppStopMethodConsole", str(plan.stop_grace_seconds * 1000)),
        put("AppKillProcessTree", "1"),
        put("AppStdout", log),
        put("AppStderr", log),
        put("AppRotateFiles", "1"),
        put("AppRotateOnline", "1"),
        put("AppRotateBytes", str(plan.log_rotate_bytes)),
        put("AppEnvironmentExtra", *env) if env else reset("AppEnvironmentExtra"),
        put("DependOnService", *spec.depends_on) if spec.depends_on else reset("DependOnService"),
        put("ObjectName", *_nssm_account(plan, spec)),
    ]
    return commands


def _nssm_account(plan: ServicePlan, spec: ServiceSpec) -> tuple[Arg, ...]:
    account = plan.account
    if not account:
        return ("LocalSystem",)
    if account.lower() == "virtual":
        return (f"NT SERVICE\\{spec.name}",)
    if account.lower() in WELL_KNOWN_WINDOWS_ACCOUNTS or account.lower().startswith("nt service\\"):
        return (account,)
    return (account, Secret(plan.password_env))


def needs_password(plan: ServicePlan) -> bool:
    """True when installing on Windows needs the account's password."""
    return plan.platform == "windows" and any(
        isinstance(arg, Secret) for spec in plan.services for arg in _nssm_account(plan, spec)
    )


def decode_nssm_output(data: bytes) -> str:
    """NSSM writes UTF-16LE when its output is a pipe; other tools write the ANSI code page."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        text = data.decode("utf-16-le", errors="replace").lstrip("\ufeff")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp949", errors="replace")
    return text.replace("\r\n", "\n").strip("\0 \n")


# --- systemd (Linux) -------------------------------------------------------------------


def systemd_unit(plan: ServicePlan, spec: ServiceSpec) -> str:
    """The unit file for one service: restarted always, logging to journald or a file."""
    after = ["network-online.target"] + [_unit_name(dep) for dep in spec.depends_on]
    lines = [
        "# Written by `fmw service install`; re-running it rewrites this file.",
        "[Unit]",
        f"Description={_escape_specifiers(spec.description)}",
        f"After={' '.join(after)}",
        f"Wants={' '.join(after)}",
        # Never give up restarting (NSSM never does either); RestartSec paces the attempts.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
    ]
    if plan.account:
        lines.append(f"User={plan.account}")
    lines.append(f"WorkingDirectory={_escape_specifiers(str(spec.working_dir))}")
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in spec.environment]
    if plan.environment_file is not None:
        lines.append(f"EnvironmentFile={_escape_specifiers(str(plan.environment_file))}")
    lines.append(
        "ExecStart="
        + " ".join(_systemd_exec_word(word) for word in (str(spec.executable), *spec.arguments))
    )
    if spec.reload_signal:
        lines.append(f"ExecReload=/bin/kill -s {spec.reload_signal.removeprefix('SIG')} $MAINPID")
    lines += [
        "Restart=always",
        f"RestartSec={plan.restart_delay_seconds}",
        f"KillSignal={spec.stop_signal}",
        f"TimeoutStopSec={plan.stop_grace_seconds}",
        "NoNewPrivileges=yes",
    ]
    if spec.binds_low_ports and plan.account:
        lines.append("AmbientCapabilities=CAP_NET_BIND_SERVICE")
    if plan.linux_logs == "file":
        target = _escape_specifiers(str(spec.log_file))
        lines += [f"StandardOutput=append:{target}", f"StandardError=append:{target}"]
    else:
        lines += ["StandardOutput=journal", "StandardError=journal"]
    lines += [
        f"SyslogIdentifier={spec.unit.removesuffix('.service')}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def systemd_steps(plan: ServicePlan, action: Action, unit_dir: PurePath) -> list[Step]:
    """Unit file writes/removals and ``systemctl`` commands for ``action``."""
    specs = ordered(plan, action)
    units = [spec.unit for spec in specs]
    if action == "install":
        writes = [
            Step(write=(unit_dir / s.unit, systemd_unit(plan, s)), service=s.unit) for s in specs
        ]
        return [
            *writes,
            Step(("systemctl", "daemon-reload")),
            Step(("systemctl", "enable", *units)),
        ]
    if action == "uninstall":
        return [
            Step(("systemctl", "disable", "--now", *units)),
            *(Step(remove=unit_dir / s.unit, service=s.unit) for s in specs),
            Step(("systemctl", "daemon-reload")),
        ]
    if action in ("start", "stop"):
        return [Step(("systemctl", action, *units))]
    return [
        Step(
            ("systemctl", "show", "--property=LoadState,ActiveState,SubState", unit),
            service=unit,
            probe=True,
        )
        for unit in units
    ]


def _unit_name(service: str) -> str:
    return service if "." in service else f"{service}.service"


def _escape_specifiers(text: str) -> str:
    return text.replace("%", "%%")


def _systemd_quote(text: str) -> str:
    """A double-quoted systemd value: backslash and quote escaped, specifiers doubled."""
    escaped = _escape_specifiers(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _systemd_exec_word(word: str) -> str:
    """One ExecStart word: `$` and `%` escaped, quoted when it holds anything unusual."""
    if _SYSTEMD_PLAIN.match(word):
        return _escape_specifiers(word)
    return _systemd_quote(word).replace("$", "$$")
