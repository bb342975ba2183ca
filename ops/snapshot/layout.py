"""What the files of a mapped snapshot generation are called and what they hold.

Its job: the one description both the export (which writes them) and the dashboard
(which maps them) read, so neither guesses:

* the records: one Arrow IPC file per column of ``snapshot.current_records``
  (``records.<column>.arrow``; one batch, rows in *record order*: a record keeps its
  row, its *ordinal*, for as long as the lineage of generations lasts, and new records
  are appended), plus ``order.identity_hash.arrow``: the ordinals sorted by
  ``identity_hash`` (int32), so one identity is found by a binary search. Text columns
  are dictionary arrays (codes into the distinct values, int8, int16 or int32: the
  narrowest that holds them, so one generation may hold a column in int32 and the next in
  int8; a missing text is "": the dashboard never tells the two apart); ``identity_hash``
  is plain text of 64 characters each; the other columns are typed
  (``columnar.COLUMN_TYPES``). Values are the database's own, without the CSV guard
  (these files are not for Excel).
* the history, in *segments*: ``history.<first history_id>.arrow`` holds, per history
  row (in the order exported), ``history_id``, ``record`` (the ordinal), ``changed_at``,
  ``previous_changed_at``, ``change``, ``changed_fields``, ``batch_id``,
  ``batch_source``, ``batch_file``, and ``by_record``: the rows sorted by (record,
  changed_at, history_id), for one record's timeline by binary search. Its schema
  metadata (``SegmentInfo``) says which history ids, times and batches it holds.
  ``history.<first history_id>.docs.arrow`` holds the same rows' ``before`` and ``after``
  documents (JSON text), zstd-compressed in batches of ``DOC_ROWS`` rows: the only part
  read row by row, and nine tenths of the bytes.

A generation's manifest ``extra["export"]`` (``ExportState``) keeps what the next export
and the dashboard need: the lineage (the generation of the last full export: ordinals
hold within it), the database snapshot the export read, the records' columns in view
order, the count of records, and each source's initial batch.

This module must never read or write a file.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

RECORDS_PREFIX = "records."
ARROW = ".arrow"
IDENTITY = "identity_hash"
IDENTITY_ORDER = "order.identity_hash.arrow"
HISTORY_PREFIX = "history."
DOCS_SUFFIX = ".docs.arrow"
METADATA_KEY = b"fmw"
DOC_ROWS = 1024
"""History rows per compressed batch of documents: one row costs a batch's decompression."""
DOC_COLUMNS = ("before", "after")
SEGMENT_TEXT = ("change", "changed_fields", "batch_source", "batch_file")
"""History columns kept as dictionary arrays (few distinct values)."""

_SEGMENT = re.compile(r"history\.(\d{12,})\.arrow")


def records_file(column: str) -> str:
    """The file holding one column of the records."""
    return f"{RECORDS_PREFIX}{column}{ARROW}"


def segment_file(first_history_id: int) -> str:
    """A history segment's file (its index: every column but the documents)."""
    return f"{HISTORY_PREFIX}{first_history_id:012d}{ARROW}"


def docs_file(segment: str) -> str:
    """The documents file of a segment."""
    return segment[: -len(ARROW)] + DOCS_SUFFIX


def segment_names(files: list[str] | dict[str, Any]) -> list[str]:
    """The segments among a generation's file names, oldest (lowest history id) first."""
    return sorted(name for name in files if _SEGMENT.fullmatch(name))


def is_mapped(files: list[str] | dict[str, Any]) -> bool:
    """Whether a generation holds mapped records (else only CSV files: format 1)."""
    return records_file(IDENTITY) in files


@dataclass(frozen=True)
class SegmentInfo:
    """What one history segment holds, from its schema metadata."""

    rows: int
    first_history_id: int
    last_history_id: int
    changed_from: int
    """Earliest changed_at, microseconds since 1970 (UTC); 0 when the segment is empty."""
    changed_to: int
    first_batch: int
    last_batch: int
    updated_sources: list[str] = field(default_factory=list)
    """Sources of the rows that are not inserts (every such row is a listed change)."""
    inserted_batches: dict[str, str] = field(default_factory=dict)
    """Batch id (as text) -> source, of the batches whose inserts the segment holds."""
    docs_rows: int = 0
    """Rows per batch of the documents file (every batch but the last); 0: DOC_ROWS."""

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_metadata(cls, metadata: dict[bytes, bytes] | None) -> SegmentInfo:
        """ValueError when the metadata is missing or not a segment's."""
        raw = (metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise ValueError("no segment metadata")
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("segment metadata is not an object")
        return cls(**doc)


@dataclass(frozen=True)
class ExportState:
    """``extra["export"]`` of a mapped generation's manifest."""

    lineage: str
    """The generation of the last full export: record ordinals hold within a lineage."""
    db_snapshot: str
    """``pg_current_snapshot()`` of the export: the next one exports what it did not see."""
    columns: list[str]
    """The records' columns, in the order of ``snapshot.current_records``."""
    records: int
    initial_batches: list[int]
    """Each source's first processed batch: its inserts are no "change" (recent_changes)."""

    def to_extra(self) -> dict[str, Any]:
        return {"export": asdict(self)}

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> ExportState:
        """ValueError (or TypeError) when ``extra`` holds no export state."""
        doc = extra.get("export")
        if not isinstance(doc, dict):
            raise ValueError("the manifest has no export state")
        state = cls(**doc)
        if not (isinstance(state.columns, list) and IDENTITY in state.columns):
            raise ValueError(f"the export state names no {IDENTITY} column")
        return state
