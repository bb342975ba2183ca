"""Scheduled jobs in the database: read them, schedule and unschedule them, read run history.

Its job: the one place Python talks to ``ops.job`` and ``ops.job_run_details``
(through the functions in ``db/functions/50_jobs.sql`` for every write), plus
the scheduler's time zone. It must never run a job (that is
``fmw.scheduler.runner``) nor decide when one fires (that is ``fmw.scheduler.cron``).
"""

from __future__ import annotations

import contextlib
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, tzinfo

import psycopg
from psycopg import errors
from psycopg.rows import class_row, dict_row

from fmw.errors import JobError, JobNotFoundError, SettingsError
from fmw.scheduler.cron import Schedule, parse_schedule
from fmw.settings import Settings

TASKS = ("fmw:sync", "fmw:export", "fmw:backup", "fmw:prune", "fmw:report")
LOCK_CLASS = 1179473738  # "FMWJ": pg_advisory_lock(LOCK_CLASS, jobid) while a job runs


@dataclass(frozen=True)
class Job:
    """One row of ``ops.job``."""

    jobid: int
    jobname: str
    schedule: str
    command: str
    database: str
    username: str
    active: bool

    @property
    def parsed(self) -> Schedule:
        return parse_schedule(self.schedule)

    @property
    def is_task(self) -> bool:
        """An FMW task (``fmw:sync`` …) rather than SQL."""
        return self.command.startswith("fmw:")


@dataclass(frozen=True)
class Run:
    """One row of ``ops.job_run_details`` with its job's name."""

    runid: int
    jobid: int
    jobname: str | None
    command: str | None
    status: str | None
    return_message: str | None
    start_time: datetime | None
    end_time: datetime | None
    scheduled_for: datetime | None
    attempt: int


_JOB_COLUMNS = "jobid, jobname, schedule, command, database, username, active"
_RUN_QUERY = """
SELECT r.runid, r.jobid, j.jobname, r.command, r.status, r.return_message, r.start_time,
       r.end_time, r.scheduled_for, r.attempt
FROM ops.job_run_details AS r LEFT JOIN ops.job AS j USING (jobid)
"""


def scheduler_zone(settings: Settings) -> tzinfo:
    """The time zone schedules are read in: the setting, else this computer's."""
    name = settings.scheduler.time_zone
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"setting 'scheduler.time_zone': unknown time zone {name!r} "
                "(use an IANA name such as Asia/Seoul or UTC)"
            ) from exc
    import tzlocal  # installed with APScheduler 3; maps Windows zone names to IANA ones

    try:
        return tzlocal.get_localzone()
    except Exception:  # tzlocal raises its own errors for broken local configurations
        return zoneinfo.ZoneInfo("UTC")


def zone_name(zone: tzinfo) -> str:
    """An IANA name for ``zone`` (for PostgreSQL's SET TIME ZONE), UTC when unknown."""
    return str(getattr(zone, "key", None) or getattr(zone, "zone", None) or "UTC")


def load_jobs(conn: psycopg.Connection) -> list[Job]:
    """Every job, by id."""
    with conn.cursor(row_factory=class_row(Job)) as cur:
        return cur.execute(f"SELECT {_JOB_COLUMNS} FROM ops.job ORDER BY jobid").fetchall()


def get_job(conn: psycopg.Connection, name: str) -> Job:
    """The job called ``name``; JobNotFoundError when there is none."""
    with conn.cursor(row_factory=class_row(Job)) as cur:
        job = cur.execute(
            f"SELECT {_JOB_COLUMNS} FROM ops.job WHERE jobname = %s", [name]
        ).fetchone()
    if job is None:
        raise JobNotFoundError(f"no job is named {name!r} (see `fmw job list`)")
    return job


def job_by_id(conn: psycopg.Connection, jobid: int) -> Job | None:
    with conn.cursor(row_factory=class_row(Job)) as cur:
        return cur.execute(
            f"SELECT {_JOB_COLUMNS} FROM ops.job WHERE jobid = %s", [jobid]
        ).fetchone()


ADMIN_ONLY = (
    "jobs are changed by the admin login (a member of fmw_owner, e.g. fmw_admin), not the "
    "loader login: run this with FMW_DATABASE_URL=postgresql://fmw_admin@HOST/fmw"
)


def check_command(command: str) -> None:
    """JobError unless ``command`` is non-empty SQL or a known FMW task."""
    if not command.strip():
        raise JobError("the command is empty: give SQL or one of " + ", ".join(TASKS))
    if command.startswith("fmw:") and command not in TASKS:
        raise JobError(f"unknown FMW task {command!r}: use one of {', '.join(TASKS)}")


