"""ops.job, ops.job_run_details and their functions, checked in SQL (default server and PG 15)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors, sql

from fmw.scheduler.cron import schedule_problem
from tests.support import cron_corpus
from tests.support.cron_strategies import near_misses, schedules

DEFAULT_JOBS = [
    ("daily-sync", "0 6 * * *", "fmw:sync"),
    ("daily-backup", "30 23 * * *", "fmw:backup"),
    ("weekly-prune-history", "0 5 * * 0", "fmw:prune"),
    ("daily-report", "15 0 * * *", "fmw:report"),
]


@contextlib.contextmanager
def acting_as(conn: psycopg.Connection, role: str) -> Iterator[None]:
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        yield
    finally:
        conn.execute("RESET ROLE")


def add_run(conn: psycopg.Connection, day_offset: int, status: str, *, hour: int = 6) -> None:
    """A fmw:sync run of the daily-sync job, ``day_offset`` days from today."""
    conn.execute(
        "INSERT INTO ops.job_run_details (jobid, command, status, start_time, end_time, "
        "scheduled_for, attempt) SELECT jobid, 'fmw:sync', %s, t, t, t, "
        "(SELECT count(*) + 1 FROM ops.job_run_details WHERE scheduled_for = t) "
        "FROM ops.job, LATERAL (SELECT current_date + %s + make_interval(hours => %s) AS t) AS x "
        "WHERE jobname = 'daily-sync'",
        [status, day_offset, hour],
    )


def rate(conn: psycopg.Connection, days: int | None = None) -> tuple:
    if days is None:
        return conn.execute(
            "SELECT days_counted, days_succeeded, success_rate, failed_days "
            "FROM ops.sync_success_rate"
        ).fetchone()
    return conn.execute(
        "SELECT days_counted, days_succeeded, success_rate, failed_days "
        "FROM ops.sync_success_rate_over(%s)",
        [days],
    ).fetchone()


# --- the schedule grammar, in SQL and in Python -----------------------------------------------


def sql_problem(conn: psycopg.Connection, text: str) -> str | None:
    """ops.schedule_problem's verdict: None when valid, else the reason."""
    return conn.execute("SELECT ops.schedule_problem(%s)", [text]).fetchone()[0]


def short(text: str) -> str:
    return repr(text if len(text) <= 30 else text[:27] + "...")


@pytest.mark.pg15
@pytest.mark.parametrize("text", cron_corpus.VALID, ids=short)
def test_sql_and_python_accept_every_valid_schedule_of_the_corpus(
    sql_conn: psycopg.Connection, text: str
):
    assert (schedule_problem(text), sql_problem(sql_conn, text)) == (None, None)


@pytest.mark.pg15
@pytest.mark.parametrize(
    ("text", "reason"), cron_corpus.INVALID, ids=[short(t) for t, _ in cron_corpus.INVALID]
)
def test_sql_and_python_refuse_every_invalid_schedule_of_the_corpus_with_the_same_reason(
    sql_conn: psycopg.Connection, text: str, reason: str
):
    python, sql = schedule_problem(text), sql_problem(sql_conn, text)
    assert python is not None and reason in python, f"Python says {python!r}"
    assert sql == python, "ops.schedule_problem gives fmw.scheduler.cron's reason word for word"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        schedules,
        near_misses,
        st.text(alphabet="0123456789*/,-$@ abcdefjmnorstuy\t;", max_size=25),
        st.lists(
            st.sampled_from(["*", "*/5", "1-5", "0", "7", "$", "mon", "x/2", "3/4"]),
            min_size=1,
            max_size=6,
        ).map(" ".join),
    )
)
def test_sql_and_python_agree_on_generated_schedules(conn: psycopg.Connection, text: str):
    assert sql_problem(conn, text) == schedule_problem(text)


@given(schedules)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_generated_well_formed_schedules_are_valid_in_both_unless_they_never_fire(
    conn: psycopg.Connection, text: str
):
    verdicts = {schedule_problem(text), sql_problem(conn, text)}
    assert verdicts <= {None, "it never fires: none of its months has the days of month it names"}
    assert len(verdicts) == 1


