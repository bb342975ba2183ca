"""FMW dashboard benchmark: real headless Chromium against a million-record snapshot.

Run it (not a test; nothing here is collected by pytest)::

    .venv/bin/python bench/dashboard.py                        # 1,000,000 synthetic records
    .venv/bin/python bench/dashboard.py --rows 50000           # a quick run
    .venv/bin/python bench/dashboard.py --snapshot var/snapshots --json figures.json

The snapshot: by default the bench writes one itself, in exactly the files
``fmw export`` writes (the mapped records and history segments, through
``fmw.snapshot.tables.write_mapped``, and the small views as CSV, UTF-8 with BOM,
PostgreSQL's CSV conventions), with ``--rows`` records of realistic Korean text,
one ``inserted`` history row per record and 1% ``updated`` ones. ``--snapshot
ROOT`` takes the current generation of an existing snapshot root instead (e.g.
the year of history ``bench/pipeline.py --keep-snapshot ROOT`` exported); its
files and objects are hard-linked (or copied) into a temporary root, never
changed, and the "as of" steps move to its own newest days.

Two servers run side by side, each ``python -m streamlit run`` with the flags
``fmw ui`` uses (``fmw.services.dashboard.command``), 127.0.0.1 only:

FLOOR
    an almost empty Streamlit page: one ``st.text_input`` and one ``st.metric``
    echoing it. Its page load and its rerun after typing are the least any
    Streamlit page costs on this machine and browser.
dashboard
    FMW's ``ui/streamlit_app.py`` on the benchmark snapshot.

Measured, in Debian's Chromium (``/usr/bin/chromium``) driven by Playwright:

home cold / warm
    navigation start to the Home page's "records" ("전체 레코드") number showing
    the right total (the floor: to its metric showing), in a fresh browser context
    (empty cache) and again in the same context (warm cache), once the cold
    page has finished loading (so the cache holds everything it fetched); the
    mean of ``--loads`` runs each, after the first visit of the new process.
home, first visit of a new process
    the same, for the dashboard server's very first visit (it maps and verifies
    what Home reads); its bar is 1.2x the floor's cold load (issue 14).
explore in the browser
    from typing a search (or picking a filter) and pressing Enter to the
    table's caption showing the new count and the run finished; the floor:
    typing into its input to its metric changing. The first search starts once
    the page has finished loading. The eight text searches are typed
    ``BROWSER_ROUNDS`` times round (since 2026-12-06: with one round the P95 of
    eight was the slowest single search).

Home's five numbers are cards in its HTML block, not ``st.metric`` widgets, since
2026-11-27 (later run): the wait matches the same visible label and value in
either (``METRIC_SHOWS``); the floor is still an ``st.metric``.
"Showing" is checked inside the page on every animation frame
(``wait_for_function(..., polling="raf")``). Since 2026-11-27: a Playwright
locator's ``wait_for`` (used before) polls at 0, 20, 70, 170, 270 ms and then
only every 500 ms, so any time above ~0.3 s was rounded up by as much as half
a second, and warm loads and the first search used to start while the
previous page was still drawing.
matrix and "as of" server time (issue 12)
    the matrix page (``MATRIX_STEPS``: filters, a search, lines by policy, paging)
    and Explore showing past days (``AS_OF_STEPS``: the day before the 1% updates,
    a day before anything existed, a comparison with now, filters on a past day),
    each step's rerun timed in-process like Explore's, twice round; P50/P95 of all
    but the first rerun, which is reported on its own (the first "as of" view of a
    generation builds its history index, once per process).
explore server time
    the same page run server-side in-process (``streamlit.testing.v1.AppTest``
    running ui/streamlit_app.py on the same snapshot): wall time of each rerun
    after a search or filter change, for a fixed list of queries; P50/P95.
    Since 2026-12-06 (22:30) every in-process timing compiles the page scripts
    once, as the server does (``one_script_cache``): AppTest makes a new script
    cache on each run, so each rerun it timed also parsed and compiled the app and
    its page (~20 ms for Changes, ~45 ms for Explore on this machine), which
    the server does once per process.
Record timeline and a week of Changes server time (issue 14)
    the Record page of 12 records whose timelines cross segments (the newest
    segment's), twice round, and the Changes page listing a week of changes with
    kinds, a code, a field and pages (``CHANGES_STEPS``), twice round, in-process
    like Explore's; P50/P95 of the reruns, the first view reported on its own.
memory per session
    the dashboard server's resident memory (``/proc``) with one session open,
    then with 20 sessions each showing a different search; the growth per
    extra session. With one session also its proportional set size (PSS,
    ``/proc/PID/smaps_rollup``: a page shared by n processes counts 1/n), the
    floor server's PSS with one session, and the PSS of two dashboard servers
    with one session each (the snapshot is mapped: they share it), and of two
    floor servers likewise: the ratio two ÷ one that Python and Streamlit alone
    reach, which no dashboard process can beat. Before, this process drops the
    snapshot it mapped for the in-process timings.
new generation
    a second generation is published while a session shows Home: the first
    listed record dropped by every source (``records.is_active`` written anew, the
    other files referred to, as a daily export does); the time from the end of
    the publication (pointer swapped) to the new count of listed records on
    screen after one click on the page's own Home link (a plain link since Home
    draws no sidebar: the click loads the page anew), which includes verifying
    and mapping the new generation.

The bars (issue 3, section 4) are printed with PASS or FAIL.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from fmw.services import dashboard
from fmw.snapshot import store
from fmw.snapshot.generations import (
    Generation,
    SnapshotFile,
    WrittenFiles,
    latest_good_generation,
    publish_generation,
)
from fmw.snapshot.mapped import Mapped, write_array
from fmw.snapshot.tables import write_mapped
from fmw.ui.overview import CONFLICT_FIELDS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLOOR_APP = """\
import streamlit as st
text = st.text_input("floor", key="floor_q")
st.metric("floor", text or "0")
"""
"""The floor shows the text itself (it showed its length until 2026-12-06: with the searches
typed round and round, "qa" then "결제" left the length as it was)."""
QUERIES = [
    ("text", "결제"),
    ("text", "pay-001"),
    ("text", "김민준"),
    ("text", "기본 결제 kr"),
    ("text", "보안"),
    ("text", "ＬＯＧＩＮ"),
    ("text", "약관 web"),
    ("text", "qa"),
    ("facet", "status"),
    ("facet", "team"),
    ("facet", "region"),
    ("facet", "platform"),
]
SESSIONS = 20
MiB = 1024 * 1024


# --------------------------------------------------------------------------- the snapshot

FEATURES = [
    ("PAY", "결제"), ("LOGIN", "로그인"), ("REC", "추천"), ("NOTI", "알림"), ("SRCH", "검색"),
    ("CART", "장바구니"), ("CHAT", "채팅"), ("CPN", "쿠폰"), ("MAP", "지도"), ("PROF", "프로필"),
]  # fmt: skip
VARIANTS = ["기본", "간편", "자동", "신규", "통합"]
POLICIES = ["개인정보 보호", "연령 제한", "지역 제한", "요금 정책", "보안 인증", "마케팅 동의",
            "데이터 보존", "접근성", "환불 정책", "이용 약관"]  # fmt: skip
REGIONS = ["KR", "JP", "US", "GLOBAL"]
PLATFORMS = ["iOS", "Android", "Web", "PC"]
OWNERS = ["김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "조예준", "윤지우", "장서준"]
TEAMS = ["플랫폼팀", "서비스기획팀", "운영팀", "결제개발팀", "보안팀"]
NOTES = ["", "", "", "QA 완료", "법무 검토 필요", "앱 3.2 이후 적용", "단계적 배포 중", "=1+2"]
STATUSES = ["enabled", "disabled", "pilot", "planned", "deprecated"]
STATUS_P = [0.5, 0.2, 0.12, 0.1, 0.08]
SOURCES = ["platform_team", "service_team", "ops_team"]


def _pick(
    rng: np.random.Generator, values: list[str], n: int, p: list[float] | None = None
) -> pa.Array:
    return pa.array(values).take(pa.array(rng.choice(len(values), n, p=p)))


def _csv(path: Path, table: pa.Table) -> int:
    """Write like PostgreSQL COPY (text quoted when needed; NULL empty) with a UTF-8 BOM."""
    with path.open("wb") as handle:
        handle.write(b"\xef\xbb\xbf")
        pv.write_csv(table, handle, write_options=pv.WriteOptions(quoting_style="needed"))
    return table.num_rows


def _guard(column: pa.Array) -> pa.Array:
    needs = pc.fill_null(pc.match_substring_regex(column, "^[-=+@\\t\\r\\n]"), False)
    return pc.if_else(needs, pc.binary_join_element_wise("'", column, ""), column)


def synthesize(folder: Path, rows: int, seed: int = 42) -> WrittenFiles:
    """Write a generation's files for ``rows`` records: the mapped records and history
    (``fmw.snapshot.tables.write_mapped``, into the store of ``folder``'s snapshot root)
    and the small views as CSV into ``folder``; return {file: rows or its entry}."""
    rng = np.random.default_rng(seed)
    raw = rng.bytes(32 * rows)
    identity = pa.array([raw[i : i + 32].hex() for i in range(0, len(raw), 32)])
    index = np.arange(rows)
    feature = index // (len(POLICIES) * len(REGIONS) * len(PLATFORMS))
    combo = index % (len(REGIONS) * len(PLATFORMS))
    policy = (index // (len(REGIONS) * len(PLATFORMS))) % len(POLICIES)
    prefix = pa.array([FEATURES[f % len(FEATURES)][0] for f in range(feature.max() + 1)])
    base = pa.array([FEATURES[f % len(FEATURES)][1] for f in range(feature.max() + 1)])
    variant = pa.array(
        [VARIANTS[(f // len(FEATURES)) % len(VARIANTS)] for f in range(feature.max() + 1)]
    )
    number = pa.array([f"{f + 1:05d}" for f in range(feature.max() + 1)])
    feature_code = pc.binary_join_element_wise(prefix.take(feature), number.take(feature), "-")
    feature_name = pc.binary_join_element_wise(variant.take(feature), base.take(feature), " ")
    policy_code = pa.array([f"POL-{p + 1:03d}" for p in range(len(POLICIES))]).take(policy)
    policy_name = pa.array(POLICIES).take(policy)
    region = pa.array(REGIONS).take(combo // len(PLATFORMS))
    platform_ = pa.array(PLATFORMS).take(combo % len(PLATFORMS))
    status = _pick(rng, STATUSES, rows, STATUS_P)
    owner = _pick(rng, OWNERS, rows)
    team = _pick(rng, TEAMS, rows)
    note = _pick(rng, NOTES, rows)
    source = _pick(rng, SOURCES, rows)
    start = pa.array(
        (np.datetime64("2023-01-01") + rng.integers(0, 900, rows)).astype("datetime64[D]")
    )
    active = pa.array(rng.random(rows) > 0.02)
    conflict = pa.array(rng.random(rows) < 0.01)
    seen = "2026-11-01 06:00:00+00"
    changed_mask = rng.random(rows) < 0.01
    last_changed = pc.if_else(pa.array(changed_mask), "2026-11-02 06:00:00+00", seen)
    seen_at, changed_at = _moment("2026-11-01T06:00:00", rows), _moment("2026-11-02T06:00:00", rows)
    tf = lambda col: pc.if_else(col, "t", "f")  # noqa: E731
    records = pa.table(
        {
            "identity_hash": identity,
            "feature_code": _guard(feature_code),
            "feature_name": _guard(feature_name),
            "policy_code": _guard(policy_code),
            "policy_name": _guard(policy_name),
            "status": status,
            "status_raw": pa.nulls(rows, pa.string()),
            "region": region,
            "platform": platform_,
            "owner": owner,
            "team": team,
            "effective_from": pc.cast(start, pa.string()),
            "effective_to": pa.nulls(rows, pa.string()),
            "note": _guard(note),
            "is_active": tf(active),
            "source": source,
            "source_row": pa.array(index + 2),
            "first_seen_at": pa.array([seen] * rows),
            "last_changed_at": last_changed,
            "source_count": pc.if_else(conflict, 2, 1),
            "has_conflict": tf(conflict),
        }
    )
    raw_records = pa.table(
        {
            "identity_hash": identity,
            "feature_code": feature_code,
            "feature_name": feature_name,
            "policy_code": policy_code,
            "policy_name": policy_name,
            "status": status,
            "status_raw": pa.nulls(rows, pa.string()),
            "region": region,
            "platform": platform_,
            "owner": owner,
            "team": team,
            "effective_from": pc.cast(start, pa.date32()),
            "effective_to": pa.nulls(rows, pa.date32()),
            "note": note,
            "is_active": active,
            "source": source,
            "source_row": pa.array(index + 2),
            "first_seen_at": seen_at,
            "last_changed_at": pc.if_else(pa.array(changed_mask), changed_at, seen_at),
            "source_count": pc.if_else(conflict, 2, 1),
            "has_conflict": conflict,
        }
    )
    counts: WrittenFiles = {}
    after = pc.binary_join_element_wise(
        '{"note": "', note, '", "team": "', team, '", "owner": "', owner, '", "region": "', region,
        '", "status": "', status, '", "platform": "', platform_, '", "is_active": true, '
        '"policy_code": "', policy_code, '", "policy_name": "', policy_name,
        '", "feature_code": "', feature_code, '", "feature_name": "', feature_name,
        '", "effective_from": "', pc.cast(start, pa.string()), '"}', "",
    )  # fmt: skip
    keys = {
        "identity_hash": identity, "feature_code": feature_code, "policy_code": policy_code,
        "region": region, "platform": platform_,
    }  # fmt: skip
    inserted = pa.table(
        {
            "history_id": pa.array(index + 1),
            **keys,
            "changed_at": seen_at,
            "change": pa.array(["inserted"] * rows),
            "changed_fields": pa.array(["effective_from, feature_code, feature_name, ..."] * rows),
            "before": pa.nulls(rows, pa.string()),
            "after": after,
            "batch_id": pa.array([1] * rows),
            "batch_source": source,
            "batch_file": pc.binary_join_element_wise(source, ".csv", ""),
        }
    )
    which = pa.array(np.flatnonzero(changed_mask))
    updated = inserted.take(which)
    updated = updated.set_column(0, "history_id", pa.array(rows + 1 + np.arange(len(which))))
    updated = updated.set_column(6, "changed_at", changed_at.slice(0, len(which)))
    updated = updated.set_column(7, "change", pa.array(["updated"] * len(which)))
    updated = updated.set_column(8, "changed_fields", pa.array(["owner"] * len(which)))
    updated = updated.set_column(9, "before", updated["after"])
    updated = updated.set_column(11, "batch_id", pa.array([2] * len(which)))
    history = pa.concat_tables([inserted, updated])
    files, state = write_mapped(folder.parent.parent, raw_records, history, initial_batches=[1])
    counts.update(files)
    _STATE["extra"] = state.to_extra()
    parts = []
    for dimension, column in (("total", None), ("team", team), ("region", region),
                              ("platform", platform_)):  # fmt: skip
        table = pa.table(
            {
                "value": column if column is not None else pa.nulls(rows, pa.string()),
                "status": status,
                "active": pc.cast(active, pa.int64()),
            }
        )
        grouped = table.group_by(["value", "status"]).aggregate(
            [("active", "count"), ("active", "sum")]
        )
        parts.append(
            pa.table(
                {
                    "dimension": pa.array([dimension] * grouped.num_rows),
                    "value": grouped["value"],
                    "status": grouped["status"],
                    "records": grouped["active_count"],
                    "active_records": grouped["active_sum"],
                }
            )
        )
    counts["home_summary.csv"] = _csv(folder / "home_summary.csv", pa.concat_tables(parts))
    pick = pa.array(np.flatnonzero(conflict.to_numpy(zero_copy_only=False)))
    both = []
    for source_name, priority, shown in (("platform_team", 10, "t"), ("ops_team", 30, "f")):
        part = records.take(pick)
        both.append(
            pa.table(
                {
                    **{
                        k: part[k]
                        for k in (
                            "identity_hash",
                            "feature_code",
                            "policy_code",
                            "region",
                            "platform",
                        )
                    },
                    "source": pa.array([source_name] * part.num_rows),
                    "priority": pa.array([priority] * part.num_rows),
                    "is_shown": pa.array([shown] * part.num_rows),
                    **{k: part[k] for k in CONFLICT_FIELDS},
                }
            )
        )
    counts["conflicts.csv"] = _csv(folder / "conflicts.csv", pa.concat_tables(both))
    return counts


_STATE: dict[str, Any] = {}
"""The export state of the synthetic generation (known once its files are written)."""


def _moment(when: str, rows: int) -> pa.Array:
    return pa.array(np.full(rows, np.datetime64(when, "us")), pa.timestamp("us", tz="UTC"))


def one_fewer_listed(root: Path, generation: Generation) -> dict[str, SnapshotFile]:
    """The files of a next generation: ``generation``'s, with its first listed record
    dropped by every source (``is_active`` false: the one column written anew, the rest
    referred to, as a daily export does)."""
    active = Mapped(generation.path("records.is_active.arrow")).column()
    flags = active.to_numpy(zero_copy_only=False).copy()
    flags[int(np.flatnonzero(flags)[0])] = False
    changed = write_array(root, "records.is_active.arrow", "is_active", pa.array(flags))
    return {**generation.files, "records.is_active.arrow": changed}


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def rss(self) -> int:
        """Resident memory in bytes (Linux /proc; 0 where it cannot be read)."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def pss(self) -> int:
        """Proportional set size in bytes (/proc/PID/smaps_rollup: a page shared by n
        processes counts 1/n in each; 0 where it cannot be read)."""
        try:
            for line in Path(f"/proc/{self.process.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0


@contextlib.contextmanager
def serve(script: Path, env: dict[str, str], log: Path) -> Iterator[Server]:
    port = free_port()
    command = dashboard.command(port)
    command[4] = str(script)
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read() == b"ok":
                    break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{script.name} did not start; see {log}") from None
            time.sleep(0.2)
    try:
        yield Server(process, url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# --------------------------------------------------------------------------- browser timing


METRIC_SHOWS = """([label, value]) => [...document.querySelectorAll(
        '[data-testid="stMetric"], .fmw-metric')]
    .some(m => m.checkVisibility()
        && m.querySelector('[data-testid="stMetricLabel"], .fmw-metric-label')
            ?.innerText.includes(label)
        && m.querySelector('[data-testid="stMetricValue"], .fmw-metric-value')
            ?.innerText.trim() === value)"""
"""A metric with ``label`` showing ``value``: an ``st.metric`` (the floor) or one of Home's
HTML cards (``.fmw-metric``, since 2026-11-27 Home's numbers are part of its HTML block)."""
CAPTION_SHOWS = """(text) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .some(c => c.checkVisibility() && c.innerText.includes(text))"""


def wait_metric(page: Page, label: str, value: str, timeout: float = 60_000) -> None:
    """Until the metric ``label`` shows exactly ``value``, checked on every animation frame.

    Checked in the page on each frame (``polling="raf"``), not with a Playwright
    locator: a locator's wait polls with back-off (0, 20, 50, 100, 100, then every
    500 ms), which rounds any time above ~0.3 s up by as much as half a second.
    """
    page.wait_for_function(METRIC_SHOWS, arg=[label, value], polling="raf", timeout=timeout)


def wait_caption(page: Page, text: str, timeout: float = 60_000) -> None:
    """Until a caption containing ``text`` shows (checked on every animation frame)."""
    page.wait_for_function(CAPTION_SHOWS, arg=text, polling="raf", timeout=timeout)


def visible_ms(page: Page, url: str, label: str, value: str) -> float:
    """Navigation start to the metric ``label`` showing ``value``, in ms."""
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    wait_metric(page, label, value)
    return (time.perf_counter() - started) * 1000


def _query_of(url: str) -> str:
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("q", [""])
    return values[-1]


def wait_idle(page: Page) -> None:
    """Until the script run has finished (Streamlit's running indicator is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )


def settle(page: Page) -> None:
    """Until the page has finished loading: its run over and no request for 0.5 s.

    Before a warm load (else the browser cache is still being filled by the
    cold one) and before the first timed search (else it races the page's own
    first drawing).
    """
    wait_idle(page)
    page.wait_for_load_state("networkidle", timeout=60_000)


def page_loads(
    browser: Browser, url: str, label: str, value: str, loads: int
) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        cold.append(visible_ms(page, url, label, value))
        settle(page)
        warm.append(visible_ms(page, url, label, value))
        context.close()
    return cold, warm


BROWSER_ROUNDS = 3
"""Rounds of the text searches in the browser (Explore and the floor): 24 timings each."""


def _text_queries() -> list[str]:
    return [text for kind, text in QUERIES if kind == "text"] * BROWSER_ROUNDS


def explore_browser_ms(
    browser: Browser, base: str, listed: int, expected: dict[str, int]
) -> list[float]:
    """``listed``: the rows Explore shows at first (records a source still lists);
    ``expected``: each search's count (computed before: this process maps no snapshot)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(base + "/explore")
    wait_caption(page, f"{listed:,}건 중", timeout=120_000)
    settle(page)
    timings = []
    box = page.get_by_role("textbox", name="검색어")
    for text in _text_queries():
        started = time.perf_counter()
        box.fill(text)
        box.press("Enter")
        wait_caption(page, f"{expected[text]:,}건 중")
        # The URL is rewritten at the end of the run: the page is complete.
        page.wait_for_url(lambda url, text=text: _query_of(url) == text, timeout=60_000)
        wait_idle(page)
        timings.append((time.perf_counter() - started) * 1000)
    context.close()
    return timings


def floor_rerun_ms(browser: Browser, base: str) -> list[float]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(base)
    wait_metric(page, "floor", "0")
    settle(page)
    box = page.get_by_label("floor")
    timings = []
    for text in _text_queries():
        started = time.perf_counter()
        box.fill(text)
        box.press("Enter")
        wait_metric(page, "floor", text)
        wait_idle(page)
        timings.append((time.perf_counter() - started) * 1000)
    context.close()
    return timings


# --------------------------------------------------------------------------- server time


@contextlib.contextmanager
def one_script_cache() -> Iterator[None]:
    """AppTest runs with one script cache, as the server does: the server's Runtime
    compiles each page script once per process, AppTest builds a new cache (and so
    parses, rewrites for "magic" and compiles the scripts again) on every run."""
    from unittest import mock

    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = ScriptCache()
    with (
        mock.patch.object(app_test, "ScriptCache", lambda: shared),
        mock.patch.object(local_script_runner, "ScriptCache", lambda: shared),
    ):
        yield


def explore_server_ms(root: Path, app: Path) -> list[float]:
    """Rerun times of the Explore page, in-process (AppTest runs the real scripts)."""
    from streamlit.testing.v1 import AppTest

    os.environ["FMW_SNAPSHOT_DIR"] = str(root)
    at = AppTest.from_file(str(app), default_timeout=300).run()
    at.switch_page("app_pages/explore.py").run()
    timings = []
    for _ in range(2):  # each query twice: new text and a repeat
        for kind, value in QUERIES:
            if kind == "text":
                at.text_input(key="explore_q").input(value)
            else:
                widget = at.multiselect(key=f"explore_f_{value}")
                at.text_input(key="explore_q").input("")
                options = [o.rsplit(" (", 1)[0] for o in widget.options]
                widget.set_value([] if widget.value else [_raw_option(options[0])])
            started = time.perf_counter()
            at.run()
            timings.append((time.perf_counter() - started) * 1000)
            assert not at.exception, at.exception
    return timings


MATRIX_STEPS = [
    ("filter", "status", ["enabled"]),
    ("filter", "region", ["KR"]),
    ("text", "결제"),
    ("by", "policy"),
    ("text", ""),
    ("filter", "platform", ["iOS"]),
    ("page", 3),
    ("by", "feature"),
    ("filter", "status", []),
    ("filter", "region", []),
    ("filter", "platform", []),
    ("page", 2),
]
"""The matrix reruns timed: filters, a search, lines by policy, paging (twice round)."""
AS_OF_STEPS = [
    ("asof", "2026-11-01"),  # the day before the updates: 1% of the records rebuilt
    ("text", "결제"),
    ("filter", "status", ["enabled"]),
    ("asof", "2026-10-31"),  # before the first load: nothing existed
    ("asof", None),
    ("compare", "2026-11-01"),  # what differs between that day and now
    ("text", ""),
    ("filter", "status", []),
    ("asof", "2026-11-02"),  # after the updates: the generation as exported
    ("compare", None),
    ("asof", "2026-11-01"),
    ("asof", None),
]
"""The "as of" reruns timed on Explore: past days, a comparison, filters on a past day."""


def page_server_ms(
    root: Path, app: Path, page: str, steps: list[tuple]
) -> tuple[float, list[float]]:
    """Rerun times of one page after each of ``steps``, in-process (AppTest), twice round.

    Returns the first rerun on its own (it builds what a generation builds once, e.g. the
    history index of the "as of" views) and the times of the others.
    """
    from streamlit.testing.v1 import AppTest

    os.environ["FMW_SNAPSHOT_DIR"] = str(root)
    at = AppTest.from_file(str(app), default_timeout=300).run()
    at.switch_page(f"app_pages/{page}.py").run()
    key = f"{page}_"
    timings = []
    for step in steps * 2:
        kind = step[0]
        if kind == "text":
            at.text_input(key=f"{key}q").input(step[1])
        elif kind == "filter":
            at.multiselect(key=f"{key}f_{step[1]}").set_value(step[2])
        elif kind == "by":
            at.button_group(key=f"{key}by").set_value(step[1])
        elif kind == "page":
            widget = at.number_input(key=f"{key}page")
            assert widget.max is not None, "the page input has a max_value (the page count)"
            widget.set_value(min(step[1], int(widget.max)))
        elif kind in ("asof", "compare"):
            if not at.session_state[f"{key}time_menu"]:  # its inputs are drawn while open
                at.session_state[f"{key}time_menu"] = True
                at.run()
            day = dt.date.fromisoformat(step[1]) if step[1] else None
            at.date_input(key=f"{key}{kind}").set_value(day)
        started = time.perf_counter()
        at.run()
        timings.append((time.perf_counter() - started) * 1000)
        assert not at.exception, at.exception
    return timings[0], timings[1:]


def record_server_ms(root: Path, app: Path, identities: list[str]) -> tuple[float, list[float]]:
    """Rerun times of the Record page (fields, sources and the timeline across every history
    segment), in-process, for each of ``identities`` twice round; (first, the others)."""
    from streamlit.testing.v1 import AppTest

    os.environ["FMW_SNAPSHOT_DIR"] = str(root)
    at = AppTest.from_file(str(app), default_timeout=300).run()
    at.switch_page("app_pages/record.py").run()
    timings = []
    for identity in identities * 2:
        at.query_params["id"] = identity
        started = time.perf_counter()
        at.run()
        timings.append((time.perf_counter() - started) * 1000)
        assert not at.exception, at.exception
        assert at.expander, f"{identity}: no timeline"
    return timings[0], timings[1:]


CHANGES_STEPS = [
    ("kinds", ["updated"]),
    ("q", "PAY"),
    ("page", 2),
    ("fields", ["owner"]),
    ("q", ""),
    ("kinds", []),
    ("page", 3),
    ("fields", []),
]
"""The Changes reruns timed on a week of changes: kinds, a code, pages, a field."""


def changes_server_ms(root: Path, app: Path, since: dt.date) -> tuple[float, list[float]]:
    """Rerun times of the Changes page listing the changes since ``since`` (a week), after
    each of CHANGES_STEPS, in-process, twice round; (first view, the others)."""
    from streamlit.testing.v1 import AppTest

    os.environ["FMW_SNAPSHOT_DIR"] = str(root)
    at = AppTest.from_file(str(app), default_timeout=300).run()
    at.query_params["since"] = since.isoformat()
    started = time.perf_counter()
    at.switch_page("app_pages/changes.py").run()
    first = (time.perf_counter() - started) * 1000
    timings = []
    for name, value in CHANGES_STEPS * 2:
        if name == "q":
            at.text_input(key="changes_q").input(value)
        elif name == "page":
            widget = at.number_input(key="changes_page")
            assert widget.max is not None
            widget.set_value(min(value, int(widget.max)))
        else:
            at.multiselect(key=f"changes_{name}").set_value(value)
        started = time.perf_counter()
        at.run()
        timings.append((time.perf_counter() - started) * 1000)
        assert not at.exception, at.exception
    return first, timings


def _raw_option(label: str) -> str:
    from fmw.ui import messages

    for raw in ("enabled", "disabled", "pilot", "planned", "deprecated"):
        if messages.value_label("status", raw, "ko") == label:
            return raw
    return label


# --------------------------------------------------------------------------- the run


@dataclass
class Figures:
    machine: str
    date: str
    records: int
    snapshot: str
    floor_cold_ms: list[float] = field(default_factory=list)
    floor_warm_ms: list[float] = field(default_factory=list)
    home_first_ms: float = 0.0
    home_cold_ms: list[float] = field(default_factory=list)
    home_warm_ms: list[float] = field(default_factory=list)
    floor_rerun_ms: list[float] = field(default_factory=list)
    explore_browser_ms: list[float] = field(default_factory=list)
    explore_server_ms: list[float] = field(default_factory=list)
    matrix_first_ms: float = 0.0
    matrix_server_ms: list[float] = field(default_factory=list)
    as_of_first_ms: float = 0.0
    as_of_server_ms: list[float] = field(default_factory=list)
    record_first_ms: float = 0.0
    record_server_ms: list[float] = field(default_factory=list)
    changes_first_ms: float = 0.0
    changes_server_ms: list[float] = field(default_factory=list)
    changes_week: int = 0
    history_rows: int = 0
    history_segments: int = 0
    pss_floor_mib: float = 0.0
    pss_one_mib: float = 0.0
    pss_two_mib: list[float] = field(default_factory=list)
    pss_floor_two_mib: list[float] = field(default_factory=list)
    rss_one_mib: float = 0.0
    rss_many_mib: float = 0.0
    per_session_mib: float = 0.0
    snapshot_arrow_mib: float = 0.0
    new_generation_ms: float = 0.0


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    system = f"{platform.system()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores, {model}{memory}, {system}"


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else 0.0


def _p50(values: list[float]) -> float:
    return float(np.percentile(values, 50)) if values else 0.0


def publish_snapshot(args: argparse.Namespace, root: Path) -> tuple[Generation, str]:
    """The snapshot the run measures, published under ``root``; (generation, described)."""
    if args.snapshot:
        source, _ = latest_good_generation(Path(args.snapshot))
        print(f"linking the current generation of {args.snapshot} ...", flush=True)
        (root / store.OBJECTS_DIR).mkdir(parents=True)
        for name, file in source.files.items():
            if file.object:
                _link(source.path(name), store.object_path(root, file.object))

        def linked(folder: Path) -> WrittenFiles:
            for name, file in source.files.items():
                if not file.object:
                    _link(source.path(name), folder / name)
            return {name: f if f.object else f.rows for name, f in source.files.items()}

        generation = publish_generation(root, linked, batches=source.batches, extra=source.extra)
        return generation, f"current generation of {args.snapshot}"
    print(f"writing a {args.rows:,}-record snapshot ...", flush=True)
    generation = publish_generation(
        root, lambda f: synthesize(f, args.rows), batches=[1, 2], extra=lambda: _STATE["extra"]
    )
    return generation, f"synthetic, {args.rows:,} records (bench/dashboard.py)"


def timed_records(snapshot: Any, count: int = 12) -> list[str]:
    """Records whose timelines cross segments: the newest segment's first ones."""
    newest = snapshot.log.segments[-1]
    ordinals = newest.numbers("record")[newest.numbers("by_record")]
    picked = list(dict.fromkeys(ordinals.tolist()))[:count]
    return snapshot.records["identity_hash"].take(pa.array(picked)).to_pylist()


def as_of_steps(snapshot: Any, synthetic: bool) -> list[tuple]:
    """AS_OF_STEPS for the synthetic snapshot; for another, the same steps around its
    newest days (a day back, before anything, a week back)."""
    if synthetic:
        return AS_OF_STEPS
    made = snapshot.generation.generated_at.date()
    day = lambda n: (made - dt.timedelta(days=n)).isoformat()  # noqa: E731
    first = min(s.info.changed_from for s in snapshot.log.segments) // 1_000_000
    before = (dt.datetime.fromtimestamp(first, dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    replaced = {"2026-11-01": day(1), "2026-10-31": before, "2026-11-02": day(7)}
    return [
        tuple(replaced.get(v, v) if isinstance(v, str) else v for v in step) for step in AS_OF_STEPS
    ]


def forget_snapshot() -> None:
    """Unmap the snapshot from this process (its pages would count in the servers' PSS)."""
    import gc

    import streamlit

    streamlit.cache_resource.clear()
    gc.collect()
    mapped = [
        line for line in Path("/proc/self/maps").read_text().splitlines() if "objects/" in line
    ]
    if mapped:
        print(f"warning: this process still maps {len(mapped)} snapshot file(s)", flush=True)


def run(args: argparse.Namespace) -> Figures:
    from playwright.sync_api import sync_playwright

    from fmw.ui import search
    from fmw.ui.snapshot_data import load_snapshot

    work = Path(tempfile.mkdtemp(prefix="fmw-bench-ui-"))
    root = work / "snapshots"
    generation, described = publish_snapshot(args, root)
    print("preparing the next generation (one record fewer listed) ...", flush=True)
    next_files = one_fewer_listed(root, generation)
    snapshot, _ = load_snapshot(root)
    total = snapshot.records.num_rows
    active = int(pc.sum(snapshot.records["is_active"]).as_py())
    listed = search.run_search(snapshot, search.Query()).total  # Explore hides dropped ones
    expected = {
        text: search.run_search(snapshot, search.Query(text=text)).total
        for kind, text in QUERIES
        if kind == "text"
    }
    identities = timed_records(snapshot)
    week = (generation.generated_at - dt.timedelta(days=7)).date()
    if not args.snapshot:
        week = dt.date(2026, 10, 26)  # a week before the synthetic updates
    figures = Figures(
        machine=machine(),
        date=dt.date.today().isoformat(),
        records=total,
        snapshot=described,
        snapshot_arrow_mib=round(snapshot.records.nbytes / MiB, 1),
        history_rows=sum(s.info.rows for s in snapshot.log.segments),
        history_segments=len(snapshot.log.segments),
        changes_week=snapshot.changes(
            since=int(dt.datetime.combine(week, dt.time(), dt.UTC).timestamp()) * 1_000_000
        ).num_rows,
    )
    steps = as_of_steps(snapshot, not args.snapshot)
    del snapshot
    app = dashboard.app_script()
    floor_script = work / "floor.py"
    floor_script.write_text(FLOOR_APP, encoding="utf-8")
    env = dict(os.environ, FMW_SNAPSHOT_DIR=str(root), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    with one_script_cache():
        print("server time of Explore reruns (in-process) ...", flush=True)
        figures.explore_server_ms = explore_server_ms(root, app)
        print("server time of matrix reruns (in-process) ...", flush=True)
        figures.matrix_first_ms, figures.matrix_server_ms = page_server_ms(
            root, app, "matrix", MATRIX_STEPS
        )
        print('server time of "as of" views on Explore (in-process) ...', flush=True)
        figures.as_of_first_ms, figures.as_of_server_ms = page_server_ms(
            root, app, "explore", steps
        )
        print("server time of Record timelines (in-process) ...", flush=True)
        figures.record_first_ms, figures.record_server_ms = record_server_ms(root, app, identities)
        print(f"server time of a week of Changes ({figures.changes_week:,}) (in-process) ...")
        figures.changes_first_ms, figures.changes_server_ms = changes_server_ms(root, app, week)
    forget_snapshot()
    with (
        serve(floor_script, env, work / "floor.log") as floor,
        serve(app, env, work / "dashboard.log") as ui,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        label = "전체 레코드"
        print("first Home visit of a new process (maps the snapshot) ...", flush=True)
        context = browser.new_context()
        figures.home_first_ms = visible_ms(context.new_page(), ui.url + "/", label, f"{total:,}")
        context.close()
        print("page loads: floor and Home, cold and warm ...", flush=True)
        figures.floor_cold_ms, figures.floor_warm_ms = page_loads(
            browser, floor.url + "/", "floor", "0", args.loads
        )
        figures.home_cold_ms, figures.home_warm_ms = page_loads(
            browser, ui.url + "/", label, f"{total:,}", args.loads
        )
        print("reruns in the browser: floor and Explore ...", flush=True)
        figures.floor_rerun_ms = floor_rerun_ms(browser, floor.url + "/")
        figures.explore_browser_ms = explore_browser_ms(browser, ui.url, listed, expected)
        print(f"memory: 1 session, then {SESSIONS} ...", flush=True)
        contexts = []
        one = browser.new_context()
        page = one.new_page()
        page.goto(ui.url + "/explore")
        page.get_by_text(f"{listed:,}건 중").first.wait_for(timeout=120_000)
        contexts.append(one)
        time.sleep(2)
        figures.rss_one_mib = ui.rss() / MiB
        figures.pss_one_mib = ui.pss() / MiB
        floor_page = browser.new_context().new_page()
        floor_page.goto(floor.url + "/")
        wait_metric(floor_page, "floor", "0")
        figures.pss_floor_mib = floor.pss() / MiB
        print("memory: a second dashboard process, one session each ...", flush=True)
        with serve(app, env, work / "dashboard2.log") as second:
            other = browser.new_context().new_page()
            other.goto(second.url + "/explore")
            other.get_by_text(f"{listed:,}건 중").first.wait_for(timeout=120_000)
            time.sleep(2)
            figures.pss_two_mib = [ui.pss() / MiB, second.pss() / MiB]
        print("memory: a second floor process, one session each ...", flush=True)
        with serve(floor_script, env, work / "floor2.log") as second_floor:
            other = browser.new_context().new_page()
            other.goto(second_floor.url + "/")
            wait_metric(other, "floor", "0")
            time.sleep(2)
            figures.pss_floor_two_mib = [floor.pss() / MiB, second_floor.pss() / MiB]
        for number in range(1, SESSIONS):
            context = browser.new_context()
            page = context.new_page()
            text = QUERIES[number % 8][1]
            page.goto(f"{ui.url}/explore?q={text}")
            page.get_by_text("건 중").first.wait_for(timeout=120_000)
            contexts.append(context)
        time.sleep(2)
        figures.rss_many_mib = ui.rss() / MiB
        figures.per_session_mib = (figures.rss_many_mib - figures.rss_one_mib) / (SESSIONS - 1)
        for context in contexts[1:]:
            context.close()
        print("a new generation ...", flush=True)
        page = contexts[0].new_page()
        page.goto(ui.url + "/")
        wait_metric(page, label, f"{total:,}")
        settle(page)
        publish_generation(
            root,
            lambda folder: _linked_small_files(generation, folder, next_files),
            batches=[*generation.batches, max(generation.batches, default=0) + 1],
            extra=generation.extra,
        )
        published = time.perf_counter()
        page.locator(".fmw-nav").get_by_role("link", name="홈").click()  # Home anew
        wait_metric(page, "소스에 있는 레코드", f"{active - 1:,}")
        figures.new_generation_ms = (time.perf_counter() - published) * 1000
        browser.close()
    shutil.rmtree(work, ignore_errors=True)
    return figures


def _linked_small_files(
    generation: Generation, folder: Path, files: dict[str, SnapshotFile]
) -> WrittenFiles:
    """The next generation: ``generation``'s CSV files linked, its objects (one replaced)."""
    for name, file in generation.files.items():
        if not file.object:
            _link(generation.path(name), folder / name)
    return {name: file if file.object else file.rows for name, file in files.items()}


def report(figures: Figures) -> bool:
    mean = statistics.fmean
    floor_cold, floor_warm = mean(figures.floor_cold_ms), mean(figures.floor_warm_ms)
    home_cold, home_warm = mean(figures.home_cold_ms), mean(figures.home_warm_ms)
    rerun_floor = statistics.median(figures.floor_rerun_ms)
    print(f"\nFMW dashboard benchmark — {figures.date}\n{figures.machine}")
    print(f"snapshot: {figures.snapshot}; {figures.records:,} records "
          f"({figures.snapshot_arrow_mib} MiB as Arrow), {figures.history_rows:,} history "
          f"rows in {figures.history_segments} segment(s); a week: "
          f"{figures.changes_week:,} changes")  # fmt: skip
    rows = [
        ("FLOOR page load, cold (mean)", floor_cold),
        ("FLOOR page load, warm (mean)", floor_warm),
        ("Home, first visit of a new process", figures.home_first_ms),
        ("Home load, cold (mean)", home_cold),
        ("Home load, warm (mean)", home_warm),
        ("FLOOR rerun in browser (median)", rerun_floor),
        ("Explore search in browser (median)", statistics.median(figures.explore_browser_ms)),
        ("Explore search in browser (P95)", p95(figures.explore_browser_ms)),
        ("Explore rerun, server time (P50)", float(np.percentile(figures.explore_server_ms, 50))),
        ("Explore rerun, server time (P95)", p95(figures.explore_server_ms)),
        ("matrix, first rerun", figures.matrix_first_ms),
        ("matrix rerun, server time (P50)", float(np.percentile(figures.matrix_server_ms, 50))),
        ("matrix rerun, server time (P95)", p95(figures.matrix_server_ms)),
        ('"as of", first view (builds the history index)', figures.as_of_first_ms),
        ('"as of" view, server time (P50)', float(np.percentile(figures.as_of_server_ms, 50))),
        ('"as of" view, server time (P95)', p95(figures.as_of_server_ms)),
        ("Record, first view", figures.record_first_ms),
        ("Record timeline, server time (P50)", _p50(figures.record_server_ms)),
        ("Record timeline, server time (P95)", p95(figures.record_server_ms)),
        ("Changes of a week, first view", figures.changes_first_ms),
        ("Changes of a week, server time (P50)", _p50(figures.changes_server_ms)),
        ("Changes of a week, server time (P95)", p95(figures.changes_server_ms)),
        ("new generation visible after publish", figures.new_generation_ms),
    ]
    for name, value in rows:
        print(f"  {name:<42} {value:8.0f} ms")
    two = sum(figures.pss_two_mib)
    print(f"  {'server RSS, 1 session':<42} {figures.rss_one_mib:8.1f} MiB")
    print(f"  {'server PSS, 1 session':<42} {figures.pss_one_mib:8.1f} MiB")
    print(f"  {'two servers, 1 session each: PSS sum':<42} {two:8.1f} MiB")
    print(f"  {'FLOOR server PSS, 1 session':<42} {figures.pss_floor_mib:8.1f} MiB")
    floor_two = sum(figures.pss_floor_two_mib)
    print(f"  {'FLOOR two servers, 1 session each: PSS sum':<42} {floor_two:8.1f} MiB")
    print(
        f"  {'two servers ÷ one: dashboard / FLOOR':<42} {two / figures.pss_one_mib:8.2f} x"
        f" / {floor_two / figures.pss_floor_mib:.2f} x"
    )
    print(f"  {f'server RSS, {SESSIONS} sessions':<42} {figures.rss_many_mib:8.1f} MiB")
    print(f"  {'growth per extra session':<42} {figures.per_session_mib:8.2f} MiB")
    bars = [
        ("Home, new process, <= 1.2 x floor cold", figures.home_first_ms <= 1.2 * floor_cold),
        ("server RSS at one session <= 250 MiB", figures.rss_one_mib <= 250),
        ("two servers' PSS <= 1.3 x one", two <= 1.3 * figures.pss_one_mib),
        ("Record timeline server P95 <= 100 ms", p95(figures.record_server_ms) <= 100),
        ("a week of Changes server P95 <= 100 ms", p95(figures.changes_server_ms) <= 100),
        ("Home cold <= 1.2 x floor cold", home_cold <= 1.2 * floor_cold),
        ("Home warm <= 1.2 x floor warm", home_warm <= 1.2 * floor_warm),
        ("Explore server P95 <= 300 ms", p95(figures.explore_server_ms) <= 300),
        ("matrix server P95 <= 300 ms", p95(figures.matrix_server_ms) <= 300),
        ('"as of" view server P95 <= 1 s', p95(figures.as_of_server_ms) <= 1000),
        (
            "Explore browser P95 <= floor rerun + 300 ms",
            p95(figures.explore_browser_ms) <= rerun_floor + 300,
        ),
        ("memory per extra session <= 3 MiB", figures.per_session_mib <= 3),
        ("new generation visible <= 2 s", figures.new_generation_ms <= 2000),
    ]
    print()
    for name, ok in bars:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return all(ok for _, ok in bars)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--snapshot", help="use this snapshot root's current generation")
    parser.add_argument("--loads", type=int, default=5, help="page loads per measurement")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    figures = run(args)
    ok = report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(figures), indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
