"""systemd unit files and ``systemctl`` commands for FMW's Linux services.

Its job: render a ``ServicePlan`` into unit files (``Restart=always``, the
PostgreSQL unit as a dependency, logs to journald or a file) and the ``Step``s
that write them and run ``systemctl``. It is pure: it must never run a command
or write a file itself (``fmw.services.control`` does).
"""

from __future__ import annotations

import re
from pathlib import PurePath

from fmw.services.model import Action, ServicePlan, ServiceSpec, Step, ordered

_SYSTEMD_PLAIN = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


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
