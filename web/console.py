"""``/api/dev/console/``: the admin console's pages (Django templates, admins only).

Its job: show what needs an admin (held and failed batches, headers and status
words nothing maps, the audit log) and make each fix one form: approve, retry,
map a header, mean a word, with the re-resolve of the affected records. The
work is ``fmw.web.actions`` (the admin API's too). Every form posts with
Django's CSRF token; an action that is refused shows its reason with ``4xx``
and changes nothing.

It must never hold a rule or write a table.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from fmw.errors import AdminRefusedError, BatchError, FmwError
from fmw.web import actions
from fmw.web.identity import admin_name

SHOWN = 30


def _status(exc: FmwError) -> int:
    if isinstance(exc, BatchError) and "does not exist" in str(exc):
        return 404
    return 409 if isinstance(exc, BatchError | AdminRefusedError) else 400


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _index(request: HttpRequest, *, notice: str = "", error: str = "", status: int = 200) -> Any:
    context = {
        "admin": admin_name(request),
        "batches": actions.batches(SHOWN),
        "unknown": actions.unknown(),
        "terms": actions.vocabulary_terms(),
        "audit": [
            {**row, "before": _json(row["before"]), "after": _json(row["after"])}
            for row in actions.audit(SHOWN)
        ],
        "sources": actions.source_states(),
        "jobs": actions.jobs(),
        "notice": notice,
        "error": error,
    }
    return render(request, "web/console.html", context, status=status)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return _index(request)


@require_GET
def batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    try:
        detail = actions.batch(batch_id)
    except FmwError as exc:
        return _index(request, error=str(exc), status=_status(exc))
    return render(request, "web/batch.html", {"admin": admin_name(request), **detail})


@require_GET
def health(request: HttpRequest) -> HttpResponse:
    checks = actions.health()
    context = {"admin": admin_name(request), "checks": checks}
    return render(request, "web/health.html", context)


@require_POST
def reprocess(request: HttpRequest, batch_id: int, verb: str) -> HttpResponse:
    try:
        done = actions.reprocess(batch_id, approve=verb == "approve", actor=admin_name(request))
    except FmwError as exc:
        return _index(request, error=str(exc), status=_status(exc))
    return _index(request, notice=f"batch {batch_id} {verb}: {done['status']}")


@require_POST
def run_now(request: HttpRequest, name: str) -> HttpResponse:
    try:
        done = actions.run_now(name, actor=admin_name(request))
    except FmwError as exc:
        return _index(request, error=str(exc), status=_status(exc))
    notice = f"job {name}: run requested (request {done['request_id']}); the scheduler runs it"
    return _index(request, notice=notice, status=202)


def _field(request: HttpRequest, name: str) -> str:
    values = request.POST.getlist(name)
    return str(values[-1]).strip() if values else ""


@require_POST
def vocab(request: HttpRequest, kind: str) -> HttpResponse:
    word, target = _field(request, "word"), _field(request, "target")
    change = "remove" if _field(request, "change") == "remove" else "add"
    if not word or not target:
        return _index(request, error="both the word and what it maps to are needed", status=400)
    try:
        done = actions.change_vocabulary(
            "alias" if kind == "alias" else "status",
            change,
            word,
            target,
            actor=admin_name(request),
            reresolve=_field(request, "reresolve") == "on",
        )
    except FmwError as exc:
        return _index(request, error=str(exc), status=_status(exc))
    outcome = f"{kind} {change}: {word}: {done['before'] or '-'} → {done['after'] or '-'}"
    if done["reresolved"]:
        outcome += f"; re-resolved {len(done['reresolved'])} source(s)"
    return _index(request, notice=outcome)


urlpatterns = [
    path("api/dev/console/", index, name="console"),
    path("api/dev/console/batches/<int:batch_id>/", batch, name="console-batch"),
    path(
        "api/dev/console/batches/<int:batch_id>/<str:verb>",
        reprocess,
        name="console-reprocess",
    ),
    path("api/dev/console/vocab/<str:kind>", vocab, name="console-vocab"),
    path("api/dev/console/health/", health, name="console-health"),
    path("api/dev/console/jobs/<str:name>/run", run_now, name="console-run-now"),
]
