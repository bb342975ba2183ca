"""Sources as admins manage them: configured in fmw.toml, known to the database, or neither.

Its job: refuse a source name nobody configured (naming the closest one, so a
typo never becomes a new source), list every source with what the database
knows of it (``ops.source_overview``), and call the SQL that removes a source
or accepts its new shape (``ops.remove_source``, ``ops.accept_source_shape``).

What it must never do: change records itself (SQL does, with history), or
print. The closest name is found with ``difflib``, the way a person misspells.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

import psycopg

from fmw.admin import admin_call
from fmw.errors import AdminRefusedError, UnknownSourceError
from fmw.settings import Settings, check_source_name_grammar

NEW_SOURCE_FLAG = "--new-source"


@dataclass(frozen=True)
class SourceState:
    """One source: its settings (when configured) and what the database knows (when loaded)."""

    name: str
    configured: bool
    priority: int | None
    mode: str | None
    shape: list[str] | None
    last_batch_id: int | None
    last_file: str | None
    last_status: str | None
    last_at: datetime | None
    last_success_at: datetime | None
    active_records: int
    shown_records: int
    accept_shape: bool
    removed_at: datetime | None

    @property
    def in_use(self) -> bool:
        """Loaded a file successfully and not removed since."""
        return self.last_success_at is not None and self.removed_at is None


def sources(conn: psycopg.Connection, settings: Settings) -> list[SourceState]:
    """Every configured source and every source the database knows, by priority then name."""
    found: dict[str, SourceState] = {}
    for row in conn.execute(
        "SELECT source, priority, mode, shape, last_batch_id, last_file, last_status, last_at, "
        "last_success_at, active_records, shown_records, accept_shape, removed_at "
        "FROM ops.source_overview()"
    ).fetchall():
        name, priority, mode, *rest = row
        configured = settings.sources.get(name)
        found[name] = SourceState(
            name,
            configured is not None,
            configured.priority if configured else priority,
            configured.mode if configured else mode,
            *rest,
        )
    for name, configured in settings.sources.items():
        if name not in found:
            found[name] = SourceState(
                name, True, configured.priority, configured.mode,
                None, None, None, None, None, None, 0, 0, False, None,
            )  # fmt: skip
    return sorted(found.values(), key=lambda s: (s.priority or 0, s.name))


def closest(name: str, names: list[str]) -> str | None:
    """The name in ``names`` most like ``name``, if one is alike enough."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return close[0] if close else None


def check_source_name(
    conn: psycopg.Connection, settings: Settings, name: str, *, new_source: bool
) -> None:
    """Refuse a source that is neither configured nor in use in the database, unless new.

    A source in use is one that loaded a file and was not removed since. A name
    that is not a short identifier (``fmw.settings.SOURCE_NAME``) is refused first.
    """
    check_source_name_grammar(name)
    if new_source or name in settings.sources:
        return
    states = sources(conn, settings)
    in_use = [s.name for s in states if s.in_use]
    if name in in_use:
        return
    known = sorted(set(settings.sources) | set(in_use))
    guess = closest(name, known)
    hint = f"did you mean {guess}? " if guess else ""
    listed = ", ".join(known) if known else "none yet"
    raise UnknownSourceError(
        f"source {name} is not configured ({hint}sources: {listed}); add [sources.{name}] to "
        f"fmw.toml, or pass {NEW_SOURCE_FLAG} to load it as a new source"
    )


def remove_source(
    conn: psycopg.Connection, settings: Settings, name: str, *, actor: str | None
) -> tuple[int, int, int]:
    """`fmw source remove`: (batch, records deactivated, records changed), history kept.

    Refused while fmw.toml still configures the source: sync would load it again.
    """
    check_source_name_grammar(name)
    if name in settings.sources:
        raise AdminRefusedError(
            f"source {name} is still configured in fmw.toml, so the next sync would load it "
            f"again: delete its [sources.{name}] table first, then `fmw source remove {name}`"
        )
    with conn.transaction(), admin_call("`fmw source remove`"):
        row = conn.execute(
            "SELECT batch_id, deactivated, records_changed FROM ops.remove_source(%s, %s)",
            [name, actor],
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def accept_shape(
    conn: psycopg.Connection, settings: Settings, name: str, *, actor: str | None
) -> list[str] | None:
    """`fmw source accept-shape`: the source's next file may declare a new shape; the
    current shape (None for a source that has none yet)."""
    check_source_name(conn, settings, name, new_source=False)
    with conn.transaction(), admin_call("`fmw source accept-shape`"):
        row = conn.execute("SELECT ops.accept_source_shape(%s, %s)", [name, actor]).fetchone()
    assert row is not None
    return row[0]


def unconfigured_in_use(conn: psycopg.Connection, settings: Settings) -> list[SourceState]:
    """Sources with active records that fmw.toml does not configure: sync never loads them."""
    return [
        s
        for s in sources(conn, settings)
        if not s.configured and s.removed_at is None and s.active_records > 0
    ]
