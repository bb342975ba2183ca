"""The dashboard end to end in a real browser: Debian's Chromium driven by Playwright.

The issue's path, in order: ``fmw demo`` data (plus one extra source with a
formula-looking note) -> Home shows the right totals -> a Korean search -> a
record's timeline -> a CSV download whose bytes are checked (BOM, neutralized
formulas) -> PostgreSQL stopped (``fmw db stop``) and the dashboard still
serves -> a changed file loaded and exported (a new generation) -> the open
page shows the change on its next interaction.

Skipped only where /usr/bin/chromium does not exist, and never in CI (``CI``
set): ``.ci/run`` installs Debian's ``chromium``.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest

from fmw.ui import search
from fmw.ui.snapshot_data import load_snapshot
from tests.support.commands import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FMW,
    clean_env,
    free_port,
    start_ui,
    stop,
    wait_for_health,
)
from tests.support.ui_snapshot import publish_fixture

EXTRA_HEADER = "Feature Code,기능명,Policy Code,market,platform,Status,owner,team,비고\n"
DAY1 = EXTRA_HEADER + "PAY-999,브라우저 결제 시험,POL-999,KR,iOS,on,@kim,결제개발팀,=1+2\n"
DAY2 = DAY1.replace(",on,", ",off,") + (
    "PAY-998,새 결제 시험,POL-999,KR,Web,on,이서연,결제개발팀,신규\n"
)
WAIT_MS = 30_000

pytestmark = pytest.mark.slow


def fmw(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*FMW, *args], cwd=folder, env=clean_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"fmw {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: install Debian's chromium (.ci/run does)")
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    return CHROMIUM


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, chromium_path: Path) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("dashboard")
    folder.chmod(0o755)
    out = fmw(folder, "demo").stdout
    assert "fmw ui" in out, "fmw demo ends by naming the dashboard command"
    (folder / "extra_day1.csv").write_text(DAY1, encoding="utf-8")
    fmw(folder, "load", "extra_day1.csv", "--source", "extra", "--new-source")
    fmw(folder, "export")
    yield folder
    subprocess.run([*FMW, "db", "stop"], cwd=folder, env=clean_env(), capture_output=True)
    shutil.rmtree(folder / "var", ignore_errors=True)


@pytest.fixture(scope="module")
def dashboard(demo: Path) -> Iterator[str]:
    port = free_port()
    process = start_ui(demo, port, demo / "ui.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(f"{base}/_stcore/health", process)
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="module")
def page(dashboard: str, chromium_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1400, "height": 1000}
        )
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        yield tab
        context.close()
        browser.close()


def metric(page, label: str) -> str:
    """One of Home's numbers (a card in its HTML block) as shown."""
    box = page.locator(".fmw-metric").filter(has_text=label).first
    return box.locator(".fmw-metric-value").inner_text().strip()


def wait_for_metric(page, label: str, expected: str) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        try:
            if metric(page, label) == expected:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{label} never became {expected} (last: {metric(page, label)})")


