"""What FMW's processes actually listen on, and whether any of it is reachable off this machine.

Its job: list the listening sockets of given processes (and their children:
``fmw ui`` runs Streamlit as a child) with psutil, the same on Windows and
Linux, and say which of them are not loopback or Unix sockets. ``fmw doctor``
calls ``deployment_problems``; the tests call ``listening_addresses`` on the
processes they started. Behind nginx everything must listen on 127.0.0.1 /
::1 (or a Unix socket) only: nginx is the one way in.

A listening TCP socket, or a bound UDP socket with no peer, counts. It must
never open, close or change a socket or a process.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict

from fmw.database import embedded_pgdata
from fmw.settings import Settings

START_TIME_SLACK_SECONDS = 5.0


@dataclass(frozen=True, order=True)
class Listener:
    """One socket a process listens on."""

    pid: int
    process: str
    kind: str  # "tcp", "udp" or "unix"
    address: str  # an IP address, or a Unix socket's path
    port: int | None

    @property
    def loopback(self) -> bool:
        """Reachable from this machine only (a loopback address or a Unix socket)."""
        if self.kind == "unix":
            return True
        try:
            return ipaddress.ip_address(self.address.split("%", 1)[0]).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        where = self.address if self.port is None else f"{self.address}:{self.port}"
        if ":" in self.address and self.port is not None:
            where = f"[{self.address}]:{self.port}"
        return f"{self.process} (pid {self.pid}) listens on {self.kind} {where}"


def _family_tree(pids: Iterable[int]) -> dict[int, str]:
    """The processes ``pids`` and their descendants, with their names; gone ones skipped."""
    tree: dict[int, str] = {}
    for pid in pids:
        try:
            process = psutil.Process(pid)
            members = [process, *process.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for member in members:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                tree[member.pid] = member.name()
    return tree


def listening_addresses(pids: Iterable[int], *, children: bool = True) -> list[Listener]:
    """The sockets ``pids`` (and, by default, their child processes) listen on, sorted.

    Raises PermissionError when this account may not read another account's
    sockets (run as root / an administrator).
    """
    wanted = _family_tree(pids) if children else _named(pids)
    found: set[Listener] = set()
    try:
        inet = psutil.net_connections(kind="inet")
        unix = psutil.net_connections(kind="unix") if psutil.POSIX else []
    except psutil.AccessDenied as exc:
        raise PermissionError(f"cannot read listening sockets: {exc}") from exc
    for conn in inet:
        if conn.pid not in wanted or not conn.laddr:
            continue
        tcp = conn.type == socket.SOCK_STREAM
        if tcp and conn.status != psutil.CONN_LISTEN:
            continue
        if not tcp and conn.raddr:
            continue
        found.add(
            Listener(
                conn.pid, wanted[conn.pid], "tcp" if tcp else "udp", conn.laddr.ip, conn.laddr.port
            )
        )
    for conn in unix:
        if conn.pid in wanted and conn.laddr and not conn.raddr:
            found.add(Listener(conn.pid, wanted[conn.pid], "unix", str(conn.laddr), None))
    return sorted(found)


def _named(pids: Iterable[int]) -> dict[int, str]:
    named: dict[int, str] = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            named[pid] = psutil.Process(pid).name()
    return named


def loopback_only_problems(listeners: Iterable[Listener], what: str = "") -> list[str]:
    """One line per socket reachable from other machines (empty: loopback only)."""
    label = f"{what}: " if what else ""
    return [
        f"{label}{listener} — not loopback: bind it to 127.0.0.1 (nginx is the way in)"
        for listener in listeners
        if not listener.loopback
    ]


def port_listeners(ports: Iterable[int]) -> list[Listener]:
    """Every TCP socket of any process listening on one of ``ports``."""
    wanted = set(ports)
    found = []
    try:
        sockets = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied as exc:
        raise PermissionError(f"cannot read listening sockets: {exc}") from exc
    for conn in sockets:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in wanted:
            name = "?"
            if conn.pid:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    name = psutil.Process(conn.pid).name()
            found.append(Listener(conn.pid or 0, name, "tcp", conn.laddr.ip, conn.laddr.port))
    return sorted(found)


def postmaster_pid(conn: psycopg.Connection) -> int | None:
    """The PostgreSQL server's main process on this machine, or None (remote, a container).

    The backend serving ``conn`` is a child of the postmaster; it is trusted
    only when it exists here, runs ``postgres`` and its parent started when
    the server says it did (a pid from another machine or container would not).
    """
    row = conn.execute(
        "SELECT pg_backend_pid(), extract(epoch FROM pg_postmaster_start_time())"
    ).fetchone()
    if row is None:
        return None
    backend_pid, started = int(row[0]), float(row[1])
    try:
        backend = psutil.Process(backend_pid)
        parent = backend.parent()
        if parent is None or "postgres" not in parent.name().lower():
            return None
        if abs(parent.create_time() - started) > START_TIME_SLACK_SECONDS:
            return None
        return parent.pid
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def embedded_postmaster_pid(pgdata: Path) -> int | None:
    """The embedded server's main process from ``postmaster.pid``, if it runs."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


def scheduler_pids() -> list[int]:
    """Processes running ``fmw scheduler run`` (the FMW-Scheduler service) on this machine."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        line = process.info.get("cmdline") or []
        words = [Path(w).stem.lower() if i < 3 else w for i, w in enumerate(line)]
        if "scheduler" in words and "run" in words and any("fmw" in w for w in words[:4]):
            found.append(process.info["pid"])
    return found


def deployment_problems(
    settings: Settings, conn: psycopg.Connection | None = None
) -> tuple[list[str], list[str]]:
    """(problems, notes) for ``fmw doctor``: anything of FMW listening beyond loopback.

    Checks the dashboard ports (whoever listens there), the scheduler
    processes, and PostgreSQL: the server behind ``conn`` when it runs on this
    machine, else the embedded one. Notes say what could not be checked.
    """
    problems: list[str] = []
    notes: list[str] = []
    try:
        dashboards = port_listeners(settings.service.dashboard_ports)
        problems += loopback_only_problems(dashboards, "dashboard")
        if not dashboards:
            notes.append(
                f"no dashboard listens on {settings.service.dashboard_ports} (not running?)"
            )
        problems += loopback_only_problems(listening_addresses(scheduler_pids()), "scheduler")
        pid = postmaster_pid(conn) if conn is not None else None
        if pid is None and conn is None:
            pid = embedded_postmaster_pid(embedded_pgdata(settings))
        if pid is not None:
            problems += loopback_only_problems(listening_addresses([pid]), "PostgreSQL")
        elif conn is not None:
            host = conninfo_to_dict(conn.info.dsn).get("host", "")
            notes.append(f"PostgreSQL on {host or 'localhost'} is not a process here: not checked")
    except PermissionError as exc:
        notes.append(f"{exc}: run fmw doctor as root / an administrator to check sockets")
    return problems, notes
