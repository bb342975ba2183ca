"""What a job's command does: SQL in the database (like pg_cron) or an FMW task.

Its job: run one command once on a connection it is given and return a short
summary, or raise. It must never decide when, how often or whether to run
(``fmw.scheduler.runner`` does), nor record runs.

FMW tasks: ``fmw:sync`` (load every source, refresh, export), ``fmw:export``
(refresh and publish a snapshot), ``fmw:backup`` (``fmw.backup.dump.run_backup``,
looked up when the job runs), ``fmw:prune`` (delete run history older than
``scheduler.keep_run_history_days`` and rotated service logs older than
``service.log_retention_days``), ``fmw:report`` (the edge's security and
usage reports from nginx's logs, published under /api/dev/; fails when a
security bar is broken, after publishing).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from fmw.errors import FmwError
from fmw.scheduler.jobs import Job
from fmw.services.logs import prune_service_logs
from fmw.settings import Settings
from fmw.sync import SyncReport, publish_snapshot, run_sync


class TaskFailedError(FmwError):
    """An FMW task ran to its end but reports failure (e.g. a source could not be loaded)."""


class TaskInterruptedError(Exception):
    """Raised inside a task when the scheduler stops: the task's transaction rolls back.

    Not an FmwError on purpose: code that tolerates one source's FmwError (the
    sync) must not swallow it.
    """


@dataclass
class TaskContext:
    """What a command gets: settings, its own connection, and a progress line callback."""

    settings: Settings
    conn: psycopg.Connection
    job: Job
    progress: Callable[[str], None]


TaskFn = Callable[[TaskContext], str]


def run_sql(ctx: TaskContext) -> str:
    """Run the job's SQL as one simple query (several statements run as one transaction)."""
    with ctx.conn.cursor() as cur:
        cur.execute(ctx.job.command.encode())  # no parameters: the simple query protocol
        return cur.statusmessage or "done"


def task_sync(ctx: TaskContext) -> str:
    report = run_sync(
        ctx.conn, ctx.settings, progress=ctx.progress, row_progress=lambda _rows: ctx.progress("")
    )
    return _sync_summary(report)


def _sync_summary(report: SyncReport) -> str:
    counts: dict[str, int] = {}
    for batch in report.batches:
        counts[batch.status] = counts.get(batch.status, 0) + 1
    parts = [", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no batches"]
    if report.generation:
        parts.append(f"snapshot {report.generation.id}")
    failures = list(report.errors) + [
        f"{b.source}: {b.status}" + (f" ({b.message})" if b.message else "")
        for b in report.batches
        if b.status not in ("processed", "skipped")
    ]
    if failures:
        raise TaskFailedError(
            f"sync failed for {', '.join(report.failed_sources)}: "
            + "; ".join(failures)
            + " — "
            + "; ".join(parts)
        )
    return "; ".join(parts)


def task_export(ctx: TaskContext) -> str:
    report = SyncReport()
    publish_snapshot(ctx.conn, ctx.settings, report, force=True, progress=ctx.progress)
    return f"snapshot {report.generation.id}" if report.generation else "nothing exported"


def task_backup(ctx: TaskContext) -> str:
    try:
        module = importlib.import_module("fmw.backup.dump")
        run_backup = module.run_backup
    except (ImportError, AttributeError) as exc:
        raise TaskFailedError(f"fmw:backup is not available in this installation ({exc})") from exc
    result = run_backup(ctx.settings, ctx.progress)
    text = getattr(result, "message", None) or ("backup done" if result is None else str(result))
    return " ".join(text.split())[:500]


def task_prune(ctx: TaskContext) -> str:
    days = ctx.settings.scheduler.keep_run_history_days
    row = ctx.conn.execute(
        sql.SQL("SELECT ops.prune_job_run_details(make_interval(days => {}))").format(days)
    ).fetchone()
    deleted = row[0] if row else 0
    # NSSM rotates service logs but never deletes them: the weekly prune does.
    logs = prune_service_logs(ctx.settings)
    summary = (
        f"deleted {deleted} job runs older than {days} days and {len(logs.deleted)} rotated "
        f"service logs older than {ctx.settings.service.log_retention_days} days"
    )
    if logs.failed:
        path, why = logs.failed[0]
        summary += f"; {len(logs.failed)} logs could not be deleted ({path.name}: {why})"
    return summary


def task_report(ctx: TaskContext) -> str:
    from fmw.edge import reports as edge_reports  # only the scheduler's daily report job needs it

    security, _ = edge_reports.run_security(ctx.settings)
    usage, _ = edge_reports.run_usage(ctx.settings)
    summary = f"{edge_reports.security_summary(security)}; {edge_reports.usage_summary(usage)}"
    if not security["ok"]:
        raise TaskFailedError(f"a security bar is broken: {summary} (see /api/dev/security.html)")
    return summary


TASKS: dict[str, TaskFn] = {
    "fmw:sync": task_sync,
    "fmw:export": task_export,
    "fmw:backup": task_backup,
    "fmw:prune": task_prune,
    "fmw:report": task_report,
}
