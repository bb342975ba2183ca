"""Any day in the past: every record as it was then, rebuilt from the snapshot's history.

Its job: from the history a generation already holds (every change of every record,
with the full ``before`` and ``after`` documents ``core.history_doc`` writes, in its
segments: ``fmw.ui.history``), give

* ``snapshot_at(snapshot, day, zone)``: a ``Snapshot`` of the records as they
  were at the end of ``day`` (in ``zone``), which search, filters, sorting,
  the matrix and downloads use exactly like today's. A record's state then is
  the ``before`` document of its first change after that moment (a record
  first inserted after it did not exist yet: ``present`` is false); a record
  without a later change is as exported. So only the records that changed
  since are rebuilt, and only their columns: a view of last week reads the
  segments that hold last week and a few thousand documents, not a million;
* ``differing(a, b)``: the rows whose state differs between two such views,
  and ``changed_columns``: which of a page's cells differ (before -> after);
* ``change_documents``: the before and after documents of some changes.

A field an (older) history document lacks keeps its exported value. Fields history
does not keep (``source_row``, ``source_count``, ``has_conflict``) are blank in a
past view for the records rebuilt; ``last_changed_at`` is the time of the record's
change before (``previous_changed_at``, which the export stores per history row).
The views are built once per generation and day and shared (``Snapshot.cached``).

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from fmw.ui.snapshot_data import Coded, Snapshot, SnapshotFileError, derive

DOC_FIELDS = (
    "source",
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "status",
    "status_raw",
    "region",
    "platform",
    "owner",
    "team",
    "effective_from",
    "effective_to",
    "note",
    "is_active",
)
"""The record fields each history document holds (``core.history_doc``)."""
WORD, UNKNOWN = "status_raw", "unknown"
"""History keeps the source's status word only where it means no status (``unknown``): two
days differ in the word only there (elsewhere a past view does not know the word)."""
UNRECORDED = ("source_row", "source_count", "has_conflict")
"""Record fields history does not keep: blank in a past view for the records rebuilt."""


def change_documents(
    snapshot: Snapshot, history_ids: list[int]
) -> list[tuple[dict[str, object] | None, dict[str, object]]]:
    """(before, after) documents of each history row, as stored (before: None for an
    insert; both empty for a row the snapshot does not hold)."""
    out: list[tuple[dict[str, object] | None, dict[str, object]]] = []
    for before, after in snapshot.log.documents(history_ids):
        out.append((None if before is None else _document(before), _document(after)))
    return out


def end_of_day(day: dt.date, zone: dt.tzinfo) -> int:
    """The first microsecond after ``day`` in ``zone``, since 1970 (UTC)."""
    moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return int(moment.timestamp()) * 1_000_000


def snapshot_at(snapshot: Snapshot, day: dt.date, zone: dt.tzinfo) -> Snapshot:
    """The records as they were at the end of ``day`` (``snapshot`` itself when nothing
    changed since)."""
    moment = end_of_day(day, zone)
    return snapshot.cached(("as-of", moment), lambda: _build_view(snapshot, moment))


def is_built(snapshot: Snapshot, day: dt.date, zone: dt.tzinfo) -> bool:
    """Whether ``snapshot_at`` has this day's view already (then it takes no time)."""
    return snapshot.holds(("as-of", end_of_day(day, zone)))


def _build_view(snapshot: Snapshot, moment: int) -> Snapshot:
    later = snapshot.log.after(moment)
    if not len(later["record"]):
        return snapshot
    order = np.lexsort((later["history_id"], later["changed_at"], later["record"]))
    records = later["record"][order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = records[1:] != records[:-1]
    picked, rows = order[first], records[first]  # each record's first change after it
    inserted = later["inserted"][picked]
    present = np.ones(snapshot.records.num_rows, dtype=bool)
    present[rows[inserted]] = False
    changed, changed_rows = picked[~inserted], rows[~inserted]
    texts = snapshot.log.before_texts(later["segment"][changed], later["position"][changed])
    docs = _documents(texts)
    columns: dict[str, Coded | pa.Array] = {}
    for name in DOC_FIELDS:
        if name not in snapshot.records.column_names:
            continue
        values = docs.column(name).combine_chunks()
        has = _holds(texts, values, name)
        if has.any():  # a key a document lacks: as exported
            columns[name] = _replaced(snapshot, name, changed_rows[has], values.filter(has))
    if "last_changed_at" in snapshot.records.column_names:
        previous = later["previous_changed_at"][changed]  # 0: none
        columns["last_changed_at"] = _replaced(
            snapshot, "last_changed_at", changed_rows, pa.array(previous, mask=previous == 0)
        )
    for name in UNRECORDED:
        if name in snapshot.records.column_names:
            columns[name] = _replaced(snapshot, name, changed_rows, pa.nulls(len(changed_rows)))
    return derive(snapshot, columns, present)


DOC_SCHEMA = pa.schema(
    [(name, pa.bool_() if name == "is_active" else pa.string()) for name in DOC_FIELDS]
)
"""How the ``before`` documents are read, all at once (pyarrow's JSON reader)."""


def _documents(texts: pa.Array) -> pa.Table:
    """The documents (JSON texts, one per row) as a table of DOC_FIELDS: one parse in C++
    instead of a json.loads and a dict per document (a year back rebuilds most records)."""
    if not len(texts):
        return DOC_SCHEMA.empty_table()
    lines = pc.binary_join_element_wise(texts.cast(pa.string()), "", "\n")  # text + line end
    offsets, data = lines.buffers()[1:3]  # a fresh array: no offset; int32 offsets (string)
    size = int(np.frombuffer(offsets, dtype=np.int32)[len(lines)])
    options = pa_json.ParseOptions(explicit_schema=DOC_SCHEMA, unexpected_field_behavior="ignore")
    try:  # the lines' bytes, end to end in one buffer: read in place
        table = pa_json.read_json(pa.BufferReader(data.slice(0, size)), parse_options=options)
    except pa.ArrowInvalid as exc:
        raise SnapshotFileError(f"record_history: a before cell is not a document ({exc})") from exc
    if table.num_rows != len(texts):
        raise SnapshotFileError("record_history: a before cell is empty")
    return table


def _holds(texts: pa.Array, values: pa.Array, name: str) -> np.ndarray:
    """Which documents hold the key ``name`` (a null value is held; a missing key is not):
    only the null values need a look at their text."""
    holds = np.ones(len(values), dtype=bool)
    nulls = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))
    if len(nulls):
        keyed = pc.match_substring(texts.take(pa.array(nulls)), f'"{name}":')
        holds[nulls] = keyed.to_numpy(zero_copy_only=False)
    return holds


