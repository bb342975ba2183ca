"""Explore's search: a query (text, filters, sort, page, columns) in, one page of rows out.

Its job: turn a ``Query`` into the matching rows of a ``Snapshot``, ranked or
sorted, without ever copying the snapshot:

* free text (``parse_terms``): every term must be found in one of the
  searched fields (a term never spans two fields); ``owner:김`` or ``팀:결제``
  limits a term to one field (``SCOPES``). Codes are compared by
  ``normalize.code_key``, so ``pay013``, ``PAY-013`` and ``ＰＡＹ－０１３`` are
  the same code;
* ranking: with a text and no sort chosen, rows come in order of how they
  matched — an exact code first, then a code that starts with the term, a
  code that contains it, a name, then any other field (``TIERS``, summed over
  the terms), ties in identity order;
* filters: a boolean mask per filter from its integer codes; the count of each
  value follows *the other* filters, so picking a team shows how many rows each
  status would have. Records no source lists any more (``is_active`` false)
  are hidden unless ``listed`` asks for them, and how many were hidden is
  counted;
* sorting uses the snapshot's cached sort order, so a page costs one pass over
  a boolean mask, never a sort of a million rows; only the requested page is
  materialized (``Table.take``).

A ``Query`` round-trips through URL query parameters (``to_params`` /
``from_params``); a parameter always holds a *value* (``status=enabled``),
never a label, and anything unknown or malformed falls back to the default.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.ui.normalize import REMOVED, code_key, key_part, search_key
from fmw.ui.snapshot_data import CODE_FIELDS, SEARCH_FIELDS, Snapshot

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 25
"""Rows per page unless chosen: a screen's height, and half the browser's work of 50
(an Explore search at 200,000 records: ~75 ms less, measured with Chromium)."""
MAX_QUERY_LENGTH = 200
RELEVANCE = "relevance"
"""The sort that orders by how well rows match the text (the default while searching)."""
IDENTITY_SORT = "feature_code"
"""The sort without a text: by feature code (then policy, region, platform)."""

FILTERS = ("status", "region", "platform", "team", "owner", "has_conflict")
"""Columns Explore filters on, in the order they are shown; URL parameter = column name.
``has_conflict`` is a switch: its only value is "true" (the records whose sources disagree)."""
CHOICE_FILTERS = FILTERS[:-1]
"""The filters chosen from a list of values."""
LISTED = ("yes", "no", "all")
"""``listed``: records a source still lists (the default), ones no source lists any more, all."""

TABLE_COLUMNS = (
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
    "source",
    "is_active",
    "has_conflict",
    "first_seen_at",
    "last_changed_at",
)
"""Every column Explore's table can show, in order (the column chooser's choices)."""
DEFAULT_COLUMNS = (
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "status",
    "region",
    "platform",
    "owner",
    "team",
    "last_changed_at",
)
"""The columns shown until someone chooses others (they fit a 1400-pixel-wide window)."""
SORTABLE = tuple(c for c in TABLE_COLUMNS if c not in ("note",))
"""Columns the table sorts by (a header click or the sort box), besides ``RELEVANCE``."""

SCOPES: dict[str, tuple[str, ...]] = {
    "code": ("feature_code", "policy_code"),
    "코드": ("feature_code", "policy_code"),
    "feature": ("feature_code", "feature_name"),
    "기능": ("feature_code", "feature_name"),
    "policy": ("policy_code", "policy_name"),
    "정책": ("policy_code", "policy_name"),
    "name": ("feature_name", "policy_name"),
    "이름": ("feature_name", "policy_name"),
    "owner": ("owner",),
    "담당자": ("owner",),
    "team": ("team",),
    "팀": ("team",),
    "region": ("region",),
    "지역": ("region",),
    "platform": ("platform",),
    "플랫폼": ("platform",),
    "note": ("note",),
    "비고": ("note",),
}
"""``scope:term`` limits a term to these fields (English or Korean scope names)."""

NAME_FIELDS = ("feature_name", "policy_name")
TIERS = {"exact_code": 0, "code_prefix": 1, "code": 2, "name": 3, "other": 4}
"""How a term matched a row, best first; a row's rank is the sum over the terms."""
NO_MATCH = 100