def schedule_job(
    conn: psycopg.Connection,
    name: str,
    schedule: str,
    command: str,
    *,
    actor: str | None = None,
    console: bool = False,
) -> int:
    """Create or change the job ``name``; return its jobid. The change is written to the
    audit log under ``actor`` (None: the database login): the command line's through
    ``ops.audited_schedule``, the console's (``console``) through ``ops.admin_schedule``,
    which takes FMW tasks only.

    The schedule is checked here first (InvalidScheduleError with the reason),
    then again by the database.
    """
    parse_schedule(schedule)
    check_command(command)
    function = "ops.admin_schedule" if console else "ops.audited_schedule"
    try:
        row = conn.execute(
            f"SELECT {function}(%s, %s, %s, %s)", [name, schedule, command, actor]
        ).fetchone()
    except errors.InvalidParameterValue as exc:
        raise JobError(exc.diag.message_primary or str(exc)) from exc
    except errors.InsufficientPrivilege as exc:
        raise JobError(ADMIN_ONLY) from exc
    assert row is not None
    return int(row[0])


def unschedule_job(conn: psycopg.Connection, name: str, *, actor: str | None = None) -> None:
    """Delete the job ``name`` (its history stays), audited under ``actor`` (None: the
    database login); JobNotFoundError when there is none."""
    try:
        conn.execute("SELECT ops.audited_unschedule(%s, %s)", [name, actor])
    except errors.NoDataFound as exc:
        raise JobNotFoundError(f"no job is named {name!r} (see `fmw job list`)") from exc
    except errors.InsufficientPrivilege as exc:
        raise JobError(ADMIN_ONLY) from exc


def history(conn: psycopg.Connection, name: str | None = None, *, limit: int = 20) -> list[Run]:
    """The newest runs (of one job when ``name`` is given), newest first."""
    where, params = "", []
    if name is not None:
        job = get_job(conn, name)
        where, params = "WHERE r.jobid = %s", [job.jobid]
    with conn.cursor(row_factory=class_row(Run)) as cur:
        return cur.execute(
            f"{_RUN_QUERY} {where} ORDER BY r.start_time DESC NULLS LAST, r.runid DESC LIMIT %s",
            [*params, limit],
        ).fetchall()


def last_runs(conn: psycopg.Connection) -> dict[int, Run]:
    """Each job's newest run."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        rows = cur.execute(
            f"SELECT DISTINCT ON (r.jobid) * FROM ({_RUN_QUERY}) AS r "
            "ORDER BY r.jobid, r.start_time DESC NULLS LAST, r.runid DESC"
        ).fetchall()
    return {run.jobid: run for run in rows}


def last_fire_served(conn: psycopg.Connection, jobid: int) -> datetime | None:
    """The newest fire time any run of the job served (or started at)."""
    row = conn.execute(
        "SELECT max(coalesce(scheduled_for, start_time)) FROM ops.job_run_details WHERE jobid = %s",
        [jobid],
    ).fetchone()
    return row[0] if row else None


def success_rate(conn: psycopg.Connection, days: int, zone: tzinfo) -> dict[str, object]:
    """``ops.sync_success_rate_over(days)`` with days counted in ``zone``."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        with contextlib.suppress(psycopg.Error), conn.transaction():
            cur.execute("SELECT set_config('TimeZone', %s, true)", [zone_name(zone)])
        row = cur.execute("SELECT * FROM ops.sync_success_rate_over(%s)", [days]).fetchone()
    assert row is not None
    return row


def request_run(conn: psycopg.Connection, name: str, *, actor: str) -> int:
    """Ask the scheduler to run ``name`` once, now (``ops.request_job_run``, audited); return
    the request's id. JobNotFoundError when there is no such job."""
    try:
        row = conn.execute("SELECT ops.request_job_run(%s, %s)", [name, actor]).fetchone()
    except errors.NoDataFound as exc:
        raise JobNotFoundError(f"no job is named {name!r} (see `fmw job list`)") from exc
    assert row is not None
    return int(row[0])


def take_run_requests(conn: psycopg.Connection) -> list[tuple[int, int, datetime]]:
    """The pending run requests, taken (``ops.take_job_run_requests``): request id, jobid and
    the fire time the run serves."""
    return [
        (int(request_id), int(jobid), fire)
        for request_id, jobid, fire in conn.execute(
            "SELECT request_id, jobid, fire FROM ops.take_job_run_requests() ORDER BY request_id"
        ).fetchall()
    ]


def requeue_run_requests(conn: psycopg.Connection) -> int:
    """Put back as pending the run requests a stopped scheduler took but never started
    (``ops.requeue_job_run_requests``); return how many."""
    row = conn.execute("SELECT ops.requeue_job_run_requests()").fetchone()
    assert row is not None
    return int(row[0])


def pending_requests(conn: psycopg.Connection) -> dict[int, int]:
    """How many runs asked for now each job still waits for (jobid -> count)."""
    rows = conn.execute(
        "SELECT jobid, count(*) FROM ops.job_run_request WHERE taken_at IS NULL GROUP BY jobid"
    ).fetchall()
    return {int(jobid): int(count) for jobid, count in rows}
