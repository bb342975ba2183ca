"""The backup folder: file names, the JSON sidecar, listing and retention.

Layout of ``backup_dir`` (default ``var_dir/backups``); every backup is one
*stem* ``fmw_YYYYMMDDTHHMMSSZ`` (UTC, from Python's clock, so names sort by age
on any locale)::

    fmw_20261127T023000Z.dump           pg_dump custom-format archive (complete, verified)
    fmw_20261127T023000Z.snapshot.zip   the snapshot generation current at backup time
    fmw_20261127T023000Z.json           the sidecar: what was verified, how and when
    fmw_20261127T023000Z.dump.partial   being written (or left by a crash: the next backup
                                        removes it when it starts)

The sidecar (``format_version`` 1) is the contract for ``fmw doctor`` and
admins; its keys:

* ``backup``: the archive's file name; ``database``, ``server``,
  ``server_version``, ``pg_dump`` (the program's version line);
* ``started_at``, ``finished_at``: ISO 8601, UTC;
* ``bytes``, ``sha256``: of the archive as written (a later change is damage);
* ``tables``: ``{"schema.table": rows}`` in the dumped database snapshot;
* ``verified``: true only when the last verification passed;
  ``verification``: ``{"method": "restore" | "read", "at", "seconds", "ok",
  "detail"}`` (``detail`` says what was compared, or why it failed);
* ``snapshot``: ``{"generation", "archive", "bytes", "sha256"}`` or null, and
  ``snapshot_note`` saying why there is none.

Retention deletes whole backups (all three files) older than
``backup_keep_days`` by the time in their name, except the newest verified
one, which stays however old it is. Files that do not follow this naming are
never touched.

This module must never talk to the database or run PostgreSQL's programs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fmw import files
from fmw.errors import BackupError, FileBusyError

FORMAT_VERSION = 1
PREFIX = "fmw_"
DUMP_SUFFIX = ".dump"
SNAPSHOT_SUFFIX = ".snapshot.zip"
SIDECAR_SUFFIX = ".json"
PARTIAL_SUFFIX = ".partial"
STALE_PARTIAL_SECONDS = 12 * 3600
CHUNK_SIZE = 1024 * 1024

_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STEM = re.compile(r"fmw_(\d{8}T\d{6}Z)")
_FILE = re.compile(r"(fmw_\d{8}T\d{6}Z)(\.dump|\.snapshot\.zip|\.json)(\.partial|\.tmp-\d+)?")


@dataclass(frozen=True)
class BackupInfo:
    """One backup in the folder, as its files and sidecar describe it."""

    stem: str
    folder: Path
    created_at: datetime
    dump_bytes: int | None  # None when the archive is missing
    sidecar: dict[str, Any] | None

    @property
    def dump(self) -> Path:
        return self.folder / f"{self.stem}{DUMP_SUFFIX}"

    @property
    def sidecar_path(self) -> Path:
        return self.folder / f"{self.stem}{SIDECAR_SUFFIX}"

    @property
    def snapshot_archive(self) -> Path:
        return self.folder / f"{self.stem}{SNAPSHOT_SUFFIX}"

    @property
    def verified(self) -> bool:
        """The archive exists and its last verification passed."""
        return (
            self.dump_bytes is not None
            and self.sidecar is not None
            and self.sidecar.get("verified") is True
        )

    @property
    def verification(self) -> dict[str, Any]:
        found = (self.sidecar or {}).get("verification")
        return found if isinstance(found, dict) else {}


def stem_time(stem: str) -> datetime | None:
    """The UTC time in a backup stem, or None when ``stem`` is not one."""
    match = _STEM.fullmatch(stem)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _STAMP_FORMAT).replace(tzinfo=UTC)


def stem_of(path: Path) -> str | None:
    """The backup stem a file belongs to, or None when it is not a backup file."""
    match = _FILE.fullmatch(Path(path).name)
    return match.group(1) if match else None


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def claim_stem(folder: Path, now: datetime) -> tuple[str, Path]:
    """A new stem at or after ``now`` and its created (empty) ``.dump.partial`` file.

    Creating the partial file exclusively makes the claim atomic; a stem whose
    archive or sidecar exists is skipped, so a backup is never overwritten.
    """
    folder.mkdir(parents=True, exist_ok=True)
    candidate = now.astimezone(UTC).replace(microsecond=0)
    while True:
        stem = f"{PREFIX}{candidate.strftime(_STAMP_FORMAT)}"
        partial = folder / f"{stem}{DUMP_SUFFIX}{PARTIAL_SUFFIX}"
        taken = (folder / f"{stem}{DUMP_SUFFIX}").exists() or (
            folder / f"{stem}{SIDECAR_SUFFIX}"
        ).exists()
        if not taken:
            try:
                partial.open("xb").close()
            except FileExistsError:
                pass
            else:
                return stem, partial
        candidate += timedelta(seconds=1)


def file_sha256(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a finished file to disk (Windows can only flush a handle opened for writing)."""
    with path.open("r+b") as handle:
        os.fsync(handle.fileno())


