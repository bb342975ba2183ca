"""Helpers for the edge tests: a real nginx + dashboards site on loopback, and clients that
speak from a chosen loopback address (127.0.0.2 is "another machine" for nginx's allowlist).

``running_site`` writes an ``fmw.toml`` with an ``[edge]`` section into a fresh
world-readable folder (nginx's workers run as ``nobody`` when the tests run as
root), publishes the hand-made snapshot of ``tests/ui_snapshot.py``, renders
the site with the real ``fmw nginx render`` (which runs ``nginx -t``), starts
one ``fmw ui`` per dashboard port and Debian's nginx as its own process with
its own prefix on a high loopback port — never the system service — and stops
everything afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.commands import FMW, clean_env, free_port, start_ui, stop, wait_for_health
from tests.support.ui_snapshot import metric_cards, publish_fixture

NGINX = Path("/usr/sbin/nginx")
NGINX_ARGS = ("-c", "conf/nginx.conf", "-g", "daemon off;")  # as the FMW-Nginx service
USER = "127.0.0.1"  # on the users allowlist as "tester"
OFF_LIST = "127.0.0.2"  # on no list
ADMIN = "127.0.0.3"  # on the admins allowlist as "ops"
FLOOD = "127.0.0.4"  # an admin of its own, for the rate limit (nginx answers /api/dev/ itself)
LAB = "127.0.1.0/24"  # users allowlisted as "lab": many addresses for sticky sessions
EDGE = {
    "users": {"tester": USER, "lab": LAB},
    "admins": {"ops": ADMIN, "flood": FLOOD},
    "rate_per_second": 20,
    "rate_burst": 200,
}


@dataclass
class Site:
    """A running edge: nginx on ``port`` in front of dashboards on ``dashboard_ports``."""

    folder: Path
    port: int
    dashboard_ports: list[int]
    web_port: int | None = None
    processes: dict[str, subprocess.Popen[Any]] = field(default_factory=dict)

    @property
    def prefix(self) -> Path:
        return self.folder / "nginx"

    @property
    def logs(self) -> Path:
        return self.prefix / "logs"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, name: str = "access.log") -> list[dict[str, Any]]:
        path = self.logs / name
        if not path.exists():
            return []
        text = path.read_bytes().decode("utf-8", errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def fmw(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*FMW, *args],
            cwd=self.folder,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"fmw {' '.join(args)}: {result.stdout}{result.stderr}"
        return result


def write_settings(
    folder: Path, port: int, dashboard_ports: list[int], web_port: int | None = None, **edge: Any
) -> Path:
    values = {**EDGE, "listen": [f"127.0.0.1:{port}"], **edge}
    lines = ["[edge]"]
    tables = []
    for key, value in values.items():
        if isinstance(value, dict):
            tables.append(f"[edge.{key}]")
            tables += [f"{json.dumps(name)} = {json.dumps(v)}" for name, v in value.items()]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    lines += tables
    lines += ["[service]", f"dashboard_ports = {json.dumps(dashboard_ports)}"]
    if web_port is not None:
        lines += ["[web]", f"port = {web_port}"]
    path = folder / "fmw.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def new_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fmw-edge-"))
    folder.chmod(0o755)  # nginx's workers (nobody) must reach the admin and snapshot folders
    return folder


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited with {process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port} within {timeout} s")


@contextlib.contextmanager
def running_site(
    dashboards: int = 2, *, web_database: str | None = None, **edge: Any
) -> Iterator[Site]:
    """The site; with ``web_database`` also ``fmw web`` (connecting there) behind /api/."""
    folder = new_folder()
    site = Site(folder, free_port(), [free_port() for _ in range(dashboards)])
    if web_database is not None:
        site.web_port = free_port()
    try:
        write_settings(folder, site.port, site.dashboard_ports, site.web_port, **edge)
        publish_fixture(folder / "var" / "snapshots")
        (folder / "var" / "snapshots" / "scheduler-status.json").write_text(
            json.dumps({"format_version": 1, "state": "running", "banner": None}) + "\n"
        )
        rendered = site.fmw("nginx", "render")
        assert "nginx -t accepted it" in rendered.stdout, rendered.stdout + rendered.stderr
        for number, port in enumerate(site.dashboard_ports, start=1):
            log = folder / f"ui-{port}.log"
            site.processes[f"dashboard-{number}"] = start_ui(folder, port, log)
        if web_database is not None:
            with (folder / "web.log").open("w") as out:
                site.processes["web"] = subprocess.Popen(
                    [*FMW, "web"],
                    cwd=folder,
                    env={**clean_env(), "FMW_DATABASE_URL": web_database},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
        with (folder / "nginx.out").open("w") as out:
            nginx = subprocess.Popen(
                [str(NGINX), "-p", f"{site.prefix.as_posix()}/", *NGINX_ARGS],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        site.processes["nginx"] = nginx
        wait_for_port(site.port, nginx)
        for number, port in enumerate(site.dashboard_ports, start=1):
            process = site.processes[f"dashboard-{number}"]
            wait_for_health(f"http://127.0.0.1:{port}/_stcore/health", process)
        if "web" in site.processes:
            openapi = f"http://127.0.0.1:{site.web_port}/api/v1/openapi.json"
            wait_for_health(openapi, site.processes["web"])
        yield site
    finally:
        if "nginx" in site.processes:
            stop(site.processes["nginx"], signal.SIGQUIT)
        for name, process in site.processes.items():
            if name != "nginx":
                stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def request(
    port: int,
    path: str,
    *,
    source: str = USER,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    """One HTTP request to nginx from the loopback address ``source``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def raw_request(port: int, data: bytes, *, source: str = USER) -> int:
    """Send ``data`` as it is (a request http.client would refuse to write); nginx's status."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=15, source_address=(source, 0)
    ) as sock:
        sock.sendall(data)
        reply = b""
        while b"\r\n" not in reply and (chunk := sock.recv(4096)):
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0].decode("latin-1")
    return int(status_line.split()[1])


def streamlit_session(port: int, source: str, timeout: float = 30) -> list[Any]:
    """A dashboard session over the WebSocket through nginx, as the browser starts one.

    Sends Streamlit's ``rerun_script`` and returns every ForwardMsg up to
    ``script_finished``: the home page, rendered by whichever process nginx chose.
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect
    from websockets.typing import Subprotocol

    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )
    messages: list[Any] = []
    with connect(
        f"ws://127.0.0.1:{port}/_stcore/stream",
        sock=sock,
        subprotocols=[Subprotocol("streamlit")],
        open_timeout=timeout,
    ) as ws:
        hello = BackMsg()
        hello.rerun_script.query_string = ""
        hello.rerun_script.page_script_hash = ""
        ws.send(hello.SerializeToString())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=timeout))
            messages.append(message)
            if message.WhichOneof("type") == "script_finished":
                break
    return messages


def metrics(messages: list[Any]) -> dict[str, str]:
    """label -> value of Home's numbers (cards in its HTML block) in a session's messages."""
    found = {}
    for message in messages:
        if message.WhichOneof("type") != "delta":
            continue
        element = message.delta.new_element
        if element.WhichOneof("type") == "html":
            found.update(metric_cards(element.html.body))
    return found


def wait_for_log(
    site: Site, predicate: Any, name: str = "access.log", timeout: float = 15, count: int = 1
) -> list:
    """The log entries matching ``predicate``, once there are at least ``count`` (nginx
    writes each request's line when it closes it, not before the client has its answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in site.log(name) if predicate(entry)]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} matching lines in {name} within {timeout} s")
