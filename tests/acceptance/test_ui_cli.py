"""``fmw ui`` as a real subprocess: 127.0.0.1 only, health answers, bad input refused."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.commands import FMW, clean_env, free_port, start_ui, stop, wait_for_health


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    log = tmp_path / "ui.log"
    process = start_ui(tmp_path, port, log, "--base-url-path", "/fmw/")
    try:
        yield process, port, log
    finally:
        stop(process)


@pytest.mark.slow
def test_fmw_ui_serves_on_loopback_only_and_stops_on_ctrl_c(running):
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
def test_a_port_in_use_is_refused_with_the_next_step(running, tmp_path: Path):
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
