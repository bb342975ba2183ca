"""The vocabulary as admins use it: list it, change it, re-resolve records, find what is unknown.

Its job: call the SQL that holds the rules (``core.add_header_alias``,
``core.remove_status_synonym`` …, ``core.reresolve_sources``,
``core.unknown_headers``, ``core.unknown_status_words``) and hand back plain
values for the command line. A change and the re-resolve it causes run in one
transaction, so records never disagree with the vocabulary they were read with.

What it must never do: decide what a header or word means (SQL's job) or print.
The one judgement made here is a suggestion for an unknown header (the field of
the most similar known alias, by ``difflib``), shown to an admin, never applied.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal, LiteralString

import psycopg

from fmw.admin import admin_call

Kind = Literal["alias", "status"]
Change = Literal["add", "remove"]

_FUNCTIONS: dict[tuple[Kind, Change], LiteralString] = {
    ("alias", "add"): "SELECT * FROM core.add_header_alias(%s, %s, %s)",
    ("alias", "remove"): "SELECT * FROM core.remove_header_alias(%s, %s, %s)",
    ("status", "add"): "SELECT * FROM core.add_status_synonym(%s, %s, %s)",
    ("status", "remove"): "SELECT * FROM core.remove_status_synonym(%s, %s, %s)",
}


@dataclass(frozen=True)
class Term:
    """A field or status, and the headers or words that mean it."""

    name: str
    label: str  # "key" for a key field, the Korean label of a status
    words: list[str]


@dataclass(frozen=True)
class VocabularyChange:
    """What one `fmw vocab alias|status add|remove` did: before and after are NULL-able."""

    word: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Reresolved:
    """One source's outcome of ``core.reresolve_sources``."""

    source: str
    batch_id: int | None
    status: str  # processed, unchanged, held, failed, refused
    source_changes: int | None  # its source records inserted, updated or deactivated
    records_changed: int | None  # records as users see them (another source may be shown)
    message: str | None


@dataclass(frozen=True)
class UnknownHeader:
    """A header no alias maps, from ``core.unknown_headers``."""

    header: str
    files: int
    sources: list[str]
    latest_batch_id: int
    refused: bool
    fix: str  # the command that maps it, with a suggested field (alias_hints)


@dataclass(frozen=True)
class UnknownWord:
    """A status word no synonym matches, from ``core.unknown_status_words``."""

    word: str
    typed: str
    records: int
    sources: list[str]
    latest_batch_id: int


def fields(conn: psycopg.Connection) -> list[Term]:
    """Every field with the headers that map to it (key fields first)."""
    rows = conn.execute(
        "SELECT f.name, f.is_key, coalesce(array_agg(a.alias ORDER BY a.alias) "
        "FILTER (WHERE a.alias IS NOT NULL), '{}') "
        "FROM core.field AS f LEFT JOIN core.header_alias AS a ON a.field = f.name "
        "GROUP BY f.name, f.is_key ORDER BY NOT f.is_key, f.name"
    ).fetchall()
    return [Term(name, "key" if is_key else "", words) for name, is_key, words in rows]


def statuses(conn: psycopg.Connection) -> list[Term]:
    """Every status with the words that mean it, in the statuses' order."""
    rows = conn.execute(
        "SELECT s.code, s.label_ko, coalesce(array_agg(y.synonym ORDER BY y.synonym) "
        "FILTER (WHERE y.synonym IS NOT NULL), '{}') "
        "FROM core.status AS s LEFT JOIN core.status_synonym AS y ON y.status = s.code "
        "GROUP BY s.code, s.label_ko, s.sort_order ORDER BY s.sort_order"
    ).fetchall()
    return [Term(code, label, words) for code, label, words in rows]


def change_vocabulary(
    conn: psycopg.Connection,
    kind: Kind,
    change: Change,
    word: str,
    target: str,
    *,
    actor: str | None,
    reresolve: bool,
) -> tuple[VocabularyChange, list[Reresolved] | None]:
    """Add or remove an alias or status word and, when ``reresolve``, re-resolve the records
    it affects, in one transaction; None instead of outcomes when not re-resolved."""
    what = f"`fmw vocab {kind} {change}`"
    with conn.transaction(), admin_call(what):
        # Sources whose files read as now before a status word changes need re-reading only
        # if they use the word (core.reresolve_sources).
        current: list[str] = []
        if reresolve and kind == "status":
            found = conn.execute("SELECT core.sources_reading_as_now()").fetchone()
            assert found is not None
            current = found[0]
        row = conn.execute(_FUNCTIONS[kind, change], [word, target, actor]).fetchone()
        assert row is not None
        done = VocabularyChange(word, row[1], row[2])
        outcomes = None
        if reresolve and done.changed:
            status_word = word if kind == "status" else None
            outcomes = _reresolve(conn, actor, status_word, current)
    return done, outcomes


