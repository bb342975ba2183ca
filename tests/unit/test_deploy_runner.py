"""The deploy's machinery without venvs: health polling, commands, the lock, failures, processes."""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmw.deploy import step as deploy
from fmw.deploy.plan import Command, DeployOptions
from fmw.deploy.processes import START_MARK, ProcessBackend, ServiceProcess
from fmw.deploy.release import Layout, read_current, read_state
from fmw.deploy.step import (
    EXIT_ATTENTION,
    EXIT_FAILED,
    Deployer,
    DeployLog,
    child_environment,
    deploy_lock,
    make_plan,
    run_command,
    wait_healthy,
)
from fmw.errors import DeployBusyError, DeployError
from tests.support.deploy_bundles import make_bundle


def logged() -> tuple[DeployLog, io.StringIO]:
    out = io.StringIO()
    return DeployLog(out), out


@pytest.fixture
def health_server() -> Iterator[dict[str, object]]:
    """A local HTTP server whose /_stcore/health answers what the test sets."""
    state: dict[str, object] = {"status": 200, "body": b"ok"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state["body"]
            assert isinstance(body, bytes)
            self.send_response(int(str(state["status"])))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/_stcore/health"
    yield state
    server.shutdown()
    server.server_close()


def test_a_dashboard_answering_ok_is_healthy(health_server: dict[str, object]):
    log, out = logged()
    wait_healthy([("FMW-Dashboard", str(health_server["url"]), "dashboard")], 5, log)
    assert f"FMW-Dashboard: {health_server['url']} answered ok after" in out.getvalue()


def test_a_dashboard_answering_an_error_fails_at_the_deadline(health_server: dict[str, object]):
    health_server.update(status=503, body=b"starting")
    log, _out = logged()
    started = time.monotonic()
    with pytest.raises(DeployError, match=r"did not answer ok within 1 s \(last: HTTP 503\)"):
        wait_healthy([("FMW-Dashboard", str(health_server["url"]), None)], 1, log)
    assert time.monotonic() - started < 5


def test_a_dashboard_process_that_exits_fails_at_once_with_its_log(tmp_path: Path):
    log_file = tmp_path / "FMW-Dashboard.log"
    log_file.write_text(f"old run\n{START_MARK} (1.1.0-B) ---\nImportError: no module x\n")
    log, _out = logged()
    started = time.monotonic()
    with pytest.raises(DeployError) as failed:
        wait_healthy(
            [("FMW-Dashboard", "http://127.0.0.1:9/_stcore/health", "dashboard")],
            60,
            log,
            exited=lambda key: 3,
            log_files={"dashboard": str(log_file)},
        )
    assert time.monotonic() - started < 10
    assert str(failed.value).startswith("FMW-Dashboard exited (code 3) before")
    assert str(failed.value).endswith(f"last lines of {log_file}: ImportError: no module x")


def test_a_failing_command_names_itself_and_its_output_is_logged(tmp_path: Path):
    log, out = logged()
    command = Command((sys.executable, "-c", "print('half done'); raise SystemExit(4)"))
    with pytest.raises(DeployError, match=r"failed \(exit code 4\)"):
        run_command(command, tmp_path, log, windows=False)
    assert "  | half done" in out.getvalue()


def test_commands_see_no_pip_configuration(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://example.invalid/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/elsewhere")
    env = child_environment((("FMW_SERVICE__PYTHON", "/x/python"),))
    assert "PIP_INDEX_URL" not in env and "PIP_FIND_LINKS" not in env
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["FMW_SERVICE__PYTHON"] == "/x/python"


def test_a_second_deploy_of_the_same_root_is_refused(tmp_path: Path):
    layout = Layout(tmp_path)
    with (
        deploy_lock(layout),
        pytest.raises(DeployBusyError, match="another deploy holds"),
        deploy_lock(layout),
    ):
        pass


def test_a_failure_before_the_services_changes_nothing_but_the_new_folder(tmp_path: Path):
    root = tmp_path / "root"
    options = DeployOptions(
        release=make_bundle(tmp_path), root=root, python=tmp_path / "no-such-python"
    )
    plan = make_plan(options)
    log, _out = logged()
    log.open(plan.layout.log_file)
    assert Deployer(plan, log).deploy() == EXIT_FAILED
    log.close()
    assert read_current(plan.layout) is None
    assert read_state(plan.release_dir)["state"] == "failed"
    text = plan.layout.log_file.read_text()
    assert "[venv] FAILED: `" in text
    assert "the services were not touched: no release stays active" in text


def test_without_a_previous_release_a_failed_switch_needs_attention(tmp_path: Path):
    plan = make_plan(DeployOptions(release=make_bundle(tmp_path), root=tmp_path / "root"))
    plan.release_dir.mkdir(parents=True)
    log, out = logged()
    assert Deployer(plan, log).rollback("health: timed out") == EXIT_ATTENTION
    current = read_current(plan.layout)
    assert current is not None and current.pending == plan.release_id
    assert current.last_failed is not None and current.last_failed["reason"] == "health: timed out"
    assert "no previous release to roll back to" in out.getvalue()


def test_main_reports_a_busy_root_without_deploying(tmp_path: Path):
    bundle = make_bundle(tmp_path)
    root = tmp_path / "root"
    out = io.StringIO()
    with deploy_lock(Layout(root)):
        code = deploy.main([str(bundle), "--root", str(root)], stream=out)
    assert code == EXIT_FAILED
    assert "error: another deploy holds" in out.getvalue()
    assert [p.name for p in (root / "releases").iterdir()] == ["deploy.lock"]


# --- the process backend ---------------------------------------------------------------


def sleeper(tmp_path: Path, key: str = "dashboard") -> ServiceProcess:
    return ServiceProcess(
        key=key,
        name="FMW-Dashboard",
        argv=(sys.executable, "-c", "import time; time.sleep(60)"),
        working_dir=str(tmp_path),
        environment=(("FMW_TEST_MARK", "1"),),
        log_file=str(tmp_path / "logs" / "FMW-Dashboard.log"),
    )


def test_the_process_backend_starts_records_and_stops_a_service(tmp_path: Path):
    backend = ProcessBackend(Layout(tmp_path), lambda line: None)
    backend.start([sleeper(tmp_path)], "1.0.0-A")
    record = backend.records()["dashboard"]
    assert record["release"] == "1.0.0-A" and backend.running(record)
    assert backend.exit_code("dashboard") is None
    backend.stop(["dashboard"], grace_seconds=5)
    assert not backend.running(record)
    assert json.loads(Layout(tmp_path).processes_file.read_text()) == {}
    assert START_MARK in (tmp_path / "logs" / "FMW-Dashboard.log").read_text()


def test_a_recorded_pid_running_another_command_is_never_signalled(tmp_path: Path):
    layout = Layout(tmp_path)
    layout.releases.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = {"pid": other.pid, "name": "FMW-Dashboard", "argv": ["/old/python", "-m", "fmw"]}
        layout.processes_file.write_text(json.dumps({"dashboard": record}))
        backend = ProcessBackend(layout, lambda line: None)
        backend.stop(["dashboard"], grace_seconds=1)
        assert other.poll() is None  # still running: the pid now belongs to someone else
        assert backend.records() == {}
    finally:
        other.kill()
        other.wait()


def test_health_goes_through_nginx_when_the_release_names_its_url(
    tmp_path: Path, health_server: dict[str, object]
):
    health_server.update(status=502, body=b"Bad Gateway")
    plan = make_plan(
        DeployOptions(release=make_bundle(tmp_path), root=tmp_path / "root", health_timeout=1)
    )
    deployer = Deployer(plan, logged()[0])
    deployer.description = {"dashboards": [], "nginx_health_url": str(health_server["url"])}
    health = next(step for step in plan.steps() if step.key == "health")
    with pytest.raises(
        DeployError, match=r"^nginx: .* did not answer ok within 1 s \(last: HTTP 502\)"
    ):
        deployer.do(health)


def test_health_without_nginx_says_it_is_not_configured(tmp_path: Path):
    plan = make_plan(DeployOptions(release=make_bundle(tmp_path), root=tmp_path / "root"))
    log, out = logged()
    deployer = Deployer(plan, log)
    deployer.description = {"dashboards": [], "nginx_health_url": None}
    deployer.do(next(step for step in plan.steps() if step.key == "health"))
    skipped = "through nginx: skipped (nginx not configured; --nginx-url URL checks it)"
    assert skipped in out.getvalue()
