"""Explore's search: a query (text, facet filters, sort, page) in, one page of rows out.

Its job: turn a ``Query`` into the matching rows of a ``Snapshot``, without
ever copying the snapshot:

* free text: every term (``normalize.search_terms``) must be a substring of
  the snapshot's search column (``pyarrow.compute.match_substring``, one
  vectorized scan per term);
* facets: a boolean mask per facet from its integer codes; the count shown
  next to each value follows *the other* filters (text and every other facet),
  so picking a team shows how many rows each status would have;
* sorting uses the snapshot's cached sort order, so a page costs one pass over
  a boolean mask, never a sort of a million rows;
* only the requested page is ever materialized (``Table.take``).

A ``Query`` also round-trips through URL query parameters (``to_params`` /
``from_params``) so a copied link reproduces the view; unknown or malformed
parameters are ignored, never an error.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.ui.normalize import search_terms
from fmw.ui.snapshot_data import FACETS, SEARCH_FIELDS, Snapshot

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_SORT = "feature_code"
DEFAULT_PAGE_SIZE = 50
MAX_QUERY_LENGTH = 200

TABLE_COLUMNS = (
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "status",
    "region",
    "platform",
    "owner",
    "team",
    "effective_from",
    "effective_to",
    "is_active",
    "has_conflict",
    "note",
    "last_changed_at",
    "identity_hash",
)
"""Columns Explore's table shows, in order (identity_hash opens the record)."""
SORTABLE = tuple(
    c for c in TABLE_COLUMNS if c not in ("is_active", "has_conflict", "note", "identity_hash")
)
"""The table's columns Explore can sort by, in the table's order."""


@dataclass(frozen=True)
class Query:
    """Everything Explore's view depends on; the URL holds exactly this."""

    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Facet name -> the values kept (empty or absent: no filter)."""
    sort: str = DEFAULT_SORT
    descending: bool = False
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    def to_params(self) -> dict[str, str | list[str]]:
        """URL query parameters for this view: only what differs from the default."""
        params: dict[str, str | list[str]] = {}
        if self.text:
            params["q"] = self.text
        for name in FACETS:
            values = self.filters.get(name, ())
            if values:
                params[name] = list(values)
        if self.sort != DEFAULT_SORT:
            params["sort"] = self.sort
        if self.descending:
            params["desc"] = "1"
        if self.page != 1:
            params["page"] = str(self.page)
        if self.page_size != DEFAULT_PAGE_SIZE:
            params["size"] = str(self.page_size)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str | list[str]]) -> Query:
        """The view a URL describes; anything unknown or malformed falls back to the default."""

        def last(name: str) -> str:
            value = params.get(name, "")
            return (value[-1] if value else "") if isinstance(value, list) else value

        def every(name: str) -> tuple[str, ...]:
            value = params.get(name, [])
            values = value if isinstance(value, list) else [value]
            return tuple(dict.fromkeys(v for v in values if isinstance(v, str)))

        sort = last("sort")
        size = _positive_int(last("size"))
        return cls(
            text=last("q")[:MAX_QUERY_LENGTH],
            filters={name: every(name) for name in FACETS if every(name)},
            sort=sort if sort in SORTABLE else DEFAULT_SORT,
            descending=last("desc") in ("1", "true"),
            page=_positive_int(last("page")) or 1,
            page_size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def with_changes(self, **changes: object) -> Query:
        """A copy with some fields changed; any change but the page goes back to page 1."""
        if "page" not in changes:
            changes["page"] = 1
        return replace(self, **changes)


def _positive_int(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < len(text) <= 9 and int(text) > 0 else None


@dataclass(frozen=True)
class FacetCount:
    """One facet value and how many rows would match with it, given the other filters."""

    value: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    """What Explore shows for a query."""

    total: int
    """Rows matching text and every filter."""
    page: int
    """The page shown (the query's page, clamped to what exists)."""
    pages: int
    rows: pa.Table
    """The page's rows (TABLE_COLUMNS), in sort order."""
    facets: dict[str, list[FacetCount]]
    """Facet -> values with their counts, largest first; selected values always listed."""
    order: np.ndarray
    """Row indices of every match in sort order (for downloads)."""


def text_mask(snapshot: Snapshot, text: str) -> np.ndarray | None:
    """Rows where every term of ``text`` is in one of the searched fields; None: no terms.

    Each term is matched against each field's distinct values (few), then
    gathered to rows through the field's codes.
    """
    terms = search_terms(text)
    if not terms:
        return None
    mask: np.ndarray | None = None
    for term in terms:
        term_mask = np.zeros(snapshot.records.num_rows, dtype=bool)
        for name in SEARCH_FIELDS:
            hits = _to_numpy_bool(pc.match_substring(snapshot.search_keys[name], term))
            if hits.any():
                term_mask |= hits[snapshot.coded[name].codes]
        mask = term_mask if mask is None else mask & term_mask
    return mask


def facet_mask(snapshot: Snapshot, name: str, values: tuple[str, ...]) -> np.ndarray | None:
    """Rows whose facet ``name`` is one of ``values``; None when that facet is not filtered."""
    facet = snapshot.facets.get(name)
    if facet is None or not values:
        return None
    keep = np.zeros(len(facet.values) + 1, dtype=bool)
    for value in values:
        code = facet.code_of(value)
        if code is not None:
            keep[code] = True
    return keep[facet.codes]


def run_search(snapshot: Snapshot, query: Query) -> SearchResult:
    """Filter, count facets, sort and cut one page: everything Explore shows for ``query``."""
    text = text_mask(snapshot, query.text)
    masks = {name: facet_mask(snapshot, name, query.filters.get(name, ())) for name in FACETS}
    mask = _combine([text, *masks.values()])

    facets: dict[str, list[FacetCount]] = {}
    for name, facet in snapshot.facets.items():
        others = _combine([text, *(m for n, m in masks.items() if n != name)])
        codes = facet.codes if others is None else facet.codes[others]
        counts = np.bincount(codes, minlength=len(facet.values))
        selected = set(query.filters.get(name, ()))
        listed = [
            FacetCount(value, int(count))
            for value, count in zip(facet.values, counts, strict=True)
            if count > 0 or value in selected
        ]
        listed += [FacetCount(v, 0) for v in sorted(selected - set(facet.values))]
        listed.sort(key=lambda fc: (-fc.count, fc.value))
        facets[name] = listed

    order = snapshot.sort_order(query.sort, descending=query.descending)
    if mask is not None:
        order = order[mask[order]]
    total = len(order)
    pages = max(1, math.ceil(total / query.page_size))
    page = min(max(1, query.page), pages)
    start = (page - 1) * query.page_size
    taken = order[start : start + query.page_size]
    columns = [c for c in TABLE_COLUMNS if c in snapshot.records.column_names]
    page_rows = snapshot.records.select(columns).take(pa.array(taken, type=pa.int64()))
    return SearchResult(
        total=total, page=page, pages=pages, rows=page_rows, facets=facets, order=order
    )


def _combine(masks: list[np.ndarray | None]) -> np.ndarray | None:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    combined = present[0].copy() if len(present) > 1 else present[0]
    for other in present[1:]:
        combined &= other
    return combined


def _to_numpy_bool(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    filled = pc.fill_null(values, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return filled.to_numpy(zero_copy_only=False)
