"""``/api/dev/api/``: the admin API (JSON), with its OpenAPI schema at ``openapi.json``.

Its job: expose ``fmw.web.actions`` to admins: batches (list, one batch's
rejected rows and issues, approve, retry), sources, the vocabulary (list, what
is unknown, add and remove aliases and status words with the re-resolve),
health (``fmw doctor``'s checks) and the audit log. Only an admin nginx named
reaches it (``fmw.web.identity`` answers 403 to anyone else before this runs);
every change needs the CSRF token (header ``X-CSRFToken``, from the
``fmw_console_csrf`` cookie). A refused request answers 4xx with the reason and
changes nothing.

It must never hold a rule or write a table: the SQL functions behind
``fmw.web.actions`` do, and write the audit log.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, NinjaAPI, Schema, Status
from ninja.security import SessionAuthSuperUser

from fmw.errors import (
    AdminRefusedError,
    BatchError,
    DatabaseUnavailableError,
    FmwError,
    JobNotFoundError,
    OwnerRequiredError,
)
from fmw.web import actions
from fmw.web.identity import admin_name

api = NinjaAPI(
    title="FMW admin API",
    version="dev",
    description="Admins only (nginx names them). Changes need the X-CSRFToken header.",
    urls_namespace="api-dev",
    auth=SessionAuthSuperUser(),  # the session ProxyIdentityMiddleware opened; checks CSRF
    docs_url=None,
)
MAX_LIMIT = 1000


def _error(status: int, exc: Exception) -> HttpResponse:
    return JsonResponse(
        {"detail": str(exc)}, status=status, json_dumps_params={"ensure_ascii": False}
    )


@api.exception_handler(FmwError)
def _refused(request: HttpRequest, exc: FmwError) -> HttpResponse:
    if isinstance(exc, DatabaseUnavailableError | OwnerRequiredError):
        return _error(503, exc)
    if isinstance(exc, JobNotFoundError) or (
        isinstance(exc, BatchError) and "does not exist" in str(exc)
    ):
        return _error(404, exc)
    if isinstance(exc, BatchError | AdminRefusedError):
        return _error(409, exc)
    return _error(400, exc)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise FmwError(f"limit must be 1 to {MAX_LIMIT}, not {limit}")
    return limit


def _actor(request: HttpRequest) -> str:
    return admin_name(request)


class AliasIn(Schema):
    header: str
    field: str
    reresolve: bool = True


class ScheduleIn(Schema):
    schedule: str = Field(description="pg_cron's grammar: '30 2 * * *', '@daily' or '90 seconds'")
    command: str = Field(
        description="an FMW task: fmw:sync, fmw:export, fmw:backup, fmw:prune or fmw:report "
        "(a SQL job is scheduled with `fmw job schedule`)"
    )


class StatusWordIn(Schema):
    word: str
    status: str
    reresolve: bool = True


@api.get("/batches", summary="The newest batches")
def batches(request: HttpRequest, limit: int = 50) -> list[dict[str, Any]]:
    return actions.batches(_limit(limit))


@api.get("/batches/{batch_id}", summary="One batch: rejected rows and row issues")
def batch(request: HttpRequest, batch_id: int) -> dict[str, Any]:
    return actions.batch(batch_id)


@api.post("/batches/{batch_id}/approve", summary="Apply a held batch")
def approve(request: HttpRequest, batch_id: int) -> dict[str, Any]:
    return actions.reprocess(batch_id, approve=True, actor=_actor(request))


@api.post("/batches/{batch_id}/retry", summary="Process a failed batch again")
def retry(request: HttpRequest, batch_id: int) -> dict[str, Any]:
    return actions.reprocess(batch_id, approve=False, actor=_actor(request))


@api.get("/sources", summary="Sources: priority, mode, last file, last success")
def sources(request: HttpRequest) -> list[dict[str, Any]]:
    return actions.source_states()


@api.get("/vocab", summary="Fields with their header aliases; statuses with their words")
def vocab(request: HttpRequest) -> dict[str, Any]:
    return actions.vocabulary_terms()


@api.get("/vocab/unknown", summary="Headers and status words nothing maps yet")
def vocab_unknown(request: HttpRequest) -> dict[str, Any]:
    return actions.unknown()


@api.post("/vocab/aliases", summary="Map a header to a field (and re-resolve)")
def alias_add(request: HttpRequest, body: AliasIn) -> dict[str, Any]:
    return actions.change_vocabulary(
        "alias", "add", body.header, body.field, actor=_actor(request), reresolve=body.reresolve
    )


@api.post("/vocab/aliases/remove", summary="Unmap a header (and re-resolve)")
def alias_remove(request: HttpRequest, body: AliasIn) -> dict[str, Any]:
    return actions.change_vocabulary(
        "alias", "remove", body.header, body.field, actor=_actor(request), reresolve=body.reresolve
    )


@api.post("/vocab/statuses", summary="Make a word mean a status (and re-resolve)")
def status_add(request: HttpRequest, body: StatusWordIn) -> dict[str, Any]:
    return actions.change_vocabulary(
        "status", "add", body.word, body.status, actor=_actor(request), reresolve=body.reresolve
    )


@api.post("/vocab/statuses/remove", summary="Remove a status word (and re-resolve)")
def status_remove(request: HttpRequest, body: StatusWordIn) -> dict[str, Any]:
    return actions.change_vocabulary(
        "status", "remove", body.word, body.status, actor=_actor(request), reresolve=body.reresolve
    )


@api.get("/jobs", summary="Jobs with their newest run")
def jobs(request: HttpRequest) -> list[dict[str, Any]]:
    return actions.jobs()


@api.put("/jobs/{name}", summary="Create or change a job (pg_cron's schedule grammar)")
def schedule(request: HttpRequest, name: str, body: ScheduleIn) -> dict[str, Any]:
    return actions.schedule(name, body.schedule, body.command, actor=_actor(request))


@api.post(
    "/jobs/{name}/run",
    response={202: dict[str, Any]},
    summary="Run a job now: the scheduler runs it within its poll interval (202 + request_id)",
)
def run_now(request: HttpRequest, name: str) -> Status[dict[str, Any]]:
    return Status(202, actions.run_now(name, actor=_actor(request)))


@api.get("/job-runs", summary="The newest job runs, of one job with ?job=NAME")
def job_history(
    request: HttpRequest, job: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    return actions.job_history(job, _limit(limit))


@api.get("/sync/success-rate", summary="The daily sync's success rate")
def sync_rate(request: HttpRequest, days: int = 30) -> dict[str, Any]:
    if not 1 <= days <= 3660:
        raise FmwError(f"days must be 1 to 3660, not {days}")
    return actions.sync_success_rate(days)


@api.get("/audit", summary="The admin audit log, newest first")
def audit(request: HttpRequest, limit: int = 100) -> list[dict[str, Any]]:
    return actions.audit(_limit(limit))


@api.get("/health", summary="fmw doctor's checks")
def health(request: HttpRequest) -> list[dict[str, Any]]:
    return actions.health()
