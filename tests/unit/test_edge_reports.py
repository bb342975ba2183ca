"""fmw.edge.reports: the security and usage bars counted from real and hand-made nginx lines."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fmw.edge.logs import read_logs
from fmw.edge.reports import (
    iso_weeks,
    peak_concurrent,
    run_security,
    run_usage,
    security_report,
    usage_report,
)
from fmw.errors import ReportError
from fmw.settings import Settings
from tests.support.nginx_log import SAMPLE, line

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def security(folder: Path, since: date = TODAY) -> dict:
    return security_report(read_logs(folder), since=since, today=TODAY, now=NOW)


def at(day: date, hour: int = 10, minute: int = 0) -> dict:
    """time and msec fields for a moment of ``day`` (UTC)."""
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    return {"time": moment.isoformat(), "msec": moment.timestamp()}


def session(user: str, day: date, hour: int, minutes: float) -> bytes:
    """A dashboard session of ``user`` that opened at ``hour`` and lasted ``minutes``."""
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    end = start + timedelta(minutes=minutes)
    return line(
        user=user,
        path="/_stcore/stream",
        uri="/_stcore/stream",
        status=101,
        time=end.isoformat(),
        msec=end.timestamp(),
        request_time=minutes * 60,
    )


# --- security ---------------------------------------------------------------------------------


def test_the_real_nginx_lines_meet_both_security_bars(logs: Path):
    shutil.copy(SAMPLE, logs / "access.log")
    doc = security(logs)
    assert doc["totals"] == {
        "requests": 35,
        "off_list": 5,
        "off_list_served": 0,
        "admin_surface_non_admin": 9,
        "admin_surface_non_admin_served": 0,
        "rate_limited": 0,
    }
    assert doc["ok"] is True
    assert doc["bars"]["off_list_served"] == {"value": 0, "bar": 0, "met": True}
    assert [o["addr"] for o in doc["top_offenders"]] == ["127.0.0.1", "127.0.0.2"]
    assert doc["breaches"] == []


def test_an_off_list_request_that_was_served_breaks_the_bar(logs: Path):
    (logs / "access.log").write_bytes(
        line(addr="10.6.6.6", user="", path="/secret", status=200, **at(TODAY))
        + line(addr="10.6.6.6", user="", deny="off-list", status=403, upstream="", **at(TODAY))
    )
    doc = security(logs)
    assert (doc["totals"]["off_list"], doc["totals"]["off_list_served"]) == (2, 1)
    assert doc["ok"] is False and doc["bars"]["off_list_served"]["met"] is False
    assert [(b["addr"], b["path"], b["why"]) for b in doc["breaches"]] == [
        ("10.6.6.6", "/secret", "off-list")
    ]


# Every status nginx answers by itself (ngx_http_special_response.c, plus its own 444 and
# 499): 405 TRACE, 501 an unknown Transfer-Encoding, 505 an "HTTP/2.0" request line, …
NGINX_OWN_ANSWERS = [400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414,
                     415, 416, 421, 429, 444, 494, 495, 496, 497, 498, 499, 500, 501, 502,
                     503, 504, 505, 507]  # fmt: skip


@pytest.mark.parametrize("status", NGINX_OWN_ANSWERS)
def test_a_refusal_nginx_made_itself_is_never_counted_as_served(logs: Path, status: int):
    (logs / "access.log").write_bytes(
        line(addr="10.6.6.6", user="", method="TRACE", path="/", status=status, upstream="",
             **at(TODAY))
        + line(method="GET", path="/api/dev/", uri="/api/dev/", status=status, upstream="",
               **at(TODAY))
    )  # fmt: skip
    doc = security(logs)
    assert (doc["totals"]["off_list"], doc["totals"]["off_list_served"]) == (1, 0)
    assert doc["totals"]["admin_surface_non_admin"] == 1
    assert doc["totals"]["admin_surface_non_admin_served"] == 0
    assert doc["ok"] is True and doc["breaches"] == []


@pytest.mark.parametrize("status", [200, 206, 301, 304])
def test_a_file_or_redirect_nginx_answered_itself_counts_as_served(logs: Path, status: int):
    (logs / "access.log").write_bytes(
        line(addr="10.6.6.6", user="", path="/x", status=status, upstream="", **at(TODAY))
    )
    doc = security(logs)
    assert doc["totals"]["off_list_served"] == 1 and doc["ok"] is False


def test_an_admin_page_served_to_a_user_breaks_the_admin_bar(logs: Path):
    (logs / "access.log").write_bytes(
        line(path="/api//dev/usage.json", uri="/api/dev/usage.json", upstream="", **at(TODAY))
        + line(admin="ops", path="/api/dev/", upstream="", **at(TODAY))
    )
    doc = security(logs)
    assert doc["totals"]["admin_surface_non_admin"] == 1, "the admin's own request is fine"
    assert doc["totals"]["admin_surface_non_admin_served"] == 1
    assert doc["ok"] is False
    assert doc["breaches"][0]["why"] == "admin surface, not an admin"


def test_a_forged_x_forwarded_for_never_makes_an_address_listed(logs: Path):
    (logs / "access.log").write_bytes(
        line(addr="10.6.6.6", user="", xff="127.0.0.1", deny="off-list", status=403, upstream="")
        + line(addr="127.0.0.1", user="tester", xff="10.6.6.6")
    )
    doc = security(logs)
    assert doc["totals"]["off_list"] == 1
    assert [o["addr"] for o in doc["top_offenders"]] == ["10.6.6.6"]


def test_days_cover_the_whole_window_with_zeros(logs: Path):
    (logs / "access.log").write_bytes(
        line(addr="10.6.6.6", user="", status=403, upstream="", **at(TODAY - timedelta(days=2)))
        + line(addr="10.6.6.6", user="", status=403, upstream="", **at(TODAY - timedelta(days=9)))
    )
    doc = security(logs, since=TODAY - timedelta(days=3))
    assert [(d["date"], d["off_list"]) for d in doc["days"]] == [
        ("2026-11-24", 0),
        ("2026-11-25", 1),
        ("2026-11-26", 0),
        ("2026-11-27", 0),
    ]
    assert doc["totals"]["off_list"] == 1, "the request before --since is not counted"


def test_rate_limited_requests_are_counted(logs: Path):
    (logs / "access.log").write_bytes(line(status=429, upstream="", **at(TODAY)) * 3)
    assert security(logs)["totals"]["rate_limited"] == 3


def test_top_offenders_are_ordered_by_requests(logs: Path):
    rows = b"".join(
        line(addr=f"10.0.0.{n}", user="", status=403, upstream="", **at(TODAY)) * n
        for n in range(1, 13)
    )
    (logs / "access.log").write_bytes(rows)
    top = security(logs)["top_offenders"]
    assert [o["addr"] for o in top] == [f"10.0.0.{n}" for n in range(12, 2, -1)]
    assert top[0]["requests"] == 12 and top[0]["off_list"] == 12


def test_malformed_lines_are_reported_not_fatal(logs: Path):
    (logs / "access.log").write_bytes(b"\xff\xfe garbage\n" + line(**at(TODAY)))
    doc = security(logs)
    assert doc["totals"]["requests"] == 1
    assert doc["malformed"]["count"] == 1
    assert doc["malformed"]["examples"][0]["line"] == 1


def test_since_after_today_is_refused(logs: Path):
    with pytest.raises(ReportError, match="after today"):
        security(logs, since=TODAY + timedelta(days=1))


# --- usage ------------------------------------------------------------------------------------


def test_iso_weeks_end_with_the_current_one_and_cross_the_year():
    assert iso_weeks(date(2027, 1, 1), 2) == [
        (date(2026, 12, 21), date(2026, 12, 27)),
        (date(2026, 12, 28), date(2027, 1, 3)),
    ]
    with pytest.raises(ReportError, match="--weeks 0"):
        iso_weeks(TODAY, 0)


def test_peak_concurrency_counts_overlaps_only():
    assert peak_concurrent([]) == 0
    assert peak_concurrent([(0, 10), (10, 20)]) == 1, "one ends as the next starts"
    assert peak_concurrent([(0, 10), (5, 15), (6, 7), (20, 30)]) == 3


def test_weekly_active_users_out_of_the_allowlist(logs: Path):
    monday = date(2026, 11, 16)  # ISO week 47, complete on 2026-11-27
    (logs / "access.log").write_bytes(
        session("kim", monday, 9, 30)
        + session("kim", monday, 9, 10)
        + session("lee", monday + timedelta(days=2), 9, 5)
        + session("park", monday + timedelta(days=4), 9, 5)
        + session("local", monday, 9, 5)  # this server (health checks): not on the team
        + line(user="choi", path="/", **at(monday))  # a page, but no session
        + session("choi", monday - timedelta(days=1), 23, 120)  # began the week before
    )
    weeks = iso_weeks(TODAY, 2)
    doc = usage_report(
        read_logs(logs), team=["kim", "lee", "park", "choi"], weeks=weeks, today=TODAY, now=NOW
    )
    w47 = doc["weeks"][0]
    assert w47["week"] == "2026-W47" and w47["partial"] is False
    assert (w47["active_users"], w47["team_size"], w47["ratio"]) == (3, 4, 0.75)
    assert w47["met"] is True
    assert w47["active"] == ["kim", "lee", "park"] and w47["inactive"] == ["choi"]
    assert w47["sessions_per_user"] == {"kim": 2, "lee": 1, "local": 1, "park": 1}
    assert w47["peak_concurrent_sessions"] == 3, "kim twice and local, all at 09:00"
    assert doc["weeks"][1]["partial"] is True and doc["weeks"][1]["sessions"] == 0
    assert doc["latest_complete_week"]["week"] == "2026-W47"


def test_below_seventy_percent_the_usage_bar_is_not_met(logs: Path):
    (logs / "access.log").write_bytes(session("kim", date(2026, 11, 17), 9, 5))
    doc = usage_report(
        read_logs(logs), team=["kim", "lee"], weeks=iso_weeks(TODAY, 2), today=TODAY, now=NOW
    )
    assert (doc["weeks"][0]["ratio"], doc["weeks"][0]["met"]) == (0.5, False)


def test_an_empty_allowlist_has_no_ratio(logs: Path):
    doc = usage_report(read_logs(logs), team=[], weeks=iso_weeks(TODAY, 1), today=TODAY, now=NOW)
    assert (doc["weeks"][0]["ratio"], doc["weeks"][0]["met"]) == (None, None)


def test_the_real_sessions_are_counted(logs: Path):
    shutil.copy(SAMPLE, logs / "access.log")
    doc = usage_report(
        read_logs(logs), team=["lab", "tester"], weeks=iso_weeks(TODAY, 1), today=TODAY, now=NOW
    )
    week = doc["weeks"][0]
    assert week["sessions_per_user"] == {"lab": 2, "tester": 1}
    assert (week["active_users"], week["ratio"]) == (2, 1.0)


# --- publishing -------------------------------------------------------------------------------


def test_reports_are_published_as_json_and_html_in_the_admin_folder(
    tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    shutil.copy(SAMPLE, logs / "access.log")
    settings = Settings(
        base_dir=tmp_path,
        edge={"users": {"tester": "127.0.0.1", "lab": "127.0.1.0/24"}, "log_dir": str(logs)},
    )
    doc, written = run_security(settings, since=date(2026, 11, 27), now=NOW)
    usage, written2 = run_usage(settings, weeks=1, now=NOW)
    admin = tmp_path / "var" / "admin"
    assert [p.name for p in written + written2] == [
        "security.json",
        "security.html",
        "usage.json",
        "usage.html",
    ]
    assert json.loads((admin / "security.json").read_text())["totals"]["off_list"] == 5
    assert json.loads((admin / "usage.json").read_text())["team"] == ["lab", "tester"]
    assert "FMW security report" in (admin / "security.html").read_text()
    assert 'href="usage.html"' in (admin / "index.html").read_text()
    assert doc["ok"] and usage["weeks"][0]["active_users"] == 2