@dataclass(frozen=True)
class Term:
    """One search term: its search key, its code key, and the fields it may match."""

    key: str
    code: str
    fields: tuple[str, ...] = SEARCH_FIELDS


def parse_terms(text: str | None) -> list[Term]:
    """The terms of a typed query (split at white space; ``scope:term`` recognized).

    An unknown scope (``http:x``) is no scope: the whole word is the term.
    """
    if not text:
        return []
    normalized = unicodedata.normalize("NFKC", text.translate(dict.fromkeys(map(ord, REMOVED))))
    terms = []
    for word in normalized.split():
        fields: tuple[str, ...] = SEARCH_FIELDS
        scope, colon, rest = word.partition(":")
        if colon and key_part(scope) in SCOPES:
            fields, word = SCOPES[key_part(scope)], rest
        key = search_key(word)
        if key:
            terms.append(Term(key, code_key(word), fields))
    return terms


@dataclass(frozen=True)
class Query:
    """Everything Explore's view depends on; the URL holds exactly this."""

    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Filter column -> the values kept (empty or absent: no filter)."""
    listed: str = "yes"
    sort: str = ""
    """A column of SORTABLE, RELEVANCE, or "" (relevance while searching, else the code)."""
    descending: bool = False
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    as_of: dt.date | None = None
    """Show every record as it was at the end of this day (None: now)."""
    compare: dt.date | None = None
    """With ``as_of`` (or now): show only records that differ from this day, before -> after."""

    @property
    def effective_sort(self) -> str:
        """The sort in force: the chosen one, else relevance while searching, else the code."""
        if self.sort == RELEVANCE and not self.text.strip():
            return IDENTITY_SORT
        return self.sort or (RELEVANCE if parse_terms(self.text) else IDENTITY_SORT)

    def to_params(self) -> dict[str, str | list[str]]:
        """URL query parameters for this view: only what differs from the default."""
        params: dict[str, str | list[str]] = {}
        if self.text:
            params["q"] = self.text
        for name in FILTERS:
            values = self.filters.get(name, ())
            if values:
                params[name] = list(values)
        if self.listed != "yes":
            params["listed"] = self.listed
        if self.sort:
            params["sort"] = self.sort
        if self.descending:
            params["desc"] = "1"
        if self.page != 1:
            params["page"] = str(self.page)
        if self.page_size != DEFAULT_PAGE_SIZE:
            params["size"] = str(self.page_size)
        if self.columns != DEFAULT_COLUMNS:
            params["cols"] = ",".join(self.columns)
        if self.as_of is not None:
            params["asof"] = self.as_of.isoformat()
        if self.compare is not None:
            params["compare"] = self.compare.isoformat()
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
            return tuple(dict.fromkeys(v for v in values if isinstance(v, str) and v))

        sort = last("sort")
        size = _positive_int(last("size"))
        listed = last("listed")
        columns = tuple(dict.fromkeys(c for c in last("cols").split(",") if c in TABLE_COLUMNS))
        return cls(
            text=last("q")[:MAX_QUERY_LENGTH],
            filters={
                name: every(name) if name != "has_conflict" else ("true",)
                for name in FILTERS
                if every(name) and (name != "has_conflict" or "true" in every(name))
            },
            listed=listed if listed in LISTED else "yes",
            sort=sort if sort in SORTABLE or sort == RELEVANCE else "",
            descending=last("desc") in ("1", "true"),
            page=_positive_int(last("page")) or 1,
            page_size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
            columns=columns or DEFAULT_COLUMNS,
            as_of=parse_day(last("asof")),
            compare=parse_day(last("compare")),
        )

    def with_changes(self, **changes: object) -> Query:
        """A copy with some fields changed; any change but the page goes back to page 1."""
        if "page" not in changes:
            changes["page"] = 1
        return replace(self, **changes)


def parse_day(text: str) -> dt.date | None:
    """An ISO day (``2026-11-20``), or None when ``text`` is not one."""
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _positive_int(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < len(text) <= 9 and int(text) > 0 else None


@dataclass(frozen=True)
class FacetCount:
    """One filter value and how many rows would match with it, given the other filters."""

    value: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    """What Explore shows for a query."""

    total: int
    """Rows matching text, every filter and ``listed``."""
    hidden: int
    """Rows matching text and every filter that ``listed`` leaves out."""
    page: int
    """The page shown (the query's page, clamped to what exists)."""
    pages: int
    rows: pa.Table
    """The page's rows (the query's columns, plus identity_hash), in order."""
    row_numbers: np.ndarray
    """The snapshot row of each shown row."""
    facets: dict[str, list[FacetCount]]
    """Filter -> values with their counts, largest first; selected values always listed."""
    order: np.ndarray
    """Snapshot rows of every match in order (for downloads)."""
    mask: np.ndarray | None = None
    """Rows matching (None: every row), for views over the same rows (the matrix)."""


def term_tiers(snapshot: Snapshot, term: Term) -> np.ndarray:
    """Per row, how well ``term`` matched (``TIERS``), NO_MATCH where it did not.

    Each field's distinct values are matched (few), then gathered to rows through
    the field's codes.
    """
    best = np.full(snapshot.records.num_rows, NO_MATCH, dtype=np.int16)
    for name in term.fields:
        tiers = _value_tiers(snapshot, name, term)
        if tiers is not None:
            np.minimum(best, tiers[snapshot.coded[name].codes], out=best)
    return best


def _value_tiers(snapshot: Snapshot, name: str, term: Term) -> np.ndarray | None:
    """Per distinct value of field ``name``: its tier for ``term``; None when none matched."""
    if name in CODE_FIELDS and term.code:
        keys = snapshot.code_keys[name]
        contains = _to_numpy_bool(pc.match_substring(keys, term.code))
        if not contains.any():
            return None
        prefix = _to_numpy_bool(pc.starts_with(keys, term.code))
        exact = _to_numpy_bool(pc.equal(keys, term.code))
        tiers = np.full(len(contains), NO_MATCH, dtype=np.int16)
        tiers[contains] = TIERS["code"]
        tiers[prefix] = TIERS["code_prefix"]
        tiers[exact] = TIERS["exact_code"]
        return tiers
    hits = _to_numpy_bool(pc.match_substring(snapshot.search_keys[name], term.key))
    if not hits.any():
        return None
    tier = TIERS["name"] if name in NAME_FIELDS else TIERS["other"]
    return np.where(hits, np.int16(tier), np.int16(NO_MATCH))


def text_rank(snapshot: Snapshot, text: str) -> np.ndarray | None:
    """Per row, the sum of its terms' tiers (lower is better; >= NO_MATCH: no match).

    None when the text has no terms (every row matches equally).
    """
    terms = parse_terms(text)
    if not terms:
        return None
    rank = np.zeros(snapshot.records.num_rows, dtype=np.int16)
    for term in terms:
        tiers = term_tiers(snapshot, term)
        rank = np.where((rank >= NO_MATCH) | (tiers >= NO_MATCH), NO_MATCH, rank + tiers)
    return rank


def text_mask(snapshot: Snapshot, text: str) -> np.ndarray | None:
    """Rows where every term of ``text`` is found; None: no terms."""
    rank = text_rank(snapshot, text)
    return None if rank is None else rank < NO_MATCH


def facet_mask(snapshot: Snapshot, name: str, values: tuple[str, ...]) -> np.ndarray | None:
    """Rows whose column ``name`` is one of ``values``; None when that column is not filtered."""
    facet = snapshot.facets.get(name)
    if facet is None or not values:
        return None
    keep = np.zeros(len(facet.values) + 1, dtype=bool)
    for value in values:
        code = facet.code_of(value)
        if code is not None:
            keep[code] = True
    return keep[facet.codes]


def listed_mask(snapshot: Snapshot, listed: str) -> np.ndarray | None:
    """Rows ``listed`` keeps: a source still lists them (yes), no longer (no), or all (None)."""
    if listed == "all":
        return None
    return facet_mask(snapshot, "is_active", ("true",) if listed != "no" else ("false",))


def run_search(
    snapshot: Snapshot, query: Query, *, only: np.ndarray | None = None, with_facets: bool = True
) -> SearchResult:
    """Filter, count, rank or sort and cut one page: everything Explore shows for ``query``.

    ``only``: a further mask (rows that differ between two days, for a comparison).
    ``with_facets=False``: no filter counts (``facets`` empty), for callers that show none.
    """
    rank = text_rank(snapshot, query.text)
    text = None if rank is None else rank < NO_MATCH
    masks = {name: facet_mask(snapshot, name, query.filters.get(name, ())) for name in FILTERS}
    listed = listed_mask(snapshot, query.listed)
    base = combine([text, snapshot.present, only])

    unlisted = combine([base, *masks.values()])
    mask = combine([unlisted, listed])
    hidden = 0
    if listed is not None:
        before = snapshot.records.num_rows if unlisted is None else int(unlisted.sum())
        hidden = before - (int(mask.sum()) if mask is not None else before)

    # A filter's counts follow the *other* filters: for a column not filtered that is the
    # result's own mask, shared (boolean masks: a million-row temporary is 1 MB, not 8).
    facets: dict[str, list[FacetCount]] = {}
    for name in (n for n in FILTERS if with_facets and n in snapshot.facets):
        rows = mask
        if masks[name] is not None:
            rows = combine([base, listed, *(m for n, m in masks.items() if n != name)])
        facets[name] = _counts(snapshot, name, rows, query.filters.get(name, ()))

    order = _ordered(snapshot, query, mask, rank)
    total = len(order)
    pages = max(1, math.ceil(total / query.page_size))
    page = min(max(1, query.page), pages)
    start = (page - 1) * query.page_size
    taken = order[start : start + query.page_size]
    shown = [c for c in query.columns if c in snapshot.records.column_names]
    columns = ["identity_hash", *shown]
    page_rows = snapshot.records.select(columns).take(pa.array(taken, type=pa.int64()))
    return SearchResult(
        total=total,
        hidden=hidden,
        page=page,
        pages=pages,
        rows=page_rows,
        row_numbers=taken,
        facets=facets,
        order=order,
        mask=mask,
    )


def _ordered(
    snapshot: Snapshot, query: Query, mask: np.ndarray | None, rank: np.ndarray | None
) -> np.ndarray:
    """Snapshot rows of every match: ranked (relevance) or by the sort column."""
    sort = query.effective_sort
    column = IDENTITY_SORT if sort == RELEVANCE else sort
    order = snapshot.sort_order(column, descending=query.descending and sort != RELEVANCE)
    if mask is not None:
        order = order[mask[order]]
    if sort == RELEVANCE and rank is not None:
        ranks = rank[order]
        if query.descending:
            ranks = -ranks
        order = order[np.argsort(ranks, kind="stable")]
    return order


def _counts(
    snapshot: Snapshot, name: str, rows: np.ndarray | None, selected: tuple[str, ...]
) -> list[FacetCount]:
    facet = snapshot.facets[name]
    codes = facet.codes if rows is None else facet.codes[rows]
    counts = np.bincount(codes, minlength=len(facet.values))
    chosen = set(selected)
    listed = [
        FacetCount(value, int(count))
        for value, count in zip(facet.values, counts, strict=True)
        if count > 0 or value in chosen
    ]
    listed += [FacetCount(v, 0) for v in sorted(chosen - set(facet.values))]
    listed.sort(key=lambda fc: (-fc.count, fc.value))
    return listed


def combine(masks: list[np.ndarray | None]) -> np.ndarray | None:
    """The AND of the masks given (None entries ignored; None when there are none)."""
    present = [m for m in masks if m is not None]
    if not present:
        return None
    combined = present[0].copy() if len(present) > 1 else present[0]
    for other in present[1:]:
        combined &= other
    return combined


def filter_choices(snapshot: Snapshot, query: Query, name: str) -> list[str]:
    """What filter ``name`` lists: every value of the snapshot in a fixed order
    (``Facet.choices``), then a chosen value the snapshot lacks (from a link). Never the
    result's values only: a search that changed a filter's choices made the browser redraw
    the list (~60 ms a search for Explore's five) and moved values under the reader."""
    choices = list(snapshot.facets[name].choices) if name in snapshot.facets else []
    return choices + sorted(set(query.filters.get(name, ())) - set(choices))


def _to_numpy_bool(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    filled = pc.fill_null(values, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return filled.to_numpy(zero_copy_only=False)
