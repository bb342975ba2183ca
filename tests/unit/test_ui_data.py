"""The dashboard's plain modules (no Streamlit): normalization, the CSV guard, loading, search.

The snapshot comes from tests/support/ui_snapshot.py, published into a temporary folder.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmw.errors import NoSnapshotError, SnapshotError
from fmw.snapshot.generations import publish_generation
from fmw.ui import cells, normalize, search
from fmw.ui.snapshot_data import Snapshot, field_changes, load_snapshot
from tests.support import identity_reference as ref
from tests.support.ui_snapshot import default_fixture, identity, publish_fixture

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


def test_parquet_twin_and_csv_give_the_same_records(tmp_path: Path):
    publish_fixture(tmp_path / "twins")
    publish_fixture(tmp_path / "csv", twins=False)
    with_twins, _ = load_snapshot(tmp_path / "twins")
    from_csv, _ = load_snapshot(tmp_path / "csv")
    assert "current_records.parquet" in with_twins.generation.files
    assert "current_records.parquet" not in from_csv.generation.files
    assert with_twins.records.to_pylist() == from_csv.records.to_pylist()
    assert (
        with_twins.history(identity("a1")).to_pylist()
        == from_csv.history(identity("a1")).to_pylist()
    )


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
    assert {c.field for c in inserted} == {"feature_code", "status", "owner", "team", "note"}


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
    query = search.Query(filters={"region": ("KR",), "is_active": ("true",)})
    result = search.run_search(snapshot, query)
    assert codes(result) == ["CHAT-005", "PAY-001", "SRCH-004"]
    assert {f.value: f.count for f in result.facets["region"]} == {
        "KR": 3,
        "JP": 2,
        "US": 2,
    }, "region counts ignore the region filter but follow the active filter"
    assert {f.value: f.count for f in result.facets["is_active"]} == {"true": 3}


def test_a_selected_value_that_no_longer_exists_is_still_listed(snapshot: Snapshot):
    result = search.run_search(snapshot, search.Query(filters={"team": ("없는팀",)}))
    assert result.total == 0
    assert search.FacetCount("없는팀", 0) in result.facets["team"]


def test_sorting_puts_missing_values_last_both_ways(snapshot: Snapshot):
    up = search.run_search(snapshot, search.Query(sort="owner"))
    down = search.run_search(snapshot, search.Query(sort="owner", descending=True))
    assert up.rows["owner"].to_pylist()[-1] == ""
    assert down.rows["owner"].to_pylist()[-1] == ""
    assert up.rows["owner"].to_pylist()[:2] == ["강하은", "김민준"]
    assert down.rows["owner"].to_pylist()[0] == "최수아"


def test_pages_are_cut_and_clamped(snapshot: Snapshot):
    result = search.run_search(snapshot, search.Query(page=99, page_size=25))
    assert (result.page, result.pages, result.rows.num_rows) == (1, 1, 8)
    orders = [search.run_search(snapshot, search.Query(sort="team")).order for _ in range(2)]
    assert np.array_equal(*orders)


def test_query_survives_the_url_and_ignores_rubbish():
    query = search.Query(
        text="결제 KR", filters={"status": ("enabled", "pilot")}, sort="team", descending=True,
        page=3, page_size=100,
    )  # fmt: skip
    assert search.Query.from_params(query.to_params()) == query
    assert search.Query().to_params() == {}
    odd = search.Query.from_params(
        {"sort": "DROP", "page": "-1", "size": "7", "desc": "x", "colour": "red", "q": "x" * 999}
    )
    assert (odd.sort, odd.page, odd.page_size, odd.descending) == ("feature_code", 1, 50, False)
    assert len(odd.text) == search.MAX_QUERY_LENGTH


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


def test_the_dashboard_verifies_parquet_twins_instead_of_their_big_csvs():
    from fmw.ui.snapshot_data import files_read

    names = ["current_records.csv", "current_records.parquet", "home_summary.csv"]
    assert files_read(names) == ["current_records.parquet", "home_summary.csv"]
    assert files_read(["current_records.csv"]) == ["current_records.csv"], "no twin: the CSV"