def test_the_dashboard_from_demo_data_to_a_new_generation(demo: Path, dashboard: str, page):
    root = demo / "var" / "snapshots"
    snapshot, _ = load_snapshot(root)
    total = snapshot.records.num_rows

    # Home shows the right totals.
    page.goto(dashboard + "/")
    page.locator(".fmw-metric").first.wait_for()
    wait_for_metric(page, "전체 레코드", f"{total:,}")

    # A Korean search from Home lands on Explore with the right count.
    box = page.get_by_label("검색")
    box.fill("결제")
    box.press("Enter")
    page.wait_for_url("**/explore?q=*")
    expected = search.run_search(snapshot, search.Query(text="결제")).total
    page.get_by_text(f"{expected:,}건 중 1–25").wait_for()

    # The language links: English keeps the search, and Home's search stays English.
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**/explore?q=*&lang=en")
    page.get_by_text(f"of {expected:,}").first.wait_for()
    page.locator(".fmw-nav").get_by_role("link", name="Home").click()
    wait_for_metric(page, "Records", f"{total:,}")
    page.wait_for_function(  # the run is over: Streamlit makes a running page's HTML inert
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    )
    box = page.get_by_label("Search")
    box.fill("결제")
    box.press("Enter")
    page.wait_for_url("**/explore?q=*")
    page.get_by_text(f"of {expected:,}").first.wait_for()
    page.get_by_role("link", name="한국어").click()
    page.get_by_text(f"{expected:,}건 중 1–25").wait_for()

    # A record's timeline (a demo record that changed on day 2).
    changes = snapshot.changes()
    updates = changes.filter(pc.equal(changes["change"], "updated"))
    changed = updates["identity_hash"][0].as_py()
    entries = snapshot.history(changed).num_rows
    page.goto(f"{dashboard}/record?id={changed}")
    page.get_by_test_id("stExpander").first.wait_for()
    labels = page.get_by_test_id("stExpander").all_inner_texts()
    assert len(labels) == entries >= 2
    assert "배치" in labels[0] and "변경" in labels[0]

    # The CSV download of a search: BOM, every matching row, the chosen columns in the
    # page's words, formulas neutralized; the codes for programs beside it.
    page.goto(f"{dashboard}/explore?q=PAY-999&cols=feature_code,status,owner,note")
    page.get_by_text("1건 중 1–1").wait_for()
    page.get_by_role("button", name="내려받기 (1건)").click()  # the downloads' popover
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV (1건)").click()
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"))))
    assert rows == [{"기능 코드": "PAY-999", "상태": "적용", "담당자": "'@kim", "비고": "'=1+2"}]
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV (코드값, 1건)").click()
    codes = Path(download.value.path()).read_bytes()[3:].decode("utf-8")
    assert next(csv.DictReader(io.StringIO(codes)))["status"] == "enabled"

    # PostgreSQL stopped: every page still works from the snapshot files.
    assert "stopped" in fmw(demo, "db", "stop").stdout
    page.goto(dashboard + "/")
    wait_for_metric(page, "전체 레코드", f"{total:,}")
    page.goto(f"{dashboard}/record?id={changed}")
    page.get_by_test_id("stExpander").first.wait_for()

    # A new generation (the database starts again for the load) appears on the next click.
    page.goto(dashboard + "/")
    wait_for_metric(page, "전체 레코드", f"{total:,}")
    (demo / "extra_day2.csv").write_text(DAY2, encoding="utf-8")
    fmw(demo, "load", "extra_day2.csv", "--source", "extra")
    fmw(demo, "export")
    page.locator(".fmw-nav").get_by_role("link", name="홈").click()
    wait_for_metric(page, "전체 레코드", f"{total + 1:,}")
    page.goto(f"{dashboard}/explore?q=PAY-999")
    page.get_by_text("1건 중 1–1").wait_for()
    record = load_snapshot(root)[0]
    hit = search.run_search(record, search.Query(text="PAY-999")).rows["identity_hash"][0]
    page.goto(f"{dashboard}/record?id={hit.as_py()}")
    page.get_by_text("미적용").first.wait_for()


def shown_rows(page, css: str = "fmw-explore") -> list[str]:  # type: ignore[no-untyped-def]
    """The identities of the rows a result table shows, in order."""
    return page.eval_on_selector_all(f".{css} tr[data-row]", "rows => rows.map(r => r.dataset.row)")


