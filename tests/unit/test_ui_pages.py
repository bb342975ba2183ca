"""One AppTest per dashboard page against the fixture snapshot (tests/support/ui_snapshot.py).

Each test runs the real entry point (ui/streamlit_app.py with st.navigation),
switches to a page, and asserts on values: counts, filtered rows, Korean
search hits, the timeline, the URL. No browser, no database.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import streamlit
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from fmw.snapshot.generations import GENERATIONS_DIR
from fmw.ui import search, view
from tests.support.ui_pages import APP, TIMEOUT, grid, grid_column, grid_rows
from tests.support.ui_snapshot import (
    SMAPS,
    default_fixture,
    identity,
    metric_cards,
    publish_fixture,
    resident_kib,
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "snapshots"
    monkeypatch.setenv("FMW_SNAPSHOT_DIR", str(folder))
    monkeypatch.chdir(tmp_path)  # no fmw.toml here
    yield folder


@pytest.fixture
def published(root: Path) -> Path:
    publish_fixture(root)
    return root


def app(**query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at


def open_page(page: str, **query: str) -> AppTest:
    at = app().run()
    assert not at.exception, at.exception
    at.query_params.update(query)
    return at.switch_page(f"app_pages/{page}.py").run()


def html_bodies(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def metrics(at: AppTest) -> dict[str, str]:
    """Home's five numbers: the cards in its HTML block (label → value as shown)."""
    return metric_cards(html_bodies(at))


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def table_column(at: AppTest, label: str, index: int = 0) -> list[object]:
    return list(at.dataframe[index].value[label])


def frames(at: AppTest, column: str) -> list:
    """The values (pandas frames) of the data grids that have ``column``, in page order."""
    return [d.value for d in at.dataframe if column in d.value.columns]


class _Cells(HTMLParser):
    """The rows of the one table whose class list has ``css_class``."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.rows: list[list[str]] = []
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._inside = self.css_class in (dict(attrs).get("class") or "").split()
        elif not self._inside:
            return
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


SOURCE_NAMES = """
[sources.platform_team]
path = "platform_team.csv"
display_name = "플랫폼팀 현황"

[sources.service_team]
path = "service_team.csv"
display_name = "서비스기획팀 현황"

[sources.ops_team]
path = "ops_team.xlsx"
display_name = "운영팀 현황"
"""
LEAKS = (
    # words Streamlit or pandas would show in English
    "None", "nan", "NaN", "NaT", "Select all", "Choose", "Download as CSV", "true", "false",
    "True", "False",
    # stored codes: statuses, change kinds, column names, source keys
    "enabled", "disabled", "pilot", "planned", "deprecated", "unknown",
    "inserted", "updated", "deactivated", "reactivated",
    "is_active", "has_conflict", "feature_code", "policy_code", "last_changed_at", "status_raw",
    "identity_hash", "platform_team", "service_team", "ops_team",
    # the old words that read like a status
    "활성", "비활성",
)  # fmt: skip
"""Words a Korean page must never show (test_problem_5)."""
HIDDEN_FIELDS = {"id", "formId", "default", "value", "rawValues", "setValue", "url", "body"}
"""Proto fields that are not shown as text (widget values are codes by design)."""


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(body: str) -> str:
    parser = _Text()
    parser.feed(re.sub(r"<style>.*?</style>", "", body, flags=re.S))
    return " ".join(parser.parts)


def visible_text(at: AppTest) -> str:
    """Every text a page shows: element and widget texts, labels, options, HTML text."""
    texts: list[str] = []

    def strings(value: object, key: str = "") -> None:
        if key in HIDDEN_FIELDS:
            return
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                strings(v, k)
        elif isinstance(value, list):
            for v in value:
                strings(v, key)

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            if getattr(node, "type", "") == "html":
                texts.append(_html_text(proto.body))
            elif hasattr(proto, "body") and isinstance(proto.body, str):
                texts.append(proto.body)
            strings(MessageToDict(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(texts)


def html_table(at: AppTest, css_class: str) -> list[dict[str, str]]:
    """The rows of Home's plain-HTML table with class ``css_class``, as dicts by header."""
    body = next(h.proto.body for h in at.get("html") if css_class in h.proto.body)
    parser = _Cells(css_class)
    parser.feed(body)
    header, *rows = parser.rows
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_home_shows_totals_status_counts_and_the_latest_changes(published: Path):
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "홈"
    assert metrics(at) == {
        "전체 레코드": "8",
        "소스에 있는 레코드": "7",
        "소스에서 빠진 레코드": "1",
        "소스 간 불일치": "1",
        "최근 변경": "2",
    }
    by_team = {row["팀"]: row["레코드"] for row in html_table(at, "fmw-team")}
    assert by_team["결제개발팀"] == "2"
    assert sum(int(row["레코드"]) for row in html_table(at, "fmw-region")) == 8
    latest = html_table(at, "fmw-latest")
    assert sorted(row["기능 코드"] for row in latest) == ["PAY-001", "REC-003"]
    chart = next(h.proto.body for h in at.get("html") if "fmw-status-chart" in h.proto.body)
    assert ">적용</a></span>" in chart and ">3</span>" in chart
    assert "배치 2, 3" in html_bodies(at)
    assert '<a href="changes?since=2026-11-26" target="_self">' in html_bodies(at), "all changes"


