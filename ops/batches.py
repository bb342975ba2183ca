"""What each load did, for the admin: the newest batches, and one batch's details.

Its job: the read queries behind ``fmw batch list`` / ``fmw batch show`` and the
console's batch and source pages, so both show the same rows. It must never change a batch
(approving and retrying are ``fmw.loader.landing.reprocess_batch``, which calls SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from fmw.errors import BatchError

LIST_COLUMNS = (
    "batch_id",
    "source",
    "file",
    "status",
    "rows",
    "inserted",
    "updated",
    "unchanged",
    "deactivated",
    "rejected",
    "issues",
    "created_at",
)


@dataclass(frozen=True)
class BatchLine:
    """A rejected row or a row issue of a batch: where (row, column) and why."""

    row: int | None
    column: str | None
    issue: str
    value: str | None


@dataclass(frozen=True)
class BatchDetail:
    """One batch: its head, unknown status words and every rejected row and row issue."""

    batch_id: int
    file_name: str
    status: str
    message: str | None
    kind: str
    raw_batch_id: int | None
    unmapped: list[str]
    words: list[tuple[str, int]]
    lines: list[BatchLine]
    file_kept: bool  # the file is kept verbatim (`fmw batch original` writes it out)


def list_batches(conn: psycopg.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` batches, newest first, as ``LIST_COLUMNS`` dicts."""
    rows = conn.execute(
        "SELECT batch_id, source, "
        "CASE kind WHEN 'file' THEN file_name WHEN 'reresolve' "
        "THEN file_name || ' (re-resolved)' ELSE '(source removed)' END, "
        "status, row_count, inserted, updated, "
        "unchanged, deactivated, rejected, issues, created_at::timestamp(0)::text "
        "FROM ops.batch ORDER BY batch_id DESC LIMIT %s",
        [limit],
    ).fetchall()
    return [dict(zip(LIST_COLUMNS, row, strict=True)) for row in rows]


def rejected_trend(conn: psycopg.Connection, batches: int = 10) -> dict[str, list[int]]:
    """Per source, the rejected rows of its newest ``batches`` processed or held file
    batches, oldest first: is a team's file getting worse?"""
    rows = conn.execute(
        "SELECT source, array_agg(rejected ORDER BY batch_id) FROM ("
        "  SELECT source, batch_id, coalesce(rejected, 0) AS rejected,"
        "         row_number() OVER (PARTITION BY source ORDER BY batch_id DESC) AS newest"
        "  FROM ops.batch WHERE kind = 'file' AND status IN ('processed', 'held')"
        ") AS b WHERE newest <= %s GROUP BY source",
        [batches],
    ).fetchall()
    return {source: list(counts) for source, counts in rows}


def batch_detail(conn: psycopg.Connection, batch_id: int) -> BatchDetail:
    """One batch's details; BatchError naming `fmw batch list` when it does not exist."""
    head = conn.execute(
        "SELECT file_name, status, message, kind, raw_batch_id, unmapped_columns, "
        "EXISTS (SELECT FROM raw.file AS f WHERE f.file_sha256 = b.file_sha256) "
        "FROM ops.batch AS b WHERE batch_id = %s",
        [batch_id],
    ).fetchone()
    if head is None:
        raise BatchError(f"batch {batch_id} does not exist (see `fmw batch list`)")
    words = conn.execute("SELECT word, rows FROM core.batch_status_words(%s)", [batch_id])
    lines = conn.execute(
        "SELECT source_row, NULL, 'rejected: ' || reason, NULL FROM core.rejected_row "
        "WHERE batch_id = %s UNION ALL "
        "SELECT source_row, column_name, issue, raw_value FROM core.row_issue "
        "WHERE batch_id = %s ORDER BY 1, 2",
        [batch_id, batch_id],
    ).fetchall()
    file_name, status, message, kind, raw_batch_id, unmapped, kept = head
    return BatchDetail(
        batch_id,
        file_name,
        status,
        message,
        kind,
        raw_batch_id,
        list(unmapped or []),
        [(word, rows) for word, rows in words.fetchall()],
        [BatchLine(*line) for line in lines],
        bool(kept),
    )