def settled(page) -> None:  # type: ignore[no-untyped-def]
    """Until the page's script run is over (Streamlit shows a status widget while it runs)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS
    )


def pick(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Choose ``option`` in the multiselect labelled ``label``."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label).first
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    settled(page)


def test_search_filter_sort_open_a_record_and_back_shows_the_same_rows(
    demo: Path, dashboard: str, page
):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(dashboard + "/explore")
    settled(page)
    # A busy machine may not have started the page's script within settled's first wait.
    expect(page).to_have_title("FMW · 검색", timeout=WAIT_MS)
    box = page.get_by_role("textbox", name="검색어")
    box.fill("결제")
    box.press("Enter")
    page.wait_for_url("**/explore?q=*")
    settled(page)
    pick(page, "상태", "미적용")
    page.wait_for_url("**status=disabled*")
    page.locator(".fmw-explore thead a", has_text="담당자").click()
    page.wait_for_url("**sort=owner*")
    page.locator(".fmw-explore tr[data-row]").first.wait_for()  # a header link loads the page anew
    settled(page)
    rows, url = shown_rows(page), page.url
    assert rows and "status=disabled" in url and "q=" in url
    assert page.get_by_text("Download as CSV").count() == 0
    page.locator(".fmw-explore tbody a").nth(1).click()
    page.wait_for_url("**/record?id=*")
    page.get_by_text("← 결과로 돌아가기").wait_for()
    page.go_back()
    page.wait_for_url(url)
    page.locator(".fmw-explore tr[data-row]").first.wait_for()
    settled(page)
    assert shown_rows(page) == rows, "the browser's Back shows the same rows"
    page.locator(".fmw-explore tbody a").first.click()
    page.get_by_text("← 결과로 돌아가기").click()
    page.wait_for_url(url)
    page.locator(".fmw-explore tr[data-row]").first.wait_for()
    settled(page)
    assert shown_rows(page) == rows, "the page's way back shows the same rows"


def test_the_matrix_with_a_filter_opens_a_cells_record(demo: Path, dashboard: str, page):  # type: ignore[no-untyped-def]
    page.goto(dashboard + "/matrix")
    settled(page)
    pick(page, "상태", "폐기")
    page.wait_for_url("**status=deprecated*")
    cells = page.locator('.fmw-matrix td.cell a[href^="record?"]')
    code = cells.first.locator("xpath=ancestor::tr/td[1]").inner_text()
    cells.first.click()
    page.wait_for_url("**/record?id=*")
    page.get_by_text(f"{code} · ").first.wait_for()
    assert "폐기" in page.locator(".fmw-status").first.inner_text()
    assert page.title() == "FMW · 상세"


@pytest.fixture(scope="module")
def fixture_dashboard(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: Path
) -> Iterator[str]:
    """A dashboard on the hand-made fixture snapshot (history days apart: 2026-11-20/26)."""
    folder = tmp_path_factory.mktemp("fixture-dashboard")
    publish_fixture(folder / "snapshots")
    port = free_port()
    env = clean_env() | {"FMW_SNAPSHOT_DIR": str(folder / "snapshots")}
    with (folder / "ui.log").open("w") as log:
        process = subprocess.Popen(
            [*FMW, "ui", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(f"{base}/_stcore/health", process)
        yield base
    finally:
        stop(process)


def test_an_as_of_day_shows_the_older_status(fixture_dashboard: str, page):  # type: ignore[no-untyped-def]
    page.goto(fixture_dashboard + "/explore?q=PAY-001&region=KR")
    settled(page)
    assert page.locator(".fmw-explore .fmw-status").first.inner_text() == "적용"
    page.get_by_role("button", name="기준일").click()
    field = page.locator('[data-testid="stDateInput"]').filter(has_text="기준일").first
    field.get_by_role("spinbutton").first.click()
    page.keyboard.type("20261121")
    field.locator("label").first.click()  # the date is taken when the field loses focus
    page.wait_for_url("**asof=2026-11-21*")
    settled(page)
    assert page.locator(".fmw-explore .fmw-status").first.inner_text() == "미적용"
    shared = page.url
    page.goto(shared)  # a pasted link
    settled(page)
    assert page.locator(".fmw-explore .fmw-status").first.inner_text() == "미적용"