def test_home_search_box_is_a_form_that_opens_explore_with_the_query(published: Path):
    """Home's search box is a plain GET form to ``explore?q=``; Explore reads that URL
    (the browser test submits it for real)."""
    body = html_bodies(app().run())
    form = re.search(r'<form class="fmw-search" method="get" action="explore">.*?</form>', body)
    assert form and 'name="q"' in form.group() and 'name="language"' not in form.group()
    at = app(q="결제").switch_page("app_pages/explore.py").run()
    assert not at.exception
    assert at.title[0].value == "검색"
    assert at.text_input(key="explore_q").value == "결제"
    assert "3건 중 1–3" in captions(at)
    assert grid_column(at, "기능 코드") == ["PAY-001", "PAY-001", "NOTI-007"], "names first"


def test_home_warns_when_the_snapshot_is_older_than_schedule_plus_grace(
    published: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FMW_SYNC_EVERY_HOURS", "0.0000001")  # 0.36 ms
    monkeypatch.setenv("FMW_FRESHNESS_GRACE_HOURS", "0")
    at = app().run()
    assert next(w.value for w in at.warning).startswith("스냅샷이")
    assert metrics(at)["전체 레코드"] == "8", "the data is still shown"


def test_home_in_english_through_the_url(published: Path):
    at = app(lang="en").run()
    assert at.title[0].value == "Home"
    assert metrics(at)["Records"] == "8"
    body = html_bodies(at)
    assert '<a href="?lang=ko" target="_self">한국어</a>' in body, "the switch back"
    assert '<input type="hidden" name="language" value="en">' in body, "search stays English"
    assert '<a href="changes?since=2026-11-26&amp;lang=en" target="_self">' in body


def test_the_language_links_keep_the_page_and_its_parameters(published: Path):
    at = open_page("explore", q="결제")
    assert '<a href="?q=%EA%B2%B0%EC%A0%9C&amp;lang=en" target="_self">English</a>' in (
        html_bodies(at)
    )
    english = app(q="결제", language="en").switch_page("app_pages/explore.py").run()
    assert english.title[0].value == "Explore", "Home's form sends the language as language="
    assert english.query_params["lang"] == "en" and "language" not in english.query_params


def test_every_page_links_the_pages_in_the_readers_language(published: Path):
    korean = html_bodies(open_page("changes"))
    assert '<a href="./" target="_self">홈</a>' in korean, "Home is the app's root URL"
    assert '<a href="explore" target="_self">검색</a>' in korean
    assert '<a href="matrix" target="_self">현황표</a>' in korean
    assert '<a href="changes" target="_self" aria-current="page"><strong>변경 이력' in korean
    english = html_bodies(app(language="en").run())
    assert '<a href="explore?lang=en" target="_self">Explore</a>' in english
    assert '<a href="./?lang=en" target="_self" aria-current="page"><strong>Home' in english


def test_empty_state_names_the_commands_to_run(root: Path):
    at = app().run()
    assert not at.exception
    text = at.info[0].value
    assert "아직 스냅샷이 없습니다" in text
    assert "fmw demo" in text and "fmw sync" in text
    assert not metrics(at)


def _damaged(data: bytes, damage: str) -> bytes:
    if damage == "shorter":
        return b"broken\n"
    if damage == "zeroed":
        return b"\0" * len(data)
    return data.replace(b"disabled", b"DISABLED")  # the same size, still an Arrow file


@pytest.mark.parametrize(
    ("damage", "found"),
    [
        ("shorter", "has 7 bytes"),  # caught when the generation is chosen (its size)
        ("zeroed", "SHA-256 differs"),  # caught when it is mapped
        ("a value", "SHA-256 differs"),  # caught when a page first reads the file
    ],
)
def test_a_corrupt_newest_generation_falls_back_and_says_so(
    published: Path, damage: str, found: str
):
    older = sorted((published / GENERATIONS_DIR).iterdir())[0].name
    fixture = default_fixture()
    fixture.records = fixture.records[:3]
    newest = publish_fixture(published, fixture)
    damaged = newest.path("records.status.arrow")  # a file the dashboard reads
    damaged.write_bytes(_damaged(damaged.read_bytes(), damage))
    at = app().run()
    assert not at.exception
    assert metrics(at)["전체 레코드"] == "8", "the previous good generation is shown"
    error = at.error[0].value
    assert "마지막 정상 스냅샷" in error and newest.id in error and found in error
    assert older in json.dumps([newest.id, older])


def test_a_new_generation_is_picked_up_on_the_next_interaction(published: Path):
    at = app().run()
    assert metrics(at)["전체 레코드"] == "8"
    fixture = default_fixture()
    fixture.records = fixture.records[:5]
    publish_fixture(published, fixture)
    at.run()
    assert not at.exception
    assert metrics(at)["전체 레코드"] == "5"
    assert at.toast[0].value.startswith("새 스냅샷을 불러왔습니다")


# --------------------------------------------------------------------------- Explore


def test_explore_korean_search_filters_rows_and_writes_the_url(published: Path):
    at = open_page("explore")
    assert "7건 중 1–7" in captions(at)
    assert "소스에서 빠진 레코드 1건은 숨겼습니다" in captions(at)
    at.text_input(key="explore_q").input("기본결제").run()  # no space, like "기본 결제"
    assert not at.exception
    assert "2건 중 1–2" in captions(at)
    assert sorted(grid_column(at, "지역")) == ["JP", "KR"]
    assert at.query_params["q"] == "기본결제"


def test_explore_facet_counts_follow_the_other_filters(published: Path):
    at = open_page("explore")
    at.multiselect(key="explore_f_team").select("결제개발팀").run()
    assert not at.exception
    counts = dict(re.findall(r'<div data-filter="(\w+)">([^<]*)</div>', html_bodies(at)))
    assert counts["status"] == "적용 2", "only enabled records are in 결제개발팀"
    assert "운영팀 1" in counts["team"], "REC-003 (운영팀) is hidden: one is left"
    assert grid_column(at, "기능 코드") == ["NOTI-007", "PAY-001"]
    assert at.query_params["team"] == "결제개발팀"


def test_explore_filters_list_every_value_in_a_fixed_order(published: Path):
    """A filter's choices are the snapshot's values whatever is searched (the counts under
    it follow the result): statuses in their order, other values sorted, blank last."""
    at = open_page("explore")
    choices = {n: at.multiselect(key=f"explore_f_{n}").options for n in ("status", "team")}
    at.text_input(key="explore_q").input("기본결제").run()
    assert at.multiselect(key="explore_f_status").options == choices["status"]
    assert choices["status"][:2] == ["적용", "시범"], "statuses in STATUS_ORDER"
    assert choices["team"] == sorted(choices["team"]), choices["team"]
    counts = dict(re.findall(r'<div data-filter="(\w+)">([^<]*)</div>', html_bodies(at)))
    assert "시범" not in counts["status"], "a value no row of the result holds has no count"


def test_explore_view_comes_back_from_a_copied_link(published: Path):
    at = open_page(
        "explore", q="ｐａｙ", region="KR", sort="region", desc="1", cols="feature_code,note"
    )
    assert not at.exception
    assert at.text_input(key="explore_q").value == "ｐａｙ"
    assert at.multiselect(key="explore_f_region").value == ["KR"]
    assert at.selectbox(key="explore_sort").value == "region"
    assert grid_rows(at) == [{"기능 코드": "PAY-001", "비고": '=HYPERLINK("http://x")'}], (
        "the chosen columns; shown without the guard"
    )


def test_explore_sorts_and_pages(published: Path):
    at = open_page("explore", sort="feature_code", size="50")
    assert grid_column(at, "기능 코드")[:3] == ["CART-006", "CHAT-005", "LOGIN-002"]
    at.toggle(key="explore_desc").set_value(True).run()
    assert grid_column(at, "기능 코드")[0] == "SRCH-004"
    assert at.query_params["desc"] == "1"


def test_explore_says_when_nothing_matches(published: Path):
    at = open_page("explore", q="없는기능")
    assert at.info[0].value == "조건에 맞는 레코드가 없습니다."


# --------------------------------------------------------------------------- Record


def test_record_shows_fields_sources_that_disagree_and_the_timeline(published: Path):
    at = open_page("record", id=identity("a1"))
    assert not at.exception
    assert at.header[0].value == "PAY-001 · POL-001 · KR · iOS"
    values = {row["필드"]: row["값"] for row in grid_rows(at, "fmw-fields")}
    assert values["담당자"] == "김민준"
    assert values["상태"] == "적용"
    assert values["종료일"] == "", "a blank is blank, never None"
    assert "인식 못 한 상태값" not in values, "no warning row for a recognized status"
    assert "상태" in at.warning[0].value, "the disagreeing field is named"
    sources = grid_rows(at, "fmw-sources")
    assert [row["소스"] for row in sources] == ["platform_team", "ops_team"]
    assert [e.label.split(" · ")[1] for e in at.expander] == ["변경", "추가"]
    latest = grid_rows(at, "fmw-change-0")
    assert [row["필드"] for row in latest] == ["담당자", "상태"]
    assert [row["이전"] for row in latest] == ["이서연", "미적용"]
    assert [row["이후"] for row in latest] == ["김민준", "적용"]


@pytest.mark.skipif(not SMAPS.exists(), reason="Linux's /proc")
def test_after_a_page_the_files_it_read_a_few_rows_of_leave_the_process(published: Path):
    """A record's page finds its identity by binary search and reads its history: mapped
    pages that, kept, filled a process at a million records. The columns every search
    reads (here the status of the record shown) stay."""
    at = open_page("record", id=identity("a1"))
    assert at.header[0].value == "PAY-001 · POL-001 · KR · iOS"
    resident = resident_kib(published)
    assert resident.get("status", 0) > 0, "the page read its record's status: resident"
    assert resident.get("identity_hash", 0) == 0
    assert all(resident.get(name, 0) == 0 for name in resident if name.isdigit()), resident


def test_record_names_the_status_word_it_did_not_recognize(published: Path):
    at = open_page("record", id=identity("a6"))
    values = {row["필드"]: row["값"] for row in grid_rows(at, "fmw-fields")}
    assert values["상태"] == "알 수 없음"
    assert values["원래 상태값"] == "보류"


def test_record_shows_the_word_its_source_wrote_for_a_known_status(published: Path):
    at = open_page("record", id=identity("a4"))
    values = {row["필드"]: row["값"] for row in grid_rows(at, "fmw-fields")}
    assert (values["상태"], values["원래 상태값"]) == ("폐기", "EOL")
    at = open_page("record", id=identity("a5"))  # the source wrote no word: no empty line
    assert "원래 상태값" not in {row["필드"] for row in grid_rows(at, "fmw-fields")}


def test_record_without_an_id_or_with_an_unknown_one(published: Path):
    at = open_page("record")
    assert at.info[0].value.startswith("상세를 볼 레코드를")
    at = open_page("record", id="f" * 64)
    assert "f" * 64 in at.warning[0].value


# --------------------------------------------------------------------------- Changes


def test_changes_lists_changes_since_a_date_and_filters_them(published: Path):
    at = open_page("changes", since="2026-11-01")
    assert not at.exception
    assert at.markdown[0].value == "**2건의 변경**"
    assert sorted(grid_column(at, "기능 코드", "fmw-changes")) == ["PAY-001", "REC-003"]
    at.multiselect(key="changes_kinds").select("deactivated").run()
    assert grid_column(at, "기능 코드", "fmw-changes") == ["REC-003"]
    assert at.query_params["kind"] == "deactivated"


def test_changes_search_finds_codes_in_any_width_and_case_search_after_search(
    published: Path,
):
    at = open_page("changes", since="2026-11-01")
    at.text_input(key="changes_q").input("ｐａｙ").run()  # full width, lower case
    assert grid_column(at, "기능 코드", "fmw-changes") == ["PAY-001"]
    assert grid_column(at, "기능명", "fmw-changes") == ["기본 결제"]
    at.text_input(key="changes_q").input("rec-003").run()  # the codes' keys, kept, again
    assert grid_column(at, "기능 코드", "fmw-changes") == ["REC-003"]
    assert at.query_params["q"] == "rec-003"


def test_changes_since_a_later_date_is_empty(published: Path):
    at = open_page("changes", since="2026-11-27")
    assert at.markdown[0].value == "**0건의 변경**"
    assert at.info[0].value == "조건에 맞는 변경이 없습니다."


def test_a_failed_sync_from_the_scheduler_status_is_an_error_above_the_data(published: Path):
    status = {
        "format_version": 1,
        "jobs": [
            {
                "jobid": 1,
                "command": "fmw:sync",
                "active": True,
                "last_run": {
                    "status": "failed",
                    "end_time": "2099-01-01T06:05:00+09:00",
                    "return_message": "source ops_team: no file matches",
                },
            }
        ],
    }
    (published / "scheduler-status.json").write_text(json.dumps(status), encoding="utf-8")
    at = app().run()
    error = at.error[0].value
    assert "마지막 동기화" in error and "source ops_team: no file matches" in error
    assert metrics(at)["전체 레코드"] == "8", "the data is still shown"


# --------------------------------------------------------------------------- issue 12


def test_problem_1_filters_keep_values_when_counts_change_and_the_url_holds_values(
    published: Path,
):
    """/explore → 적용 → KR → 내림차순, then searches: the selection stays the value."""
    at = open_page("explore")
    at.multiselect(key="explore_f_status").set_value(["enabled"]).run()
    assert at.query_params["status"] == "enabled"
    at.multiselect(key="explore_f_region").set_value(["KR"]).run()
    at.toggle(key="explore_desc").set_value(True).run()
    assert not at.exception
    assert at.multiselect(key="explore_f_status").value == ["enabled"]
    assert grid_column(at, "기능 코드") == ["PAY-001"]
    assert at.query_params == {"status": "enabled", "region": "KR", "desc": "1"}
    at.multiselect(key="explore_f_region").set_value([]).run()
    for text, expected in (("PAY", ["PAY-001"]), ("NOTI", ["NOTI-007"])):
        at.text_input(key="explore_q").input(text).run()
        assert at.multiselect(key="explore_f_status").value == ["enabled"]
        assert grid_column(at, "기능 코드") == expected, text
    shared = open_page("explore", **at.query_params)
    assert grid(shared).ids == grid(at).ids, "a link shared after that shows the same rows"


def test_problem_2_a_records_way_back_is_the_exact_view(published: Path):
    view_params = {"q": "pay", "status": "disabled", "sort": "region", "size": "50"}
    at = open_page("explore", **view_params)
    [link] = {href for href in grid(at).links[0] if href.startswith("record?")}
    back = parse_qs(urlsplit(link).query)["back"][0]
    assert parse_qs(urlsplit(back).query) == {k: [v] for k, v in view_params.items()}
    record = open_page("record", id=identity("a2"), back=back)
    body = html_bodies(record)
    assert f'<a href="{escape(back)}" target="_self">← 결과로 돌아가기</a>' in body
    again = open_page("explore", **{k: v[0] for k, v in parse_qs(urlsplit(back).query).items()})
    assert grid(again).ids == grid(at).ids
    foreign = open_page("record", id=identity("a2"), back="https://evil.example/explore")
    way_back = re.search(r'<p class="fmw-back"><a href="([^"]*)"', html_bodies(foreign))
    assert way_back and way_back.group(1) == "explore", "never a link to another site"


def test_problem_3_the_table_sorts_the_whole_result_by_a_header_and_shows_chosen_columns(
    published: Path,
):
    at = open_page("explore", size="50", listed="all")
    assert not at.dataframe, "no grid component: no page-only sort or download"
    parsed = grid(at)
    owner = next(h for h in parsed.header_links if "sort=owner" in h)
    assert parse_qs(urlsplit(owner).query) == {"size": ["50"], "listed": ["all"], "sort": ["owner"]}
    sorted_view = open_page(
        "explore", **{k: v[0] for k, v in parse_qs(urlsplit(owner).query).items()}
    )
    assert grid_column(sorted_view, "담당자")[:2] == ["강하은", "김민준"]
    assert grid_column(sorted_view, "담당자")[-1] == "", "blank last, and blank (never None)"
    again = next(h for h in grid(sorted_view).header_links if "sort=owner" in h)
    assert "desc=1" in again, "a second click reverses"
    chosen = open_page("explore", cols="feature_code,effective_to,note")
    assert grid(chosen).headers == ["기능 코드", "종료일", "비고"]
    assert "None" not in " ".join(" ".join(r) for r in grid(chosen).rows)
    assert chosen.query_params["cols"] == "feature_code,effective_to,note"


def test_problem_5_a_korean_page_shows_no_known_leak_nor_a_raw_code(
    published: Path, tmp_path: Path
):
    (tmp_path / "fmw.toml").write_text(SOURCE_NAMES, encoding="utf-8")
    pages = [
        ("home", {}),
        ("explore", {"listed": "all", "cols": ",".join(search.TABLE_COLUMNS)}),
        ("explore", {"asof": "2026-11-21", "compare": "2026-11-19", "listed": "all"}),
        ("matrix", {"listed": "all"}),
        ("record", {"id": identity("a1")}),
        ("record", {"id": identity("a4")}),
        ("changes", {"since": "2026-11-01"}),
    ]
    for page, query in pages:
        at = open_page(page, **query)
        if page == "explore":  # the popovers draw their widgets only while open
            at.session_state["explore_view_menu"] = True
            at.session_state["explore_time_menu"] = True
            at.run()
            assert at.selectbox(key="explore_size").label == "쪽당 행 수"
        assert not at.exception, (page, at.exception)
        words = visible_text(at)
        found = sorted(
            {leak for leak in LEAKS if re.search(rf"(?<![\w.]){re.escape(leak)}(?![\w.])", words)}
        )
        assert found == [], f"{page} {query}: {found}"
        if page in ("record", "changes"):
            assert "팀 현황" in words, f"{page}: sources by their display names"


def test_problem_5_status_and_source_lists_do_not_read_alike(published: Path):
    at = open_page("record", id=identity("a4"))
    line = next(h.proto.body for h in at.get("html") if "소스 목록" in h.proto.body)
    assert "폐기" in line and "소스 목록: 빠짐" in line, "not 상태: 폐기 · 활성: 예"
    assert "활성" not in visible_text(at)


def test_problem_5_browser_tabs_are_titled_by_page(
    published: Path, monkeypatch: pytest.MonkeyPatch
):
    titles: list[str | None] = []
    original = streamlit.set_page_config

    def recording(*args: object, **kwargs: object) -> None:
        titles.append(kwargs.get("page_title"))  # type: ignore[arg-type]
        original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(streamlit, "set_page_config", recording)
    for page, title in (("explore", "FMW · 검색"), ("matrix", "FMW · 현황표")):
        titles.clear()
        open_page(page)
        assert titles[-1] == title
    titles.clear()
    app(lang="en").switch_page("app_pages/changes.py").run()
    assert titles[-1] == "FMW · Changes"


def test_problem_6_changes_say_what_changed_with_the_feature_name_and_source(
    published: Path, tmp_path: Path
):
    (tmp_path / "fmw.toml").write_text(SOURCE_NAMES, encoding="utf-8")
    at = open_page("changes", since="2026-11-01")
    rows = {row["기능 코드"]: row for row in grid_rows(at, "fmw-changes")}
    assert rows["PAY-001"]["기능명"] == "기본 결제"
    assert rows["PAY-001"]["바뀐 내용"] == "담당자: 이서연 → 김민준상태: 미적용 → 적용"
    assert rows["PAY-001"]["소스"] == "플랫폼팀 현황"
    assert rows["REC-003"]["바뀐 내용"] == "소스 목록: 있음 → 빠짐"
    assert rows["REC-003"]["변경"] == "소스에서 빠짐"


def test_problem_6_homes_numbers_bars_and_rows_open_the_filtered_views(published: Path):
    body = html_bodies(app().run())
    links = re.findall(r'<a class="fmw-go" href="([^"]+)"', body)
    assert [unescape(link) for link in links] == [
        "explore?listed=all",
        "explore",
        "explore?listed=no",
        "explore?has_conflict=true&listed=all",
        "changes?since=2026-11-26",
    ]
    assert '<a href="explore?status=enabled&amp;listed=all" target="_self">적용</a>' in body
    assert (
        '<a href="explore?team=%EA%B2%B0%EC%A0%9C%EA%B0%9C%EB%B0%9C%ED%8C%80&amp;listed=all"'
        in body
    )
    assert f'href="record?id={identity("a1")}&amp;back=.%2F"' in body, "a latest change opens"
    for link in links[:4]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(unescape(link)).query).items()}
        at = open_page("explore", **query)
        assert not at.exception
    conflicts = open_page("explore", has_conflict="true", listed="all")
    assert grid_column(conflicts, "기능 코드") == ["PAY-001"]
    dropped = open_page("explore", listed="no")
    assert grid_column(dropped, "기능 코드") == ["REC-003"]


