"""The deploy's "process" service backend: FMW's services as plain background processes.

Where neither NSSM nor systemd runs the services (tests, a container, a Linux
machine without systemd), ``deploy --services process`` starts each service's
exact command line, as ``fmw deploy describe`` gives it (the program,
arguments, working folder and environment a service manager would get), as a
detached process in a session of its own, its output appended to the
service's log file, and records pid and command line in
``releases/processes.json``. Stopping sends SIGINT to the process group (what
NSSM's Ctrl-C is on Windows), then SIGKILL after the grace time, and only when
the recorded pid still runs the recorded command (a pid can be reused).

Nothing restarts a crashed process here: use it where something else
supervises, or for tests. POSIX only (on Windows the services are NSSM's).
This module must never touch a service manager, and imports only the standard
library (the deploy runs before any venv exists).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmw.deploy.release import Layout, now_text, write_json
from fmw.errors import DeployError

KILL_WAIT_SECONDS = 5.0
START_MARK = "--- started by deploy"  # the line written to a log before each start


@dataclass(frozen=True)
class ServiceProcess:
    """One service's command line, as a service manager would run it."""

    key: str
    name: str
    argv: tuple[str, ...]
    working_dir: str
    environment: tuple[tuple[str, str], ...]
    log_file: str


def from_description(services: Sequence[Mapping[str, Any]]) -> list[ServiceProcess]:
    """The services of `fmw deploy describe --json` as ServiceProcess values."""
    try:
        return [
            ServiceProcess(
                key=str(item["key"]),
                name=str(item["name"]),
                argv=tuple(str(word) for word in item["argv"]),
                working_dir=str(item["working_dir"]),
                environment=tuple((str(k), str(v)) for k, v in item["environment"].items()),
                log_file=str(item["log_file"]),
            )
            for item in services
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise DeployError(f"`fmw deploy describe` gave an unexpected service entry: {exc}") from exc


class ProcessBackend:
    """Start, stop and watch the services of one deploy root as background processes."""

    def __init__(self, layout: Layout, progress: Callable[[str], None]) -> None:
        if os.name != "posix":
            raise DeployError(
                "--services process runs services as background processes on Linux and macOS "
                "only; on Windows the services are NSSM's (--services auto)"
            )
        self.layout = layout
        self.progress = progress
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- records ----------------------------------------------------------------------

    def records(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(self.layout.processes_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise DeployError(f"{self.layout.processes_file}: damaged ({exc})") from exc
        return doc if isinstance(doc, dict) else {}

    def _save(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        self.layout.releases.mkdir(parents=True, exist_ok=True)
        write_json(self.layout.processes_file, records)

    # -- state ------------------------------------------------------------------------

    def running(self, record: Mapping[str, Any]) -> bool:
        """True while the recorded pid runs the recorded command (zombies do not count)."""
        pid = int(record["pid"])
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists, owned by someone else: the cmdline check below decides
        proc = Path(f"/proc/{pid}")
        if not proc.is_dir():
            return True  # no procfs (macOS): trust the signal check
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return False
        words = [part.decode(errors="replace") for part in cmdline if part]
        return state != "Z" and words == list(record["argv"])

    def exit_code(self, key: str) -> int | None:
        """The exit code of the service process started for ``key`` when it has ended."""
        record = self.records().get(key)
        if record is None:
            return None
        child = self._children.get(int(record["pid"]))
        if child is not None:
            return child.poll()
        return None if self.running(record) else -1

    # -- actions ----------------------------------------------------------------------

    def stop(self, keys: Iterable[str], grace_seconds: float) -> None:
        """Stop the recorded processes of these services (SIGINT, then SIGKILL after the grace)."""
        records = self.records()
        for key in keys:
            record = records.get(key)
            if record is None:
                continue
            if self.running(record):
                self.progress(f"stopping {record['name']} (pid {record['pid']}, SIGINT)")
                self._stop_group(record, grace_seconds)
            else:
                self.progress(f"{record['name']} (pid {record['pid']}) is not running")
            del records[key]
            self._save(records)

    def _stop_group(self, record: Mapping[str, Any], grace_seconds: float) -> None:
        pid = int(record["pid"])
        for sig, wait in ((signal.SIGINT, grace_seconds), (signal.SIGKILL, KILL_WAIT_SECONDS)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not self.running(record):
                    return
                time.sleep(0.1)
            if sig == signal.SIGINT:
                self.progress(f"{record['name']} did not stop within {grace_seconds:g} s: SIGKILL")
        raise DeployError(f"{record['name']} (pid {pid}) does not stop, even after SIGKILL")

    def start(self, services: Iterable[ServiceProcess], release_id: str) -> None:
        """Start each service as a detached process and record it."""
        records = self.records()
        for service in services:
            if service.key in records and self.running(records[service.key]):
                raise DeployError(
                    f"{service.name} is still running (pid {records[service.key]['pid']}); "
                    "it must be stopped before it is started again"
                )
            log_file = Path(service.log_file)
            log_file.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **dict(service.environment)}
            with log_file.open("ab") as log:
                log.write(f"\n{START_MARK} ({release_id}) at {now_text()} ---\n".encode())
                log.flush()
                try:
                    child = subprocess.Popen(
                        list(service.argv),
                        cwd=service.working_dir,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group: stopped as one
                    )
                except OSError as exc:
                    raise DeployError(
                        f"{service.name}: cannot start {service.argv[0]}: {exc}"
                    ) from exc
            self._children[child.pid] = child
            records[service.key] = {
                "pid": child.pid,
                "name": service.name,
                "argv": list(service.argv),
                "release": release_id,
                "started_at": now_text(),
                "log_file": service.log_file,
            }
            self._save(records)
            self.progress(f"started {service.name} (pid {child.pid}), output to {log_file}")
