"""What Home, Record and Changes show, computed from one ``Snapshot``.

Its job: the numbers and small tables Home shows (totals, status breakdown,
by team and region, what changed in the latest load of each source), one
record's timeline and source disagreements, and the Changes page's filtering
(since a date, by change kind, source, field and code), all straight from the
snapshot's files — the database already aggregated ``home_summary``; the
changes come from the history segments that hold the days asked for; nothing
here re-counts a million rows except the two cheap vectorized counts in ``totals``.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo

import pyarrow as pa
import pyarrow.compute as pc

from fmw.ui.normalize import search_key_array, search_terms
from fmw.ui.snapshot_data import FieldChange, Snapshot, field_changes, ordered_statuses

CHANGE_KINDS = ("inserted", "updated", "deactivated", "reactivated")


@dataclass(frozen=True)
class Totals:
    """Home's headline numbers."""

    records: int
    active: int
    conflicts: int
    latest_changes: int

    @property
    def inactive(self) -> int:
        return self.records - self.active


def totals(snapshot: Snapshot) -> Totals:
    records = snapshot.records
    active = pc.sum(pc.cast(records["is_active"], pa.int64())).as_py() or 0
    conflicts = 0
    if "has_conflict" in records.column_names:
        conflicts = pc.sum(pc.cast(records["has_conflict"], pa.int64())).as_py() or 0
    return Totals(
        records=records.num_rows,
        active=active,
        conflicts=conflicts,
        latest_changes=latest_changes(snapshot).num_rows,
    )


def status_counts(snapshot: Snapshot) -> list[tuple[str, int, int]]:
    """(status, records, active records) overall, in status order."""
    rows = snapshot.summary.filter(pc.equal(snapshot.summary["dimension"], "total")).to_pylist()
    by_status = {r["status"] or "": (r["records"], r["active_records"]) for r in rows}
    return [(s, *by_status[s]) for s in ordered_statuses(list(by_status))]


def breakdown(snapshot: Snapshot, dimension: str) -> list[dict[str, object]]:
    """One row per team / region / platform: value, records, active and records per status.

    Rows are ordered by records, largest first; status keys follow ``ordered_statuses``.
    """
    summary = snapshot.summary
    rows = summary.filter(pc.equal(summary["dimension"], dimension)).to_pylist()
    statuses = ordered_statuses(list({r["status"] or "" for r in rows}))
    totals: dict[str, dict[str, int]] = {}  # value -> records, active_records, per status
    for r in rows:
        counts = totals.setdefault(
            r["value"] or "", {"records": 0, "active_records": 0, **dict.fromkeys(statuses, 0)}
        )
        counts["records"] += r["records"]
        counts["active_records"] += r["active_records"]
        counts[r["status"] or ""] = r["records"]
    ordered = sorted(totals.items(), key=lambda item: (-item[1]["records"], item[0]))
    return [{"value": value, **counts} for value, counts in ordered]


def latest_changes(snapshot: Snapshot) -> pa.Table:
    """Changes made by the newest load of each source (the batches covered), newest first."""
    return snapshot.changes(batches=snapshot.generation.batches)


def latest_since(latest: pa.Table, zone: tzinfo = UTC) -> date:
    """The day (in ``zone``) of the oldest of the latest changes: Changes since then lists
    them all (today when there are none)."""
    oldest = pc.min(latest["changed_at"]).as_py() if latest.num_rows else None
    return (oldest or datetime.now(UTC)).astimezone(zone).date()


@dataclass(frozen=True)
class ChangeFilter:
    """The Changes page's filters; empty means "all"."""

    since: date | None = None
    kinds: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    text: str = ""


def change_sources(snapshot: Snapshot) -> list[str]:
    """The sources of the listed changes: read from the segments once per generation."""
    return snapshot.cached("change-sources", snapshot.log.sources, pin=True)


def change_fields(snapshot: Snapshot) -> list[str]:
    """Every field a change changed: read from the segments once per generation."""
    return snapshot.cached("change-fields", snapshot.log.fields, pin=True)


def filter_changes(snapshot: Snapshot, wanted: ChangeFilter, zone: tzinfo = UTC) -> pa.Table:
    """The changes matching every filter, newest first; ``since`` is a day in ``zone``."""
    since = None
    if wanted.since is not None:
        start = datetime.combine(wanted.since, time.min, tzinfo=zone).astimezone(UTC)
        since = int(start.timestamp()) * 1_000_000
    changes = snapshot.changes(since=since)
    masks = []
    if wanted.kinds:
        masks.append(pc.is_in(changes["change"], value_set=pa.array(wanted.kinds)))
    if wanted.sources:
        masks.append(pc.is_in(changes["batch_source"], value_set=pa.array(wanted.sources)))
    if wanted.fields:
        names = "|".join(re.escape(name) for name in wanted.fields)
        pattern = f"(^|, )({names})(,|$)"
        masks.append(pc.match_substring_regex(changes["changed_fields"], pattern))
    terms = search_terms(wanted.text)
    if terms:
        keys = snapshot.cached(("change-keys", since), lambda: _change_keys(changes))
        for term in terms:
            masks.append(pc.or_(*(pc.match_substring(key, term) for key in keys)))
    rows = changes
    if masks:
        mask = masks[0]
        for other in masks[1:]:
            mask = pc.and_(mask, other)
        rows = changes.filter(pc.fill_null(mask, False))
    return rows


def _change_keys(changes: pa.Table) -> list[pa.Array]:
    """The search keys of the changes' codes (each distinct code normalized once)."""
    keys = []
    for name in ("feature_code", "policy_code"):
        encoded = pc.dictionary_encode(changes[name]).combine_chunks()
        keys.append(pc.fill_null(search_key_array(encoded.dictionary).take(encoded.indices), ""))
    return keys


def default_since(snapshot: Snapshot, days: int = 7, zone: tzinfo = UTC) -> date:
    """A week before the snapshot was made (in ``zone``): the Changes page's first view."""
    made = snapshot.generation.generated_at.astimezone(zone).date()
    return date.fromordinal(made.toordinal() - days)


CONFLICT_FIELDS = (
    "status",
    "owner",
    "team",
    "feature_name",
    "policy_name",
    "effective_from",
    "effective_to",
    "note",
)
"""Fields each source reports for a record (snapshot.conflicts): where sources may disagree."""


def disagreeing_fields(sources: list[dict[str, object]]) -> list[str]:
    """The fields whose value differs between the sources reporting one record."""
    return [
        name for name in CONFLICT_FIELDS if len({repr(source.get(name)) for source in sources}) > 1
    ]


@dataclass(frozen=True)
class TimelineEntry:
    """One change of one record: when, what kind, which batch, and each field before -> after."""

    changed_at: datetime
    change: str
    batch_id: int
    batch_source: str
    batch_file: str
    fields: list[FieldChange]


def timeline(snapshot: Snapshot, identity_hash: str) -> list[TimelineEntry]:
    """A record's changes, newest first."""
    rows = snapshot.history(identity_hash).to_pylist()
    entries = [
        TimelineEntry(
            changed_at=row["changed_at"],
            change=row["change"],
            batch_id=row["batch_id"],
            batch_source=row.get("batch_source") or "",
            batch_file=row.get("batch_file") or "",
            fields=field_changes(row["before"], row["after"]),
        )
        for row in rows
    ]
    return list(reversed(entries))