def reresolve(conn: psycopg.Connection, *, actor: str | None) -> list[Reresolved]:
    """`fmw vocab apply`: every source re-staged from its kept raw rows, in one transaction."""
    with conn.transaction(), admin_call("`fmw vocab apply`"):
        return _reresolve(conn, actor)


def _reresolve(
    conn: psycopg.Connection,
    actor: str | None,
    status_word: str | None = None,
    read_as_now: list[str] | None = None,
) -> list[Reresolved]:
    rows = conn.execute(
        "SELECT source, batch_id, status, source_changes, records_changed, message "
        "FROM core.reresolve_sources(%s, %s, %s)",
        [actor, status_word, read_as_now or []],
    ).fetchall()
    return [Reresolved(*row) for row in rows]


def unknown_headers(conn: psycopg.Connection) -> list[UnknownHeader]:
    """Headers of loaded or refused files that map to no field, each with its fix as
    ``alias_hints`` gives it for the newest file that carried it."""
    hints: dict[int, dict[str, str]] = {}  # by batch: header -> fix, in file order
    found = []
    for header, files, sources, latest, refused in conn.execute(
        "SELECT header, files, sources, latest_batch_id, refused FROM core.unknown_headers()"
    ).fetchall():
        if latest not in hints:
            mapping = conn.execute(
                "SELECT m.header, m.field FROM ops.batch AS b, core.map_headers(b.headers) AS m "
                "WHERE b.batch_id = %s ORDER BY m.col",
                [latest],
            ).fetchall()
            hints[latest] = alias_hints(conn, mapping)
        fix = hints[latest].get(header, f"fmw vocab alias add {header} FIELD")
        found.append(UnknownHeader(header, files, sources, latest, refused, fix))
    order = {(batch, h): n for batch, fixes in hints.items() for n, h in enumerate(fixes)}
    return sorted(
        found, key=lambda u: (-u.latest_batch_id, order.get((u.latest_batch_id, u.header), 0))
    )


def unknown_words(conn: psycopg.Connection) -> list[UnknownWord]:
    """Status words that produced a row issue and mean no status now."""
    return [
        UnknownWord(*row)
        for row in conn.execute(
            "SELECT word, typed, records, sources, latest_batch_id FROM core.unknown_status_words()"
        ).fetchall()
    ]


def alias_hints(conn: psycopg.Connection, mapping: list[tuple[str, str | None]]) -> dict[str, str]:
    """For each header of a file that maps to no field, the command that would map it, with a
    suggested field (or FIELD). A file without a feature_code column gets it suggested for its
    first unmapped column (as the refusal does); the others, the field of the most similar
    known header, each field once."""
    aliases = dict(conn.execute("SELECT alias, field FROM core.header_alias").fetchall())
    taken = [field for _, field in mapping if field]
    hints = {}
    for header, field in mapping:
        if field is not None:
            continue
        row = conn.execute("SELECT ops.command_word(%s)", [header]).fetchone()
        assert row is not None
        if "feature_code" not in taken:
            guess, why = "feature_code", " (the file has no feature_code column yet)"
        else:
            similar = suggest_field(header, aliases, taken=taken)
            guess, why = (
                similar[0] if similar else "FIELD",
                f" (like {similar[1]})" if similar else "",
            )
        taken.append(guess)
        hints[header] = f"fmw vocab alias add {row[0]} {guess}{why}"
    return hints


def suggest_field(
    header: str, aliases: dict[str, str], *, taken: list[str] | None = None
) -> tuple[str, str] | None:
    """(field, alias) of the known alias most like ``header``, if one is alike enough,
    among the fields its file does not map already (``taken``)."""
    by_key = {
        " ".join(alias.replace("_", " ").lower().split()): alias
        for alias, field in aliases.items()
        if field not in (taken or [])
    }
    key = " ".join(header.replace("_", " ").lower().split())
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.5)
    if not close:
        return None
    alias = by_key[close[0]]
    return aliases[alias], alias
