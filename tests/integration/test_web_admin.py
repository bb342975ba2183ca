"""/api/dev/: the admin API and console on real PostgreSQL, through Django's test client.

Requests come as nginx sends them: from 127.0.0.1 with the admin's name in
X-FMW-Admin ("-" for anyone else). Every change must carry the CSRF token, is
made by the same SQL functions the fmw command calls, and lands in
ops.admin_action under the admin's name; a refused one answers 4xx with the
reason and changes nothing. The app connects as the web login (fmw_web, in fmw_console), as
`fmw web` does on the embedded server: every console action works with its least privilege.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from fmw.database import embedded_login
from fmw.errors import SourceFileError
from fmw.web.conf import WEB_GROUP, WEB_LOGIN
from tests.support.sources import HEADER, ROWS, actions, counts, load
from tests.support.web import client, use


@pytest.fixture
def web(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use(monkeypatch, tmp_path / "snapshots", embedded_login(db_url, WEB_LOGIN, WEB_GROUP))
    return db_url


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    return folder


def signed_in(name: str = "kim"):
    """A client nginx names ``name``, holding the console's CSRF token."""
    browser = client(name)
    page = browser.get("/api/dev/console/")
    assert page.status_code == 200, page.content
    return browser, browser.cookies["fmw_console_csrf"].value


def post_json(browser, path: str, body: dict | None = None, token: str | None = None):
    headers = {"HTTP_X_CSRFTOKEN": token} if token else {}
    return browser.post(
        path, data=json.dumps(body or {}), content_type="application/json", **headers
    )


def held_batch(conn: psycopg.Connection, files: Path) -> int:
    load(conn, files, "billing")
    held = load(conn, files, "billing", HEADER, ROWS[:1])
    assert held.status == "held" and held.batch_id is not None
    return held.batch_id


