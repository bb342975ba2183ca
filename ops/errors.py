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


class BatchError(FmwError):
    """A batch could not be processed; no record was changed."""


class SyncBusyError(FmwError):
    """Another sync or export is publishing a snapshot right now; try again when it has finished."""


class SnapshotError(FmwError):
    """No valid snapshot generation could be written or read."""
