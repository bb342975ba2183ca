"""Run jobs the way pg_cron does: one run per job at a time, every attempt recorded.

Its job: given a job and the fire time it serves, take the job's PostgreSQL
advisory lock (so no other scheduler process runs it at the same time), claim
the fire in ``ops.job_run_details`` (so a fire another process already served
is not run twice), run the command (``fmw.scheduler.tasks``) on a fresh connection,
retry a failing ``fmw:sync`` with doubling waits, and record how each attempt
ended. It also plans the catch-up of runs missed while the scheduler was down.
It must never decide *when* jobs fire (APScheduler and ``fmw.scheduler.cron`` do) and
never write the status file.

Threads: ``submit`` queues a fire for the job's own worker thread, so an
overlapping fire waits for the running one (pg_cron queues it too: every cron
fire is kept, an ``N seconds`` job keeps at most one waiting). ``stop`` lets
running jobs finish for ``stop_timeout_seconds``, then interrupts them: the
task's next progress check raises, the running statement is cancelled, its
transaction rolls back and the attempt is recorded as ``interrupted``.
Everything that waits uses the stop event, so tests run with tiny delays.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from fmw.database import connect, with_database
from fmw.errors import FmwError, JobBusyError, JobError
from fmw.scheduler import jobs
from fmw.scheduler.cron import CronSchedule, IntervalSchedule
from fmw.scheduler.jobs import LOCK_CLASS, Job
from fmw.scheduler.tasks import TASKS, TaskContext, TaskFn, TaskInterruptedError, run_sql
from fmw.settings import Settings

log = logging.getLogger("fmw.scheduler")

STALE_MESSAGE = "the scheduler stopped before this run finished (crash or forced stop)"
MAX_MESSAGE = 2000
_LOCK_POLL_SECONDS = 0.2
_CANCEL_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended."""

    runid: int | None
    attempt: int
    status: str  # succeeded | failed | interrupted | skipped
    message: str


@dataclass
class _Active:
    conn: psycopg.Connection | None = None
    runid: int | None = None


@dataclass
class _Queue:
    fires: collections.deque[tuple[datetime, bool]] = field(default_factory=collections.deque)
    worker: threading.Thread | None = None
    job: Job | None = None


