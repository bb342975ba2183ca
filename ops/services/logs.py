"""Retention for the services' rotated log files: NSSM and logrotate rotate, nothing deletes.

``prune_logs(folder, days)`` deletes the rotated log files in ``folder`` whose
last write is more than ``days`` days old: NSSM's ``NAME-20240131T235959.123.log``
and logrotate's ``NAME.log.1``, ``NAME.log.2.gz``, ``NAME.log-20240131(.gz)``.
``prune_service_logs(settings)`` does it for the configured service log folder
and retention (``[service] log_dir``, ``log_retention_days``); the scheduler's
weekly ``fmw:prune`` task calls it.

This module must never delete a live log (``FMW-Dashboard.log``, which a service
holds open), a file that is not a rotated log, or anything in a subfolder; a
file that cannot be deleted (still open on Windows) is reported, not fatal.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from fmw.services.model import describe_services
from fmw.settings import Settings, settings_file

ROTATED_LOG = re.compile(
    r"""^.+(
        -\d{8}T\d{6}\.\d{3}\.log             # NSSM: NAME-20240131T235959.123.log
      | \.log\.\d+(\.gz)?                      # logrotate: NAME.log.1, NAME.log.2.gz
      | \.log-\d{8,10}(\.gz)?                  # logrotate dateext: NAME.log-20240131.gz
    )$""",
    re.VERBOSE,
)
DAY = 86400.0


@dataclass(frozen=True)
class PruneReport:
    """What a pruning run deleted, kept, and could not delete (with the reason)."""

    deleted: tuple[Path, ...]
    kept: int
    failed: tuple[tuple[Path, str], ...]


def prune_logs(folder: Path, days: int, *, now: float | None = None) -> PruneReport:
    """Delete rotated logs in ``folder`` last written more than ``days`` days before ``now``."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    cutoff = (time.time() if now is None else now) - days * DAY
    deleted: list[Path] = []
    failed: list[tuple[Path, str]] = []
    kept = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return PruneReport((), 0, ())
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False) or not ROTATED_LOG.match(entry.name):
            continue
        path = Path(entry.path)
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                kept += 1
                continue
            path.unlink()
            deleted.append(path)
        except OSError as exc:
            failed.append((path, exc.strerror or str(exc)))
    return PruneReport(tuple(deleted), kept, tuple(failed))


def prune_service_logs(settings: Settings, *, now: float | None = None) -> PruneReport:
    """Apply ``[service] log_retention_days`` to the service log folder on this machine."""
    plan = describe_services(settings, settings_path=settings_file())
    return prune_logs(Path(plan.log_dir), plan.log_retention_days, now=now)