def test_the_console_names_the_admin_and_lists_batches(web, conn, files):
    batch_id = held_batch(conn, files)
    browser = client("kim")
    page = browser.get("/api/dev/console/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "signed in as <b>kim</b>" in text
    assert f'/api/dev/console/batches/{batch_id}/approve"' in text
    api = browser.get("/api/dev/api/batches").json()
    assert [(b["batch_id"], b["status"]) for b in api] == [(batch_id, "held"), (1, "processed")]


def test_approving_a_held_batch_is_audited_under_the_admins_name(web, conn, files):
    batch_id = held_batch(conn, files)
    browser, token = signed_in("kim")
    response = post_json(browser, f"/api/dev/api/batches/{batch_id}/approve", token=token)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "processed"
    assert actions(conn)[-1][0] == "batch.approve"
    assert actions(conn)[-1][2] == "kim"
    before = counts(conn)
    again = post_json(browser, f"/api/dev/api/batches/{batch_id}/approve", token=token)
    assert again.status_code == 409
    assert f"batch {batch_id} is processed" in again.json()["detail"]
    assert counts(conn) == before


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(web, conn, files):
    batch_id = held_batch(conn, files)
    browser, _token = signed_in("kim")
    before = counts(conn)
    response = post_json(browser, f"/api/dev/api/batches/{batch_id}/approve")
    assert response.status_code == 403
    console = browser.post(f"/api/dev/console/batches/{batch_id}/approve")
    assert console.status_code == 403
    assert counts(conn) == before


def test_an_unknown_batch_is_404_with_the_reason(web, conn):
    browser, token = signed_in()
    response = browser.get("/api/dev/api/batches/999")
    assert response.status_code == 404
    assert "batch 999 does not exist" in response.json()["detail"]
    retry = post_json(browser, "/api/dev/api/batches/999/retry", token=token)
    assert retry.status_code == 404
    assert browser.get("/api/dev/console/batches/999/").status_code == 404


def test_a_word_for_a_status_that_does_not_exist_is_refused(web, conn, files):
    load(conn, files, "billing")
    browser, token = signed_in()
    before = counts(conn)
    response = post_json(
        browser, "/api/dev/api/vocab/statuses", {"word": "보류", "status": "paused"}, token
    )
    assert response.status_code == 409
    assert "unknown status 'paused'" in response.json()["detail"]
    assert counts(conn) == before


def test_a_malformed_request_is_4xx_and_changes_nothing(web, conn, files):
    load(conn, files, "billing")
    browser, token = signed_in()
    before = counts(conn)
    missing = post_json(browser, "/api/dev/api/vocab/aliases", {"header": "x"}, token)
    assert missing.status_code == 422  # no field named: the schema refuses it
    assert browser.get("/api/dev/api/batches", {"limit": "0"}).status_code == 400
    assert counts(conn) == before


def test_a_header_that_refused_a_file_is_mapped_in_one_step(web, conn, files):
    header, rows = HEADER + ",메모칸", [row + ",첫 메모" for row in ROWS]
    with pytest.raises(SourceFileError, match="column 메모칸 maps to no field"):
        load(conn, files, "billing", header, rows)
    browser, token = signed_in("lee")
    unknown = browser.get("/api/dev/api/vocab/unknown").json()
    assert "메모칸" in [h["header"] for h in unknown["headers"]]
    assert "메모칸" in browser.get("/api/dev/console/").content.decode()
    page = browser.post(
        "/api/dev/console/vocab/alias",
        {"word": "메모칸", "target": "note", "reresolve": "on"},
        HTTP_X_CSRFTOKEN=token,
    )
    assert page.status_code == 200, page.content
    assert "alias add: 메모칸: - → note" in page.content.decode()
    assert load(conn, files, "billing", header, rows).status == "processed"
    notes = conn.execute("SELECT DISTINCT note FROM core.record").fetchall()
    assert notes == [("첫 메모",)]
    assert ("vocab.alias.add", "lee") in [(a, who) for a, _target, who in actions(conn)]
    audit = browser.get("/api/dev/api/audit").json()
    assert audit[0]["actor"] == "lee"


def test_sources_and_vocabulary_are_listed(web, conn, files):
    load(conn, files, "billing")
    load(conn, files, "billing", HEADER, [*ROWS, ",P9,KR,iOS,on,nobody"])
    browser = client("kim")
    sources = browser.get("/api/dev/api/sources").json()
    assert [(s["name"], s["last_status"]) for s in sources] == [("billing", "processed")]
    assert sources[0]["rejected_trend"] == [0, 1]
    assert "<td>0 → 1</td>" in browser.get("/api/dev/console/").content.decode()
    vocab = browser.get("/api/dev/api/vocab").json()
    assert "feature_code" in [f["name"] for f in vocab["fields"]]
    assert "enabled" in [s["name"] for s in vocab["statuses"]]


def test_only_an_admin_named_by_the_proxy_gets_in(web, conn):
    assert client("-").get("/api/dev/api/batches").status_code == 403
    assert client(None).get("/api/dev/console/").status_code == 403
    spoofed = client("kim", address="10.1.2.3").get("/api/dev/api/batches")
    assert spoofed.status_code == 403  # the header counts only from the proxy's address
    users = conn.execute("SELECT count(*) FROM django.auth_user").fetchone()
    assert users == (0,)


def test_the_admin_openapi_schema_lists_the_actions(web, conn):
    schema = client("kim").get("/api/dev/api/openapi.json").json()
    assert "/api/dev/api/batches/{batch_id}/approve" in schema["paths"]
    assert "/api/dev/api/vocab/aliases" in schema["paths"]


def test_a_malformed_schedule_is_refused_with_the_reason(web, conn):
    browser, token = signed_in()
    before = counts(conn)
    response = browser.put(
        "/api/dev/api/jobs/nightly",
        data=json.dumps({"schedule": "61 * * * *", "command": "fmw:sync"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 400
    assert "61" in response.json()["detail"]
    assert counts(conn) == before


def test_a_job_is_scheduled_listed_and_audited(web, conn):
    browser, token = signed_in("kim")
    response = browser.put(
        "/api/dev/api/jobs/nightly",
        data=json.dumps({"schedule": "30 2 * * *", "command": "fmw:sync"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200, response.content
    listed = {j["jobname"]: j["schedule"] for j in browser.get("/api/dev/api/jobs").json()}
    assert listed["nightly"] == "30 2 * * *"
    row = conn.execute(
        "SELECT action, target, actor, before, after FROM ops.admin_action "
        "ORDER BY action_id DESC LIMIT 1"
    ).fetchone()
    assert row == (
        "job.schedule",
        "nightly",
        "kim",
        None,
        {"schedule": "30 2 * * *", "command": "fmw:sync"},
    )
    assert browser.get("/api/dev/api/job-runs", {"job": "nightly"}).json() == []
    missing = browser.get("/api/dev/api/job-runs", {"job": "nope"})
    assert missing.status_code == 404
    rate = browser.get("/api/dev/api/sync/success-rate", {"days": "7"}).json()
    assert (rate["window_days"], rate["days_succeeded"], rate["failed_days"]) == (7, 0, [])


def test_health_is_the_doctors_checks_as_json_and_as_a_page(web, conn):
    browser = client("kim")
    checks = browser.get("/api/dev/api/health").json()
    names = [c["name"] for c in checks]
    assert "database" in names
    assert "web" in names
    database = next(c for c in checks if c["name"] == "database")
    assert database["ok"] is True
    page = browser.get("/api/dev/console/health/").content.decode()
    assert "<td>database</td><td>OK</td>" in page


def test_one_batch_shows_each_rejected_row_and_issue_with_file_row_and_column(web, conn, files):
    done = load(
        conn, files, "billing", HEADER, [*ROWS, ",P9,KR,iOS,on,nobody", "PAY-9,P9,KR,iOS,뭔가,kim"]
    )
    assert done.batch_id is not None and done.rejected == 1
    browser = client("kim")
    detail = browser.get(f"/api/dev/api/batches/{done.batch_id}").json()
    lines = [(line["row"], line["column"], line["issue"].split(":")[0]) for line in detail["lines"]]
    assert (5, None, "rejected") in lines
    assert (6, "Status", "unknown status; shown as unknown") in lines  # the file's own header
    assert ["뭔가", 1] in detail["words"]
    page = browser.get(f"/api/dev/console/batches/{done.batch_id}/").content.decode()
    assert f"Batch {done.batch_id}: {done.path.name} (processed)" in page
    assert f"<td>{done.path.name}</td><td>5</td>" in page


def test_an_alias_is_removed_from_the_console_and_audited(web, conn, files):
    load(conn, files, "billing")
    browser, token = signed_in("park")
    page = browser.get("/api/dev/console/").content.decode()
    assert 'aria-label="remove header market"' in page
    done = browser.post(
        "/api/dev/console/vocab/alias",
        {"word": "market", "target": "region", "change": "remove", "reresolve": "on"},
        HTTP_X_CSRFTOKEN=token,
    )
    assert done.status_code == 200, done.content
    assert "alias remove: market: region → -" in done.content.decode()
    assert ("vocab.alias.remove", "market", "park") in actions(conn)
    refused = browser.post(
        "/api/dev/console/vocab/alias",
        {"word": "market", "target": "region", "change": "remove"},
        HTTP_X_CSRFTOKEN=token,
    )
    assert refused.status_code == 409
    assert "maps to no field" in refused.content.decode()


def test_run_now_returns_at_once_with_the_request_for_the_scheduler(web, conn):
    browser, token = signed_in("kim")
    response = post_json(browser, "/api/dev/api/jobs/daily-report/run", token=token)
    assert response.status_code == 202, response.content
    request_id = response.json()["request_id"]
    pending = conn.execute(
        "SELECT requested_by, taken_at FROM ops.job_run_request WHERE request_id = %s",
        [request_id],
    ).fetchone()
    assert pending == ("kim", None)
    assert actions(conn)[-1][0] == "job.run_now"
    page = browser.post("/api/dev/console/jobs/daily-report/run", {"csrfmiddlewaretoken": token})
    assert page.status_code == 202
    assert "run requested" in page.content.decode()
    assert "2 waiting for the scheduler" in page.content.decode()
    unknown = post_json(browser, "/api/dev/api/jobs/nightly/run", token=token)
    assert unknown.status_code == 404 and "nightly" in unknown.json()["detail"]