def _document(text: str | None) -> dict[str, object]:
    try:
        value = json.loads(text) if text else {}
    except ValueError as exc:
        raise SnapshotFileError(f"record_history: a before cell is not JSON ({exc})") from exc
    return value if isinstance(value, dict) else {}


def _replaced(
    snapshot: Snapshot, name: str, rows: np.ndarray, values: pa.Array
) -> Coded | pa.Array:
    """Column ``name`` with ``values`` at ``rows`` (ascending), the rest as it is."""
    coded = snapshot.coded.get(name)
    if coded is not None:
        texts = pc.fill_null(values.cast(pa.string()), "")
        found = pc.index_in(texts, value_set=coded.values).to_numpy(zero_copy_only=False)
        distinct = coded.values
        missing = np.isnan(found) if found.dtype.kind == "f" else np.zeros(len(found), bool)
        if missing.any():
            new = pc.unique(texts.filter(pa.array(missing)))
            distinct = pa.concat_arrays([coded.values, new])
            found = pc.index_in(texts, value_set=distinct).to_numpy(zero_copy_only=False)
        codes = coded.codes.astype(np.int32)  # a copy, wide enough for the values added
        codes[rows] = found.astype(np.int32)
        codes.setflags(write=False)
        return Coded(distinct, codes)
    column = snapshot.records[name].combine_chunks()
    kind = column.type
    if pa.types.is_timestamp(kind):
        replacement = values.cast(pa.int64()).cast(pa.timestamp("us", tz="UTC")).cast(kind)
    elif pa.types.is_date(kind):
        replacement = values.cast(pa.string()).cast(kind)
    else:
        replacement = values.cast(kind)
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(column, pa.array(mask), replacement)


def differing(a: Snapshot, b: Snapshot) -> np.ndarray:
    """Rows whose record differs between two views of one generation (existence included)."""
    rows = a.records.num_rows
    present_a = np.ones(rows, bool) if a.present is None else a.present
    present_b = np.ones(rows, bool) if b.present is None else b.present
    differs = present_a != present_b
    both = present_a & present_b
    for name in DOC_FIELDS:
        if name not in a.records.column_names or a.records[name] is b.records[name]:
            continue
        column = _column_differs(a, b, name)
        if name == WORD:
            column &= _unknown(a) | _unknown(b)
        differs |= both & column
    return differs


def _unknown(view: Snapshot) -> np.ndarray:
    """Rows whose status is unknown in ``view`` (where history keeps the status word)."""
    if "status" in view.coded:
        coded = view.coded["status"]
        return pc.equal(coded.values, UNKNOWN).to_numpy(zero_copy_only=False)[coded.codes]
    same = pc.equal(view.records["status"], UNKNOWN)
    return pc.fill_null(same, False).to_numpy(zero_copy_only=False)


def _column_differs(a: Snapshot, b: Snapshot, name: str) -> np.ndarray:
    if name in a.coded:
        ca, cb = a.coded[name], b.coded[name]
        if ca.codes is cb.codes:
            return np.zeros(len(ca.codes), bool)
        maybe = np.flatnonzero(ca.codes != cb.codes)
        texts_a = ca.values.take(pa.array(ca.codes[maybe]))
        texts_b = cb.values.take(pa.array(cb.codes[maybe]))
        out = np.zeros(len(ca.codes), bool)
        out[maybe] = pc.not_equal(texts_a, texts_b).to_numpy(zero_copy_only=False)
        return out
    left, right = a.records[name], b.records[name]
    same = pc.fill_null(pc.equal(left, right), False)
    both_null = pc.and_(pc.is_null(left), pc.is_null(right))
    return ~pc.or_(same, both_null).to_numpy(zero_copy_only=False)


def changed_columns(a: Snapshot, b: Snapshot, rows: np.ndarray) -> list[set[str]]:
    """For each of ``rows``: the DOC_FIELDS columns whose value differs between ``a`` and ``b``."""
    taken = pa.array(rows, pa.int64())
    names = [n for n in DOC_FIELDS if n in a.records.column_names]
    left = a.records.select(names).take(taken).to_pylist()
    right = b.records.select(names).take(taken).to_pylist()
    return [
        {n for n in names if x[n] != y[n] and (n != WORD or UNKNOWN in (x["status"], y["status"]))}
        for x, y in zip(left, right, strict=True)
    ]
