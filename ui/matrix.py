"""The matrix: which feature (or policy) is on, for which market and platform, on one screen.

Its job: from the rows a query keeps (``search.query_mask``), build one line
per feature code (or policy code) and one column per region × platform that
occurs, each cell holding the records there (usually one; several when, say,
a feature has a record under each of several policies) and their statuses.
Codes are grouped by ``normalize.code_key`` (``PAY-001`` and ``pay-001`` are
one line, shown as the spelling most records use). Only one page of lines is
built: the grouping is numpy over integer codes, then a small loop over the
page's records.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import math
from collections import Counter
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

    rows: tuple[int, ...]
    """Snapshot rows, in identity order."""
    statuses: tuple[str, ...]
    identities: tuple[str, ...]


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
    """The matrix of the rows ``mask`` keeps: one page of lines (``page_size`` of them)."""
    code_column, name_column = BY.get(by, BY["feature"])
    kept = snapshot.sort_order("feature_code")  # identity order: cells list records stably
    if mask is not None:
        kept = kept[mask[kept]]
    groups, group_keys = _groups(snapshot, code_column)
    row_groups = groups[snapshot.coded[code_column].codes[kept]]
    present = np.unique(row_groups)
    present = present[np.argsort(np.asarray(group_keys, dtype=object)[present], kind="stable")]
    pages = max(1, math.ceil(len(present) / page_size))
    page = min(max(1, page), pages)
    shown = present[(page - 1) * page_size : page * page_size]
    rows = kept[np.isin(row_groups, shown)]
    return Matrix(
        by=by if by in BY else "feature",
        columns=_columns(snapshot, kept),
        lines=_lines(snapshot, rows, groups, shown, code_column, name_column),
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


def _columns(snapshot: Snapshot, rows: np.ndarray) -> list[tuple[str, str]]:
    region, platform = snapshot.coded["region"], snapshot.coded["platform"]
    width = len(platform.values) + 1
    pairs = np.unique(region.codes[rows].astype(np.int64) * width + platform.codes[rows])
    regions, platforms = region.values.to_pylist(), platform.values.to_pylist()
    found = [(regions[p // width], platforms[p % width]) for p in pairs.tolist()]
    return sorted(found, key=lambda pair: (pair[0] == "", pair[0], pair[1] == "", pair[1]))


def _lines(
    snapshot: Snapshot,
    rows: np.ndarray,
    groups: np.ndarray,
    shown: np.ndarray,
    code_column: str,
    name_column: str,
) -> list[Line]:
    names = [code_column, name_column, "region", "platform", "status", "identity_hash"]
    table = snapshot.records.select(names).take(pa.array(rows, pa.int64()))
    group_of = groups[snapshot.coded[code_column].codes[rows]].tolist()
    spellings: dict[int, Counter[tuple[str, str]]] = {}
    cells: dict[int, dict[tuple[str, str], list[tuple[int, str, str]]]] = {}
    columns = [table[name].to_pylist() for name in names]
    for row, group, code, name, region, platform, status, identity in zip(
        rows.tolist(), group_of, *columns, strict=True
    ):
        spellings.setdefault(group, Counter())[(code, name)] += 1
        cells.setdefault(group, {}).setdefault((region, platform), []).append(
            (row, status, identity)
        )
    lines = []
    for group in shown.tolist():
        code, name = spellings[group].most_common(1)[0][0]
        line = Line(code=code, name=name)
        for pair, records in cells[group].items():
            line.cells[pair] = Cell(
                rows=tuple(r for r, _, _ in records),
                statuses=tuple(s for _, s, _ in records),
                identities=tuple(i for _, _, i in records),
            )
        lines.append(line)
    return lines


def table(snapshot: Snapshot, mask: np.ndarray | None, by: str = "feature") -> Matrix:
    """Every line of the matrix (for downloads)."""
    return build(snapshot, mask, by, page=1, page_size=max(1, snapshot.records.num_rows))