@pytest.mark.pg15
def test_an_invalid_schedule_cannot_be_stored_even_directly(sql_conn: psycopg.Connection):
    with pytest.raises(errors.CheckViolation, match="job_schedule_check"):
        sql_conn.execute(
            "INSERT INTO ops.job (jobname, schedule, command) "
            "VALUES ('x', '61 * * * *', 'select 1')"
        )


# --- schedule / unschedule -------------------------------------------------------------------


@pytest.mark.pg15
def test_the_migration_creates_the_default_jobs(sql_conn: psycopg.Connection):
    rows = sql_conn.execute(
        "SELECT jobname, schedule, command FROM ops.job WHERE active ORDER BY jobid"
    ).fetchall()
    assert rows == DEFAULT_JOBS


@pytest.mark.pg15
def test_schedule_creates_a_job_run_as_the_caller(sql_conn: psycopg.Connection):
    jobid = sql_conn.execute(
        "SELECT ops.schedule('vacuum-nightly', '0 3 * * *', 'VACUUM')"
    ).fetchone()[0]
    row = sql_conn.execute(
        "SELECT schedule, command, username = session_user, database = current_database(), "
        "active FROM ops.job WHERE jobid = %s",
        [jobid],
    ).fetchone()
    assert row == ("0 3 * * *", "VACUUM", True, True, True)


@pytest.mark.pg15
def test_schedule_with_an_existing_name_updates_that_job(sql_conn: psycopg.Connection):
    first = sql_conn.execute("SELECT ops.schedule('daily-sync', '0 7 * * 1-5', 'fmw:sync')")
    jobid = first.fetchone()[0]
    count = sql_conn.execute("SELECT count(*) FROM ops.job WHERE jobname = 'daily-sync'")
    schedule = sql_conn.execute("SELECT schedule FROM ops.job WHERE jobid = %s", [jobid])
    assert (count.fetchone()[0], schedule.fetchone()[0], jobid) == (1, "0 7 * * 1-5", 1)


@pytest.mark.pg15
@pytest.mark.parametrize(
    ("name", "schedule", "command", "message"),
    [
        ("x", "0 0 30 2 *", "select 1", "invalid schedule '0 0 30 2 \\*': it never fires"),
        ("x", "* * * *", "select 1", "has 5 fields"),
        ("x", "@daily", "fmw:launch", "unknown FMW task fmw:launch"),
        ("x", "@daily", "  ", "the command is empty"),
        ("bad name", "@daily", "select 1", "invalid job name 'bad name'"),
    ],
)
def test_schedule_refuses_bad_input_with_the_reason(
    sql_conn: psycopg.Connection, name: str, schedule: str, command: str, message: str
):
    with pytest.raises(errors.InvalidParameterValue, match=message):
        sql_conn.execute("SELECT ops.schedule(%s, %s, %s)", [name, schedule, command])
    assert sql_conn.execute("SELECT count(*) FROM ops.job").fetchone()[0] == len(DEFAULT_JOBS)


@pytest.mark.pg15
def test_unschedule_deletes_the_job_and_keeps_its_history(sql_conn: psycopg.Connection):
    add_run(sql_conn, -1, "succeeded")
    assert sql_conn.execute("SELECT ops.unschedule('daily-sync')").fetchone() == (True,)
    assert sql_conn.execute("SELECT count(*) FROM ops.job_run_details").fetchone() == (1,)
    assert sql_conn.execute("SELECT count(*) FROM ops.job").fetchone() == (len(DEFAULT_JOBS) - 1,)


@pytest.mark.pg15
def test_unschedule_of_an_unknown_job_says_so(sql_conn: psycopg.Connection):
    with pytest.raises(errors.NoDataFound, match="could not find a job named 'nope'"):
        sql_conn.execute("SELECT ops.unschedule('nope')")


