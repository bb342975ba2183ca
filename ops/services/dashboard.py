"""How the dashboard process is started: one command line, the same on Windows and Linux.

Its job: build the exact ``python -m fmw.ui.serve run`` command for the
dashboard (Streamlit's own command line, its modules imported and the snapshot
mapped before the first visit; the venv's own interpreter, never a shell or a
``.bat``), its
environment, and check the port and URL path before anything starts, so
``fmw ui``, ``fmw demo --serve`` and a service manager all launch it alike:

* bound to 127.0.0.1 only (nginx in front is the way in from elsewhere);
* headless, usage statistics off, file watcher off, no run-on-save;
* ``FMW_SNAPSHOT_DIR`` set to the snapshot folder the settings name, so the
  dashboard reads exactly the snapshots this configuration publishes.

Health: ``GET /<base-url-path>/_stcore/health`` answers ``ok``.
This module must never import Streamlit (it only launches it) nor touch the database.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from fmw.errors import DashboardError
from fmw.settings import Settings

HOST = "127.0.0.1"
DEFAULT_PORT = 8501
_URL_PATH = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")


def app_script() -> Path:
    """streamlit_app.py of the installed ``fmw.ui`` package."""
    import fmw.ui  # the package only; importing it does not import Streamlit

    return Path(fmw.ui.__file__).resolve().parent / "streamlit_app.py"


def checked_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise DashboardError(f"--port {port}: a port is a number from 1 to 65535")
    return port


def checked_base_url_path(path: str) -> str:
    """The URL path prefix without slashes at either end ("" for none)."""
    trimmed = path.strip().strip("/")
    if trimmed and not _URL_PATH.fullmatch(trimmed):
        raise DashboardError(
            f"--base-url-path {path!r}: use letters, digits, '.', '_', '~', '-' and '/' only "
            "(e.g. fmw or tools/fmw)"
        )
    return trimmed


def url(port: int, base_url_path: str = "") -> str:
    """Where the dashboard answers."""
    prefix = f"/{base_url_path}" if base_url_path else ""
    return f"http://{HOST}:{port}{prefix}/"


def ensure_port_free(port: int) -> None:
    """DashboardError when something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        with contextlib.suppress(OSError):
            if probe.connect_ex((HOST, port)) == 0:
                raise DashboardError(
                    f"{HOST}:{port} is already in use (another dashboard?): stop it or "
                    "choose another port with --port"
                )


def command(port: int, base_url_path: str = "", *, python: str | None = None) -> list[str]:
    """The exact command line that serves the dashboard."""
    return [
        python or sys.executable,
        "-m",
        "fmw.ui.serve",  # streamlit's command line, the first visit prepared (fmw.ui.serve)
        "run",
        str(app_script()),
        f"--server.address={HOST}",
        f"--server.port={checked_port(port)}",
        f"--server.baseUrlPath={checked_base_url_path(base_url_path)}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",
        "--client.disableDataExport=true",  # no table toolbar "Download as CSV" of one page
        "--global.developmentMode=false",
    ]


def environment(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The dashboard's environment: ours, plus the snapshot folder and no usage statistics."""
    env = dict(os.environ if base is None else base)
    env["FMW_SNAPSHOT_DIR"] = str(settings.snapshot_path)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env


def stop_signals() -> list[int]:
    """The signals that stop a foreground dashboard: Ctrl-C (SIGINT), a service manager's
    or ``kill``'s SIGTERM, a closed terminal's SIGHUP and, on Windows, Ctrl-Break."""
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


class _StopSignalError(Exception):
    """Raised in the main thread by a stop signal, to leave the wait for the dashboard."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def serve(settings: Settings, port: int, base_url_path: str = "") -> int:
    """Run the dashboard in the foreground until it exits or a stop signal; return its exit
    code (128 + the signal's number after a stop signal, as shells report it).

    A stop signal (``stop_signals``) sent to this process alone — ``kill PID``, a service
    manager, Ctrl-Break — is passed on to the dashboard, which is waited for (15 s, then
    killed): the Streamlit server never outlives the command that started it.
    """
    cmd = command(port, base_url_path)
    ensure_port_free(port)
    process = subprocess.Popen(cmd, env=environment(settings))

    def stop(signum: int, _frame: object) -> None:
        raise _StopSignalError(signum)

    previous = {signum: signal.signal(signum, stop) for signum in stop_signals()}
    try:
        return process.wait()
    except (_StopSignalError, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, _StopSignalError) else signal.SIGINT
        for signum_ in previous:  # a second signal while stopping must not interrupt the wait
            signal.signal(signum_, signal.SIG_IGN)
        _stop_child(process)
        return 128 + int(signum)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_child(process: subprocess.Popen[bytes]) -> None:
    """Ask the dashboard to stop (Ctrl-C's SIGINT; TerminateProcess on Windows), then kill
    it if it has not stopped within 15 s."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            if os.name == "nt":
                process.terminate()
            else:
                process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stopped(code: int) -> bool:
    """Whether an exit code of ``serve`` means it was stopped on purpose (not a failure)."""
    return code == 0 or code in {128 + s for s in stop_signals()} or -code in stop_signals()
