"""The exact ``nssm`` commands that install, start, stop or remove FMW's Windows services.

Its job: render a ``ServicePlan`` into ``Step``s of ``nssm`` command lines, each
service led by its status probe, with ``nssm set`` updating an existing
service in place (never remove-and-reinstall: a service open in services.msc
would be stuck "marked for deletion"). It is pure: it must never run a
command or read a password (``fmw.services.control`` runs the steps).
"""

from __future__ import annotations

import subprocess

from fmw.services.model import (
    Action,
    Arg,
    Secret,
    ServicePlan,
    ServiceSpec,
    Step,
    When,
    ordered,
)

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
