"""``fmw backup``: a pg_dump archive that is proven to restore, with the current snapshot beside it.

One run (``run_backup``; the scheduler's ``fmw:backup`` job calls it too):

1. Open a repeatable-read transaction on the database, take the backup lock
   (a session advisory lock: one backup of a database at a time) and export
   its snapshot, so ``pg_dump`` and FMW's row counts see the very same data.
   Holding the lock means no other backup (nor ``fmw backup verify``) of this
   database runs, so what interrupted ones left is removed first: their
   ``.partial`` files and their scratch databases (named after the database
   they prove, ``scratch_prefix``).
2. ``pg_dump --format=custom --snapshot=…`` writes ``<stem>.dump.partial``;
   then every table's rows are counted in the same snapshot.
3. Verification, before the archive gets its final name (so a ``.dump`` in the
   folder has always passed it once):

   * ``restore`` (default, the ``backup_verify`` setting): the archive is
     restored into a scratch database on the same server with
     ``pg_restore --exit-on-error``, every table's rows are counted and must
     equal the dumped snapshot's, the migration status is read, and the scratch
     database is dropped. Only a real restore proves a backup: ``pg_restore
     --list`` reads just the table of contents, and even a full read cannot
     show that the SQL applies (owners, roles, extensions, constraints).
     It needs the CREATEDB privilege and room for a second copy for a moment.
   * ``read`` (``--quick``): ``pg_restore`` decodes the whole archive to a
     stream that is only counted (no database, no disk); every table's row
     count must still equal the snapshot's. It proves the file is whole and
     complete, not that it applies.

4. The snapshot generation current at that moment is zipped beside it
   (``<stem>.snapshot.zip``); a missing or unreadable snapshot is recorded in
   the sidecar and reported, but does not fail the backup: the database holds
   everything a snapshot is made from (``fmw export``).
5. The partial archive is renamed to ``<stem>.dump`` and the sidecar
   ``<stem>.json`` records what was verified and when (see
   ``fmw.backup.files`` for its keys).
6. Retention: backups older than ``backup_keep_days`` go, never the newest
   verified one.

Any failure removes the partial files and leaves the previous backups exactly
as they were. This module must never modify the database it backs up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import IsolationLevel
from psycopg.conninfo import conninfo_to_dict

from fmw import database
from fmw.backup import files as backup_files
from fmw.backup.pg_tools import PgTools, archive_header, archive_row_counts, libpq_target, run_tool
from fmw.backup.restore import (
    admin_connection,
    count_differences,
    drop_database,
    restore_and_check,
    table_counts,
    tools_for,
)
from fmw.errors import (
    BackupBusyError,
    BackupError,
    BackupVerificationError,
    FmwError,
    SnapshotError,
)
from fmw.settings import Settings
from fmw.snapshot.generations import (
    GENERATIONS_DIR,
    MANIFEST_NAME,
    current_pointer,
    read_generation,
)
from fmw.snapshot.store import OBJECTS_DIR

BACKUP_LOCK_KEY = 0x464D575F424B5550  # "FMW_BKUP"
SCRATCH_PREFIX = "fmw_verify_"
LOCK_WAIT_TIMEOUT_MS = 10 * 60 * 1000  # pg_dump gives up instead of queueing forever behind DDL
Method = Literal["restore", "read"]


def _silent(_line: str) -> None:
    pass


@dataclass(frozen=True)
class Verification:
    """How an archive was verified and what that found."""

    method: Method
    ok: bool
    at: datetime
    seconds: float
    detail: str
    tables: dict[str, int] = field(default_factory=dict)
    schema_current: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "ok": self.ok,
            "at": backup_files.utc_iso(self.at),
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
            "schema_current": self.schema_current,
        }


@dataclass(frozen=True)
class BackupResult:
    """What one ``run_backup`` made, proved and removed."""

    path: Path
    sidecar: Path
    snapshot_archive: Path | None
    snapshot_generation: str | None
    bytes: int
    sha256: str
    tables: dict[str, int]
    verification: Verification
    seconds: float
    removed: list[str]
    notes: list[str]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def message(self) -> str:
        """One line for a job's run history."""
        snapshot = (
            f"snapshot {self.snapshot_generation} archived"
            if self.snapshot_generation
            else "no snapshot archived"
        )
        removed = f"; {len(self.removed)} old backups removed" if self.removed else ""
        return (
            f"{self.path.name}: {self.bytes:,} bytes, {len(self.tables)} tables, "
            f"{self.rows:,} rows, verified by {self.verification.method} in "
            f"{self.verification.seconds:.1f} s; {snapshot}{removed}"
        )