@pytest.mark.pg15
def test_audited_schedule_and_unschedule_record_before_and_after(sql_conn: psycopg.Connection):
    """`fmw job schedule` / `unschedule` go through these: the change and who made it."""
    sql_conn.execute("SELECT ops.audited_schedule('daily-sync', '0 7 * * *', 'fmw:sync', 'kim')")
    sql_conn.execute("SELECT ops.audited_unschedule('daily-sync', 'lee')")
    rows = sql_conn.execute(
        "SELECT action, actor, before ->> 'schedule', after ->> 'schedule' "
        "FROM ops.admin_action WHERE target = 'daily-sync' ORDER BY action_id"
    ).fetchall()
    default = next(j for j in DEFAULT_JOBS if j[0] == "daily-sync")[1]
    assert rows == [
        ("job.schedule", "kim", default, "0 7 * * *"),
        ("job.unschedule", "lee", "0 7 * * *", None),
    ]
    with pytest.raises(errors.NoDataFound, match="could not find a job named 'daily-sync'"):
        sql_conn.execute("SELECT ops.audited_unschedule('daily-sync', 'lee')")


# --- privileges ------------------------------------------------------------------------------


@pytest.mark.pg15
def test_the_loader_reads_jobs_but_job_changes_go_through_the_owner(
    sql_conn: psycopg.Connection,
):
    sql_conn.execute("SELECT ops.schedule('owner-job', '*/5 * * * *', 'SELECT 1')")
    with acting_as(sql_conn, "fmw_loader"):
        names = sql_conn.execute("SELECT jobname FROM ops.job ORDER BY jobid").fetchall()
        rate_row = sql_conn.execute("SELECT days_counted FROM ops.sync_success_rate").fetchone()
    assert names[-1] == ("owner-job",)
    assert rate_row == (0,)
    for statement in (
        "SELECT ops.schedule('loader-job', '*/5 * * * *', 'SELECT 1')",
        "SELECT ops.unschedule('owner-job')",
    ):
        with acting_as(sql_conn, "fmw_loader"), pytest.raises(errors.InsufficientPrivilege):
            sql_conn.execute(statement)


@pytest.mark.pg15
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ops.job SET command = 'DROP TABLE core.record'",
        "DELETE FROM ops.job",
        "INSERT INTO ops.job_run_details (jobid, status) VALUES (1, 'succeeded')",
        "DELETE FROM ops.job_run_details",
    ],
)
def test_the_loader_cannot_write_the_job_tables_directly(
    sql_conn: psycopg.Connection, statement: str
):
    with acting_as(sql_conn, "fmw_loader"), pytest.raises(errors.InsufficientPrivilege):
        sql_conn.execute(statement)


@pytest.mark.pg15
def test_the_reader_cannot_see_jobs(sql_conn: psycopg.Connection):
    with acting_as(sql_conn, "fmw_reader"), pytest.raises(errors.InsufficientPrivilege):
        sql_conn.execute("SELECT * FROM ops.job")


# --- runs ------------------------------------------------------------------------------------


@pytest.mark.pg15
def test_a_fire_can_be_claimed_once(sql_conn: psycopg.Connection):
    claim = "SELECT ops.start_job_run(1, '2024-05-01 06:00+00', 1, pg_backend_pid())"
    first = sql_conn.execute(claim).fetchone()[0]
    second = sql_conn.execute(claim).fetchone()[0]
    row = sql_conn.execute(
        "SELECT status, command, attempt FROM ops.job_run_details WHERE runid = %s", [first]
    ).fetchone()
    assert (first is not None, second, row) == (True, None, ("running", "fmw:sync", 1))


