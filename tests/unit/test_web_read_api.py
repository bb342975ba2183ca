"""/api/v1/: the read API answers from the snapshot files alone, like the dashboard.

Django's test client against a hand-made generation (tests/support/ui_snapshot.py).
These are unit tests on purpose: tests/unit refuses every database connection,
so each test here also proves the read API never needs PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support.ui_snapshot import (
    SMAPS,
    default_fixture,
    identity,
    publish_fixture,
    resident_kib,
)
from tests.support.web import client, use


@pytest.fixture
def snapshot_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "snapshots"
    use(monkeypatch, root)
    return root


@pytest.fixture
def generation(snapshot_root: Path):
    return publish_fixture(snapshot_root)


def test_records_list_the_active_records_with_the_generation_as_etag(generation):
    response = client().get("/api/v1/records")
    assert response.status_code == 200
    body = response.json()
    assert body["generation"] == generation.id
    assert body["total"] == 7  # 8 records, one inactive and not listed by default
    assert body["hidden"] == 1
    codes = [r["feature_code"] for r in body["records"]]
    assert codes == sorted(r["feature_code"] for r in default_fixture().records if r["is_active"])
    assert response["ETag"] == f'"{generation.id}"'
    assert response["Last-Modified"]


def test_search_uses_the_dashboards_normalization(generation):
    # Full-width letters and a lower-case code find the same record the dashboard finds.
    body = client().get("/api/v1/records", {"q": "ｐａｙ-001"}).json()
    pay = [r for r in default_fixture().records if r["feature_code"] == "PAY-001"]
    assert body["total"] == len([r for r in pay if r["is_active"]]) > 0
    assert {r["feature_code"] for r in body["records"]} == {"PAY-001"}
    assert identity("a1") in {r["identity_hash"] for r in body["records"]}
    assert body["sort"] == "relevance"


def test_filters_and_paging(generation):
    body = client().get("/api/v1/records", {"region": "KR", "size": "25", "listed": "all"}).json()
    expected = [r for r in default_fixture().records if r["region"] == "KR"]
    assert body["total"] == len(expected)
    assert body["page_size"] == 25
    assert {r["region"] for r in body["records"]} == {"KR"}
    assert body["facets"] == {}  # counted only when asked for
    counted = client().get("/api/v1/records", {"region": "KR", "facets": "1"}).json()["facets"]
    assert {f["value"]: f["count"] for f in counted["region"]}["KR"] == len(
        [r for r in expected if r["is_active"]]
    )


def test_a_client_that_polls_gets_304_until_the_next_export(snapshot_root: Path, generation):
    first = client().get("/api/v1/summary")
    etag = first["ETag"]
    again = client().get("/api/v1/summary", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    newer = publish_fixture(snapshot_root)
    fresh = client().get("/api/v1/summary", HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200
    assert fresh["ETag"] == f'"{newer.id}"'


def test_csv_for_excel_has_a_bom_and_every_match(generation):
    response = client().get("/api/v1/records", {"format": "csv", "size": "25"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 7
    pay = next(row for row in rows if row["identity_hash"] == identity("a1"))
    # The formula-looking note stays guarded, as in the dashboard's downloads.
    assert pay["note"].startswith("'=")


def test_one_record_with_its_sources_and_its_timeline(generation):
    body = client().get(f"/api/v1/records/{identity('a1')}").json()
    assert body["record"]["feature_code"] == "PAY-001"
    assert [s["source"] for s in body["sources"]] == ["platform_team", "ops_team"]
    assert body["timeline"] == f"/api/v1/records/{identity('a1')}/timeline"
    timeline = client().get(body["timeline"]).json()["timeline"]
    assert [t["change"] for t in timeline] == ["inserted", "updated"]
    assert json.loads(timeline[1]["after"])["status"] == "enabled"


@pytest.mark.skipif(not SMAPS.exists(), reason="Linux's /proc")
def test_after_a_request_the_files_it_read_a_few_rows_of_leave_the_process(
    snapshot_root: Path, generation
):
    """As after a dashboard page: a record's identity (binary search) and its timeline
    (history segments) are not kept resident; the columns every query reads are."""
    assert client().get(f"/api/v1/records/{identity('a1')}/timeline").status_code == 200
    resident = resident_kib(snapshot_root)
    assert resident.get("status", 0) > 0, "the record's status was read: resident"
    assert resident.get("identity_hash", 0) == 0
    assert all(resident.get(name, 0) == 0 for name in resident if name.isdigit()), resident


def test_an_unknown_record_is_404_with_the_reason(generation):
    response = client().get("/api/v1/records/" + "f" * 64)
    assert response.status_code == 404
    assert "no record" in response.json()["detail"]
    assert client().get("/api/v1/records/" + "f" * 64 + "/timeline").status_code == 404


def test_changes_since_a_day(generation):
    body = client().get("/api/v1/changes", {"since": "2026-11-25"}).json()
    assert [c["change"] for c in body["changes"]] == ["deactivated", "updated"]
    assert client().get("/api/v1/changes", {"since": "2026-12-01"}).json()["changes"] == []


def test_a_malformed_day_or_format_is_400_with_the_reason(generation):
    response = client().get("/api/v1/changes", {"since": "yesterday"})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.json()["detail"]
    response = client().get("/api/v1/records", {"format": "xml"})
    assert response.status_code == 400
    assert "json or csv" in response.json()["detail"]


def test_summary_has_the_home_numbers(generation):
    body = client().get("/api/v1/summary").json()
    assert (body["records"], body["active"], body["conflicts"]) == (8, 7, 1)
    assert sum(s["records"] for s in body["statuses"]) == 8
    assert {row["value"] for row in body["by"]["region"]} >= {"KR"}


def test_no_snapshot_yet_is_503_with_the_reason(snapshot_root: Path):
    response = client().get("/api/v1/summary")
    assert response.status_code == 503
    assert "no snapshot" in response.json()["detail"]


def test_the_openapi_schema_lists_every_endpoint(snapshot_root: Path):
    schema = client().get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/v1/records",
        "/api/v1/records/{identity_hash}",
        "/api/v1/records/{identity_hash}/timeline",
        "/api/v1/changes",
        "/api/v1/summary",
    }


def test_the_read_api_ignores_identity_and_the_admin_api_refuses_without_it(snapshot_root):
    assert client(admin="-", address="10.0.0.7").get("/api/v1/openapi.json").status_code == 200
    response = client(admin="kim", address="10.0.0.7").get("/api/dev/api/batches")
    assert response.status_code == 403  # a header from anywhere but the proxy is not believed
    assert client(admin="-").get("/api/dev/console/").status_code == 403
    assert client().get("/api/dev/console/").status_code == 403  # no proxy, no local admin


def test_the_health_answer_needs_neither_database_nor_snapshot(snapshot_root: Path):
    response = client(address="127.0.0.1").get("/api/health")
    assert (response.status_code, response.content) == (200, b"ok")
