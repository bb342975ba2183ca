"""How fresh the shown snapshot is, and whether people should be told it is not the newest.

Its job: from the shown generation, the problems of the newer generations that
were skipped, the clock and the settings, decide what the freshness banner
says — as facts (``Freshness``), which pages turn into words:

* ``stale``: the snapshot is older than ``sync_every_hours`` plus
  ``freshness_grace_hours`` (a warning: a sync did not run or did not publish);
* ``fallback``: the newest generation failed verification, so an older good
  one is shown (an error that still shows the data);
* ``sync_failed``: the scheduler's status file says the last run of the sync
  job, newer than the shown snapshot, failed, was interrupted or was missed
  (an error that still shows the data).

The scheduler's status file (``fmw.scheduler.status``, format_version 1:
``scheduler-status.json`` next to ``CURRENT.json`` unless
``scheduler.status_file`` names another place) is read as plain JSON here, not
through that module, which imports the database driver. When it is absent or
unreadable nothing is claimed about the last sync.

This module must never import Streamlit, psycopg or SQLAlchemy, and only reads
one small file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fmw.snapshot.generations import Generation

SCHEDULER_STATUS_NAME = "scheduler-status.json"
SYNC_COMMAND = "fmw:sync"
FAILED_RUNS = ("failed", "interrupted", "skipped")


@dataclass(frozen=True)
class SyncStatus:
    """The last sync as the scheduler recorded it."""

    finished_at: datetime
    ok: bool
    message: str


@dataclass(frozen=True)
class Freshness:
    """What the freshness banner has to say about the shown snapshot."""

    generated_at: datetime
    age: timedelta
    max_age: timedelta
    batches: tuple[int, ...]
    skipped: tuple[str, ...]
    """Problems of newer generations that could not be shown (empty: the newest is shown)."""
    failed_sync: SyncStatus | None
    """The last sync, when it failed after this snapshot was made."""

    @property
    def stale(self) -> bool:
        return self.age > self.max_age

    @property
    def fallback(self) -> bool:
        return bool(self.skipped)


def read_sync_status(path: Path) -> SyncStatus | None:
    """The scheduler's last sync run from its status file; None when nothing usable is there."""
    try:
        doc = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format_version") != 1:
        return None
    newest: SyncStatus | None = None
    for job in doc.get("jobs") or []:
        run = job.get("last_run") if isinstance(job, dict) else None
        if job.get("command") != SYNC_COMMAND or not job.get("active", True):
            continue
        status = _run_status(run)
        if status is not None and (newest is None or status.finished_at > newest.finished_at):
            newest = status
    return newest


def _run_status(run: object) -> SyncStatus | None:
    if not isinstance(run, dict) or not isinstance(run.get("status"), str):
        return None
    if run["status"] in ("running",):
        return None
    moments = (run.get(k) for k in ("end_time", "start_time", "scheduled_for"))
    stamp = next((m for m in moments if isinstance(m, str)), None)
    try:
        finished = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None
    if finished is None or finished.tzinfo is None:
        return None
    message = run.get("return_message")
    return SyncStatus(
        finished_at=finished.astimezone(UTC),
        ok=run["status"] not in FAILED_RUNS,
        message=" ".join(message.split()) if isinstance(message, str) else run["status"],
    )


def assess(
    generation: Generation,
    skipped: tuple[str, ...] | list[str],
    *,
    now: datetime,
    sync_every_hours: float,
    grace_hours: float,
    sync_status: SyncStatus | None = None,
) -> Freshness:
    """The freshness facts for showing ``generation`` at ``now``."""
    failed = (
        sync_status
        if sync_status is not None
        and not sync_status.ok
        and sync_status.finished_at > generation.generated_at
        else None
    )
    return Freshness(
        generated_at=generation.generated_at,
        age=max(timedelta(0), now - generation.generated_at),
        max_age=timedelta(hours=sync_every_hours + grace_hours),
        batches=tuple(generation.batches),
        skipped=tuple(skipped),
        failed_sync=failed,
    )


def humanize_age(age: timedelta) -> tuple[str, int]:
    """``age`` as (unit, amount) with the largest whole unit: minutes, hours or days."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return "minutes", minutes
    if minutes < 48 * 60:
        return "hours", minutes // 60
    return "days", minutes // (24 * 60)