# --------------------------------------------------------------------------- the lock, leftovers


@contextlib.contextmanager
def backup_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the backup lock of ``conn``'s database, or raise BackupBusyError at once."""
    locked = conn.execute("SELECT pg_try_advisory_lock(%s)", [BACKUP_LOCK_KEY]).fetchone()
    if not locked or not locked[0]:
        raise BackupBusyError()
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", [BACKUP_LOCK_KEY])


def scratch_prefix(dbname: str) -> str:
    """How the scratch databases that prove backups of ``dbname`` begin: ``fmw_verify_<hex>_``.

    The hex is of the database's name, so a backup clearing leftovers never
    touches a scratch database proving another database's backup.
    """
    return f"{SCRATCH_PREFIX}{hashlib.sha256(dbname.encode()).hexdigest()[:8]}_"


def scratch_databases(conn: psycopg.Connection, dbname: str) -> list[str]:
    """The scratch databases on ``conn``'s server proving backups of ``dbname``."""
    rows = conn.execute(
        "SELECT datname FROM pg_catalog.pg_database WHERE starts_with(datname, %s) ORDER BY 1",
        [scratch_prefix(dbname)],
    ).fetchall()
    return [row[0] for row in rows]


def _remove_leftovers(
    conn: psycopg.Connection, url: str, folder: Path, progress: Callable[[str], None]
) -> list[str]:
    """Remove what interrupted backups of this database left; the backup lock is held."""
    removed = backup_files.remove_interrupted_files(folder)
    scratch = scratch_databases(conn, conn.info.dbname)
    if scratch:
        with admin_connection(url) as admin:
            for name in scratch:
                drop_database(admin, name)
    removed += [f"scratch database {name}" for name in scratch]
    for name in removed:
        progress(f"removed {name}, left by an interrupted backup")
    return removed


# --------------------------------------------------------------------------- verification


def _verify_by_restore(
    url: str, dbname: str, tools: PgTools, archive: Path, expected: dict[str, int] | None
) -> Verification:
    started, at = time.monotonic(), datetime.now(UTC)
    scratch = f"{scratch_prefix(dbname)}{os.getpid()}_{at.strftime('%Y%m%d%H%M%S')}"
    with admin_connection(url) as admin:
        try:
            checked = restore_and_check(
                tools, archive, url, admin, scratch, error=BackupVerificationError
            )
        except psycopg.errors.InsufficientPrivilege as exc:
            raise BackupVerificationError(
                f"cannot create a scratch database to prove the backup by a restore ({exc}): "
                'grant CREATEDB to the backup user, or set backup_verify = "read" in fmw.toml'
            ) from exc
        drop_database(admin, scratch)
    _check_counts(archive, expected, checked.tables)
    return Verification(
        "restore",
        True,
        at,
        time.monotonic() - started,
        f"restored into a scratch database with pg_restore --single-transaction "
        f"--exit-on-error; {_counts_phrase(checked.tables, expected)}; schema "
        f"{'current' if checked.status.is_current else 'NOT current'}; scratch database dropped",
        checked.tables,
        checked.status.is_current,
    )


def _verify_by_reading(
    tools: PgTools, archive: Path, expected: dict[str, int] | None
) -> Verification:
    started, at = time.monotonic(), datetime.now(UTC)
    archive_header(tools, archive, error=BackupVerificationError)
    counts = archive_row_counts(tools, archive, error=BackupVerificationError)
    _check_counts(archive, expected, counts)
    return Verification(
        "read",
        True,
        at,
        time.monotonic() - started,
        f"pg_restore read the whole archive; {_counts_phrase(counts, expected)} "
        f"(a read does not prove the SQL applies: only a restore does)",
        counts,
    )


def _counts_phrase(found: dict[str, int], expected: dict[str, int] | None) -> str:
    if expected is None:
        return f"{len(found)} tables counted (no row counts recorded to compare with)"
    return f"row counts of {len(found)} tables equal the dumped snapshot's"


def _check_counts(archive: Path, expected: dict[str, int] | None, found: dict[str, int]) -> None:
    if expected is None:
        return
    problems = count_differences(expected, found)
    if problems:
        raise BackupVerificationError(
            f"{archive.name}: row counts differ from the database's at dump time: "
            f"{'; '.join(problems)}"
        )


