"""What the console and the admin API do, once, for both: read the admin's views and make
the admin changes through the same modules the ``fmw`` command uses.

Its job: one function per admin question or action, taking the signed-in admin's
name as the audit log's actor (``ops.admin_action``: the SQL functions write it in
the change's own transaction), returning plain JSON-ready values, raising FMW's
own errors with the reason. It must never hold a record rule or write a table:
the SQL functions do (``core.add_header_alias``, ``core.process_batch``, …).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fmw import vocabulary
from fmw.batches import batch_detail, list_batches, rejected_trend
from fmw.doctor.checks import run_checks
from fmw.loader.landing import reprocess_batch
from fmw.scheduler import jobs as scheduler_jobs
from fmw.sources import sources
from fmw.web.conf import fmw_settings
from fmw.web.data import fmw_connection

AUDIT_COLUMNS = ("action_id", "at", "actor", "db_user", "action", "target", "before", "after")


def _plain(value: Any) -> Any:
    """A dataclass (or a list of them) as dicts; anything else as it is."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def batches(limit: int) -> list[dict[str, Any]]:
    with fmw_connection() as conn:
        return list_batches(conn, limit)


def batch(batch_id: int) -> dict[str, Any]:
    """One batch with its rejected rows and row issues (BatchError when there is none)."""
    with fmw_connection() as conn:
        return _plain(batch_detail(conn, batch_id))


def reprocess(batch_id: int, *, approve: bool, actor: str) -> dict[str, Any]:
    """Approve a held batch or retry a failed one (BatchError says why one cannot be)."""
    with fmw_connection() as conn:
        result = reprocess_batch(conn, batch_id, approve=approve, actor=actor)
    done = _plain(result)
    done["path"] = str(result.path)
    return done


def vocabulary_terms() -> dict[str, Any]:
    with fmw_connection() as conn:
        return {
            "fields": _plain(vocabulary.fields(conn)),
            "statuses": _plain(vocabulary.statuses(conn)),
        }


def unknown() -> dict[str, Any]:
    """Headers and status words no vocabulary entry maps, each with its fix."""
    with fmw_connection() as conn:
        return {
            "headers": _plain(vocabulary.unknown_headers(conn)),
            "words": _plain(vocabulary.unknown_words(conn)),
        }


def change_vocabulary(
    kind: vocabulary.Kind,
    change: Literal["add", "remove"],
    word: str,
    target: str,
    *,
    actor: str,
    reresolve: bool,
) -> dict[str, Any]:
    """Add or remove an alias or a status word (AdminRefusedError says why not), and with
    ``reresolve`` re-resolve the records it affects, as `fmw vocab` does."""
    with fmw_connection() as conn:
        done, outcomes = vocabulary.change_vocabulary(
            conn, kind, change, word, target, actor=actor, reresolve=reresolve
        )
    return {
        "word": done.word,
        "before": done.before,
        "after": done.after,
        "changed": done.changed,
        "reresolved": _plain(outcomes),
    }


def source_states() -> list[dict[str, Any]]:
    """Every source with its rejected rows per newest batch (``rejected_trend``)."""
    with fmw_connection() as conn:
        trend = rejected_trend(conn)
        return [
            {**_plain(state), "rejected_trend": trend.get(state.name, [])}
            for state in sources(conn, fmw_settings())
        ]


def audit(limit: int) -> list[dict[str, Any]]:
    """The newest admin actions, newest first (who, when, what, before -> after)."""
    with fmw_connection() as conn:
        rows = conn.execute(
            "SELECT action_id, at, actor, db_user, action, target, before, after "
            "FROM ops.admin_action ORDER BY action_id DESC LIMIT %s",
            [limit],
        ).fetchall()
    return [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in rows]


def jobs() -> list[dict[str, Any]]:
    """Every job with its newest run and how many runs asked for now it waits for."""
    with fmw_connection() as conn:
        last = scheduler_jobs.last_runs(conn)
        pending = scheduler_jobs.pending_requests(conn)
        return [
            {
                **_plain(job),
                "last_run": _plain(last.get(job.jobid)),
                "pending_runs": pending.get(job.jobid, 0),
            }
            for job in scheduler_jobs.load_jobs(conn)
        ]


def schedule(name: str, when: str, command: str, *, actor: str) -> dict[str, Any]:
    """Create or change a job, validated as `fmw job schedule` does (InvalidScheduleError,
    JobError with the reason); ``ops.admin_schedule`` records it in the audit log."""
    with fmw_connection() as conn:
        jobid = scheduler_jobs.schedule_job(conn, name, when, command, actor=actor, console=True)
    return {"jobid": jobid, "jobname": name, "schedule": when, "command": command}


def run_now(name: str, *, actor: str) -> dict[str, Any]:
    """Ask the scheduler to run ``name`` once, now, and return at once: the request is
    audited, the scheduler takes it on its next poll and records the run in the history
    (JobNotFoundError when there is no such job)."""
    with fmw_connection() as conn:
        request_id = scheduler_jobs.request_run(conn, name, actor=actor)
    return {"request_id": request_id, "jobname": name, "status": "requested"}


def job_history(name: str | None, limit: int) -> list[dict[str, Any]]:
    with fmw_connection() as conn:
        return _plain(scheduler_jobs.history(conn, name, limit=limit))


def sync_success_rate(days: int) -> dict[str, Any]:
    """The daily sync's success rate over ``days`` days (``ops.sync_success_rate_over``)."""
    with fmw_connection() as conn:
        return scheduler_jobs.success_rate(
            conn, days, scheduler_jobs.scheduler_zone(fmw_settings())
        )


def health() -> list[dict[str, Any]]:
    """`fmw doctor`'s checks: ok is true, false (red) or null (a warning)."""
    return _plain(run_checks(fmw_settings()))
