"""Explore's view can never drift from its URL (issue 12, "filters and URLs that cannot drift").

Hypothesis draws sequences of filter, search, sort, page, source-list and language
changes; each is made through Streamlit's ``AppTest`` the way a person makes it
(widgets; a language change is the language link: the same URL opened anew in the
other language). After every step the rows shown must equal

* the rows of the same URL opened fresh in a new session, and
* a plain reference over the snapshot's records (``reference_rows``: row by row,
  in Python, from the rules the page promises), page for page and in order.

A sensible number of examples keeps CI fast (``EXAMPLES``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from fmw.ui import display, search
from fmw.ui.normalize import code_key, search_key
from tests.support.ui_pages import APP, TIMEOUT, grid
from tests.support.ui_snapshot import publish_fixture, wide_fixture

EXAMPLES = 12
FIXTURE = wide_fixture()
RECORDS = [{k: ("" if v is None else v) for k, v in record.items()} for record in FIXTURE.records]
TEXTS = [
    "",
    "pay",
    "결제",
    "owner:김",
    "pay013",
    "ＰＡＹ－０１３",
    "kr web",
    "팀:운영",
    "qa 완료",
    "zz",
]
SORTS = ["", search.RELEVANCE, "feature_code", "owner", "team", "status", "effective_from"]
FILTERED = ("status", "region", "team")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("property")
    publish_fixture(folder / "snapshots", FIXTURE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FMW_SNAPSHOT_DIR", str(folder / "snapshots"))
        patch.chdir(folder)
        yield folder


# --------------------------------------------------------------------------- the reference


def _tier(record: dict[str, object], term: search.Term) -> int:
    best = search.NO_MATCH
    for name in term.fields:
        value = str(record[name])
        if name in ("feature_code", "policy_code") and term.code:
            key = code_key(value)
            if key == term.code:
                best = min(best, 0)
            elif key.startswith(term.code):
                best = min(best, 1)
            elif term.code in key:
                best = min(best, 2)
        elif term.key in search_key(value):
            best = min(best, 3 if name in ("feature_name", "policy_name") else 4)
    return best


def reference_rows(query: search.Query) -> list[str]:
    """The identities a query's page shows, computed row by row from the records."""
    terms = search.parse_terms(query.text)
    kept = []
    for record in RECORDS:
        if query.listed == "yes" and not record["is_active"]:
            continue
        if query.listed == "no" and record["is_active"]:
            continue
        if any(
            values and str(record[name]) not in values for name, values in query.filters.items()
        ):
            continue
        tiers = [_tier(record, term) for term in terms]
        if any(t >= search.NO_MATCH for t in tiers):
            continue
        kept.append((record, sum(tiers)))
    identity = ("feature_code", "policy_code", "region", "platform")
    kept.sort(key=lambda pair: tuple((pair[0][n] == "", str(pair[0][n])) for n in identity))
    sort = query.effective_sort
    if sort == search.RELEVANCE:
        kept.sort(key=lambda pair: -pair[1] if query.descending else pair[1])
    elif sort != "feature_code" or query.descending:
        present = [p for p in kept if p[0][sort] != ""]
        missing = [p for p in kept if p[0][sort] == ""]
        present.sort(key=lambda pair: str(pair[0][sort]), reverse=query.descending)
        kept = present + missing
    pages = max(1, -(-len(kept) // query.page_size))
    page = min(query.page, pages)
    start = (page - 1) * query.page_size
    return [str(r["identity_hash"]) for r, _ in kept[start : start + query.page_size]]


# --------------------------------------------------------------------------- the steps


def opened(params: dict[str, str]) -> AppTest:
    """The Explore page of a URL, in a new session (as a pasted link or a page load)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    at.switch_page("app_pages/explore.py").run()
    assert not at.exception, at.exception
    return at


def _value_of(name: str, label: str, lang: str) -> str:
    reader = display.Reader(lang=lang)
    return next(str(r[name]) for r in RECORDS if (reader.cell(name, r[name]) or "") == label)


def apply(at: AppTest, step: tuple[object, ...]) -> AppTest:
    kind = step[0]
    lang = at.query_params.get("lang", "ko")
    if kind == "filter":
        _, name, pick = step
        widget = at.multiselect(key=f"explore_f_{name}")
        if pick < 0 or not widget.options:
            widget.set_value([])
        else:
            label = widget.options[int(pick) % len(widget.options)]  # type: ignore[call-overload]
            widget.set_value([_value_of(str(name), label, str(lang))])
    elif kind == "search":
        at.text_input(key="explore_q").input(str(step[1]))
    elif kind == "sort":
        _, column, descending = step
        if column:
            at.selectbox(key="explore_sort").set_value(column)
        at.toggle(key="explore_desc").set_value(bool(descending))
    elif kind == "page":
        widget = at.number_input(key="explore_page")
        widget.set_value(min(int(step[1]), int(widget.max)))  # type: ignore[call-overload]
    elif kind == "size":
        at.session_state["explore_view_menu"] = True  # drawn only while its popover is open
        at.run()
        at.selectbox(key="explore_size").set_value(step[1])
    elif kind == "listed":
        at.button_group(key="explore_listed").set_value(step[1])
    elif kind == "lang":
        params = {k: v for k, v in at.query_params.items() if k != "lang"}
        if step[1] != "ko":
            params["lang"] = str(step[1])
        return opened(params)
    at.run()
    assert not at.exception, at.exception
    return at


steps = st.lists(
    st.one_of(
        st.tuples(st.just("filter"), st.sampled_from(FILTERED), st.integers(-1, 5)),
        st.tuples(st.just("search"), st.sampled_from(TEXTS)),
        st.tuples(st.just("sort"), st.sampled_from(SORTS), st.booleans()),
        st.tuples(st.just("page"), st.integers(1, 4)),
        st.tuples(st.just("size"), st.sampled_from([25, 50])),
        st.tuples(st.just("listed"), st.sampled_from(search.LISTED)),
        st.tuples(st.just("lang"), st.sampled_from(["ko", "en"])),
    ),
    min_size=1,
    max_size=6,
)


@given(steps)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_rows_shown_are_the_urls_rows_after_every_step(root: Path, steps: list[tuple]):  # type: ignore[type-arg]
    at = opened({"size": "25"})
    for step in steps:
        at = apply(at, step)
        params = dict(at.query_params)
        shown = grid(at).ids
        assert grid(opened(params)).ids == shown, f"{step}: the same URL opened fresh"
        query = search.Query.from_params({k: v for k, v in params.items() if k != "lang"})
        assert shown == reference_rows(query), f"{step}: the reference ({params})"


def test_the_reference_agrees_with_itself_on_a_known_case(root: Path):
    """The oracle is right where it is easy to check by hand."""
    assert len(RECORDS) == 72 and os.environ["FMW_SNAPSHOT_DIR"]
    ids = reference_rows(search.Query(text="pay001", listed="all"))
    assert ids[:2] == ["a2" * 32, "a1" * 32], "PAY-001 exactly, JP before KR"
    assert grid(opened({"q": "pay001", "listed": "all"})).ids[:2] == ids[:2]
