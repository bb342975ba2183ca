"""``/api/v1/``: the read API for every allowlisted user, answered from the snapshot files.

Its job: records (search, filters, sort, paging; JSON or CSV for Excel), one
record with its timeline, changes since a day, the Home summary and the
OpenAPI schema (``/api/v1/openapi.json``), from the generation the dashboard
shows (``fmw.web.snapshots``). Search, filters and ranking are the dashboard's
own code (``fmw.ui.search``), so both answer alike. Every answer carries the
generation as ``ETag`` and its time as ``Last-Modified``: a client that polls
with ``If-None-Match`` or ``If-Modified-Since`` gets ``304`` until the next export.

It must never touch the database (it keeps answering while PostgreSQL is down)
and never writes anything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from ninja import NinjaAPI

from fmw.errors import NoSnapshotError, SnapshotError
from fmw.ui import overview
from fmw.ui.downloads import CSV_MIME, csv_bytes
from fmw.ui.search import TABLE_COLUMNS, Query, parse_day, run_search
from fmw.ui.snapshot_data import CHANGE_COLUMNS, Snapshot
from fmw.web.conf import fmw_settings
from fmw.web.snapshots import CACHE

api = NinjaAPI(
    title="FMW read API",
    version="1",
    description="Policy and feature statuses from the current snapshot (read-only). "
    "Every answer has the snapshot generation as ETag: poll with If-None-Match.",
    urls_namespace="api-v1",
    docs_url=None,
)
CSV_LIMIT = 1_048_575  # Excel's rows; a larger result is refused with the reason


class UnavailableError(Exception):
    """No snapshot to answer from (none exported yet, or none that verifies)."""


@api.exception_handler(UnavailableError)
def _unavailable(request: HttpRequest, exc: UnavailableError) -> HttpResponse:
    return JsonResponse({"detail": str(exc)}, status=503)


class BadRequestError(Exception):
    """A parameter the API cannot read; the message names it."""


@api.exception_handler(BadRequestError)
def _bad_request(request: HttpRequest, exc: BadRequestError) -> HttpResponse:
    return JsonResponse({"detail": str(exc)}, status=400)


def current() -> Snapshot:
    """The snapshot to answer from now."""
    try:
        return CACHE.current(fmw_settings().snapshot_path).snapshot
    except (NoSnapshotError, SnapshotError) as exc:
        raise UnavailableError(f"no snapshot to answer from: {exc}") from exc


def _validators(snapshot: Snapshot) -> tuple[str, float]:
    return f'"{snapshot.id}"', snapshot.generation.generated_at.timestamp()


def not_modified(request: HttpRequest, snapshot: Snapshot) -> HttpResponse | None:
    """``304`` when the client already has this generation's answer, else None."""
    etag, modified = _validators(snapshot)
    return get_conditional_response(request, etag=etag, last_modified=int(modified))


def stamped(response: HttpResponse, snapshot: Snapshot) -> HttpResponse:
    """``response`` with the generation's ETag and Last-Modified (and no caching proxy)."""
    etag, modified = _validators(snapshot)
    response["ETag"] = etag
    response["Last-Modified"] = http_date(modified)
    response["Cache-Control"] = "no-cache"  # revalidate every time: the ETag answers cheaply
    return response


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    """One row as JSON-ready values (dates and times as ISO 8601 text)."""
    return {
        key: value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
        for key, value in row.items()
    }


def rows_json(table: pa.Table) -> list[dict[str, Any]]:
    """Table rows as JSON-ready dicts."""
    return [row_json(row) for row in table.to_pylist()]


def _answer(request: HttpRequest, snapshot: Snapshot, body: dict[str, Any]) -> HttpResponse:
    return stamped(
        JsonResponse(
            {"generation": snapshot.id, **body}, json_dumps_params={"ensure_ascii": False}
        ),
        snapshot,
    )


def _query(request: HttpRequest) -> Query:
    params: dict[str, str | list[str]] = {
        str(key): [str(value) for value in request.GET.getlist(key) or ()] for key in request.GET
    }
    query = Query.from_params(params)
    if "cols" not in request.GET:
        query = query.with_changes(columns=TABLE_COLUMNS, page=query.page)
    return query