def test_the_matrix_shows_statuses_by_region_and_platform_and_opens_the_record(published: Path):
    at = open_page("matrix", status="enabled")
    assert not at.exception
    parsed = grid(at, "fmw-matrix")
    assert [row[0] for row in parsed.rows] == ["CART-006", "NOTI-007", "PAY-001"]
    pay = parsed.rows[2]
    assert pay[parsed.headers.index("KRiOS")] == "적용"
    [link] = parsed.links[2]
    assert link.startswith(f"record?id={identity('a1')}&back=matrix%3Fstatus%3Denabled")
    past = open_page("matrix", asof="2026-11-21", q="PAY-001")
    cells = grid(past, "fmw-matrix").rows[0]
    assert "미적용" in cells[grid(past, "fmw-matrix").headers.index("KRiOS")]


def test_explore_as_of_a_day_and_compared_with_another(published: Path):
    at = open_page("explore", asof="2026-11-21", q="PAY-001")
    assert {row["지역"]: row["상태"] for row in grid_rows(at)} == {"JP": "미적용", "KR": "미적용"}
    compared = open_page("explore", compare="2026-11-21", listed="all")
    rows = {row["기능 코드"]: row for row in grid_rows(compared)}
    assert sorted(rows) == ["PAY-001", "REC-003"]
    assert rows["PAY-001"]["상태"] == "미적용 → 적용"
    assert rows["PAY-001"]["담당자"] == "이서연 → 김민준"
    assert rows["REC-003"]["다른 열의 변화"] == "소스 목록: 있음 → 빠짐", "a column not shown"
    new = open_page("explore", compare="2026-11-19", q="PAY-001", region="KR")
    assert grid_rows(new)[0]["다른 열의 변화"] == "그날에는 없던 레코드"


