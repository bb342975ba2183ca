"""`fmw job …` and `fmw scheduler run`: scheduled jobs, pg_cron style.

This module parses arguments and prints; it must never hold schedule grammar
(``fmw.scheduler.cron``), run logic (``fmw.scheduler.runner``) or SQL beyond calling
``fmw.scheduler.jobs``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fmw import database
from fmw.admin import os_user
from fmw.cli.support import clean_errors, console, err, note, open_database
from fmw.errors import FmwError
from fmw.scheduler import jobs
from fmw.scheduler.cron import fire_times, parse_schedule
from fmw.scheduler.runner import JobRunner
from fmw.settings import load_settings

job_app = typer.Typer(
    help="Scheduled jobs (pg_cron style): schedule, list, run, history.", no_args_is_help=True
)
scheduler_app = typer.Typer(help="The job scheduler service.", no_args_is_help=True)

_STATUS_COLOUR = {"succeeded": "green", "running": "cyan", "skipped": "yellow"}


def _when(moment: datetime | None, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@job_app.command("schedule")
@clean_errors
def job_schedule(
    name: Annotated[str, typer.Argument(help="Job name; an existing name is updated.")],
    schedule: Annotated[str, typer.Argument(help="pg_cron schedule, e.g. '0 6 * * *'.")],
    command: Annotated[
        str, typer.Argument(help="SQL, or fmw:sync, fmw:export, fmw:backup, fmw:prune, fmw:report.")
    ],
) -> None:
    """Create a job, or change the schedule and command of the job with that name.

    Example: fmw job schedule daily-sync '0 6 * * 1-5' fmw:sync
    """
    settings = load_settings()
    zone = jobs.scheduler_zone(settings)
    parsed = parse_schedule(schedule)
    with open_database(settings) as conn:
        jobid = jobs.schedule_job(conn, name, schedule, command, actor=os_user())
    nexts = ", ".join(t.isoformat() for t in fire_times(parsed, datetime.now(UTC), zone, 3))
    console.print(f"job {escape(name)} (id {jobid}): {escape(schedule)} → {escape(command)}")
    console.print(f"  next runs: {nexts}")


@job_app.command("unschedule")
@clean_errors
def job_unschedule(name: Annotated[str, typer.Argument(help="Job name.")]) -> None:
    """Delete a job (its run history stays).

    Example: fmw job unschedule nightly-vacuum
    """
    settings = load_settings()
    with open_database(settings) as conn:
        jobs.unschedule_job(conn, name, actor=os_user())
    console.print(f"job {escape(name)} unscheduled")


@job_app.command("list")
@clean_errors
def job_list() -> None:
    """List the jobs with their schedule, next run and last result.

    Example: fmw job list
    """
    settings = load_settings()
    zone = jobs.scheduler_zone(settings)
    with open_database(settings) as conn:
        job_rows = jobs.load_jobs(conn)
        last = jobs.last_runs(conn)
    table = Table("id", "name", "schedule", "command", "active", "next run", "last run", "result")
    now = datetime.now(UTC)
    for job in job_rows:
        nexts = fire_times(job.parsed, now, zone, 1) if job.active else []
        run = last.get(job.jobid)
        result = ""
        if run is not None:
            colour = _STATUS_COLOUR.get(run.status or "", "red")
            result = f"[{colour}]{run.status}[/{colour}]"
        table.add_row(
            str(job.jobid),
            escape(job.jobname),
            escape(job.schedule),
            escape(job.command if len(job.command) <= 40 else job.command[:39] + "…"),
            "yes" if job.active else "no",
            _when(nexts[0], zone) if nexts else "",
            _when(run.start_time, zone) if run else "",
            result,
        )
    console.print(table)
    console.print(f"[dim]times in {jobs.zone_name(zone)}[/dim]")


@job_app.command("run")
@clean_errors
def job_run(name: Annotated[str, typer.Argument(help="Job name.")]) -> None:
    """Run a job now, in this process (once, no retries), and record it like a scheduled run.

    Example: fmw job run daily-sync
    """
    settings = load_settings()
    with open_database(settings) as conn:
        job = jobs.get_job(conn, name)
    url = database.database_url(settings, announce=note)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    outcome = JobRunner(url, settings).run_now(job)
    colour = _STATUS_COLOUR.get(outcome.status, "red")
    console.print(
        f"job {escape(name)}: run {outcome.runid} [{colour}]{outcome.status}[/{colour}]: "
        f"{escape(outcome.message)}"
    )
    if outcome.status != "succeeded":
        raise typer.Exit(1)


@job_app.command("history")
@clean_errors
def job_history(
    name: Annotated[str | None, typer.Argument(help="Job name; all jobs when omitted.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest runs.")] = 20,
) -> None:
    """Show the newest runs: status, attempt, times and message.

    Example: fmw job history daily-sync --limit 5
    """
    settings = load_settings()
    zone = jobs.scheduler_zone(settings)
    with open_database(settings) as conn:
        runs = jobs.history(conn, name, limit=limit)
    table = Table("run", "job", "try", "status", "scheduled for", "started", "ended", "message")
    for run in runs:
        colour = _STATUS_COLOUR.get(run.status or "", "red")
        table.add_row(
            str(run.runid),
            escape(run.jobname or f"#{run.jobid} (deleted)"),
            str(run.attempt),
            f"[{colour}]{run.status}[/{colour}]",
            _when(run.scheduled_for, zone),
            _when(run.start_time, zone),
            _when(run.end_time, zone),
            escape(run.return_message or ""),
        )
    console.print(table)


@job_app.command("next")
@clean_errors
def job_next(
    schedule: Annotated[str, typer.Argument(help="pg_cron schedule, e.g. '0 0 $ * *'.")],
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="ISO 8601 time; without an offset it is in the scheduler's time zone. "
            "Default: now.",
        ),
    ] = None,
    count: Annotated[int, typer.Option(min=1, max=1000, help="How many fire times.")] = 5,
) -> None:
    """Print a schedule's next fire times after --from, in the scheduler's time zone.

    Example: fmw job next '0 0 13 * 5' --from 2024-01-01T00:00 --count 3
    """
    settings = load_settings()
    zone = jobs.scheduler_zone(settings)
    parsed = parse_schedule(schedule)
    if start is None:
        after = datetime.now(zone)
    else:
        try:
            after = datetime.fromisoformat(start)
        except ValueError as exc:
            raise FmwError(
                f"--from {start!r} is not an ISO 8601 time (e.g. 2024-01-01T06:00+09:00)"
            ) from exc
        if after.tzinfo is None:
            after = after.replace(tzinfo=zone)
    times = fire_times(parsed, after, zone, count)
    if not times:
        err.print("[yellow]this schedule never fires again[/yellow]")
    for moment in times:
        console.print(moment.isoformat(), markup=False)


@scheduler_app.command("run")
@clean_errors
def scheduler_run() -> None:
    """Run the scheduler in the foreground until Ctrl-C, SIGTERM or SIGBREAK.

    Example: fmw scheduler run
    """
    from fmw.scheduler.loop import run_scheduler  # APScheduler is only needed here

    settings = load_settings()
    with open_database(settings):
        pass  # refuses a database with pending migrations, with the fix
    url = database.database_url(settings)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    run_scheduler(settings, url)
