"""The scheduler's fmw:report task: both reports published, failing when a security bar breaks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from fmw.scheduler.jobs import Job
from fmw.scheduler.tasks import TASKS, TaskContext, TaskFailedError
from fmw.settings import Settings
from tests.support.nginx_log import line


def context(tmp_path: Path, conn: psycopg.Connection) -> TaskContext:
    settings = Settings(
        base_dir=tmp_path, edge={"users": {"tester": "127.0.0.1"}, "log_dir": "logs"}
    )
    job = Job(1, "daily-report", "15 0 * * *", "fmw:report", "fmw", "fmw", True)
    return TaskContext(settings, conn, job, lambda _line: None)


def now_line(**fields: object) -> bytes:
    moment = datetime.now(UTC).astimezone()
    return line(time=moment.isoformat(timespec="seconds"), msec=moment.timestamp(), **fields)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs"


def test_the_report_task_publishes_both_reports(
    tmp_path: Path, logs: Path, conn: psycopg.Connection
):
    (logs / "access.log").write_bytes(
        now_line(addr="127.0.0.2", user="", deny="off-list", status=403, upstream="")
    )
    summary = TASKS["fmw:report"](context(tmp_path, conn))
    assert summary.startswith("security since ")
    assert "1 off-list requests, 0 served" in summary and "active" in summary
    names = sorted(p.name for p in (tmp_path / "var" / "admin").iterdir())
    assert names == ["index.html", "security.html", "security.json", "usage.html", "usage.json"]


def test_the_report_task_fails_after_publishing_when_a_bar_is_broken(
    tmp_path: Path, logs: Path, conn: psycopg.Connection
):
    (logs / "access.log").write_bytes(now_line(addr="10.6.6.6", user="", status=200))
    with pytest.raises(TaskFailedError, match=r"a security bar is broken: .*1 served"):
        TASKS["fmw:report"](context(tmp_path, conn))
    assert (tmp_path / "var" / "admin" / "security.json").exists()


def test_the_database_accepts_fmw_report_as_a_job_command(conn: psycopg.Connection):
    jobid = conn.execute("SELECT ops.schedule('edge-report', '@daily', 'fmw:report')").fetchone()
    assert jobid is not None
    row = conn.execute("SELECT command FROM ops.job WHERE jobname = 'edge-report'").fetchone()
    assert row == ("fmw:report",)