def test_page_scripts_hold_no_bare_string_that_streamlit_magic_would_draw():
    """Streamlit draws a page script's bare module-level literals ("magic"): an attribute
    docstring there is text on the page (the Record page once showed one)."""
    for script in sorted((APP.parent / "app_pages").glob("*.py")):
        tree = ast.parse(script.read_text(encoding="utf-8"))
        bare = [
            node.lineno
            for node in tree.body[1:]  # the module docstring is not drawn
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        ]
        assert bare == [], f"{script.name}: line(s) {bare}"


def test_a_search_typed_on_the_default_view_is_ranked(published: Path):
    at = open_page("explore")
    at.text_input(key="explore_q").input("결제").run()
    assert "sort" not in at.query_params, "the sort nobody chose follows the text"
    assert grid_column(at, "기능 코드") == ["PAY-001", "PAY-001", "NOTI-007"]
    at.selectbox(key="explore_sort").set_value("owner").run()
    assert at.query_params["sort"] == "owner"
    at.text_input(key="explore_q").input("김").run()
    assert at.query_params["sort"] == "owner", "a chosen sort stays chosen"


# --------------------------------------------------------------------------- view helpers


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize("back", [None, "", "explore?q=결제 kr&status=enabled&cols=a,b"])
def test_a_record_link_is_encoded_as_any_page_link(language: str, back: str | None):
    """record_href encodes the part every row shares once; the link must not change."""
    streamlit.session_state[view.LANG_KEY] = language
    identity_hash = "0f" * 32
    expected = view.page_href(
        "record", {"id": [identity_hash], **({"back": [back]} if back else {})}
    )
    assert view.record_href(identity_hash, back) == expected
    assert ("lang=en" in expected) == (language == "en")


def test_settings_are_read_again_when_the_file_or_an_fmw_variable_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    toml = tmp_path / "fmw.toml"
    toml.write_text("keep_generations = 3\n", encoding="utf-8")
    monkeypatch.setenv("FMW_SETTINGS", str(toml))
    monkeypatch.delenv("FMW_KEEP_GENERATIONS", raising=False)
    first = view.settings()
    assert first.keep_generations == 3
    assert view.settings() is first, "unchanged: not parsed again"
    toml.write_text("keep_generations = 12\n", encoding="utf-8")
    assert view.settings().keep_generations == 12
    monkeypatch.setenv("FMW_KEEP_GENERATIONS", "7")
    assert view.settings().keep_generations == 7