@api.get("/records", summary="Search, filter, sort and page the records (JSON or CSV)")
def records(
    request: HttpRequest,
    q: str = "",
    format: str = "json",
    facets: bool = False,
) -> HttpResponse:
    """The dashboard's Explore as an API. Parameters as in Explore's links: ``q`` (terms;
    ``feature:``, ``policy:``… scopes), ``status``, ``region``, ``platform``, ``team``,
    ``owner`` (repeat for several), ``has_conflict=true``, ``listed`` (yes, no, all),
    ``sort`` (a column or relevance), ``desc=1``, ``page``, ``size`` (25, 50, 100, 200),
    ``cols`` (comma-separated), ``facets=1`` (each filter's values with their counts).
    ``format=csv``: every match (not one page) as UTF-8 CSV with a BOM, for Excel's
    Data → From Web."""
    if format not in ("json", "csv"):
        raise BadRequestError(f"format must be json or csv, not {format!r}")
    snapshot = current()
    unchanged = not_modified(request, snapshot)
    if unchanged is not None:
        return unchanged
    query = _query(request)
    result = run_search(snapshot, query, with_facets=facets and format == "json")
    if format == "csv":
        if result.total > CSV_LIMIT:
            raise BadRequestError(
                f"{result.total:,} records match: more than Excel's {CSV_LIMIT:,} rows; narrow "
                "the search or filters"
            )
        shown = ["identity_hash", *(c for c in query.columns if c in snapshot.records.column_names)]
        table = snapshot.records.select(shown).take(pa.array(result.order, type=pa.int64()))
        response = HttpResponse(csv_bytes(table), content_type=f"{CSV_MIME}; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="fmw-records-{snapshot.id}.csv"'
        return stamped(response, snapshot)
    return _answer(
        request,
        snapshot,
        {
            "total": result.total,
            "hidden": result.hidden,
            "page": result.page,
            "pages": result.pages,
            "page_size": query.page_size,
            "sort": query.effective_sort,
            "records": rows_json(result.rows),
            "facets": {
                name: [{"value": f.value, "count": f.count} for f in counts]
                for name, counts in result.facets.items()
            },
        },
    )


def _identity_index(snapshot: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    hashes = snapshot.records["identity_hash"].to_numpy(zero_copy_only=False).astype("S64")
    order = np.argsort(hashes, kind="stable")
    return hashes[order], order


def row_of(snapshot: Snapshot, identity_hash: str) -> int | None:
    """The records row of one identity: a binary search in an index built once per
    generation (a million hashes: 72 MB, a second to build), not a scan per request."""
    if len(identity_hash) != 64 or not identity_hash.isascii():
        return None
    keys, rows = snapshot.cached("web.identity_index", lambda: _identity_index(snapshot), pin=True)
    wanted = identity_hash.encode("ascii")
    at = int(np.searchsorted(keys, wanted))
    return int(rows[at]) if at < len(keys) and keys[at] == wanted else None


def _missing(snapshot: Snapshot, identity_hash: str) -> HttpResponse:
    detail = f"no record {identity_hash!r} in snapshot {snapshot.id}"
    return stamped(JsonResponse({"detail": detail}, status=404), snapshot)


@api.get("/records/{identity_hash}", summary="One record and its sources")
def record(request: HttpRequest, identity_hash: str) -> HttpResponse:
    """Every field of one record (by ``identity_hash``) and, when its sources disagree, one
    row per source; ``timeline`` is the URL of its history (read from disk on request)."""
    snapshot = current()
    unchanged = not_modified(request, snapshot)
    if unchanged is not None:
        return unchanged
    row = row_of(snapshot, identity_hash)
    if row is None:
        return _missing(snapshot, identity_hash)
    found = snapshot.records.slice(row, 1).to_pylist()[0]
    return _answer(
        request,
        snapshot,
        {
            "record": row_json(found),
            "sources": rows_json(snapshot.conflicts_of(identity_hash)),
            "timeline": f"{request.path.rstrip('/')}/timeline",
        },
    )


@api.get("/records/{identity_hash}/timeline", summary="One record's history, oldest first")
def timeline(request: HttpRequest, identity_hash: str) -> HttpResponse:
    """Every change of one record: when, what kind, which fields, before and after."""
    snapshot = current()
    unchanged = not_modified(request, snapshot)
    if unchanged is not None:
        return unchanged
    if row_of(snapshot, identity_hash) is None:
        return _missing(snapshot, identity_hash)
    return _answer(request, snapshot, {"timeline": rows_json(snapshot.history(identity_hash))})


@api.get("/changes", summary="Changes since a day, newest first")
def changes(request: HttpRequest, since: str = "") -> HttpResponse:
    """Record changes (inserted, updated, deactivated, reactivated) at or after ``since``
    (``YYYY-MM-DD``, UTC; default: those of each source's newest load)."""
    day = parse_day(since) if since else None
    if since and day is None:
        raise BadRequestError(f"since must be a day as YYYY-MM-DD, not {since!r}")
    snapshot = current()
    unchanged = not_modified(request, snapshot)
    if unchanged is not None:
        return unchanged
    if day is None:
        rows = overview.latest_changes(snapshot)
    else:
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        rows = snapshot.changes(since=int(start.timestamp()) * 1_000_000)
    columns = [c for c in CHANGE_COLUMNS if c in rows.column_names]
    return _answer(
        request, snapshot, {"since": since or None, "changes": rows_json(rows.select(columns))}
    )


@api.get("/summary", summary="The Home page's numbers")
def summary(request: HttpRequest) -> HttpResponse:
    """Totals, records per status, and per team, region and platform."""
    snapshot = current()
    unchanged = not_modified(request, snapshot)
    if unchanged is not None:
        return unchanged
    totals = overview.totals(snapshot)
    return _answer(
        request,
        snapshot,
        {
            "generated_at": snapshot.generation.generated_at.isoformat(),
            "records": totals.records,
            "active": totals.active,
            "inactive": totals.inactive,
            "conflicts": totals.conflicts,
            "latest_changes": totals.latest_changes,
            "statuses": [
                {"status": status, "records": count, "active": active}
                for status, count, active in overview.status_counts(snapshot)
            ],
            "by": {
                dimension: overview.breakdown(snapshot, dimension)
                for dimension in ("team", "region", "platform")
            },
        },
    )
