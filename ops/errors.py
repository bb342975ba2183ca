"""FMW's exception hierarchy: one base class, one subclass per thing that can go wrong.

The CLI turns any ``FmwError`` into one clear line and a non-zero exit. This
module must never import anything heavier than the standard library.
"""

from __future__ import annotations

from pathlib import Path


class FmwError(Exception):
    """Something went wrong in FMW."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class SettingsError(FmwError):
    """The settings file or an FMW_* environment variable is invalid."""


class DatabaseUnavailableError(FmwError):
    """The database cannot be reached."""


class MigrationError(FmwError):
    """Database migrations cannot be applied."""


class MigrationLockedError(MigrationError):
    """Another `fmw db upgrade` holds the migration lock; try again when it has finished."""


class MigrationDriftError(MigrationError):
    """An applied migration file was edited after it was applied."""


class SourceFileError(FmwError):
    """A source file cannot be read; names the file and, where known, the row and column."""

    def __init__(
        self,
        path: Path | str,
        reason: str,
        *,
        row: int | None = None,
        column: str | int | None = None,
    ) -> None:
        self.path = Path(path)
        self.reason = reason
        self.row = row
        self.column = column
        where = [str(self.path)]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}")
        super().__init__(f"{', '.join(where)}: {reason}")


class SourceNameError(FmwError):
    """A source name is not a short identifier (fmw.settings.SOURCE_NAME); says which rule."""


class BatchError(FmwError):
    """A batch could not be processed; no record was changed."""


class KeptFileError(FmwError):
    """A source file kept in the database is missing, or does not match its SHA-256."""


class SyncBusyError(FmwError):
    """Another sync or export is publishing a snapshot right now; try again when it has finished."""


class FileBusyError(FmwError):
    """A file could not be replaced: another program kept it open for too long."""


class SnapshotError(FmwError):
    """No valid snapshot generation could be written or read."""


class InvalidScheduleError(FmwError):
    """A job schedule is not one pg_cron (and FMW's scheduler) accepts; says why."""

    def __init__(self, schedule: str, reason: str) -> None:
        self.schedule = schedule
        self.reason = reason
        super().__init__(f"invalid schedule {schedule!r}: {reason}")


class JobError(FmwError):
    """A scheduled job cannot be created, changed or run as asked."""


class JobNotFoundError(JobError):
    """No scheduled job has that name (see `fmw job list`)."""


class JobBusyError(JobError):
    """The job is running right now in another process; try again when it has finished."""


class NoSnapshotError(SnapshotError):
    """No snapshot has been published yet: run `fmw demo` (sample data) or `fmw sync`."""


class DashboardError(FmwError):
    """The dashboard cannot be started as asked."""


class PgToolError(FmwError):
    """A PostgreSQL client program (pg_dump, pg_restore) is missing, too old, or failed."""


class BackupError(FmwError):
    """A backup could not be made; the previous backups are untouched."""


class BackupBusyError(BackupError):
    """Another `fmw backup` of this database is running; try again when it has finished."""


class BackupVerificationError(BackupError):
    """A backup file did not pass verification: it cannot be trusted to restore."""


class RestoreError(FmwError):
    """A backup could not be restored; no existing database was changed."""


class ScheduledTaskError(FmwError):
    """The Windows scheduled task cannot be created as asked."""


class ServiceError(FmwError):
    """The FMW services cannot be described, installed or controlled as asked."""


class ServiceCommandError(ServiceError):
    """A service manager command (nssm, systemctl) failed; names the command and its output."""

    def __init__(self, command: str, returncode: int, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        detail = " ".join(output.split())
        super().__init__(
            f"`{command}` failed (exit code {returncode})" + (f": {detail}" if detail else "")
        )


class DeployError(FmwError):
    """A release cannot be deployed as asked; names the release, the step and what to do."""


class DeployBusyError(DeployError):
    """Another deploy holds releases/deploy.lock; wait for it to finish."""


class EdgeError(FmwError):
    """The nginx edge cannot be rendered as asked; names the setting and what to do."""


class ReportError(FmwError):
    """An edge report (`fmw report`) cannot be made as asked."""


class AdminRefusedError(FmwError):
    """An admin change was refused by the database; the message says why and what to do."""


class OwnerRequiredError(FmwError):
    """This change is an admin's: the database login must be a member of fmw_owner."""


class UnknownSourceError(FmwError):
    """No source has that name; the message names the closest one and how to add it."""


class PsqlError(FmwError):
    """psql cannot be started as asked."""
