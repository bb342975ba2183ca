"""fmw.doctor.listening: which sockets a process tree listens on, and which are not loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from fmw.doctor.listening import Listener, listening_addresses, loopback_only_problems

# A parent that starts a child listening on 127.0.0.1 (like `fmw ui` starting Streamlit).
CHILD = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
    "print(s.getsockname()[1], flush=True); time.sleep(60)\n"
)
PARENT = (
    "import subprocess, sys\n"
    f"child = subprocess.Popen([sys.executable, '-c', {CHILD!r}])\n"
    "child.wait()\n"
)


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[bytes]]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        yield parent
    finally:
        import psutil

        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()


def wait_for(pid: int, *, children: bool) -> list[Listener]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = listening_addresses([pid], children=children)
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.mark.parametrize(
    ("kind", "address", "loopback"),
    [
        ("tcp", "127.0.0.1", True),
        ("tcp", "127.0.0.53", True),
        ("tcp", "::1", True),
        ("unix", "/tmp/.s.PGSQL.5432", True),
        ("tcp", "0.0.0.0", False),
        ("tcp", "::", False),
        ("tcp", "10.1.2.3", False),
        ("udp", "0.0.0.0", False),
        ("tcp", "fe80::1%eth0", False),
    ],
)
def test_loopback_means_this_machine_only(kind: str, address: str, loopback: bool):
    assert Listener(1, "x", kind, address, 1 if kind != "unix" else None).loopback is loopback


def test_problems_name_the_process_and_the_address():
    listeners = [
        Listener(10, "postgres", "tcp", "0.0.0.0", 5432),
        Listener(10, "postgres", "tcp", "127.0.0.1", 5432),
        Listener(11, "python", "tcp", "::", 8501),
    ]
    assert loopback_only_problems(listeners, "PostgreSQL") == [
        "PostgreSQL: postgres (pid 10) listens on tcp 0.0.0.0:5432 — not loopback: bind it to "
        "127.0.0.1 (nginx is the way in)",
        "PostgreSQL: python (pid 11) listens on tcp [::]:8501 — not loopback: bind it to "
        "127.0.0.1 (nginx is the way in)",
    ]
    assert loopback_only_problems(listeners[1:2]) == []


def test_a_childs_listening_socket_counts_for_its_parent(tree: subprocess.Popen[bytes]):
    found = wait_for(tree.pid, children=True)
    assert len(found) == 1
    assert (found[0].kind, found[0].address, found[0].loopback) == ("tcp", "127.0.0.1", True)
    assert found[0].pid != tree.pid
    assert listening_addresses([tree.pid], children=False) == []


def test_a_process_that_does_not_exist_listens_on_nothing():
    assert listening_addresses([2**22 + 12345]) == []  # above Linux's largest pid
