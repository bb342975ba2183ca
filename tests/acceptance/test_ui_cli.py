"""``fmw ui`` as a real subprocess: 127.0.0.1 only, health answers, bad input refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

FMW = [sys.executable, "-m", "fmw"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    env["COLUMNS"] = "200"
    return env


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


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*FMW, "ui", "--port", str(port), "--base-url-path", "/fmw/"],
            cwd=tmp_path,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield process, port, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_fmw_ui_serves_on_loopback_only_and_stops_on_ctrl_c(running):  # type: ignore[no-untyped-def]
    process, port, log = running
    assert wait_for_health(f"http://127.0.0.1:{port}/fmw/_stcore/health", process) == "ok"
    with socket.socket() as other:  # another loopback address: nothing listens there
        other.settimeout(2)
        assert other.connect_ex(("127.0.0.2", port)) != 0
    out = log.read_text()
    assert f"FMW dashboard: http://127.0.0.1:{port}/fmw/" in out
    assert "no snapshot yet" in out and "fmw demo" in out
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) in (0, -signal.SIGINT, 130)


@pytest.mark.slow
def test_a_port_in_use_is_refused_with_the_next_step(running, tmp_path: Path):  # type: ignore[no-untyped-def]
    process, port, _ = running
    wait_for_health(f"http://127.0.0.1:{port}/fmw/_stcore/health", process)
    result = subprocess.run(
        [*FMW, "ui", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "--port" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "a port is a number from 1 to 65535"),
        (["--base-url-path", "fmw?x=1"], "--base-url-path 'fmw?x=1'"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    tmp_path: Path, args: list[str], message: str
):
    result = subprocess.run(
        [*FMW, "ui", *args], cwd=tmp_path, env=clean_env(), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "FMW dashboard" not in result.stdout