class JobRunner:
    """Runs job fires; see the module docstring."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        tasks: dict[str, TaskFn] | None = None,
        on_finished: Callable[[Job, list[Outcome]], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = url
        self.settings = settings
        self.tasks = dict(TASKS if tasks is None else tasks)
        self.on_finished = on_finished
        self.clock = clock
        self.stopping = threading.Event()  # no new runs; waits end
        self.interrupting = threading.Event()  # running tasks must stop now
        self.stop_reason = "the scheduler was stopped"
        self._lock = threading.Lock()
        self._queues: dict[int, _Queue] = {}
        self._active: dict[int, _Active] = {}

    # ------------------------------------------------------------------ queueing

    def submit(self, job: Job, fire: datetime, *, manual: bool = False) -> bool:
        """Queue ``fire`` of ``job`` behind any run of it in this process; False if dropped.

        ``manual``: a run asked for now (the console's "run now"), run once like `fmw job run`.
        """
        if self.stopping.is_set():
            return False
        with self._lock:
            queue = self._queues.setdefault(job.jobid, _Queue())
            queue.job = job
            busy = queue.worker is not None and queue.worker.is_alive()
            if any(queued == fire for queued, _ in queue.fires):
                return False
            if isinstance(job.parsed, IntervalSchedule) and queue.fires and not manual:
                return False  # pg_cron: an interval job keeps at most one run waiting
            queue.fires.append((fire, manual))
            if not busy:
                queue.worker = threading.Thread(
                    target=self._drain, args=(job.jobid,), name=f"job-{job.jobid}", daemon=True
                )
                queue.worker.start()
        return True

    def _drain(self, jobid: int) -> None:
        while not self.stopping.is_set():
            with self._lock:
                queue = self._queues[jobid]
                if not queue.fires or queue.job is None:
                    queue.worker = None
                    return
                (fire, manual), job = queue.fires.popleft(), queue.job
            try:
                self.run_fire(job, fire, manual=manual)
            except Exception:  # a bookkeeping failure must not kill the worker silently
                log.exception("job %s: the run for %s could not be completed", job.jobname, fire)
        with self._lock:
            self._queues[jobid].worker = None

    def busy(self) -> bool:
        """Whether any job runs or waits in this process."""
        with self._lock:
            return any(q.worker is not None and q.worker.is_alive() for q in self._queues.values())

    # ------------------------------------------------------------------ running

    def run_fire(
        self, job: Job, fire: datetime, *, wait_for_lock: bool = True, manual: bool = False
    ) -> list[Outcome]:
        """Serve one fire of ``job``: lock, claim, run (with retries for fmw:sync), record.

        Returns the attempts made: empty when another process already served the
        fire, the job is gone or inactive, or the scheduler is stopping.
        """
        with self._control(job) as control:
            if not self._take_lock(control, job, wait=wait_for_lock):
                raise JobBusyError(f"job {job.jobname} is running now in another process")
            try:
                return self._serve(control, job, fire, manual=manual)
            finally:
                control.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, job.jobid])

    def run_now(self, job: Job) -> Outcome:
        """``fmw job run``: one attempt now, refused (JobBusyError) while the job runs elsewhere."""
        outcomes = self.run_fire(job, self.clock(), wait_for_lock=False, manual=True)
        if not outcomes:
            raise JobBusyError(f"job {job.jobname} was not run: it was deleted or just ran")
        return outcomes[-1]

    @contextlib.contextmanager
    def _control(self, job: Job) -> Iterator[psycopg.Connection]:
        with connect(self.url, autocommit=True) as conn:
            yield conn

    def _take_lock(self, control: psycopg.Connection, job: Job, *, wait: bool) -> bool:
        while True:
            row = control.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, job.jobid]
            ).fetchone()
            if row and row[0]:
                return True
            if not wait or self.stopping.wait(_LOCK_POLL_SECONDS):
                return False

    def _serve(
        self, control: psycopg.Connection, job: Job, fire: datetime, *, manual: bool
    ) -> list[Outcome]:
        stale = control.execute(
            "SELECT ops.interrupt_unfinished_runs(%s, %s)", [job.jobid, STALE_MESSAGE]
        ).fetchone()
        if stale and stale[0]:
            log.warning("job %s: %s earlier run(s) marked interrupted", job.jobname, stale[0])
        current = jobs.job_by_id(control, job.jobid)
        if current is None or self.stopping.is_set():
            return []
        if not manual and (
            not current.active
            or (
                isinstance(current.parsed, IntervalSchedule)
                and self._ran_recently(current, fire, control)
            )
        ):
            return []
        retried = current.command == "fmw:sync" and not manual  # `fmw job run`: one attempt
        attempts = self.settings.scheduler.sync_attempts if retried else 1
        outcomes: list[Outcome] = []
        for attempt in range(1, attempts + 1):
            outcome = self._attempt(control, current, fire, attempt)
            if outcome is None:  # this fire was already served by another scheduler
                break
            outcomes.append(outcome)
            if outcome.status != "failed" or attempt == attempts:
                break
            delay = self.settings.scheduler.retry_delay_seconds * 2 ** (attempt - 1)
            log.warning(
                "job %s: attempt %s of %s failed; retrying in %.0f s",
                current.jobname,
                attempt,
                attempts,
                delay,
            )
            if self.stopping.wait(delay):
                break
        if outcomes and self.on_finished:
            self.on_finished(current, outcomes)
        return outcomes

    def _ran_recently(self, job: Job, fire: datetime, control: psycopg.Connection) -> bool:
        """Whether another process served an ``N seconds`` job less than N seconds before."""
        seconds = job.parsed.every_seconds or 0
        last = jobs.last_fire_served(control, job.jobid)
        margin = timedelta(seconds=seconds) - timedelta(milliseconds=500)
        return last is not None and fire - last < margin

    def _attempt(
        self, control: psycopg.Connection, job: Job, fire: datetime, attempt: int
    ) -> Outcome | None:
        same = job.database == _dbname(self.url)
        url = self.url if same else with_database(self.url, job.database)
        active = _Active()
        with self._lock:
            self._active[job.jobid] = active
        try:
            with contextlib.ExitStack() as stack:
                error = None
                try:
                    active.conn = stack.enter_context(connect(url, autocommit=True))
                except FmwError as exc:  # e.g. the job's database cannot be reached
                    error = str(exc)
                pid = active.conn.info.backend_pid if active.conn else None
                row = control.execute(
                    "SELECT ops.start_job_run(%s, %s, %s, %s)", [job.jobid, fire, attempt, pid]
                ).fetchone()
                active.runid = row[0] if row else None
                if active.runid is None:
                    return None
                log.info(
                    "job %s: run %s started (fire %s, attempt %s)",
                    job.jobname,
                    active.runid,
                    fire.isoformat(),
                    attempt,
                )
                if active.conn is None:
                    status, message = "failed", error or "no connection"
                else:
                    status, message = self._execute(job, active.conn)
        finally:
            with self._lock:
                self._active.pop(job.jobid, None)
        message = message[:MAX_MESSAGE]
        control.execute("SELECT ops.finish_job_run(%s, %s, %s)", [active.runid, status, message])
        log.log(
            logging.INFO if status == "succeeded" else logging.WARNING,
            "job %s: run %s %s: %s",
            job.jobname,
            active.runid,
            status,
            message,
        )
        return Outcome(active.runid, attempt, status, message)

    def _execute(self, job: Job, work: psycopg.Connection) -> tuple[str, str]:
        def progress(line: str) -> None:
            if self.interrupting.is_set():
                raise TaskInterruptedError(self.stop_reason)
            if line:
                log.info("job %s: %s", job.jobname, line)

        try:
            if job.is_task:
                task = self.tasks[job.command]
            else:
                task = run_sql
                if job.username != work.info.user:
                    _take_role(work, job)
            message = task(TaskContext(self.settings, work, job, progress))
        except TaskInterruptedError:
            return "interrupted", _interrupted(self.stop_reason)
        except (FmwError, psycopg.Error) as exc:
            if self.interrupting.is_set():
                return "interrupted", _interrupted(self.stop_reason)
            return "failed", _first_line(exc)
        except Exception as exc:  # a task's bug is recorded as the run's failure
            log.exception("job %s failed unexpectedly", job.jobname)
            return "failed", f"{type(exc).__name__}: {_first_line(exc)}"
        return "succeeded", message

    # ------------------------------------------------------------------ stopping

    def stop(self, reason: str, timeout: float) -> None:
        """Stop: no new runs; running ones get ``timeout`` seconds, then are interrupted."""
        self.stop_reason = reason
        self.stopping.set()
        deadline = time.monotonic() + timeout
        while self.busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.busy():
            return
        log.warning("interrupting running jobs: %s", reason)
        self.interrupting.set()
        deadline = time.monotonic() + _CANCEL_WAIT_SECONDS
        while self.busy() and time.monotonic() < deadline:
            with self._lock:
                running = [a.conn for a in self._active.values() if a.conn is not None]
            for conn in running:
                with contextlib.suppress(Exception):
                    _cancel(conn)
            time.sleep(0.1)
        with self._lock:
            leftovers = [a.runid for a in self._active.values() if a.runid is not None]
        if leftovers:
            with (
                contextlib.suppress(FmwError, psycopg.Error),
                connect(self.url, autocommit=True) as c,
            ):
                for runid in leftovers:
                    c.execute(
                        "SELECT ops.finish_job_run(%s, 'interrupted', %s)",
                        [runid, _interrupted(reason)],
                    )


def _cancel(conn: psycopg.Connection) -> None:
    cancel = getattr(conn, "cancel_safe", None) or conn.cancel
    cancel()


def _dbname(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname") or "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _interrupted(reason: str) -> str:
    return f"interrupted: {reason}; its transaction was rolled back"


# ---------------------------------------------------------------------------- catch-up


@dataclass(frozen=True)
class CatchUp:
    """What start-up does about one job's latest fire: run it now, or record it as skipped."""

    job: Job
    fire: datetime
    action: str  # "run" | "skip"
    reason: str


def latest_fire(schedule: CronSchedule, now: datetime, zone: tzinfo) -> datetime | None:
    """The newest fire time at or before ``now`` (looks back up to 400 days)."""
    for lookback in (
        timedelta(hours=2),
        timedelta(days=2),
        timedelta(days=32),
        timedelta(days=400),
    ):
        moment = schedule.next_after(now - lookback, zone)
        found = None
        while moment is not None and moment <= now:
            found = moment
            moment = schedule.next_after(moment, zone)
        if found is not None:
            return found
    return None


def catch_up_grace(
    schedule: CronSchedule, fire: datetime, zone: tzinfo, settings: Settings
) -> timedelta:
    """How late a missed fire may still run: the setting, else half the gap to the next fire."""
    fixed = settings.scheduler.catch_up_grace_seconds
    if fixed is not None:
        return timedelta(seconds=fixed)
    following = schedule.next_after(fire, zone)
    return (following - fire) / 2 if following else timedelta(0)


def plan_catch_up(
    job_list: list[Job],
    *,
    now: datetime,
    zone: tzinfo,
    settings: Settings,
    previous_heartbeat: datetime | None,
    last_served: Callable[[int], datetime | None],
) -> list[CatchUp]:
    """Runs missed while the scheduler was down: the newest missed fire of each cron job.

    A fire counts as missed when it is newer than the previous scheduler's last
    heartbeat (or, with no status file yet, than the job's newest run) and no
    run has served it. It runs once now when within the grace, else is skipped.
    ``N seconds`` jobs start right away anyway, as in pg_cron.
    """
    plan: list[CatchUp] = []
    for job in job_list:
        schedule = job.parsed
        if not job.active or not isinstance(schedule, CronSchedule):
            continue
        fire = latest_fire(schedule, now, zone)
        if fire is None:
            continue
        served = last_served(job.jobid)
        reference = previous_heartbeat or served
        if reference is None or fire <= reference or (served is not None and served >= fire):
            continue
        grace = catch_up_grace(schedule, fire, zone, settings)
        late = now - fire
        if late <= grace:
            plan.append(
                CatchUp(
                    job,
                    fire,
                    "run",
                    f"missed while the scheduler was down; "
                    f"{_duration(late)} late, within the {_duration(grace)} grace",
                )
            )
        else:
            plan.append(
                CatchUp(
                    job,
                    fire,
                    "skip",
                    f"missed while the scheduler was down; "
                    f"{_duration(late)} late, beyond the {_duration(grace)} grace",
                )
            )
    return plan


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _take_role(work: psycopg.Connection, job: Job) -> None:
    """SET ROLE to the login that scheduled the SQL job; JobError saying how to fix it when
    this scheduler's login may not (an admin's job, run by fmw_sync)."""
    try:
        work.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(job.username)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise JobError(
            f"job {job.jobname} runs as {job.username}, a role the scheduler's login "
            f"{work.info.user} may not take: run it with `fmw job run {job.jobname}` as "
            f"{job.username}, or a DBA lets the scheduler take that role and its rights "
            f"(GRANT {job.username} TO {work.info.user})"
        ) from exc
