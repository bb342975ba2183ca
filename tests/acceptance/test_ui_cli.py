"""``fmw ui`` as a real subprocess: 127.0.0.1 only, health answers, bad input refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
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


def _serving(folder: Path, command: list[str], port: int) -> tuple[subprocess.Popen[str], int]:
    """``fmw COMMAND`` started in ``folder``; once the dashboard answers: it and the pid of
    the Streamlit server it started."""
    with (folder / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [*FMW, *command],
            cwd=folder,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    wait_for_health(f"http://127.0.0.1:{port}/_stcore/health", process, timeout=180)
    children = psutil.Process(process.pid).children(recursive=True)
    servers = [c.pid for c in children if "streamlit" in " ".join(c.cmdline())]
    assert len(servers) == 1, children
    return process, servers[0]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "sig"),
    [
        (["ui"], signal.SIGTERM),
        (["ui"], signal.SIGINT),
        (["demo", "--serve"], signal.SIGTERM),
    ],
    ids=["ui-sigterm", "ui-sigint", "demo-serve-sigterm"],
)
def test_problem_8_a_stop_signal_to_fmw_stops_its_streamlit_server(
    tmp_path: Path, command: list[str], sig: signal.Signals
):
    """A plain ``kill <pid>`` of ``fmw ui`` / ``fmw demo --serve`` used to leave Streamlit
    running on its port. The signal goes to the fmw process alone (as kill and service
    managers send it), never to its process group."""
    port = 8501 if command[0] == "demo" else free_port()
    if command[0] == "demo" and _listening(port):
        pytest.skip("fmw demo --serve uses port 8501, which is busy here")
    process, server = _serving(
        tmp_path, [*command, "--port", str(port)] if command == ["ui"] else command, port
    )
    try:
        process.send_signal(sig)
        assert process.wait(timeout=30) == 0, "a stop on purpose is no failure"
        assert not psutil.pid_exists(server) or psutil.Process(server).status() == "zombie"
        assert not _listening(port), "nothing listens on the port any more"
    finally:
        stop(process)
        if psutil.pid_exists(server):
            psutil.Process(server).kill()


@pytest.mark.skipif(os.name != "nt", reason="CTRL_BREAK_EVENT exists on Windows only")
def test_problem_8_ctrl_break_stops_the_streamlit_server_on_windows(tmp_path: Path):
    port = free_port()
    process, server = _serving(tmp_path, ["ui", "--port", str(port)], port)
    try:
        process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        assert process.wait(timeout=30) == 0
        assert not psutil.pid_exists(server)
        assert not _listening(port)
    finally:
        stop(process)
