"""The scheduler's status file: what the dashboard's freshness banner and `fmw doctor` read.

Its job: build one small JSON document (heartbeat, each job's last run and
next runs, the sync success rate, a ready-made banner line such as "the 06:00
sync failed: <reason>") and publish it atomically next to the snapshot
(``<snapshot root>/scheduler-status.json`` unless ``scheduler.status_file``
says otherwise), with the same temp-file + ``os.replace`` + Windows retry as
the snapshot pointer. It must never run jobs or change the database.

Document (format_version 1)::

    {"format_version": 1, "state": "running" | "stopped", "pid": 1234, "host": "...",
     "started_at": ISO, "heartbeat_at": ISO, "time_zone": "Asia/Seoul",
     "banner": "the 06:00 sync failed: ..." | null,
     "sync_success_rate": {"days": 30, "rate": 0.9667 | null, "days_counted": 30,
                           "days_succeeded": 29, "failed_days": ["2024-05-02"]},
     "jobs": [{"jobid": 1, "jobname": "daily-sync", "schedule": "0 6 * * *",
               "command": "fmw:sync", "active": true, "next_runs": [ISO, ...],
               "last_run": {"runid": 7, "status": "failed", "attempt": 3,
                            "scheduled_for": ISO, "start_time": ISO, "end_time": ISO,
                            "return_message": "..."} | null}]}
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from fmw.errors import SnapshotError
from fmw.files import read_small_file, write_durably
from fmw.scheduler.cron import fire_times
from fmw.scheduler.jobs import Job, Run, zone_name
from fmw.settings import Settings

FORMAT_VERSION = 1
STATUS_NAME = "scheduler-status.json"
NEXT_RUNS = 3


def status_path(settings: Settings) -> Path:
    """Where the status file is written."""
    configured = settings.scheduler.status_file
    return settings.resolve(configured) if configured else settings.snapshot_path / STATUS_NAME


def _iso(moment: datetime | None, zone: tzinfo) -> str | None:
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment else None


def banner(job: Job, run: Run | None, zone: tzinfo) -> str | None:
    """ "the 06:00 sync failed: <reason>" when the job's newest run did not succeed."""
    if run is None or run.status in (None, "succeeded", "running"):
        return None
    when = run.scheduled_for or run.start_time
    what = job.command.removeprefix("fmw:") if job.is_task else f"job {job.jobname}"
    label = "the sync" if job.command == "fmw:sync" else f"the {what}"
    if when is not None:
        local = when.astimezone(zone)
        today = datetime.now(zone).date()
        day = "" if local.date() == today else f"{local.date().isoformat()} "
        label = f"the {day}{local:%H:%M} {what}"
    verb = {"failed": "failed", "interrupted": "was interrupted", "skipped": "was missed"}.get(
        run.status, run.status
    )
    reason = " ".join((run.return_message or "").split())
    return f"{label} {verb}" + (f": {reason}" if reason else "")


def build_status(
    *,
    state: str,
    started_at: datetime,
    zone: tzinfo,
    job_list: list[Job],
    last_runs: dict[int, Run],
    rate: dict[str, Any] | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The status document (see the module docstring)."""
    now = now or datetime.now(UTC)
    jobs_doc = []
    banners = []
    for job in job_list:
        run = last_runs.get(job.jobid)
        nexts = (
            fire_times(job.parsed, now, zone, NEXT_RUNS)
            if job.active and state == "running"
            else []
        )
        jobs_doc.append(
            {
                "jobid": job.jobid,
                "jobname": job.jobname,
                "schedule": job.schedule,
                "command": job.command,
                "active": job.active,
                "next_runs": [_iso(t, zone) for t in nexts],
                "last_run": None
                if run is None
                else {
                    "runid": run.runid,
                    "status": run.status,
                    "attempt": run.attempt,
                    "scheduled_for": _iso(run.scheduled_for, zone),
                    "start_time": _iso(run.start_time, zone),
                    "end_time": _iso(run.end_time, zone),
                    "return_message": run.return_message,
                },
            }
        )
        if job.active and (line := banner(job, run, zone)):
            banners.append((job.command != "fmw:sync", line))
    return {
        "format_version": FORMAT_VERSION,
        "state": state,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": _iso(started_at, zone),
        "heartbeat_at": _iso(now, zone),
        "time_zone": zone_name(zone),
        "banner": min(banners)[1] if banners else None,  # a sync problem comes first
        "sync_success_rate": _rate_doc(rate),
        "jobs": jobs_doc,
    }


def _rate_doc(rate: dict[str, Any] | None) -> dict[str, Any] | None:
    if rate is None:
        return None
    value = rate.get("success_rate")
    return {
        "days": rate.get("window_days"),
        "rate": float(value) if isinstance(value, Decimal | float) else None,
        "days_counted": rate.get("days_counted"),
        "days_succeeded": rate.get("days_succeeded"),
        "failed_days": [
            d.isoformat() for d in rate.get("failed_days") or [] if isinstance(d, date)
        ],
    }


def write_status(path: Path, doc: dict[str, Any]) -> None:
    """Publish ``doc`` at ``path`` atomically (temp file, fsync, os.replace with retry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    write_durably(path, data)


def read_status(path: Path) -> dict[str, Any] | None:
    """The status document at ``path``; None when there is none or it is unreadable."""
    try:
        doc = json.loads(read_small_file(path).decode("utf-8"))
    except (OSError, ValueError, SnapshotError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format_version") == FORMAT_VERSION else None


def heartbeat_of(doc: dict[str, Any] | None) -> datetime | None:
    """The ``heartbeat_at`` of a status document, as an aware datetime."""
    if not doc or not isinstance(doc.get("heartbeat_at"), str):
        return None
    try:
        moment = datetime.fromisoformat(doc["heartbeat_at"])
    except ValueError:
        return None
    return moment if moment.tzinfo else None
