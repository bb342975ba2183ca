"""The doctor's checks on files alone (no database): snapshot, scheduler heartbeat, output."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fmw.cli.doctor import format_check
from fmw.doctor.checks import (
    Check,
    Context,
    check_backup_leftovers,
    check_export_leftovers,
    check_scheduler,
    check_snapshot,
    check_web,
)
from fmw.scheduler.status import FORMAT_VERSION, status_path, write_status
from fmw.settings import Settings
from fmw.snapshot.generations import publish_generation
from tests.support.commands import free_port

NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
MARKS = {True: "OK", False: "BAD", None: "--"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(base_dir=tmp_path, var_dir=tmp_path / "var")


def publish(settings: Settings) -> str:
    def write(folder: Path) -> dict[str, int]:
        (folder / "current_records.csv").write_text("a\n1\n", encoding="utf-8")
        return {"current_records.csv": 1}

    return publish_generation(settings.snapshot_path, write, batches=[1]).id


def test_no_snapshot_is_red_and_says_to_sync(settings: Settings):
    [check] = check_snapshot(Context(settings, NOW))
    assert (check.ok, check.next_step) == (False, "fmw sync")
    assert "no snapshot yet" in check.detail


def test_a_fresh_verified_snapshot_is_green(settings: Settings):
    gen_id = publish(settings)
    [check] = check_snapshot(Context(settings, datetime.now(UTC)))
    assert check.ok is True and check.detail.startswith(gen_id)


def test_an_old_snapshot_is_red(settings: Settings):
    publish(settings)
    later = datetime.now(UTC) + timedelta(days=3)
    [check] = check_snapshot(Context(settings, later))
    assert check.ok is False and "days ago" in check.detail


def test_a_corrupt_newest_snapshot_is_red_while_the_previous_one_serves(settings: Settings):
    first = publish(settings)
    second = publish(settings)
    target = settings.snapshot_path / "generations" / second / "current_records.csv"
    target.write_text("tampered\n", encoding="utf-8")
    [check] = check_snapshot(Context(settings, datetime.now(UTC)))
    assert check.ok is False
    assert check.detail.startswith(f"serving {first}; generation {second}")


def heartbeat(settings: Settings, at: datetime, state: str = "running") -> None:
    write_status(
        status_path(settings),
        {"format_version": FORMAT_VERSION, "state": state, "heartbeat_at": at.isoformat()},
    )


def test_scheduler_without_status_file_is_red(settings: Settings):
    [check] = check_scheduler(Context(settings, NOW))
    assert check.ok is False and "never run" in check.detail


def test_scheduler_with_a_recent_heartbeat_is_green(settings: Settings):
    heartbeat(settings, NOW - timedelta(seconds=20))
    [check] = check_scheduler(Context(settings, NOW))
    assert check.ok is True and "20 s ago" in check.detail


def test_scheduler_with_a_stale_or_stopped_heartbeat_is_red(settings: Settings):
    heartbeat(settings, NOW - timedelta(minutes=10))
    assert next(check_scheduler(Context(settings, NOW))).ok is False
    heartbeat(settings, NOW - timedelta(seconds=5), state="stopped")
    stopped = next(check_scheduler(Context(settings, NOW)))
    assert stopped.ok is False and "(stopped)" in stopped.detail


def test_a_red_line_carries_its_next_step_and_a_green_one_does_not():
    red = format_check(Check("backup", False, "none", "fmw backup"), MARKS)
    green = format_check(Check("backup", True, "fine", "fmw backup"), MARKS)
    assert red == "BAD backup: none [dim]→ fmw backup[/dim]"
    assert green == "OK backup: fine"


def test_no_leftovers_are_green(settings: Settings):
    publish(settings)
    [exports] = check_export_leftovers(Context(settings, NOW))
    [backups] = check_backup_leftovers(Context(settings, NOW))
    assert (exports.ok, exports.detail) == (True, "no .partial generation folder")
    assert (backups.ok, backups.detail) == (True, "no .partial file and no scratch database")


def test_leftovers_of_interrupted_runs_are_red_with_the_next_step(settings: Settings):
    """Without a database no export or backup can be running: what is left is debris."""
    publish(settings)
    partial = settings.snapshot_path / "generations" / "20261127T040000_000000Z.partial"
    partial.mkdir()
    (partial / "current_records.csv").write_bytes(b"x" * 3000)
    settings.backup_path.mkdir(parents=True)
    dump = settings.backup_path / "fmw_20261127T023000Z.dump.partial"
    dump.write_bytes(b"y" * 2048)
    (settings.backup_path / "notes.partial").write_text("not a backup's: never touched")

    [exports] = check_export_leftovers(Context(settings, NOW))
    [backups] = check_backup_leftovers(Context(settings, NOW))

    assert (exports.ok, exports.next_step) == (False, "fmw export (it removes them first)")
    assert exports.detail == (
        f"1 .partial generation folder (2.9 KiB) left by interrupted exports: {partial.name}"
    )
    assert (backups.ok, backups.next_step) == (False, "fmw backup (it removes them first)")
    assert backups.detail == f"{dump.name} (2.0 KiB) left by an interrupted backup"


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok" if self.path == "/api/health" else b"no"
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_port() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_web_app_answering_ok_is_green(tmp_path: Path, web_port: int):
    settings = Settings(base_dir=tmp_path, web={"port": web_port})
    [line] = check_web(Context(settings, NOW))
    assert (line.name, line.ok) == ("web", True)
    assert f"127.0.0.1:{web_port}/api/health answered 'ok'" in line.detail


def test_the_web_app_not_answering_is_red_with_the_next_step(tmp_path: Path):
    settings = Settings(base_dir=tmp_path, web={"port": free_port()})
    [line] = check_web(Context(settings, NOW))
    assert line.ok is False
    assert line.next_step == "fmw service start (or fmw web)"
    off = Settings(base_dir=tmp_path, web={"enabled": False})
    assert [c.ok for c in check_web(Context(off, NOW))] == [None]
