"""The dashboard's plain modules (no Streamlit): normalization, the CSV guard, loading, search.

The snapshot comes from tests/support/ui_snapshot.py, published into a temporary folder.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import unicodedata
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmw.errors import NoSnapshotError, SnapshotError
from fmw.snapshot.generations import publish_generation
from fmw.ui import as_of, cells, matrix, normalize, search
from fmw.ui.snapshot_data import (
    Snapshot,
    SnapshotFileError,
    document_changes,
    field_changes,
    load_snapshot,
)
from tests.support import identity_reference as ref
from tests.support.ui_snapshot import DOC_FIELDS, default_fixture, identity, publish_fixture

text = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cn"), include_characters="\u200b\ufeff"),
    max_size=20,
)


@pytest.fixture
def snapshot(tmp_path: Path) -> Snapshot:
    publish_fixture(tmp_path)
    return load_snapshot(tmp_path)[0]


def codes(result: search.SearchResult) -> list[str]:
    return result.rows["feature_code"].to_pylist()


# --------------------------------------------------------------------------- normalize


@given(text)
@settings(max_examples=300, deadline=None)
def test_key_part_equals_the_documented_reference(value: str):
    assert normalize.key_part(value) == ref.key_part(value)


@given(st.lists(text, max_size=8))
@settings(max_examples=150, deadline=None)
def test_the_vectorized_search_key_equals_the_python_one(values: list[str]):
    column = pa.array([*values, None], type=pa.string())
    assert normalize.search_key_array(column).to_pylist() == [
        normalize.search_key(v) for v in [*values, None]
    ]


def test_search_terms_are_case_width_space_and_form_insensitive():
    decomposed = unicodedata.normalize("NFD", "결제")
    assert normalize.search_terms(f"  ＰＡＹ－００１\u3000{decomposed}\u200b ") == [
        "pay-001",
        "결제",
    ]
    assert normalize.search_terms("a\x1fb") == ["ab"], "control characters are removed"
    assert normalize.search_terms(" \t ") == []


# --------------------------------------------------------------------------- the CSV guard


@pytest.mark.parametrize(
    ("shown", "stored"),
    [("=1+2", "'=1+2"), ("-x", "'-x"), ("@a", "'@a"), ("\tx", "'\tx"), ("abc", "abc"), ("", "")],
)
def test_guard_and_unguard_are_inverse(shown: str, stored: str):
    assert cells.guard(shown) == stored
    assert cells.unguard(stored) == shown
    assert cells.guard_array(pa.array([shown])).to_pylist() == [stored]
    assert cells.unguard_array(pa.array([stored, None])).to_pylist() == [shown, None]


# --------------------------------------------------------------------------- loading


def test_a_mapped_generation_and_a_csv_one_give_the_same_records(tmp_path: Path):
    publish_fixture(tmp_path / "mapped")
    publish_fixture(tmp_path / "csv", mapped=False)  # format 1, as exports were before
    mapped, _ = load_snapshot(tmp_path / "mapped")
    from_csv, _ = load_snapshot(tmp_path / "csv")
    assert "records.identity_hash.arrow" in mapped.generation.files
    assert "current_records.csv" not in mapped.generation.files
    assert "records.identity_hash.arrow" not in from_csv.generation.files
    assert mapped.records.to_pylist() == from_csv.records.to_pylist()
    for short in ("a1", "a4", "a8"):
        assert (
            mapped.history(identity(short)).to_pylist()
            == from_csv.history(identity(short)).to_pylist()
        )
    assert mapped.changes().to_pylist() == from_csv.changes().to_pylist()


def test_text_is_shown_without_the_guard_and_missing_text_is_empty(snapshot: Snapshot):
    record = snapshot.record(identity("a1"))
    assert record is not None
    assert record["note"] == '=HYPERLINK("http://x")'
    assert snapshot.record(identity("a3"))["note"] == "- 단계적 배포 중"  # type: ignore[index]  # None fails
    assert snapshot.record(identity("a4"))["owner"] == ""  # type: ignore[index]  # None fails
    assert snapshot.record("0" * 64) is None


def test_no_snapshot_yet_is_its_own_error(tmp_path: Path):
    with pytest.raises(NoSnapshotError, match="fmw demo"):
        load_snapshot(tmp_path)


def test_a_missing_column_is_named(tmp_path: Path):
    def write(folder: Path) -> dict[str, int]:
        for name in ("current_records", "home_summary", "recent_changes", "conflicts"):
            (folder / f"{name}.csv").write_bytes(b"\xef\xbb\xbfidentity_hash\n")
        return dict.fromkeys(
            ("current_records.csv", "home_summary.csv", "recent_changes.csv", "conflicts.csv"), 0
        )

    publish_generation(tmp_path, write, batches=[])
    with pytest.raises(SnapshotError, match=r"current_records\.csv has no column feature_code"):
        load_snapshot(tmp_path)


def test_history_before_and_after_become_field_changes(snapshot: Snapshot):
    rows = snapshot.history(identity("a1")).to_pylist()
    assert [r["change"] for r in rows] == ["inserted", "updated"]
    changed = field_changes(rows[1]["before"], rows[1]["after"])
    assert [(c.field, c.before, c.after) for c in changed] == [
        ("owner", "이서연", "김민준"),
        ("status", "disabled", "enabled"),
    ]
    inserted = field_changes(None, rows[0]["after"])
    assert {c.field for c in inserted} == set(DOC_FIELDS), "every field core.history_doc sets"


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pay-001", ["PAY-001", "PAY-001"]),
        ("ＰＡＹ－００１ kr", ["PAY-001"]),
        ("기본결제", ["PAY-001", "PAY-001"]),
        (unicodedata.normalize("NFD", "장바구니"), ["CART-006"]),
        ("로그", ["LOGIN-002"]),
        ("김민준", ["NOTI-007", "PAY-001"]),
        ("운영팀 보류", []),  # status_raw is not searched
        ("법무", ["CART-006"]),
    ],
)
def test_free_text_search(snapshot: Snapshot, query: str, expected: list[str]):
    assert codes(search.run_search(snapshot, search.Query(text=query))) == expected


def test_a_term_never_matches_across_two_fields(snapshot: Snapshot):
    # feature_name "기본 결제" then policy_name "개인정보 보호": "결제개인" spans both.
    assert search.run_search(snapshot, search.Query(text="결제개인")).total == 0


def test_facets_filter_and_count_under_the_other_filters(snapshot: Snapshot):
    query = search.Query(filters={"region": ("KR",)})
    result = search.run_search(snapshot, query)
    assert codes(result) == ["CHAT-005", "PAY-001", "SRCH-004"]
    assert {f.value: f.count for f in result.facets["region"]} == {
        "KR": 3,
        "JP": 2,
        "US": 2,
    }, "region counts ignore the region filter but follow the listed filter (REC-003 hidden)"
    assert result.hidden == 0, "the one record no source lists is not in KR"
    everything = search.run_search(snapshot, search.Query())
    assert (everything.total, everything.hidden) == (7, 1)
    dropped = search.run_search(snapshot, search.Query(listed="no"))
    assert codes(dropped) == ["REC-003"]
    assert search.run_search(snapshot, search.Query(listed="all")).total == 8


def test_a_selected_value_that_no_longer_exists_is_still_listed(snapshot: Snapshot):
    result = search.run_search(snapshot, search.Query(filters={"team": ("없는팀",)}))
    assert result.total == 0
    assert search.FacetCount("없는팀", 0) in result.facets["team"]


def test_sorting_puts_missing_values_last_both_ways(snapshot: Snapshot):
    up = search.run_search(snapshot, search.Query(sort="owner", listed="all"))
    down = search.run_search(snapshot, search.Query(sort="owner", descending=True, listed="all"))
    assert up.rows["owner"].to_pylist()[-1] == ""
    assert down.rows["owner"].to_pylist()[-1] == ""
    assert up.rows["owner"].to_pylist()[:2] == ["강하은", "김민준"]
    assert down.rows["owner"].to_pylist()[0] == "최수아"


def test_pages_are_cut_and_clamped(snapshot: Snapshot):
    result = search.run_search(snapshot, search.Query(page=99, page_size=25))
    assert (result.page, result.pages, result.rows.num_rows) == (1, 1, 7)
    orders = [search.run_search(snapshot, search.Query(sort="team")).order for _ in range(2)]
    assert np.array_equal(*orders)


def test_query_survives_the_url_and_ignores_rubbish():
    query = search.Query(
        text="결제 KR", filters={"status": ("enabled", "pilot")}, sort="team", descending=True,
        page=3, page_size=100, listed="all", columns=("feature_code", "note"),
        as_of=dt.date(2026, 11, 21), compare=dt.date(2026, 11, 1),
    )  # fmt: skip
    assert search.Query.from_params(query.to_params()) == query
    assert query.to_params()["status"] == ["enabled", "pilot"], "values, never labels"
    assert search.Query().to_params() == {}
    odd = search.Query.from_params(
        {"sort": "DROP", "page": "-1", "size": "7", "desc": "x", "colour": "red", "q": "x" * 999,
         "listed": "maybe", "cols": "nope,,note", "asof": "2026-13-01"}
    )  # fmt: skip
    assert (odd.sort, odd.page, odd.page_size, odd.descending) == (
        "",
        1,
        search.DEFAULT_PAGE_SIZE,
        False,
    )
    assert (odd.listed, odd.columns, odd.as_of) == ("yes", ("note",), None)
    assert len(odd.text) == search.MAX_QUERY_LENGTH
    assert odd.effective_sort == search.RELEVANCE, "a text without a chosen sort: ranked"
    assert search.Query().effective_sort == "feature_code"


# --------------------------------------------------------------------------- boundaries


def test_the_dashboard_modules_never_import_a_database_driver():
    code = (
        "import sys, fmw.ui.view, fmw.ui.search, fmw.ui.downloads, fmw.ui.overview; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'sqlalchemy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fixture_has_the_rows_tests_count_on():
    fixture = default_fixture()
    assert len(fixture.records) == 8
    assert sum(r["is_active"] for r in fixture.records) == 7


def test_the_dashboard_hashes_the_small_files_at_once_and_a_mapped_one_when_it_reads_it():
    from fmw.ui.snapshot_data import files_read

    names = ["records.identity_hash.arrow", "history.000000000001.arrow", "home_summary.csv"]
    assert files_read(names) == ["home_summary.csv"]
    assert files_read(["current_records.csv"]) == ["current_records.csv"], "format 1: all"


# --------------------------------------------------------------------------- issue 12: search


@given(st.lists(text, max_size=8))
@settings(max_examples=100, deadline=None)
def test_the_vectorized_code_key_equals_the_python_one(values: list[str]):
    column = pa.array([*values, None], type=pa.string())
    assert normalize.code_key_array(column).to_pylist() == [
        normalize.code_key(v) for v in [*values, None]
    ]


def _with_records(tmp_path: Path, extra: list[dict[str, object]]) -> Snapshot:
    fixture = default_fixture()
    template = fixture.records[6]  # CART-006, listed
    for number, values in enumerate(extra):
        fixture.records.append({**template, "identity_hash": f"{number:064x}", **values})
    publish_fixture(tmp_path, fixture)
    return load_snapshot(tmp_path)[0]


def test_problem_4_search_ranks_exact_code_then_prefix_then_code_then_name_then_other(
    tmp_path: Path,
):
    snapshot = _with_records(
        tmp_path,
        [
            {"feature_code": "ZZ-9", "note": "see PAY001"},  # another field
            {"feature_code": "ZZ-8", "feature_name": "pay001 확장"},  # a name
            {"feature_code": "XPAY-001"},  # a code containing it
            {"feature_code": "PAY-0012"},  # a code starting with it
        ],
    )
    result = search.run_search(snapshot, search.Query(text="pay001"))
    assert codes(result) == ["PAY-001", "PAY-001", "PAY-0012", "XPAY-001", "ZZ-8", "ZZ-9"]
    by_code = search.run_search(snapshot, search.Query(text="pay001", sort="feature_code"))
    assert codes(by_code)[:3] == ["PAY-001", "PAY-001", "PAY-0012"], "a chosen sort wins"


@pytest.mark.parametrize("query", ["pay001", "PAY001", "ＰＡＹ－００１", "pay_001", "Pay.001"])
def test_problem_4_codes_match_with_or_without_separators_in_any_width_or_case(
    snapshot: Snapshot, query: str
):
    assert codes(search.run_search(snapshot, search.Query(text=query))) == ["PAY-001", "PAY-001"]


def test_problem_4_names_come_before_a_team_that_only_contains_the_word(snapshot: Snapshot):
    result = search.run_search(snapshot, search.Query(text="결제"))
    assert codes(result) == ["PAY-001", "PAY-001", "NOTI-007"], "기본 결제 before 결제개발팀"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("owner:김", ["NOTI-007", "PAY-001"]),
        ("담당자:김민준", ["NOTI-007", "PAY-001"]),
        ("team:결제", ["NOTI-007", "PAY-001"]),
        ("팀：플랫폼", ["CART-006", "PAY-001"]),  # a full-width colon
        ("code:pol005", ["CHAT-005"]),
        ("note:법무", ["CART-006"]),
        ("owner:결제", []),  # 결제 is in names and teams, never in an owner
    ],
)
def test_problem_4_a_scope_limits_a_term_to_one_field(
    snapshot: Snapshot, query: str, expected: list[str]
):
    assert codes(search.run_search(snapshot, search.Query(text=query))) == expected


def test_problem_4_inactive_records_are_hidden_by_default_and_counted(snapshot: Snapshot):
    result = search.run_search(snapshot, search.Query(text="추천"))
    assert (result.total, result.hidden) == (0, 1), "REC-003 is no longer listed by a source"
    shown = search.run_search(snapshot, search.Query(text="추천", listed="all"))
    assert (codes(shown), shown.hidden) == (["REC-003"], 0)


# --------------------------------------------------------------------------- issue 12: past days


SEOUL = ZoneInfo("Asia/Seoul")


def test_a_past_day_shows_the_older_status_rebuilt_from_history(snapshot: Snapshot):
    before = as_of.snapshot_at(snapshot, dt.date(2026, 11, 21), SEOUL)
    a1 = before.record(identity("a1"))
    assert a1 is not None and (a1["status"], a1["owner"]) == ("disabled", "이서연")
    a4 = before.record(identity("a4"))
    assert a4 is not None and a4["is_active"] is True, "REC-003 was still listed then"
    assert before.record(identity("a2"))["status"] == "disabled"  # type: ignore[index]
    assert search.run_search(before, search.Query()).total == 8
    enabled = search.run_search(before, search.Query(filters={"status": ("enabled",)}))
    assert sorted(codes(enabled)) == ["CART-006", "NOTI-007"], "a filter sees the past value"
    assert as_of.snapshot_at(snapshot, dt.date(2026, 11, 21), SEOUL) is before, "shared"


def test_a_past_day_is_known_built_once_built_and_per_day(snapshot: Snapshot):
    """The dashboard shows a spinner naming the day only while a view is not built yet."""
    day = dt.date(2026, 11, 21)
    assert not as_of.is_built(snapshot, day, SEOUL)

    as_of.snapshot_at(snapshot, day, SEOUL)

    assert as_of.is_built(snapshot, day, SEOUL)
    assert not as_of.is_built(snapshot, day - dt.timedelta(days=1), SEOUL), "another day"
    assert not as_of.is_built(snapshot, day, ZoneInfo("UTC")), "another day's end elsewhere"


def test_before_the_first_load_nothing_exists_and_after_the_last_nothing_changed(
    snapshot: Snapshot,
):
    empty = as_of.snapshot_at(snapshot, dt.date(2026, 11, 19), SEOUL)
    assert search.run_search(empty, search.Query(listed="all")).total == 0
    assert as_of.snapshot_at(snapshot, dt.date(2026, 11, 27), SEOUL) is snapshot


def test_past_documents_are_read_at_once_and_a_missing_key_is_not_a_null():
    texts = pa.array(
        ['{"owner": null, "status": "enabled", "is_active": true}', '{"status": "disabled"}']
    )
    table = as_of._documents(texts)
    assert table.column("status").to_pylist() == ["enabled", "disabled"]
    assert table.column("is_active").to_pylist() == [True, None]
    owner = table.column("owner").combine_chunks()
    assert as_of._holds(texts, owner, "owner").tolist() == [True, False], "null, then no key"


@pytest.mark.parametrize("text", ['{"status": ', "[1, 2]", '{"is_active": "yes"}'])
def test_a_broken_past_document_names_the_history_file(text: str):
    with pytest.raises(SnapshotFileError, match="record_history: a before cell"):
        as_of._documents(pa.array([text]))


def test_what_differs_between_two_days(snapshot: Snapshot):
    before = as_of.snapshot_at(snapshot, dt.date(2026, 11, 21), SEOUL)
    differs = as_of.differing(before, snapshot)
    rows = np.flatnonzero(differs)
    assert sorted(snapshot.records["feature_code"].take(pa.array(rows)).to_pylist()) == [
        "PAY-001",
        "REC-003",
    ]
    changed = as_of.changed_columns(before, snapshot, rows)
    assert sorted(map(sorted, changed)) == [["is_active"], ["owner", "status"]]
    result = search.run_search(snapshot, search.Query(listed="all"), only=differs)
    assert codes(result) == ["PAY-001", "REC-003"]


def test_change_documents_give_before_and_after_of_each_change(snapshot: Snapshot):
    changes = snapshot.changes()
    updated = changes.filter(pc.equal(changes["change"], "updated"))
    history_id = updated["history_id"][0].as_py()
    [(before, after)] = as_of.change_documents(snapshot, [history_id])
    assert before is not None
    assert (before["status"], after["status"]) == ("disabled", "enabled")
    assert (before["owner"], after["owner"]) == ("이서연", "김민준")


# --------------------------------------------------------------------------- issue 12: matrix


def test_the_matrix_has_a_line_per_feature_and_a_cell_per_region_and_platform(
    snapshot: Snapshot,
):
    grid = matrix.build(snapshot, search.run_search(snapshot, search.Query()).mask, "feature")
    assert [line.code for line in grid.lines] == [
        "CART-006", "CHAT-005", "LOGIN-002", "NOTI-007", "PAY-001", "SRCH-004",
    ]  # fmt: skip
    pay = next(line for line in grid.lines if line.code == "PAY-001")
    assert {pair: cell.statuses for pair, cell in pay.cells.items()} == {
        ("JP", "iOS"): (("disabled", 1),),
        ("KR", "iOS"): (("enabled", 1),),
    }
    assert pay.cells[("KR", "iOS")].identity == identity("a1")
    assert ("GLOBAL", "Android") not in grid.columns, "REC-003 is hidden: its column too"
    kr = search.run_search(snapshot, search.Query(filters={"region": ("KR",)})).mask
    assert [line.code for line in matrix.build(snapshot, kr).lines] == [
        "CHAT-005", "PAY-001", "SRCH-004",
    ]  # fmt: skip
    by_policy = matrix.build(snapshot, None, "policy")
    assert by_policy.lines[0].code == "POL-001"
    assert by_policy.lines[0].cells[("KR", "iOS")].records == 1


def test_a_matrix_cell_of_several_records_counts_their_statuses(tmp_path: Path):
    snapshot = _with_records(
        tmp_path,
        [
            {"feature_code": "CART-006", "policy_code": "POL-101", "status": "disabled"},
            {"feature_code": "CART-006", "policy_code": "POL-102", "status": "enabled"},
        ],
    )
    cart = next(line for line in matrix.build(snapshot, None).lines if line.code == "CART-006")
    cell = cart.cells[("US", "Android")]
    assert (cell.statuses, cell.records, cell.identity) == (
        (("enabled", 2), ("disabled", 1)),
        3,
        None,
    ), "three records: counted by status, no single record to open"


def test_the_matrix_groups_codes_written_differently(tmp_path: Path):
    snapshot = _with_records(tmp_path, [{"feature_code": "cart006", "region": "KR"}])
    grid = matrix.build(snapshot, None)
    cart = [line for line in grid.lines if line.code.lower().startswith("cart")]
    assert len(cart) == 1 and set(cart[0].cells) == {("US", "Android"), ("KR", "Android")}


def test_document_changes_read_parsed_documents_as_field_changes_reads_json():
    before = {"status": "enabled", "owner": "김", "note": None}
    after = {"status": "disabled", "owner": "김", "note": "x"}
    parsed = document_changes(before, after)
    assert [(c.field, c.before, c.after) for c in parsed] == [
        ("note", None, "x"),
        ("status", "enabled", "disabled"),
    ]
    assert parsed == field_changes(json.dumps(before), json.dumps(after))
    assert [c.field for c in document_changes(None, after)] == ["note", "owner", "status"]
