"""`fmw scheduler run`: one long-running process that runs ``ops.job`` like pg_cron would.

Its job: wire APScheduler 3.x to the jobs in PostgreSQL. Each active job gets
an APScheduler job whose trigger (``PgCronTrigger``) asks ``fmw.scheduler.cron`` for the
next fire time, so schedules mean exactly what they mean in pg_cron (Sunday is 0
and 7, day-of-month OR day-of-week, ``$``, ``N seconds``) — APScheduler only
keeps time. When a job fires, ``fmw.scheduler.runner`` queues and runs it (advisory
lock per job, claim per fire, retries, history). The process also:

* polls ``ops.job`` every ``scheduler.poll_seconds`` and adds, changes or
  removes APScheduler jobs to match, then takes the runs asked for now
  (``ops.job_run_request``: the console's "run now") and runs each once;
* at start-up, runs once the newest fire each job missed while the scheduler
  was down, when within the catch-up grace (else records it as skipped);
* writes the status file (``fmw.scheduler.status``) every
  ``scheduler.heartbeat_seconds`` and after every run;
* stops cleanly on Ctrl-C (SIGINT), SIGTERM and Windows' SIGBREAK (what NSSM
  and a console's Ctrl-Break send): no new runs, a running one may finish for
  ``scheduler.stop_timeout_seconds``, then it is rolled back and recorded as
  ``interrupted``.

It must never contain schedule grammar, SQL about records, or task logic.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from types import FrameType
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from fmw.database import connect
from fmw.errors import FmwError
from fmw.heap import return_freed_memory
from fmw.scheduler import jobs
from fmw.scheduler.cron import CronSchedule, Schedule
from fmw.scheduler.jobs import Job
from fmw.scheduler.runner import JobRunner, Outcome, catch_up_grace, latest_fire, plan_catch_up
from fmw.scheduler.status import build_status, heartbeat_of, read_status, status_path, write_status
from fmw.settings import Settings

log = logging.getLogger("fmw.scheduler")

_POLL_ID = "fmw-poll"
_HEARTBEAT_ID = "fmw-heartbeat"


class PgCronTrigger(BaseTrigger):
    """An APScheduler trigger whose fire times come from ``fmw.scheduler.cron`` (pg_cron semantics).

    ``N seconds`` fires at once when added (pg_cron starts interval jobs right
    away), then every N seconds.
    """

    def __init__(self, schedule: Schedule, zone: tzinfo) -> None:
        self.schedule = schedule
        self.zone = zone

    def get_next_fire_time(  # pyright: ignore[reportIncompatibleMethodOverride]  # APScheduler 3 is unannotated: its abstract body "returns None"
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None and self.schedule.every_seconds:
            return now.astimezone(self.zone)
        after = previous_fire_time or now - timedelta(microseconds=1)
        nxt = self.schedule.next_after(after, self.zone)
        return nxt.astimezone(self.zone) if nxt else None

    def __str__(self) -> str:
        return f"pg_cron[{self.schedule.text}]"

    def __repr__(self) -> str:
        return f"<PgCronTrigger ({self.schedule.text!r}, zone={self.zone})>"


def fire_for(job: Job, now: datetime, zone: tzinfo) -> datetime:
    """The fire time a run starting ``now`` serves: the cron minute, or now for ``N seconds``."""
    schedule = job.parsed
    if isinstance(schedule, CronSchedule):
        fire = latest_fire(schedule, now, zone)
        if fire is not None:
            return fire
    return now.astimezone(UTC).replace(microsecond=(now.microsecond // 1000) * 1000)


class SchedulerService:
    """The long-running scheduler; ``run()`` blocks until ``request_stop``."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        zone: tzinfo,
        *,
        runner: JobRunner | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = url
        self.settings = settings
        self.zone = zone
        self.clock = clock
        self.runner = runner or JobRunner(url, settings, clock=clock)
        self.runner.on_finished = self._after_run
        self.stop_event = threading.Event()
        self.stop_reason = "stopped"
        self.started_at = clock()
        self.status_file = status_path(settings)
        self._signatures: dict[int, tuple[Any, ...]] = {}
        self._jobs: dict[int, Job] = {}
        self._requeued = False  # the requests a stopped scheduler left taken
        self._status_lock = threading.Lock()
        self.apscheduler = BackgroundScheduler(timezone=zone)

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop_event.set()

    def start(self) -> None:
        """Load jobs, catch up missed runs, start timing; returns at once."""
        previous = heartbeat_of(read_status(self.status_file))
        self.sync_jobs()
        self.catch_up(previous)
        self.write_status_safely()
        self.apscheduler.add_job(
            self.sync_jobs,
            "interval",
            seconds=self.settings.scheduler.poll_seconds,
            id=_POLL_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        self.apscheduler.add_job(
            self.write_status_safely,
            "interval",
            seconds=self.settings.scheduler.heartbeat_seconds,
            id=_HEARTBEAT_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        self.apscheduler.start()
        log.info(
            "scheduler started: %s jobs, time zone %s, status file %s",
            len(self._jobs),
            jobs.zone_name(self.zone),
            self.status_file,
        )

    def run(self) -> None:
        """Start, wait for a stop request, stop cleanly."""
        self.start()
        try:
            while not self.stop_event.wait(0.5):
                pass
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        log.info("scheduler stopping: %s", self.stop_reason)
        if self.apscheduler.running:
            self.apscheduler.shutdown(wait=False)
        self.runner.stop(self.stop_reason, self.settings.scheduler.stop_timeout_seconds)
        self.write_status_safely(state="stopped")
        log.info("scheduler stopped")

    # ------------------------------------------------------------------ jobs

    def sync_jobs(self) -> None:
        """Make APScheduler's jobs match ``ops.job`` (added, changed, removed)."""
        try:
            with connect(self.url, autocommit=True) as conn:
                current = {job.jobid: job for job in jobs.load_jobs(conn)}
        except (FmwError, Exception) as exc:  # keep the old jobs while the database is away
            log.warning("cannot read ops.job (keeping the current jobs): %s", exc)
            return
        for jobid in set(self._signatures) - set(current):
            self._remove(jobid)
        for jobid, job in current.items():
            signature = (job.schedule, job.command, job.database, job.username, job.active)
            if self._signatures.get(jobid) == signature:
                self._jobs[jobid] = job
                continue
            self._remove(jobid)
            self._jobs[jobid] = job
            self._signatures[jobid] = signature
            if job.active:
                self._add(job)
        self.take_run_requests()

    def take_run_requests(self) -> None:
        """Run, once each, the jobs asked for now (the console's "run now"). The first time
        the database answers, the requests a stopped scheduler took and never ran come back."""
        try:
            with connect(self.url, autocommit=True) as conn:
                if not self._requeued:
                    if count := jobs.requeue_run_requests(conn):
                        log.info("%s run request(s) taken but never run are pending again", count)
                    self._requeued = True
                requests = jobs.take_run_requests(conn)
        except (FmwError, psycopg.Error) as exc:  # e.g. the database is away: next poll
            log.warning("cannot take run requests: %s", exc)
            return
        for request_id, jobid, fire in requests:
            job = self._jobs.get(jobid)
            if job is None:  # deleted since: its request went with it
                continue
            log.info("job %s: run now (request %s)", job.jobname, request_id)
            self.runner.submit(job, fire, manual=True)

    def _add(self, job: Job) -> None:
        schedule = job.parsed
        trigger = PgCronTrigger(schedule, self.zone)
        grace = None
        if isinstance(schedule, CronSchedule):
            first = schedule.next_after(self.clock(), self.zone)
            if first is not None:
                grace = max(
                    1,
                    int(catch_up_grace(schedule, first, self.zone, self.settings).total_seconds()),
                )
        self.apscheduler.add_job(
            self._fire,
            trigger,
            args=[job.jobid],
            id=f"job-{job.jobid}",
            name=job.jobname,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace,
            replace_existing=True,
        )
        log.info("job %s (%s): %s → %s", job.jobname, job.jobid, job.schedule, job.command)

    def _remove(self, jobid: int) -> None:
        self._signatures.pop(jobid, None)
        self._jobs.pop(jobid, None)
        if self.apscheduler.get_job(f"job-{jobid}"):
            self.apscheduler.remove_job(f"job-{jobid}")

    def _fire(self, jobid: int) -> None:
        job = self._jobs.get(jobid)
        if job is not None:
            self.runner.submit(job, fire_for(job, self.clock(), self.zone))

    def catch_up(self, previous_heartbeat: datetime | None) -> None:
        """Run (or record as skipped) what was missed while the scheduler was down."""
        try:
            with connect(self.url, autocommit=True) as conn:
                plan = plan_catch_up(
                    [j for j in self._jobs.values() if j.active],
                    now=self.clock(),
                    zone=self.zone,
                    settings=self.settings,
                    previous_heartbeat=previous_heartbeat,
                    last_served=lambda jobid: jobs.last_fire_served(conn, jobid),
                )
                for item in plan:
                    if item.action == "skip":
                        conn.execute(
                            "SELECT ops.skip_job_run(%s, %s, %s)",
                            [item.job.jobid, item.fire, item.reason],
                        )
                        log.warning(
                            "job %s: fire %s skipped: %s",
                            item.job.jobname,
                            item.fire.isoformat(),
                            item.reason,
                        )
        except FmwError as exc:
            log.warning("cannot catch up missed runs: %s", exc)
            return
        for item in plan:
            if item.action == "run":
                log.info(
                    "job %s: catching up fire %s (%s)",
                    item.job.jobname,
                    item.fire.isoformat(),
                    item.reason,
                )
                self.runner.submit(item.job, item.fire)

    # ------------------------------------------------------------------ status

    def _after_run(self, job: Job, outcomes: list[Outcome]) -> None:
        self.write_status_safely()

    def status_document(self, state: str = "running") -> dict[str, Any]:
        with connect(self.url, autocommit=True) as conn:
            job_list = jobs.load_jobs(conn)
            last = jobs.last_runs(conn)
            rate = jobs.success_rate(conn, self.settings.scheduler.success_rate_days, self.zone)
        return build_status(
            state=state,
            started_at=self.started_at,
            zone=self.zone,
            job_list=job_list,
            last_runs=last,
            rate=rate,
            now=self.clock(),
        )

    def write_status_safely(self, state: str = "running") -> None:
        """Write the status file; a failure is logged, never fatal."""
        with self._status_lock:
            try:
                write_status(self.status_file, self.status_document(state))
            except Exception as exc:  # the status is best effort: the scheduler keeps going
                log.warning("cannot write the status file %s: %s", self.status_file, exc)


def install_signal_handlers(service: SchedulerService) -> None:
    """SIGINT (Ctrl-C), SIGTERM and, on Windows, SIGBREAK ask the service to stop."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        service.request_stop(f"the scheduler received {name}")

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def run_scheduler(settings: Settings, url: str) -> None:
    """`fmw scheduler run`: block until a stop signal, then stop cleanly."""
    zone = jobs.scheduler_zone(settings)
    service = SchedulerService(url, settings, zone)
    install_signal_handlers(service)
    return_freed_memory()  # a day's sync peaks near 300 MiB; the rest of the day needs less
    service.run()