def replace_with_retry(source: Path, target: Path) -> None:
    """``os.replace``, riding out Windows' brief PermissionError while a reader holds ``target``."""
    try:
        files.replace_with_retry(source, target)
    except FileBusyError as exc:
        raise BackupError(f"cannot replace {target}: another program keeps it open") from exc


def write_sidecar(folder: Path, stem: str, doc: dict[str, Any]) -> Path:
    """Write ``stem``'s sidecar atomically (a temp file, fsync, replace)."""
    target = folder / f"{stem}{SIDECAR_SUFFIX}"
    tmp = folder / f"{stem}{SIDECAR_SUFFIX}.tmp-{os.getpid()}"
    data = (json.dumps({"format_version": FORMAT_VERSION, **doc}, indent=2) + "\n").encode()
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        replace_with_retry(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """A sidecar's contents; None when it is missing or not a format-1 JSON object."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        return None
    return doc


def list_backups(folder: Path) -> list[BackupInfo]:
    """Every backup in ``folder`` (an archive or a sidecar present), newest first."""
    try:
        entries = list(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    stems = sorted(
        {m.group(1) for e in entries if (m := _FILE.fullmatch(e.name)) and not m.group(3)},
        reverse=True,
    )
    backups = []
    for stem in stems:
        dump = folder / f"{stem}{DUMP_SUFFIX}"
        try:
            size: int | None = dump.stat().st_size
        except OSError:
            size = None
        created = stem_time(stem)
        assert created is not None
        sidecar = read_sidecar(folder / f"{stem}{SIDECAR_SUFFIX}")
        backups.append(BackupInfo(stem, Path(folder), created, size, sidecar))
    return backups


def latest_verified(folder: Path) -> BackupInfo | None:
    """The newest backup whose last verification passed (what ``fmw doctor`` checks)."""
    return next((b for b in list_backups(folder) if b.verified), None)


def apply_retention(folder: Path, keep_days: int, *, now: datetime) -> list[str]:
    """Delete backups older than ``keep_days`` except the newest verified one; return stems.

    Also removes ``.partial`` and temp files left by a crash once they are stale.
    A file that cannot be deleted now (on Windows: open elsewhere) is left for
    the next run. Never raises for a file it cannot delete.
    """
    folder = Path(folder)
    keep = latest_verified(folder)
    cutoff = now - timedelta(days=keep_days)
    removed: list[str] = []
    for backup in list_backups(folder):
        if keep is not None and backup.stem == keep.stem:
            continue
        if backup.created_at < cutoff and _delete_backup(folder, backup.stem):
            removed.append(backup.stem)
    _sweep_partials(folder, now.timestamp())
    return removed


def _delete_backup(folder: Path, stem: str) -> bool:
    """Delete a backup's files, archive last; False if any of them stays."""
    ok = True
    for suffix in (SNAPSHOT_SUFFIX, SIDECAR_SUFFIX, DUMP_SUFFIX):
        try:
            (folder / f"{stem}{suffix}").unlink(missing_ok=True)
        except OSError:
            ok = False
    return ok


def interrupted_files(folder: Path) -> list[Path]:
    """The ``.partial`` and temp files in ``folder``: a backup's files being written, or left.

    Files that do not follow the backup naming are never listed.
    """
    try:
        entries = list(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e for e in entries if (m := _FILE.fullmatch(e.name)) and m.group(3))


def remove_interrupted_files(folder: Path) -> list[str]:
    """Delete every ``.partial`` and temp file in ``folder``; return the names removed.

    Only while holding the backup lock (``fmw.backup.dump``): then no backup
    is writing, so each was left by one that was interrupted. A file that
    cannot be deleted now (on Windows: open elsewhere) is left for next time.
    """
    removed = []
    for path in interrupted_files(folder):
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path.name)
    return removed


def _sweep_partials(folder: Path, now: float) -> None:
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            match = _FILE.fullmatch(entry.name)
            if not match or not match.group(3):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > STALE_PARTIAL_SECONDS:
                    entry.unlink()
