"""The matrix: which feature (or policy) is on, for which market and platform, on one screen.

Its job: from the rows a query keeps (``search.SearchResult.mask``), build one line
per feature code (or policy code) and one column per region × platform that
occurs, each cell holding the records there (usually one; several when, say,
a feature has a record under each of several policies) and their statuses.
Codes are grouped by ``normalize.code_key`` (``PAY-001`` and ``pay-001`` are
one line, shown as its first record spells it). Only one page of lines is
built, all of it with numpy over integer codes (a cell's statuses are one
``bincount``): no Python loop over records, however many a line holds.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.ui.snapshot_data import Snapshot

BY = {"feature": ("feature_code", "feature_name"), "policy": ("policy_code", "policy_name")}
"""What the lines are: ``by`` -> (code column, name column)."""
PAGE_SIZE = 50


@dataclass(frozen=True)
class Cell:
    """The records of one line at one region and platform."""

    statuses: tuple[tuple[str, int], ...]
    """(status, how many records), most first."""
    row: int | None = None
    """The snapshot row when the cell holds one record (it opens that record)."""
    identity: str | None = None

    @property
    def records(self) -> int:
        return sum(count for _, count in self.statuses)


@dataclass
class Line:
    """One feature (or policy): its code, its name, and a cell per (region, platform)."""

    code: str
    name: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)


@dataclass(frozen=True)
class Matrix:
    by: str
    columns: list[tuple[str, str]]
    """(region, platform) pairs that occur among the kept records, sorted."""
    lines: list[Line]
    """The page's lines, by code."""
    total_lines: int
    records: int
    """How many records the query keeps."""
    page: int
    pages: int


def build(
    snapshot: Snapshot,
    mask: np.ndarray | None,
    by: str = "feature",
    *,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Matrix:
    """The matrix of the rows ``mask`` keeps: one page of lines (``page_size`` of them).

    Everything is counted with numpy over integer codes (a cell's statuses are a
    ``bincount``), so a line of a hundred thousand records costs no Python loop.
    """
    by = by if by in BY else "feature"
    code_column, name_column = BY[by]
    kept = snapshot.sort_order("feature_code")  # identity order: a cell's first record is stable
    if mask is not None:
        kept = kept[mask[kept]]
    groups, group_keys = _groups(snapshot, code_column)
    row_groups = groups[snapshot.coded[code_column].codes[kept]]
    present = np.flatnonzero(np.bincount(row_groups, minlength=len(group_keys)))
    present = present[np.argsort(np.asarray(group_keys, dtype=object)[present], kind="stable")]
    pages = max(1, math.ceil(len(present) / page_size))
    page = min(max(1, page), pages)
    shown = present[(page - 1) * page_size : page * page_size]
    line_of = np.full(len(group_keys), -1, dtype=np.int64)
    line_of[shown] = np.arange(len(shown))
    lines = line_of[row_groups]
    on_page = lines >= 0
    columns, column_of = _columns(snapshot, kept)
    return Matrix(
        by=by,
        columns=columns,
        lines=_lines(
            snapshot,
            kept[on_page],
            lines[on_page],
            len(shown),
            column_of,
            columns,
            code_column,
            name_column,
        ),
        total_lines=len(present),
        records=len(kept),
        page=page,
        pages=pages,
    )


def _groups(snapshot: Snapshot, column: str) -> tuple[np.ndarray, list[str]]:
    """Per distinct value of ``column``: its group (same ``code_key``), and each group's key."""
    encoded = pc.dictionary_encode(snapshot.code_keys[column])
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, encoded.dictionary.to_pylist()


def _pair_codes(snapshot: Snapshot, rows: np.ndarray) -> tuple[np.ndarray, int]:
    width = len(snapshot.coded["platform"].values)
    pairs = snapshot.coded["region"].codes[rows].astype(np.int64) * width
    return pairs + snapshot.coded["platform"].codes[rows], width


def _columns(snapshot: Snapshot, rows: np.ndarray) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The (region, platform) pairs among ``rows``, sorted, and per pair code its column."""
    pairs, width = _pair_codes(snapshot, rows)
    size = len(snapshot.coded["region"].values) * width
    found = np.flatnonzero(np.bincount(pairs, minlength=size))
    regions = snapshot.coded["region"].values.to_pylist()
    platforms = snapshot.coded["platform"].values.to_pylist()
    named = [(regions[p // width], platforms[p % width]) for p in found.tolist()]
    order = sorted(
        range(len(named)),
        key=lambda i: (named[i][0] == "", named[i][0], named[i][1] == "", named[i][1]),
    )
    column_of = np.full(size, -1, dtype=np.int64)
    column_of[found[order]] = np.arange(len(order))
    return [named[i] for i in order], column_of


def _lines(
    snapshot: Snapshot,
    rows: np.ndarray,
    lines: np.ndarray,
    count: int,
    column_of: np.ndarray,
    columns: list[tuple[str, str]],
    code_column: str,
    name_column: str,
) -> list[Line]:
    """The page's lines from its records (``rows``, each with its line number)."""
    pairs, _ = _pair_codes(snapshot, rows)
    cells = lines * max(len(columns), 1) + column_of[pairs]
    status = snapshot.coded["status"]
    states = len(status.values)
    tally = np.bincount(
        cells * states + status.codes[rows], minlength=count * max(len(columns), 1) * states
    ).reshape(-1, states)
    first = np.full(len(tally), len(rows), dtype=np.int64)
    np.minimum.at(first, cells, np.arange(len(rows)))  # each cell's first record
    spelled = _spellings(snapshot, rows, lines, count, code_column, name_column)
    statuses = status.values.to_pylist()
    out = [Line(code=code, name=name) for code, name in spelled]
    for cell in np.flatnonzero(tally.sum(axis=1)).tolist():
        line, column = divmod(cell, max(len(columns), 1))
        counts = [(statuses[s], int(n)) for s, n in enumerate(tally[cell]) if n]
        counts.sort(key=lambda sc: (-sc[1], sc[0]))
        row = identity = None
        if sum(n for _, n in counts) == 1:
            row = int(rows[first[cell]])
            identity = snapshot.records["identity_hash"][row].as_py()
        out[line].cells[columns[column]] = Cell(tuple(counts), row, identity)
    return out


def _spellings(
    snapshot: Snapshot,
    rows: np.ndarray,
    lines: np.ndarray,
    count: int,
    code_column: str,
    name_column: str,
) -> list[tuple[str, str]]:
    """Per line: the code and name its first record (in identity order) writes."""
    first = np.full(count, len(rows), dtype=np.int64)
    np.minimum.at(first, lines, np.arange(len(rows)))
    names = [code_column, name_column]
    table = snapshot.records.select(names).take(pa.array(rows[first], pa.int64()))
    return list(zip(*(table[n].to_pylist() for n in names), strict=True))


def table(snapshot: Snapshot, mask: np.ndarray | None, by: str = "feature") -> Matrix:
    """Every line of the matrix (for downloads)."""
    return build(snapshot, mask, by, page=1, page_size=max(1, snapshot.records.num_rows))
