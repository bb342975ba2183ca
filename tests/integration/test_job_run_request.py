""" "Run now": the console asks (ops.request_job_run, as fmw_console), the scheduler runs.

The request is a row in ops.job_run_request, audited in ops.admin_action; a running
scheduler takes it on its next poll (ops.take_job_run_requests, once only) and runs the
job once through the same runner as every fire, so the run lands in ops.job_run_details
with scheduled_for = the time the request was taken, even for an inactive job.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import errors

from fmw.errors import JobNotFoundError
from fmw.scheduler import jobs
from fmw.scheduler.loop import SchedulerService
from tests.support.roles import acting_as
from tests.support.scheduler import add_job, make_settings, runs, wait_idle


@pytest.mark.pg15
def test_the_console_asks_for_a_run_audited_and_the_scheduler_takes_it_once(
    sql_conn: psycopg.Connection,
) -> None:
    with acting_as(sql_conn, "fmw_console"):
        request = sql_conn.execute("SELECT ops.request_job_run('daily-report', 'kim')").fetchone()
    assert request is not None
    pending = sql_conn.execute(
        "SELECT r.request_id, j.jobname, r.requested_by, r.taken_at IS NULL "
        "FROM ops.job_run_request AS r JOIN ops.job AS j USING (jobid)"
    ).fetchall()
    assert pending == [(request[0], "daily-report", "kim", True)]
    audit = sql_conn.execute(
        "SELECT action, target, actor, after ->> 'request_id' FROM ops.admin_action"
    ).fetchall()
    assert audit == [("job.run_now", "daily-report", "kim", str(request[0]))]
    with acting_as(sql_conn, "fmw_loader"):
        taken = sql_conn.execute("SELECT request_id FROM ops.take_job_run_requests()").fetchall()
        again = sql_conn.execute("SELECT request_id FROM ops.take_job_run_requests()").fetchall()
    assert (taken, again) == ([request], [])


@pytest.mark.pg15
def test_a_run_for_an_unknown_job_is_refused_and_nothing_is_written(
    sql_conn: psycopg.Connection,
) -> None:
    with acting_as(sql_conn, "fmw_console"), pytest.raises(errors.NoDataFound) as caught:
        sql_conn.execute("SELECT ops.request_job_run('nightly', 'kim')")
    assert "no job is named 'nightly'" in str(caught.value)
    written = sql_conn.execute(
        "SELECT (SELECT count(*) FROM ops.job_run_request), (SELECT count(*) FROM ops.admin_action)"
    ).fetchone()
    assert written == (0, 0)


@pytest.mark.pg15
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO ops.job_run_request (jobid, requested_by) VALUES (1, 'kim')",
        "UPDATE ops.job_run_request SET taken_at = now()",
        "SELECT * FROM ops.take_job_run_requests()",
    ],
)
def test_the_console_only_asks(sql_conn: psycopg.Connection, statement: str) -> None:
    with acting_as(sql_conn, "fmw_console"), pytest.raises(errors.InsufficientPrivilege) as caught:
        sql_conn.execute(statement)  # type: ignore[arg-type]  # fixed test SQL
    assert "permission denied for" in str(caught.value)


def test_the_scheduler_runs_a_requested_job_on_its_next_poll_and_records_it(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    job = add_job(conn, "tally", "0 3 1 1 *", "SELECT 42")  # next due in months
    conn.execute("UPDATE ops.job SET active = false WHERE jobname = 'tally'")  # and paused
    request_id = jobs.request_run(conn, "tally", actor="kim")
    service = SchedulerService(db_url, make_settings(tmp_path), ZoneInfo("UTC"))
    service.sync_jobs()  # one poll
    wait_idle(service.runner)
    taken = conn.execute(
        "SELECT taken_at FROM ops.job_run_request WHERE request_id = %s", [request_id]
    ).fetchone()
    assert taken is not None and taken[0] is not None
    history = [(r[0], r[1], r[2], r[5]) for r in runs(conn, job)]
    assert history == [(1, "succeeded", "SELECT 1", taken[0])]  # SELECT 42: one row
    service.sync_jobs()  # the next poll finds nothing more to run
    wait_idle(service.runner)
    assert len(runs(conn, job)) == 1


def test_asking_for_a_job_that_does_not_exist_names_it(conn: psycopg.Connection) -> None:
    with pytest.raises(JobNotFoundError, match="no job is named 'nightly'"):
        jobs.request_run(conn, "nightly", actor="kim")


@pytest.mark.pg15
def test_a_request_taken_but_never_run_is_pending_again_and_a_run_one_is_not(
    sql_conn: psycopg.Connection,
) -> None:
    with acting_as(sql_conn, "fmw_console"):
        for _ in range(2):
            sql_conn.execute("SELECT ops.request_job_run('daily-report', 'kim')")
    with acting_as(sql_conn, "fmw_loader"):
        (ran, fire), (lost, _) = sql_conn.execute(
            "SELECT request_id, fire FROM ops.take_job_run_requests() ORDER BY request_id"
        ).fetchall()
        sql_conn.execute(
            "SELECT ops.start_job_run(jobid, %s, 1, 1) FROM ops.job WHERE jobname = 'daily-report'",
            [fire],
        )
        requeued = sql_conn.execute("SELECT ops.requeue_job_run_requests()").fetchone()
        taken = sql_conn.execute("SELECT request_id FROM ops.take_job_run_requests()").fetchall()
    assert requeued == (1,)
    assert taken == [(lost,)]  # the one whose run started stays served
    assert ran != lost


def test_a_scheduler_starting_runs_the_request_one_that_stopped_had_taken(
    conn: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    job = add_job(conn, "tally", "0 3 1 1 *", "SELECT 42")
    request_id = jobs.request_run(conn, "tally", actor="kim")
    jobs.take_run_requests(conn)  # a scheduler took it, then its process died
    service = SchedulerService(db_url, make_settings(tmp_path), ZoneInfo("UTC"))
    service.sync_jobs()  # the new scheduler's first poll
    wait_idle(service.runner)
    history = [(r[1], r[2]) for r in runs(conn, job)]
    assert history == [("succeeded", "SELECT 1")]
    served = conn.execute(
        "SELECT count(*) FROM ops.job_run_request WHERE request_id = %s AND taken_at IS NOT NULL",
        [request_id],
    ).fetchone()
    assert served == (1,)
    service.sync_jobs()  # later polls do not requeue: the run is recorded
    wait_idle(service.runner)
    assert len(runs(conn, job)) == 1


@pytest.mark.pg15
def test_pruning_the_run_history_takes_old_served_requests_with_it(
    sql_conn: psycopg.Connection,
) -> None:
    with acting_as(sql_conn, "fmw_console"):
        sql_conn.execute("SELECT ops.request_job_run('daily-report', 'kim')")
        sql_conn.execute("SELECT ops.request_job_run('daily-report', 'kim')")
    sql_conn.execute(
        "UPDATE ops.job_run_request SET taken_at = now() - interval '40 days' "
        "WHERE request_id = (SELECT min(request_id) FROM ops.job_run_request)"
    )
    with acting_as(sql_conn, "fmw_loader"):
        sql_conn.execute("SELECT ops.prune_job_run_details(interval '30 days')")
    left = sql_conn.execute("SELECT count(*), count(taken_at) FROM ops.job_run_request")
    assert left.fetchone() == (1, 0)  # the pending one stays


@pytest.mark.pg15
def test_the_console_schedules_fmw_tasks_only(sql_conn: psycopg.Connection) -> None:
    with acting_as(sql_conn, "fmw_console"), pytest.raises(errors.InvalidParameterValue) as caught:
        sql_conn.execute("SELECT ops.admin_schedule('purge', '0 3 * * *', 'DELETE FROM x', 'kim')")
    assert "the console schedules FMW tasks only" in str(caught.value)
    assert caught.value.diag.message_hint == (
        "An administrator schedules a SQL job with `fmw job schedule`."
    )
    written = sql_conn.execute(
        "SELECT (SELECT count(*) FROM ops.job WHERE jobname = 'purge'), "
        "(SELECT count(*) FROM ops.admin_action)"
    ).fetchone()
    assert written == (0, 0)
