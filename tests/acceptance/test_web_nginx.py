"""The web app behind real nginx: /api/v1 for every allowlisted address, /api/dev for admins.

One site for the module (``tests/support/edge.running_site`` with ``fmw web``
connecting to a fresh migrated database): Debian's nginx on loopback, rendered
by ``fmw nginx render``. 127.0.0.1 is a user ("tester"), 127.0.0.3 an admin
("ops"), 127.0.0.2 is on no list. nginx names the admin to the app in
X-FMW-Admin, always overwriting what a client sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.support.edge import ADMIN, NGINX, OFF_LIST, USER, Site, request, running_site
from tests.support.postgres import Server, drop_database, new_database

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

APP_ADMIN_URLS = [
    "/api/dev/console/",
    "/api/dev/console/batches/1/",
    "/api/dev/api/batches",
    "/api/dev/api/openapi.json",
    "/API/DEV/CONSOLE/",
    "/api/%64ev/console/",
    "/api//dev/api/batches",
    "/x/../api/dev/console/",
]


@pytest.fixture(scope="module")
def site(pg_server: Server) -> Iterator[Site]:
    if not NGINX.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the nginx tests: install Debian's nginx (.ci/run does)")
        pytest.skip("Debian's nginx (/usr/sbin/nginx) is not installed")
    url = new_database(pg_server)
    try:
        with running_site(dashboards=1, web_database=url) as running:
            yield running
    finally:
        drop_database(pg_server, url)


@pytest.mark.parametrize("path", APP_ADMIN_URLS)
def test_a_user_gets_403_on_every_admin_url_of_the_app(site: Site, path: str):
    assert request(site.port, path, source=USER).status == 403
    spoofed = request(site.port, path, source=USER, headers={"X-FMW-Admin": "ops"})
    assert spoofed.status == 403


def test_a_user_reads_the_api_from_the_snapshot(site: Site):
    reply = request(site.port, "/api/v1/summary", source=USER)
    assert reply.status == 200
    body = json.loads(reply.body)
    assert (body["records"], body["active"]) == (8, 7)
    again = request(
        site.port, "/api/v1/summary", source=USER, headers={"If-None-Match": reply.headers["etag"]}
    )
    assert again.status == 304
    csv = request(site.port, "/api/v1/records?format=csv", source=USER)
    assert csv.status == 200
    assert csv.body.startswith(b"\xef\xbb\xbf")


def test_an_address_on_no_list_gets_403_on_the_api(site: Site):
    assert request(site.port, "/api/v1/summary", source=OFF_LIST).status == 403


def test_an_admin_reaches_the_console_under_the_name_nginx_gives(site: Site):
    reply = request(
        site.port, "/api/dev/console/", source=ADMIN, headers={"X-FMW-Admin": "mallory"}
    )
    assert reply.status == 200
    page = reply.body.decode()
    assert "signed in as <b>ops</b>" in page  # nginx overwrote the client's header
    assert "mallory" not in page
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    api = request(site.port, "/api/dev/api/batches", source=ADMIN)
    assert api.status == 200
    assert json.loads(api.body) == []


def test_the_static_admin_surface_keeps_its_urls(site: Site):
    assert request(site.port, "/api/dev/snapshots/CURRENT.json", source=ADMIN).status == 200
