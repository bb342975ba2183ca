"""What loading a file would do, without doing it: ``fmw load --dry-run``.

Its job: run the real load (``landing.load_file``: register, land, process,
all in SQL) inside one transaction that is always rolled back, and keep what
it reported: how each header maps, the columns and status words that mean
nothing, and what would be inserted, updated or deactivated, or why the file
would be refused, held or fail. The counts are exact because the real SQL
computed them.

What it must never do: leave anything behind (no row, no batch, no snapshot
change: the transaction is rolled back even when all went well), or decide
anything about records itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from fmw.errors import SourceFileError
from fmw.loader.landing import BatchResult, SourceSpec, load_file
from fmw.loader.source_file import open_source


@dataclass(frozen=True)
class DryRun:
    """What loading one file would do; ``result`` None when it would be refused or fail."""

    path: Path
    source: str
    mapping: list[tuple[str, str | None]]  # (header, field or None), in file order
    result: BatchResult | None
    refusal: str | None  # SourceFileError's text: refused headers or shape, unreadable file

    @property
    def would_load(self) -> bool:
        """True when the real load would be processed or skipped."""
        return self.result is not None and self.result.status in ("processed", "skipped")


def dry_run(
    conn: psycopg.Connection,
    spec: SourceSpec,
    path: Path,
    *,
    force: bool = False,
    accept_shape: bool = False,
) -> DryRun:
    """Load ``path`` as ``load_file`` would, report it, and roll everything back."""
    path = Path(path)
    with open_source(path, fmt=spec.format, encoding=spec.encoding, sheet=spec.sheet) as table:
        header = table.header
    with conn.transaction(force_rollback=True):
        mapping = [
            (name, field)
            for name, field in conn.execute(
                "SELECT header, field FROM core.map_headers(%s)", [header]
            ).fetchall()
        ]
        try:
            result = load_file(conn, spec, path, force=force, accept_shape=accept_shape)
        except SourceFileError as exc:
            return DryRun(path, spec.name, mapping, None, str(exc))
    return DryRun(path, spec.name, mapping, result, None)
