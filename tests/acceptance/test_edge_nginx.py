"""The edge against real nginx: Debian's nginx on loopback in front of two real dashboards.

One site for the module (``tests/support/edge.running_site``): nginx on a high
loopback port with its own prefix in a temporary folder, rendered by
``fmw nginx render`` (which ran ``nginx -t``), two ``fmw ui`` processes behind
one sticky upstream. 127.0.0.1 is a user ("tester"), 127.0.0.3 an admin
("ops"), 127.0.0.2 is on no list, 127.0.1.0/24 are users ("lab") that stand for
many machines. Run alone with ``pytest -m nginx``. Skipped only where
/usr/sbin/nginx is missing, never in CI (``.ci/run`` installs it).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmw.edge.config import edge_plan
from fmw.edge.install import STAGING_NAME, install
from fmw.errors import EdgeError
from fmw.settings import Settings, load_settings
from tests.support.commands import CHROMIUM, CHROMIUM_ARGS
from tests.support.edge import (
    ADMIN,
    FLOOD,
    NGINX,
    OFF_LIST,
    USER,
    Site,
    metrics,
    new_folder,
    raw_request,
    request,
    running_site,
    streamlit_session,
    wait_for_log,
    write_settings,
)

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

EVERY_KIND_OF_PATH = [
    "/",
    "/_stcore/health",
    "/_stcore/stream",
    "/_stcore/host-config",
    "/static/js/index.DormvYxC.js",
    "/favicon.png",
    "/api/dev/",
    "/api/dev/security.json",
    "/api/dev/snapshots/CURRENT.json",
    "/explore?q=PAY",
    "/no/such/page",
]
ADMIN_SPELLINGS = [
    "/api/dev/",
    "/api/dev",
    "/api/dev/index.html",
    "/api/dev/scheduler-status.json",
    "/api/dev/snapshots/CURRENT.json",
    "/API/DEV/",
    "/api/%64ev/",
    "/api//dev/",
    "/x/../api/dev/index.html",
    "/api/dev/?x=1",
]


@pytest.fixture(scope="module")
def nginx_binary() -> Path:
    if not NGINX.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the nginx tests: install Debian's nginx (.ci/run does)")
        pytest.skip("Debian's nginx (/usr/sbin/nginx) is not installed")
    return NGINX


@pytest.fixture(scope="module")
def site(nginx_binary: Path) -> Iterator[Site]:
    with running_site(dashboards=2) as running:
        yield running


# --- the fence --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_an_off_list_address_gets_403_on_every_path(site: Site, method: str):
    statuses = {
        path: request(site.port, path, source=OFF_LIST, method=method).status
        for path in EVERY_KIND_OF_PATH
    }
    assert statuses == dict.fromkeys(EVERY_KIND_OF_PATH, 403)


def test_a_forged_forwarding_header_does_not_let_an_off_list_address_in(site: Site):
    forged = {"X-Forwarded-For": USER, "X-Real-IP": USER, "Forwarded": f"for={ADMIN}"}
    assert request(site.port, "/", source=OFF_LIST, headers=forged).status == 403
    assert request(site.port, "/api/dev/", source=OFF_LIST, headers=forged).status == 403
    assert (
        request(site.port, "/api/dev/", source=USER, headers={"X-Forwarded-For": ADMIN}).status
        == 403
    )


def test_a_denial_is_logged_in_the_denial_log(site: Site):
    marker = "/denied-marker-7f3a"
    assert request(site.port, marker, source=OFF_LIST).status == 403
    found = wait_for_log(site, lambda e: e["path"] == marker, "denied.log")
    assert [(e["addr"], e["user"], e["deny"], e["status"]) for e in found] == [
        (OFF_LIST, "", "off-list", 403)
    ]
    assert [e["path"] for e in site.log("access.log") if e["path"] == marker] == [marker]


def test_allowed_requests_stay_out_of_the_denial_log(site: Site):
    marker = "/_stcore/health?allowed-marker"
    assert request(site.port, marker, source=USER).status == 200
    wait_for_log(site, lambda e: e["path"] == marker)
    assert not [e for e in site.log("denied.log") if e["path"] == marker]


@pytest.mark.parametrize("path", ADMIN_SPELLINGS)
def test_a_user_gets_403_on_the_admin_surface_however_it_is_spelled(site: Site, path: str):
    assert request(site.port, path, source=USER).status == 403


def test_a_users_admin_denial_is_logged_as_admin_only(site: Site):
    marker = "/api/dev/?user-marker"
    assert request(site.port, marker, source=USER).status == 403
    found = wait_for_log(site, lambda e: e["path"] == marker, "denied.log")
    assert [(e["addr"], e["user"], e["deny"]) for e in found] == [(USER, "tester", "admin-only")]


def test_an_admin_gets_the_admin_index_and_the_scheduler_status(site: Site):
    index = request(site.port, "/api/dev/", source=ADMIN)
    assert index.status == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert b'href="security.html"' in index.body
    status = request(site.port, "/api/dev/scheduler-status.json", source=ADMIN)
    assert status.status == 200
    assert json.loads(status.body) == {"format_version": 1, "state": "running", "banner": None}


def test_an_admin_downloads_snapshot_files_straight_from_disk(site: Site):
    root = site.folder / "var" / "snapshots"
    pointer = request(site.port, "/api/dev/snapshots/CURRENT.json", source=ADMIN)
    assert pointer.status == 200 and pointer.body == (root / "CURRENT.json").read_bytes()
    generation = json.loads(pointer.body)["generation"]
    path = f"/api/dev/snapshots/generations/{generation}/home_summary.csv"
    csv = request(site.port, path, source=ADMIN)
    assert csv.status == 200
    assert csv.body == (root / "generations" / generation / "home_summary.csv").read_bytes()
    assert csv.headers["content-type"].startswith("text/csv")
    listing = request(site.port, "/api/dev/snapshots/generations/", source=ADMIN)
    assert listing.status == 200 and generation.encode() in listing.body


def test_half_written_and_hidden_files_are_not_served(site: Site):
    root = site.folder / "var" / "snapshots" / "generations"
    (root / "20990101T000000_000000Z.partial").mkdir(exist_ok=True)
    (root / "20990101T000000_000000Z.partial" / "x.csv").write_text("half\n")
    (site.folder / "var" / "admin" / ".secret").write_text("no\n")
    base = "/api/dev/snapshots/generations/20990101T000000_000000Z.partial"
    assert request(site.port, f"{base}/x.csv", source=ADMIN).status == 404
    assert request(site.port, "/api/dev/.secret", source=ADMIN).status == 404


# --- headers, compression, caching, limits ----------------------------------------------------


def test_the_dashboard_gets_security_headers_and_no_version(site: Site):
    reply = request(site.port, "/", source=USER)
    assert reply.status == 200
    assert reply.headers["server"] == "nginx"
    assert reply.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "same-origin"
    denied = request(site.port, "/", source=OFF_LIST)
    assert denied.headers["x-content-type-options"] == "nosniff"
    assert b"nginx/" not in denied.body


def test_the_admin_surface_allows_no_script_and_no_caching(site: Site):
    reply = request(site.port, "/api/dev/", source=ADMIN)
    assert reply.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_hashed_static_files_are_gzipped_and_cached_for_a_year(site: Site):
    import streamlit

    static = Path(streamlit.__file__).parent / "static" / "static" / "js"
    name = sorted(p.name for p in static.glob("index.*.js"))[0]
    reply = request(
        site.port, f"/static/js/{name}", source=USER, headers={"Accept-Encoding": "gzip"}
    )
    assert reply.status == 200
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert reply.headers["x-content-type-options"] == "nosniff", "headers kept in that location"
    assert gzip.decompress(reply.body) == (static / name).read_bytes()


def test_the_page_itself_is_not_cached_for_a_year(site: Site):
    reply = request(site.port, "/", source=USER)
    assert "immutable" not in reply.headers.get("cache-control", "")


def test_a_request_body_over_the_limit_is_refused(site: Site):
    reply = request(site.port, "/", source=USER, method="POST", body=b"x" * (2 * 1024 * 1024))
    assert reply.status == 413


def test_the_rate_limit_is_per_address(site: Site):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10, source_address=(FLOOD, 0))
    statuses = []
    try:
        for _ in range(500):  # bounded: at most 500 loopback requests, a second or two
            conn.request("GET", "/api/dev/")  # served from disk: fast, so the limit shows
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        conn.close()
    assert statuses[:200] == [200] * 200, "the burst (200) passes"
    assert statuses.count(429) > 150
    assert request(site.port, "/_stcore/health", source=USER).status == 200, "others unaffected"


# --- the dashboard through nginx --------------------------------------------------------------


def test_an_allowlisted_user_gets_the_dashboard_in_a_real_browser(site: Site):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: install Debian's chromium (.ci/run does)")
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(site.base + "/")
        box = page.locator(".fmw-metric").filter(has_text="전체 레코드").first
        assert box.locator(".fmw-metric-value").inner_text().strip() == "8"
        page.locator(".fmw-nav").get_by_role("link", name="검색").click()  # a new page: WS
        page.wait_for_url("**/explore*")
        context.close()
        browser.close()
    sessions = wait_for_log(site, lambda e: e["path"] == "/_stcore/stream" and e["status"] == 101)
    mine = [e for e in sessions if e["user"] == "tester" and "HeadlessChrome" in e["agent"]]
    assert mine, "the browser's WebSocket went through nginx and was logged when it closed"
    assert mine[0]["upstream"] in {f"127.0.0.1:{p}" for p in site.dashboard_ports}


def test_two_dashboard_processes_each_serve_sessions_and_keep_them(site: Site):
    seen: dict[str, str] = {}  # source address -> the upstream that served its session
    for host in range(1, 41):  # bounded: at most 40 sessions
        source = f"127.0.1.{host}"
        messages = streamlit_session(site.port, source)
        assert metrics(messages)["전체 레코드"] == "8", f"{source}: the home page rendered"
        entries = wait_for_log(
            site, lambda e, s=source: e["addr"] == s and e["path"] == "/_stcore/stream"
        )
        seen[source] = entries[0]["upstream"]
        if len(set(seen.values())) == len(site.dashboard_ports):
            break
    assert set(seen.values()) == {f"127.0.0.1:{p}" for p in site.dashboard_ports}
    for source, upstream in list(seen.items())[-2:]:  # sticky: the same address, same process
        streamlit_session(site.port, source)
        entries = wait_for_log(
            site,
            lambda e, s=source: e["addr"] == s and e["path"] == "/_stcore/stream",
        )
        assert {e["upstream"] for e in entries} == {upstream}


# --- the reports on the logs nginx wrote -------------------------------------------------------


def test_the_reports_read_the_logs_this_nginx_wrote(site: Site):
    request(site.port, "/report-marker", source=OFF_LIST)
    request(site.port, "/api/dev/usage.json", source=USER)
    streamlit_session(site.port, USER)
    wait_for_log(site, lambda e: e["addr"] == USER and e["status"] == 101)
    security = site.fmw("report", "security")
    doc = json.loads((site.folder / "var" / "admin" / "security.json").read_text())
    assert doc["totals"]["off_list"] >= 1 and doc["totals"]["admin_surface_non_admin"] >= 1
    assert doc["totals"]["off_list_served"] == 0
    assert doc["totals"]["admin_surface_non_admin_served"] == 0
    assert doc["malformed"]["count"] == 0 and doc["ok"] is True
    assert "served (bar: 0)" in security.stdout
    site.fmw("report", "usage", "--weeks", "1")
    usage = json.loads((site.folder / "var" / "admin" / "usage.json").read_text())
    assert "tester" in usage["weeks"][-1]["active"]
    assert usage["team"] == ["lab", "tester"]
    page = request(site.port, "/api/dev/security.html", source=ADMIN)
    assert page.status == 200 and b"FMW security report" in page.body
    assert request(site.port, "/api/dev/usage.html", source=USER).status == 403


# Requests nginx refuses by itself, before the fence or any location: the security report
# must count them as refused, not served (issue 15: they failed the daily-report job).
REFUSED_BY_NGINX = {
    "TRACE {path} HTTP/1.1\r\nHost: fmw\r\n\r\n": 405,
    "POST {path} HTTP/1.1\r\nHost: fmw\r\nTransfer-Encoding: bogus\r\n\r\n": 501,
    "GET {path} HTTP/2.0\r\nHost: fmw\r\n\r\n": 505,
}


def test_requests_nginx_refuses_itself_are_counted_as_refused(site: Site):
    def totals() -> dict[str, int]:
        site.fmw("report", "security")  # exit 0, checked by site.fmw
        doc = json.loads((site.folder / "var" / "admin" / "security.json").read_text())
        return doc["totals"]

    before = totals()
    for number, (template, status) in enumerate(REFUSED_BY_NGINX.items()):
        for source, path in ((OFF_LIST, f"/refused-{number}"), (USER, f"/api/dev/?r{number}")):
            data = template.format(path=path).encode()
            assert raw_request(site.port, data, source=source) == status, data
    # nginx logs an HTTP/2.0 request line without method or path: it never routed it.
    logged = wait_for_log(site, lambda e: e["status"] == 505, count=2)
    assert sorted((e["addr"], e["path"], e["upstream"]) for e in logged) == [
        (USER, "", ""),
        (OFF_LIST, "", ""),
    ]
    after = totals()
    assert after["off_list"] - before["off_list"] == 3
    assert after["admin_surface_non_admin"] - before["admin_surface_non_admin"] == 2
    assert after["off_list_served"] == before["off_list_served"] == 0
    assert after["admin_surface_non_admin_served"] == before["admin_surface_non_admin_served"] == 0


# --- render and nginx -t -------------------------------------------------------------------


@pytest.fixture
def render(monkeypatch: pytest.MonkeyPatch):
    """Write settings into a folder and load them as `fmw` would."""

    def settings_in(folder: Path, **edge: object) -> Settings:
        monkeypatch.setenv("FMW_SETTINGS", str(write_settings(folder, 18080, [18501], **edge)))
        return load_settings()

    return settings_in


@pytest.mark.parametrize(
    "edge",
    [
        {},
        {"listen": ["[::1]:18080", "127.0.0.1:18080"]},
        {"users": {"김민준": "10.1.2.3", "lee": ["10.1.2.0/24", "2001:db8::/64"]}},
        {"log_dir": "edge logs", "admin_dir": "admin pages"},
        {"local_name": "", "users": {}, "admins": {}},
        {"nginx_user": "www-data"},  # Debian's web server account (base-passwd)
    ],
    ids=["default", "ipv6", "names", "folders-with-spaces", "empty", "user"],
)
def test_nginx_accepts_what_render_writes(nginx_binary: Path, render, edge: dict):
    folder = new_folder()
    try:
        result = install(edge_plan(render(folder, **edge)), nginx=nginx_binary)
        assert result.tested_with == nginx_binary
        assert (folder / "nginx" / "conf" / "nginx.conf").exists()
        assert not (folder / "nginx" / "conf" / STAGING_NAME).exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="nginx checks `user` only when run as root")
def test_a_configuration_nginx_refuses_changes_nothing_live(nginx_binary: Path, render):
    folder = new_folder()
    try:
        settings = render(folder)
        first = install(edge_plan(settings), nginx=nginx_binary)
        live = {p: p.read_bytes() for p in first.written}
        broken = render(folder, nginx_user="no-such-account-fmw", users={"x": "10.9.9.9"})
        with pytest.raises(
            EdgeError,
            match=r"nginx -t refused the rendered configuration: .*"
            r"no-such-account-fmw",
        ):
            install(edge_plan(broken), nginx=nginx_binary)
        assert {p: p.read_bytes() for p in live} == live
        assert not (folder / "nginx" / "conf" / STAGING_NAME).exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_render_keeps_a_main_file_fmw_did_not_write(nginx_binary: Path, render):
    folder = new_folder()
    try:
        settings = render(folder)
        conf = folder / "nginx" / "conf"
        conf.mkdir(parents=True)
        (conf / "nginx.conf").write_text("# the Windows zip's own\nevents {}\n")
        result = install(edge_plan(settings), nginx=nginx_binary)
        assert result.backup == conf / "nginx.conf.before-fmw"
        assert result.backup.read_text().startswith("# the Windows zip's own")
        again = install(edge_plan(settings), nginx=nginx_binary)
        assert again.written == [] and again.backup is None, "a second render changes nothing"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