@pytest.mark.pg15
def test_finish_and_interrupt_record_how_runs_ended(sql_conn: psycopg.Connection):
    done = sql_conn.execute("SELECT ops.start_job_run(1, now(), 1, NULL)").fetchone()[0]
    stale = sql_conn.execute("SELECT ops.start_job_run(2, now(), 1, NULL)").fetchone()[0]
    sql_conn.execute("SELECT ops.finish_job_run(%s, 'failed', 'boom')", [done])
    count = sql_conn.execute("SELECT ops.interrupt_unfinished_runs(2, 'crashed')").fetchone()[0]
    rows = sql_conn.execute(
        "SELECT runid, status, return_message, end_time IS NOT NULL FROM ops.job_run_details "
        "ORDER BY runid"
    ).fetchall()
    assert count == 1
    assert rows == [(done, "failed", "boom", True), (stale, "interrupted", "crashed", True)]


@pytest.mark.pg15
def test_finish_refuses_an_unknown_status(sql_conn: psycopg.Connection):
    with pytest.raises(errors.InvalidParameterValue, match="not running"):
        sql_conn.execute("SELECT ops.finish_job_run(1, 'running', '')")


@pytest.mark.pg15
def test_prune_deletes_finished_runs_older_than_the_age(sql_conn: psycopg.Connection):
    for days_ago, status in [(100, "succeeded"), (100, "running"), (10, "failed")]:
        sql_conn.execute(
            "INSERT INTO ops.job_run_details (jobid, status, start_time) "
            "VALUES (1, %s, now() - make_interval(days => %s))",
            [status, days_ago],
        )
    deleted = sql_conn.execute("SELECT ops.prune_job_run_details('90 days')").fetchone()[0]
    left = sql_conn.execute("SELECT status FROM ops.job_run_details ORDER BY 1").fetchall()
    assert (deleted, left) == (1, [("failed",), ("running",)])


@pytest.mark.pg15
def test_prune_refuses_to_keep_less_than_a_day(sql_conn: psycopg.Connection):
    with pytest.raises(errors.InvalidParameterValue, match="at least 1 day"):
        sql_conn.execute("SELECT ops.prune_job_run_details('1 hour')")


# --- success rate ----------------------------------------------------------------------------


@pytest.mark.pg15
def test_success_rate_is_null_before_any_sync(sql_conn: psycopg.Connection):
    assert rate(sql_conn) == (0, 0, None, [])


@pytest.mark.pg15
def test_success_rate_counts_days_with_a_successful_attempt(sql_conn: psycopg.Connection):
    add_run(sql_conn, -4, "succeeded")
    add_run(sql_conn, -3, "failed")
    add_run(sql_conn, -3, "succeeded", hour=7)  # a retry that worked saves the day
    add_run(sql_conn, -2, "failed")
    add_run(sql_conn, -2, "failed", hour=7)
    # day -1: no sync at all (the scheduler was down)
    counted, succeeded, share, failed = rate(sql_conn)
    today = sql_conn.execute("SELECT current_date").fetchone()[0]
    assert (counted, succeeded, share) == (4, 2, pytest.approx(0.5))
    assert [(today - d).days for d in failed] == [2, 1]


@pytest.mark.pg15
def test_today_counts_only_once_a_sync_ran(sql_conn: psycopg.Connection):
    add_run(sql_conn, -1, "succeeded")
    before = rate(sql_conn)
    add_run(sql_conn, 0, "succeeded", hour=0)
    after = rate(sql_conn)
    assert (before[0], after[0]) == (1, 2)


@pytest.mark.pg15
def test_the_window_is_a_parameter(sql_conn: psycopg.Connection):
    add_run(sql_conn, -40, "failed")
    add_run(sql_conn, -1, "succeeded")
    assert rate(sql_conn, 3)[:3] == (2, 1, pytest.approx(0.5))  # today has no sync yet
    assert rate(sql_conn)[0] == 29  # the view: the last 30 days, today not yet run
    assert rate(sql_conn, 60)[0] == 40  # from the first sync ever, 40 days ago


@pytest.mark.pg15
def test_the_window_must_be_a_day_or_more(sql_conn: psycopg.Connection):
    with pytest.raises(errors.InvalidParameterValue, match="1 day or more"):
        sql_conn.execute("SELECT * FROM ops.sync_success_rate_over(0)")
