"""The admin flow in a real browser (Playwright, Debian's Chromium) against the real commands.

A team file is refused for a header nothing maps; the admin opens the console
(``fmw web --local-admin``, on the server itself, connected as the web login
``fmw_web``), sees the header, maps it to a field in one step; the file then loads,
``fmw export`` publishes it, and the record is in the snapshot the read API answers
from and on the dashboard (``fmw ui``), with the mapped column's value. The
console's audit log names the admin. A screenshot of the dashboard's record page
is kept as ``dashboard-record.png`` in the test's folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmw.database import embedded_login
from fmw.web.conf import WEB_GROUP, WEB_LOGIN
from tests.support.commands import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FMW,
    clean_env,
    free_port,
    run,
    start_ui,
    stop,
    wait_for_health,
)
from tests.support.postgres import Server, drop_database, new_database

pytestmark = pytest.mark.slow

TEAM_FILE = "Feature Code,Policy Code,market,platform,Status,owner,비고란\n" + "".join(
    f"BILL-{n},POL-1,KR,iOS,on,kim,메모 {n}\n" for n in range(1, 4)
)


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: install Debian's chromium")
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    return CHROMIUM


@pytest.fixture
def folder(pg_server: Server, tmp_path: Path) -> Iterator[Path]:
    url = new_database(pg_server)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "billing.csv").write_text(TEAM_FILE, encoding="utf-8")
    web_url = embedded_login(url, WEB_LOGIN, WEB_GROUP)  # what roles.sql makes on a server
    (tmp_path / "fmw.toml").write_text(
        f"database_url = {json.dumps(url)}\n"
        f"[web]\ndatabase_url = {json.dumps(web_url)}\n"
        '[sources.billing]\npath = "exports/billing.csv"\npriority = 10\n',
        encoding="utf-8",
    )
    yield tmp_path
    drop_database(pg_server, url)


@pytest.fixture
def console(folder: Path) -> Iterator[str]:
    port = free_port()
    with (folder / "web.log").open("w") as log:
        process = subprocess.Popen(
            [*FMW, "web", "--port", str(port), "--local-admin", "ops"],
            cwd=folder,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/api/health", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextlib.contextmanager
def dashboard_for(folder: Path) -> Iterator[str]:
    """``fmw ui`` in ``folder`` (the dashboard) while the block runs; its address."""
    port = free_port()
    process = start_ui(folder, port, folder / "ui.log")
    try:
        wait_for_health(f"http://127.0.0.1:{port}/_stcore/health", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def test_a_refused_header_is_mapped_in_the_console_and_the_record_reaches_the_dashboard(
    folder: Path, console: str, chromium: Path
):
    refused = run(folder, "load", "exports/billing.csv", "--source", "billing")
    assert refused.returncode == 1
    assert "column 비고란 maps to no field" in refused.stderr

    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{console}/api/dev/console/")
            expect(page.get_by_text("signed in as")).to_contain_text("ops")
            row = page.locator("#unknown-headers tr", has_text="비고란")
            expect(row).to_contain_text("billing")
            choice = row.get_by_label("field for 비고란")
            row.get_by_role("button", name="map").click()  # no field chosen: nothing is sent
            assert choice.evaluate("select => select.validity.valueMissing") is True
            page.wait_for_timeout(500)
            expect(page.locator("#audit")).not_to_contain_text("vocab.alias.add")
            choice.select_option("note")
            row.get_by_role("button", name="map").click()
            expect(page.get_by_role("status")).to_have_text("alias add: 비고란: - → note")
            expect(page.locator("#unknown-headers")).not_to_contain_text("비고란")
            added = page.locator("#audit tr", has_text="vocab.alias.add")
            expect(added).to_contain_text("ops")
            expect(added).to_contain_text('"field": "note"')

            loaded = run(folder, "load", "exports/billing.csv", "--source", "billing")
            assert loaded.returncode == 0, loaded.stdout + loaded.stderr
            exported = run(folder, "export")
            assert exported.returncode == 0, exported.stdout + exported.stderr

            page.goto(f"{console}/api/v1/records?q=BILL-2")
            found = json.loads(page.locator("body").inner_text())
            assert [(r["feature_code"], r["note"]) for r in found["records"]] == [
                ("BILL-2", "메모 2")
            ]

            # The dashboard, started after the export, shows the record and its mapped note.
            with dashboard_for(folder) as dashboard:
                page.set_viewport_size({"width": 1400, "height": 1000})
                record = found["records"][0]["identity_hash"]
                page.goto(f"{dashboard}/record?id={record}")
                expect(page.get_by_role("heading", name="BILL-2")).to_be_visible(timeout=30_000)
                fields = page.locator("div.fmw-fields")
                expect(fields.get_by_role("row").filter(has_text="비고")).to_contain_text("메모 2")
                page.screenshot(path=str(folder / "dashboard-record.png"), full_page=True)
        finally:
            browser.close()
