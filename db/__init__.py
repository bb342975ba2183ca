"""FMW's SQL, shipped as package data: ``schema/``, ``functions/``, ``migrations/``, ``vocabulary/``
(the default header aliases and status words, applied once each).

This package only locates the ``.sql`` files; it must never hold Python logic
about records (that is SQL's job) nor run anything against a database.
"""

from __future__ import annotations

from pathlib import Path

SQL_ROOT = Path(__file__).resolve().parent
SCHEMA_DIR = SQL_ROOT / "schema"
FUNCTIONS_DIR = SQL_ROOT / "functions"
MIGRATIONS_DIR = SQL_ROOT / "migrations"
VOCABULARY_DIR = SQL_ROOT / "vocabulary"  # default header aliases and status words, versioned


def sql_files(folder: Path) -> list[Path]:
    """The ``.sql`` files of ``folder`` in the order they must be applied (by name)."""
    return sorted(folder.glob("*.sql"))