def _verify(
    conn: psycopg.Connection,
    url: str,
    tools: PgTools,
    archive: Path,
    expected: dict[str, int] | None,
    method: Method,
) -> Verification:
    """Verify ``archive`` of ``conn``'s database, whose backup lock the caller holds."""
    if method == "restore":
        return _verify_by_restore(url, conn.info.dbname, tools, archive, expected)
    return _verify_by_reading(tools, archive, expected)


# --------------------------------------------------------------------------- snapshot archive


def _archive_snapshot(
    settings: Settings, folder: Path, stem: str
) -> tuple[dict[str, Any] | None, str | None]:
    """Zip the current snapshot generation as ``<stem>.snapshot.zip``; (entry, note)."""
    root = settings.snapshot_path
    gen_id = current_pointer(root)
    if gen_id is None:
        return None, f"no snapshot generation under {root} yet"
    target = folder / f"{stem}{backup_files.SNAPSHOT_SUFFIX}"
    partial = target.with_name(target.name + backup_files.PARTIAL_SUFFIX)
    try:
        generation = read_generation(root, gen_id, verify=True)
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            # Paths as under the snapshot root: unzipped there, the generation is readable.
            inside = f"{GENERATIONS_DIR}/{gen_id}"
            archive.write(generation.folder / MANIFEST_NAME, f"{inside}/{MANIFEST_NAME}")
            for file in sorted(generation.files.values(), key=lambda f: f.name):
                where = f"{OBJECTS_DIR}/{file.object}" if file.object else f"{inside}/{file.name}"
                archive.write(generation.path(file.name), where)
        with zipfile.ZipFile(partial) as archive:
            broken = archive.testzip()
        if broken is not None:
            raise SnapshotError(f"{broken} is damaged in the zip just written")
        backup_files.fsync_file(partial)
        backup_files.replace_with_retry(partial, target)
    except (OSError, zipfile.BadZipFile, FmwError) as exc:
        partial.unlink(missing_ok=True)
        return None, f"snapshot generation {gen_id} not archived: {exc}"
    size, digest = backup_files.file_sha256(target)
    return {"generation": gen_id, "archive": target.name, "bytes": size, "sha256": digest}, None


# --------------------------------------------------------------------------- backup


def _dump(conn: psycopg.Connection, tools: PgTools, url: str, partial: Path) -> dict[str, int]:
    """pg_dump the transaction's exported snapshot into ``partial``; the snapshot's counts."""
    snapshot_row = conn.execute("SELECT pg_catalog.pg_export_snapshot()").fetchone()
    assert snapshot_row is not None
    target, env = libpq_target(url, application_name="fmw-backup")
    run_tool(
        [
            tools.program("pg_dump"),
            "--format=custom",
            "--no-password",
            f"--lock-wait-timeout={LOCK_WAIT_TIMEOUT_MS}",
            f"--snapshot={snapshot_row[0]}",
            f"--file={partial}",
            f"--dbname={target}",
        ],
        env=env,
        error=BackupError,
    )
    try:
        return table_counts(conn)
    except psycopg.Error as exc:
        raise BackupError(f"cannot count the rows pg_dump saw: {exc}") from exc


