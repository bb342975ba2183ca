"""Loopback behind nginx: the sockets FMW's processes really listen on are this machine's only.

The dashboard (``fmw ui``, whose Streamlit child holds the socket), the
scheduler (``fmw scheduler run``: it listens on nothing at all) and the test
PostgreSQL (the embedded server unless a URL or Docker is configured: a Unix
socket on Linux) are started for real and their listening sockets read with
psutil, as ``fmw doctor`` reads them through ``fmw.doctor.listening``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fmw.doctor.listening import (
    deployment_problems,
    listening_addresses,
    loopback_only_problems,
    postmaster_pid,
)
from fmw.settings import Settings
from tests.support.commands import FMW, clean_env, free_port, start_ui, stop, wait_for_health

SCHEDULER_ENV = {
    "FMW_SCHEDULER__TIME_ZONE": "UTC",
    "FMW_SCHEDULER__POLL_SECONDS": "0.5",
    "FMW_SCHEDULER__HEARTBEAT_SECONDS": "1",
    "FMW_SCHEDULER__CATCH_UP_GRACE_SECONDS": "0",  # no missed default job runs at start-up
}

pytestmark = pytest.mark.slow


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = start_ui(tmp_path, port, tmp_path / "ui.log")
    try:
        wait_for_health(f"http://127.0.0.1:{port}/_stcore/health", process)
        yield process, port
    finally:
        stop(process)


def test_the_dashboard_listens_on_loopback_only(dashboard):
    process, port = dashboard
    listeners = listening_addresses([process.pid])
    assert [(x.kind, x.address, x.port) for x in listeners if x.kind == "tcp"] == [
        ("tcp", "127.0.0.1", port)
    ]
    assert all(x.pid != process.pid for x in listeners), "Streamlit, fmw ui's child, holds it"
    assert loopback_only_problems(listeners) == []


def test_the_scheduler_listens_on_nothing_beyond_loopback(tmp_path: Path, db_url: str):
    env = {**clean_env(), **SCHEDULER_ENV, "FMW_DATABASE_URL": db_url}
    log = tmp_path / "scheduler.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*FMW, "scheduler", "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    status = tmp_path / "var" / "snapshots" / "scheduler-status.json"
    try:
        deadline = time.monotonic() + 60
        while not status.exists():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the scheduler never wrote its status"
            time.sleep(0.2)
        assert json.loads(status.read_text())["state"] == "running"
        listeners = listening_addresses([process.pid])
        assert [x for x in listeners if x.kind != "unix"] == [], "it serves nothing"
        assert loopback_only_problems(listeners) == []
    finally:
        stop(process)


def test_postgresql_listens_on_loopback_or_a_unix_socket_only(conn: psycopg.Connection):
    pid = postmaster_pid(conn)
    if pid is None:
        if os.environ.get("CI"):
            pytest.fail("CI's test PostgreSQL runs on this machine: its postmaster must be found")
        pytest.skip("the test PostgreSQL is not a process on this machine (Docker or remote)")
    listeners = listening_addresses([pid], children=False)
    assert listeners, "the postmaster listens somewhere"
    assert loopback_only_problems(listeners, "PostgreSQL") == []


def test_the_doctor_check_passes_a_loopback_deployment(
    tmp_path: Path, dashboard, conn: psycopg.Connection
):
    _, port = dashboard
    settings = Settings(base_dir=tmp_path, service={"dashboard_ports": [port]})
    problems, notes = deployment_problems(settings, conn)
    assert problems == []
    assert not [n for n in notes if "no dashboard listens" in n]


def test_the_doctor_check_names_a_dashboard_port_open_to_other_machines(tmp_path: Path):
    with socket.socket() as exposed:  # listens, accepts nothing, sends nothing
        exposed.bind(("0.0.0.0", 0))
        exposed.listen()
        port = exposed.getsockname()[1]
        settings = Settings(base_dir=tmp_path, service={"dashboard_ports": [port]})
        problems, _ = deployment_problems(settings)
    assert len(problems) == 1
    assert problems[0].startswith("dashboard: ")
    assert f"listens on tcp 0.0.0.0:{port} — not loopback" in problems[0]
