"""Scheduler test helpers: settings for a test's folder, a job made the only active one, its
run history, and waiting for a runner to go idle.

Its job: the setup scheduler tests share. It must never assert what a run did.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from fmw.scheduler import jobs
from fmw.scheduler.jobs import Job
from fmw.scheduler.runner import JobRunner
from fmw.settings import SchedulerSettings, Settings


def make_settings(tmp_path: Path, **scheduler: object) -> Settings:
    options: dict[str, object] = {"time_zone": "UTC", "retry_delay_seconds": 0.05}
    options.update(scheduler)
    return Settings(
        base_dir=tmp_path, var_dir=tmp_path / "var", scheduler=SchedulerSettings(**options)
    )


def add_job(conn: psycopg.Connection, name: str, schedule: str, command: str) -> Job:
    conn.execute("UPDATE ops.job SET active = false WHERE jobname <> %s", [name])
    jobs.schedule_job(conn, name, schedule, command)
    return jobs.get_job(conn, name)


def runs(conn: psycopg.Connection, job: Job) -> list[tuple]:
    return conn.execute(
        "SELECT attempt, status, return_message, start_time, end_time, scheduled_for "
        "FROM ops.job_run_details WHERE jobid = %s ORDER BY runid",
        [job.jobid],
    ).fetchall()


def wait_idle(runner: JobRunner, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while runner.busy():
        assert time.monotonic() < deadline, "the runner did not finish in time"
        time.sleep(0.02)