def run_backup(
    settings: Settings,
    progress: Callable[[str], None] = _silent,
    *,
    method: Method | None = None,
) -> BackupResult:
    """Back up the database now: dump, verify, archive the snapshot, apply retention.

    ``method`` overrides the ``backup_verify`` setting (``"read"`` is ``--quick``).
    Raises BackupError (or a subclass) naming the cause; nothing is left behind then.
    """
    method = method or settings.backup_verify
    started_at, started = datetime.now(UTC), time.monotonic()
    folder = settings.backup_path
    url = database.backup_url(settings, announce=progress)
    with database.connect(url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        tools = tools_for(settings, conn)
        with backup_lock(conn):
            folder.mkdir(parents=True, exist_ok=True)
            leftovers = _remove_leftovers(conn, url, folder, progress)
            stem, partial = backup_files.claim_stem(folder, started_at)
            try:
                progress(f"dumping {database.describe(url)} with {tools.version} ({tools.origin})")
                tables = _dump(conn, tools, url, partial)
                conn.rollback()  # the snapshot is no longer needed
                backup_files.fsync_file(partial)
                size, digest = backup_files.file_sha256(partial)
                progress(f"verifying {stem}{backup_files.DUMP_SUFFIX} ({size:,} bytes) by {method}")
                verification = _verify(conn, url, tools, partial, tables, method)
                snapshot, note = _archive_snapshot(settings, folder, stem)
                final = folder / f"{stem}{backup_files.DUMP_SUFFIX}"
                backup_files.replace_with_retry(partial, final)
            except BaseException:
                partial.unlink(missing_ok=True)
                (folder / f"{stem}{backup_files.SNAPSHOT_SUFFIX}").unlink(missing_ok=True)
                raise
            doc = {
                "backup": final.name,
                "database": conninfo_to_dict(url).get("dbname"),
                "server": database.describe(url),
                "server_version": conn.info.parameter_status("server_version"),
                "pg_dump": tools.version,
                "started_at": backup_files.utc_iso(started_at),
                "finished_at": backup_files.utc_iso(datetime.now(UTC)),
                "bytes": size,
                "sha256": digest,
                "tables": tables,
                "verified": True,
                "verification": verification.as_json(),
                "snapshot": snapshot,
                "snapshot_note": note,
            }
            try:
                sidecar = backup_files.write_sidecar(folder, stem, doc)
            except BaseException:  # without its sidecar the archive is unproven: take it back
                final.unlink(missing_ok=True)
                (folder / f"{stem}{backup_files.SNAPSHOT_SUFFIX}").unlink(missing_ok=True)
                raise
            removed = backup_files.apply_retention(
                folder, settings.backup_keep_days, now=datetime.now(UTC)
            )
    notes = [note] if note else []
    if leftovers:
        notes.append(f"removed what an interrupted backup left: {', '.join(leftovers)}")
    return BackupResult(
        final,
        sidecar,
        folder / snapshot["archive"] if snapshot else None,
        snapshot["generation"] if snapshot else None,
        size,
        digest,
        tables,
        verification,
        time.monotonic() - started,
        removed,
        notes,
    )


# --------------------------------------------------------------------------- re-verification


def verify_backup(
    settings: Settings,
    archive: Path,
    progress: Callable[[str], None] = _silent,
    *,
    method: Method | None = None,
) -> Verification:
    """Prove an existing backup file again; update its sidecar with the outcome.

    The file must still have the size and SHA-256 its sidecar recorded, and its
    row counts must equal the ones recorded at backup time. Raises
    BackupVerificationError naming what is wrong (and records the failure).
    """
    method = method or settings.backup_verify
    archive = Path(archive).expanduser().resolve()
    if not archive.is_file():
        raise BackupVerificationError(f"{archive}: no such backup file (see `fmw backup list`)")
    stem = backup_files.stem_of(archive)
    sidecar_path = archive.with_name(f"{stem}{backup_files.SIDECAR_SUFFIX}") if stem else None
    sidecar = backup_files.read_sidecar(sidecar_path) if sidecar_path else None
    expected = sidecar.get("tables") if sidecar else None
    at, started = datetime.now(UTC), time.monotonic()
    try:
        if sidecar and isinstance(sidecar.get("sha256"), str):
            size, digest = backup_files.file_sha256(archive)
            if (size, digest) != (sidecar.get("bytes"), sidecar["sha256"]):
                raise BackupVerificationError(
                    f"{archive.name}: {size:,} bytes with another SHA-256 than the "
                    f"{sidecar.get('bytes'):,} bytes recorded when it was made: the file was "
                    f"damaged or changed since"
                )
        url = database.backup_url(settings, announce=progress)
        # The backup lock: a backup starting meanwhile would take this scratch database
        # for an interrupted one's leftover.
        with database.connect(url, autocommit=True) as conn, backup_lock(conn):
            tools = tools_for(settings, conn)
            progress(
                f"verifying {archive.name} by {method} with PostgreSQL {tools.major}'s programs"
            )
            verification = _verify(
                conn, url, tools, archive, expected if isinstance(expected, dict) else None, method
            )
    except BackupVerificationError as exc:
        if sidecar is not None and stem is not None:
            failed = Verification(method, False, at, time.monotonic() - started, str(exc))
            _record(archive.parent, stem, sidecar, failed)
        raise
    if sidecar is not None and stem is not None:
        _record(archive.parent, stem, sidecar, verification)
    return verification


def _record(folder: Path, stem: str, sidecar: dict[str, Any], verification: Verification) -> None:
    doc = {k: v for k, v in sidecar.items() if k != "format_version"}
    doc["verified"] = verification.ok
    doc["verification"] = verification.as_json()
    backup_files.write_sidecar(folder, stem, doc)
