"""Helpers the acceptance tests share: ``fmw`` as a real subprocess, and the dashboard it serves.

``run`` is one ``fmw`` command to completion; ``start_ui`` starts ``fmw ui``
(its output in a log file), ``wait_for_health`` waits for Streamlit's health
endpoint and ``stop`` ends a process the way its service manager would
(Ctrl-C first). ``CHROMIUM`` and ``CHROMIUM_ARGS`` launch Debian's Chromium
for Playwright.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

FMW = [sys.executable, "-m", "fmw"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def clean_env(columns: int = 200) -> dict[str, str]:
    """This environment without any ``FMW_`` setting, and a wide terminal for Rich."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    env["COLUMNS"] = str(columns)
    return env


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fmw ARGS`` in ``folder``, to completion (output captured, never checked here)."""
    return subprocess.run(
        [*FMW, *args], cwd=folder, env=clean_env(250), capture_output=True, text=True, timeout=300
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_ui(folder: Path, port: int, log: Path, *args: str) -> subprocess.Popen[str]:
    """``fmw ui --port PORT ARGS`` in ``folder``, its output (both streams) in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [*FMW, "ui", "--port", str(port), *args],
            cwd=folder,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def wait_for_health(url: str, process: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fmw ui exited with {process.returncode}: {process.stdout}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[Any], sig: signal.Signals = signal.SIGINT) -> None:
    """Send ``sig`` (Ctrl-C) to a running process; kill it if it has not ended in 20 s."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
