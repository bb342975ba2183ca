"""Integration tests of batch processing on a real PostgreSQL: from landed rows to core.record.

Each test lands small CSV files through ``load_file`` (or ``ops.register_batch`` plus
``tests.support.raw_rows`` directly) and checks one behaviour of ``core.process_batch``: counts,
normalization, rejects and row issues, upserts and history, the mass-deactivation guard,
all-or-nothing failure, source priorities and snapshot refresh bookkeeping.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fmw.errors import BatchError
from fmw.loader.landing import BatchResult, SourceSpec, load_file, reprocess_batch
from tests.support.raw_rows import land_raw_rows

SOURCE = "platform_team"
HEADER = (
    "Feature Code",
    "Feature Name",
    "Policy Code",
    "Region",
    "Platform",
    "Status",
    "Owner",
    "Start Date",
    "End Date",
)
KOREAN_HEADER = (
    "기능코드",
    "기능명",
    "정책코드",
    "국가",
    "플랫폼",
    "상태",
    "담당자",
    "시작일",
    "종료일",
)


def rec(
    code: str,
    *,
    name: str = "간편 결제",
    policy: str = "POL-001",
    region: str = "KR",
    platform: str = "iOS",
    status: str = "on",
    owner: str = "김민준",
    start: str = "2024-01-05",
    end: str = "",
) -> list[str]:
    """One source row in HEADER order."""
    return [code, name, policy, region, platform, status, owner, start, end]


def write_csv(
    path: Path,
    rows: Sequence[Sequence[str]],
    *,
    header: Sequence[str] = HEADER,
    encoding: str = "utf-8-sig",
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([header, *rows])
    return path


def load(
    conn: psycopg.Connection,
    folder: Path,
    rows: Sequence[Sequence[str]],
    *,
    source: str = SOURCE,
    priority: int = 10,
    header: Sequence[str] = HEADER,
    encoding: str = "utf-8-sig",
    force: bool = False,
    path: Path | None = None,
) -> BatchResult:
    """Write ``rows`` to a new CSV file (unless ``path`` is given) and load it."""
    if path is None:
        path = folder / f"{source}_{sum(1 for _ in folder.iterdir()) + 1}.csv"
        write_csv(path, rows, header=header, encoding=encoding)
    return load_file(conn, SourceSpec(source, priority), path, force=force)


def land(conn: psycopg.Connection, rows: Sequence[Sequence[str]], *, source: str = SOURCE) -> int:
    """Register a batch and land its rows (raw.row), without processing it."""
    sha = hashlib.sha256(repr(rows).encode()).hexdigest()
    batch_id, duplicate_of, refusal = conn.execute(
        "SELECT * FROM ops.register_batch(%s, 10, 'direct.csv', %s, 'utf-8', %s)",
        [source, sha, list(HEADER)],
    ).fetchone()
    assert duplicate_of is None and refusal is None
    land_raw_rows(conn, batch_id, enumerate(rows, start=2))
    return batch_id


def process(conn: psycopg.Connection, batch_id: int) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM core.process_batch(%s)", [batch_id])
    names = [column.name for column in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def counts(result: BatchResult) -> dict[str, int | None]:
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "deactivated": result.deactivated,
        "rejected": result.rejected,
        "issues": result.issues,
    }


def no_changes(unchanged: int) -> dict[str, int]:
    return {
        "inserted": 0,
        "updated": 0,
        "unchanged": unchanged,
        "deactivated": 0,
        "rejected": 0,
        "issues": 0,
    }


def record(conn: psycopg.Connection, code: str, **key: str) -> dict[str, Any]:
    """The core.record of one identity, as a dict."""
    cur = conn.execute(
        "SELECT * FROM core.record WHERE identity_hash = core.identity_hash(%s, %s, %s, %s)",
        [code, key.get("policy", "POL-001"), key.get("region", "KR"), key.get("platform", "iOS")],
    )
    row = cur.fetchone()
    assert row is not None, f"core.record must hold {code}"
    return dict(zip([column.name for column in cur.description], row, strict=True))


def history(conn: psycopg.Connection, code: str) -> list[tuple[str, int, Any, Any]]:
    """(change, batch_id, before, after) of one identity, oldest first."""
    return conn.execute(
        "SELECT h.change, h.batch_id, h.before, h.after FROM core.record_history AS h "
        "JOIN core.record AS r USING (identity_hash) WHERE r.feature_code = %s "
        "ORDER BY h.history_id",
        [code],
    ).fetchall()


def history_count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM core.record_history").fetchone()[0]


def dump_core(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Every row of the tables a batch may change, as text, in a stable order."""
    return {
        table: [
            row[0]
            for row in conn.execute(f"SELECT t::text FROM {table} AS t ORDER BY 1").fetchall()
        ]
        for table in ("core.record", "core.source_record", "core.record_history")
    }


def refresh_snapshot(conn: psycopg.Connection) -> None:
    for name, _ in conn.execute("SELECT * FROM snapshot.refresh_plan(true)").fetchall():
        conn.execute("SELECT snapshot.refresh_view(%s, false)", [name])


def refresh_plan(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT * FROM snapshot.refresh_plan(false)")]


THREE = [rec("PAY-001"), rec("PAY-002", owner="이서연"), rec("PAY-003", status="off")]


# --- first load -------------------------------------------------------------------------


def test_first_load_counts_every_kind_of_row(conn: psycopg.Connection, tmp_path: Path) -> None:
    result = load(
        conn,
        tmp_path,
        [
            rec("PAY-001"),
            rec("PAY-002", status="보류"),
            rec("", name="no code"),
            rec("PAY-003", start="someday"),
        ],
    )

    assert result.status == "processed", result.message
    assert result.rows == 4, "row_count counts every landed row"
    assert counts(result) == {
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 0,
        "rejected": 1,
        "issues": 2,
    }, "a first load inserts every kept row; rejects and issues are counted apart"
    stored = conn.execute(
        "SELECT status, row_count, inserted, rejected, issues FROM ops.batch WHERE batch_id = %s",
        [result.batch_id],
    ).fetchone()
    assert stored == ("processed", 4, 3, 1, 2), "ops.batch keeps the same counts"


def test_first_load_stores_normalized_values(conn: psycopg.Connection, tmp_path: Path) -> None:
    load(
        conn,
        tmp_path,
        [
            rec(
                " PAY\u200b-001 ",
                name="간편\u00a0\u00a0결제 ",
                policy="ＰＯＬ-001",
                status=" YES ",
                owner="  김민준 ",
                start="2024년 1월 5일",
                end="20241231",
            ),
            rec("PAY-002", status="Beta", start="2024/2/3", end="45658"),
        ],
    )

    first = record(conn, "PAY-001")
    assert first["feature_code"] == "PAY-001", "zero-width and outer spaces are removed"
    assert first["feature_name"] == "간편 결제", "NBSP runs collapse to one space"
    assert first["policy_code"] == "POL-001", "full-width letters become ASCII (NFKC)"
    assert first["owner"] == "김민준", "values are trimmed"
    assert first["status"] == "enabled", "status words map to a canonical status"
    assert first["status_raw"] == "YES", "the source's own word is kept beside its meaning"
    assert first["effective_from"] == dt.date(2024, 1, 5), "Korean dates are parsed"
    assert first["effective_to"] == dt.date(2024, 12, 31), "YYYYMMDD dates are parsed"
    assert first["is_active"] is True
    assert first["source"] == SOURCE

    second = record(conn, "PAY-002")
    assert second["status"] == "pilot", "'Beta' means pilot"
    assert second["effective_from"] == dt.date(2024, 2, 3), "slashed dates are parsed"
    assert second["effective_to"] == dt.date(2025, 1, 1), "Excel serial numbers are parsed"


def test_first_load_writes_inserted_history(conn: psycopg.Connection, tmp_path: Path) -> None:
    result = load(conn, tmp_path, [rec("PAY-001")])

    [(change, batch_id, before, after)] = history(conn, "PAY-001")
    assert (change, batch_id) == ("inserted", result.batch_id)
    assert before is None, "an inserted record has nothing before"
    assert after["owner"] == "김민준" and after["status"] == "enabled"


def test_inserted_history_holds_what_users_see_of_the_record(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, [rec("PAY-001", status="보류")])

    [(_, _, _, after)] = history(conn, "PAY-001")
    shown = record(conn, "PAY-001")
    visible = {key: value for key, value in shown.items() if key in after}
    visible.update(effective_from=str(shown["effective_from"]), effective_to=None)
    assert after == visible, "the history holds what users see of the record"
    fields = {name for (name,) in conn.execute("SELECT name FROM core.field")}
    assert set(after) == fields | {"status_raw", "is_active", "source"}, (
        "every canonical field, the raw status, activity and source: no bookkeeping"
    )
    assert (after["source"], after["status"], after["status_raw"], after["is_active"]) == (
        SOURCE,
        "unknown",
        "보류",
        True,
    )


def test_an_identity_new_to_a_source_but_known_to_another_is_resolved(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, [rec("PAY-001", owner="이서연")], source="service_team", priority=20)

    load(conn, tmp_path, [rec("PAY-001")], source=SOURCE, priority=10)

    shown = record(conn, "PAY-001")
    assert (shown["source"], shown["owner"], shown["source_count"], shown["has_conflict"]) == (
        SOURCE,
        "김민준",
        2,
        True,
    ), "the higher-priority source is shown and the disagreement is kept"
    assert [change for change, *_ in history(conn, "PAY-001")] == ["inserted", "updated"]


@pytest.mark.parametrize(
    "key",
    ["A" * 64, "a" * 63, "a" * 65, "g" * 64, "a" * 63 + "\n", ""],
    ids=["upper", "short", "long", "not-hex", "newline", "empty"],
)
def test_record_refuses_an_identity_hash_that_is_not_64_lowercase_hex(
    conn: psycopg.Connection, tmp_path: Path, key: str
) -> None:
    load(conn, tmp_path, [rec("PAY-001")])
    copy = (
        "INSERT INTO core.record SELECT %s, feature_code, feature_name, policy_code, "
        "policy_name, status, status_raw, region, platform, owner, team, effective_from, "
        "effective_to, note, source, source_row, content_hash, is_active, first_seen_at, "
        "last_changed_at, last_batch_id, source_count, has_conflict FROM core.record"
    )

    conn.execute(copy, ["0123456789abcdef" * 4])  # the rule admits a well-formed key
    with pytest.raises(psycopg.errors.CheckViolation, match="record_identity_hash_check"):
        conn.execute(copy + " LIMIT 1", [key])


# --- rejects and row issues -------------------------------------------------------------


def test_row_without_feature_code_is_rejected_and_the_rest_loads(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    result = load(conn, tmp_path, [rec("PAY-001"), rec(" \u200b ", name="빈 코드"), rec("PAY-002")])

    rejected = conn.execute(
        "SELECT source_row, reason, cells FROM core.rejected_row WHERE batch_id = %s",
        [result.batch_id],
    ).fetchall()
    assert len(rejected) == 1, "exactly the row without a feature code is set aside"
    source_row, reason, cells = rejected[0]
    assert source_row == 3, "the reject names the spreadsheet row (header is row 1)"
    assert "feature_code" in reason and "Feature Code" in reason, (
        "the reason names the field and the file's column"
    )
    assert cells[1] == "빈 코드", "the rejected row's cells are kept as landed"
    assert result.inserted == 2, "the other rows are loaded"
    assert conn.execute("SELECT count(*) FROM core.record").fetchone()[0] == 2


def test_unknown_status_is_kept_raw_with_an_issue(conn: psycopg.Connection, tmp_path: Path) -> None:
    result = load(conn, tmp_path, [rec("PAY-001", status="보류")])

    shown = record(conn, "PAY-001")
    assert shown["status"] == "unknown", "a status no synonym matches is shown as unknown"
    assert shown["status_raw"] == "보류", "the source's own word is kept"
    issues = conn.execute(
        "SELECT source_row, column_name, raw_value, issue FROM core.row_issue WHERE batch_id = %s",
        [result.batch_id],
    ).fetchall()
    assert len(issues) == 1
    source_row, column_name, raw_value, issue = issues[0]
    assert (source_row, column_name, raw_value) == (2, "Status", "보류"), (
        "the issue names the row, the header as written and the raw value"
    )
    assert "unknown status" in issue


def test_a_known_status_keeps_the_word_its_source_wrote_without_an_issue(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    result = load(conn, tmp_path, [rec("PAY-001", status="EOL")])

    shown = record(conn, "PAY-001")
    assert (shown["status"], shown["status_raw"]) == ("deprecated", "EOL")
    assert result.issues == 0
    (after,) = [h[3] for h in history(conn, "PAY-001")]
    assert after["status"] == "deprecated" and after["status_raw"] is None, (
        "history holds what a status means; a recognized word is shown, not history"
    )


def test_another_word_with_the_same_meaning_is_shown_without_a_change(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, [rec("PAY-001", status="EOL"), rec("PAY-002")])
    before = record(conn, "PAY-001")

    reworded = load(conn, tmp_path, [rec("PAY-001", status="폐기"), rec("PAY-002")])

    assert counts(reworded) == no_changes(2)
    after = record(conn, "PAY-001")
    assert (after["status"], after["status_raw"]) == ("deprecated", "폐기")
    assert after["last_changed_at"] == before["last_changed_at"]
    assert [h[0] for h in history(conn, "PAY-001")] == ["inserted"]
    source = conn.execute(
        "SELECT status_raw FROM core.source_record WHERE feature_code = 'PAY-001'"
    )
    assert source.fetchone() == ("폐기",)


def test_records_loaded_before_words_were_kept_get_theirs_on_the_next_sync(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    first = load(conn, tmp_path, [rec("PAY-001", status="EOL"), rec("PAY-002", status="보류")])
    # As staged before migration 000016: only a word that means nothing was kept. The new
    # staging code changed every print, which forgets them (raw_print NULL stands for that).
    conn.execute(
        "UPDATE core.source_record SET raw_print = NULL, "
        "status_raw = CASE WHEN status = 'unknown' THEN status_raw END"
    )
    conn.execute(
        "UPDATE core.record SET status_raw = CASE WHEN status = 'unknown' THEN status_raw END"
    )
    histories = history_count(conn)

    again = load(conn, tmp_path, [], path=first.path, force=True)

    assert counts(again) == {**no_changes(2), "issues": 1}  # 보류 is still unknown
    assert record(conn, "PAY-001")["status_raw"] == "EOL"
    assert record(conn, "PAY-002")["status_raw"] == "보류"
    assert history_count(conn) == histories


def test_a_word_an_admin_maps_to_unknown_is_no_issue(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    conn.execute(
        "INSERT INTO core.status_synonym (synonym_key, status, synonym) "
        "VALUES (core.status_key('TBD'), 'unknown', 'TBD')"
    )
    result = load(conn, tmp_path, [rec("PAY-001", status="TBD"), rec("PAY-002", status="보류")])

    issues = conn.execute(
        "SELECT raw_value FROM core.row_issue WHERE batch_id = %s", [result.batch_id]
    ).fetchall()
    assert issues == [("보류",)]
    assert record(conn, "PAY-001")["status_raw"] == "TBD"
    again = load(conn, tmp_path, [], path=result.path, force=True)  # rows known by their print
    assert again.issues == 1


def test_unparseable_date_is_left_empty_with_an_issue(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    result = load(conn, tmp_path, [rec("PAY-001", start="2024-13-45", end="미정")])

    shown = record(conn, "PAY-001")
    assert shown["effective_from"] is None, "an impossible date is not stored"
    assert shown["effective_to"] is None, "a word is not a date"
    issues = conn.execute(
        "SELECT column_name, raw_value FROM core.row_issue WHERE batch_id = %s ORDER BY 1",
        [result.batch_id],
    ).fetchall()
    assert issues == [("End Date", "미정"), ("Start Date", "2024-13-45")], (
        "each unparseable date is an issue naming its column and raw value"
    )
    assert result.issues == 2


def test_later_row_of_one_identity_wins(conn: psycopg.Connection, tmp_path: Path) -> None:
    result = load(
        conn,
        tmp_path,
        [rec("PAY-001", owner="김민준"), rec("PAY-002"), rec("pay-001 ", owner="이서연")],
    )

    assert result.inserted == 2, "one identity is one record, however often it appears"
    shown = record(conn, "PAY-001")
    assert shown["owner"] == "이서연", "the later row's values are kept"
    assert shown["source_row"] == 4
    issues = conn.execute(
        "SELECT source_row, column_name, issue FROM core.row_issue WHERE batch_id = %s",
        [result.batch_id],
    ).fetchall()
    assert len(issues) == 1
    source_row, column_name, issue = issues[0]
    assert source_row == 2, "the earlier row is the one reported"
    assert column_name == "Feature Code"
    assert "duplicate identity" in issue and "row 4" in issue, "the issue names the winning row"


def issues_of(conn: psycopg.Connection, batch_id: int | None) -> list[tuple[int, str]]:
    return conn.execute(
        "SELECT source_row, issue FROM core.row_issue WHERE batch_id = %s ORDER BY 1", [batch_id]
    ).fetchall()


def test_a_later_edited_row_beats_an_unchanged_one_of_its_identity(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, [rec("PAY-001"), rec("PAY-002")])
    # Row 2 exactly as yesterday (known by its print); row 3 now says PAY-001 again.
    again = load(conn, tmp_path, [rec("PAY-001"), rec("pay-001 ", owner="이서연")])

    assert (again.inserted, again.updated, again.unchanged, again.deactivated) == (0, 1, 0, 1)
    assert (record(conn, "PAY-001")["owner"], record(conn, "PAY-001")["source_row"]) == (
        "이서연",
        3,
    )
    assert issues_of(conn, again.batch_id) == [(2, "duplicate identity: row 3 of this file wins")]


def test_an_unchanged_later_row_beats_an_earlier_edited_one_of_its_identity(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, [rec("PAY-002"), rec("PAY-001")])
    # Row 3 exactly as yesterday; row 2 now says PAY-001 too, with another owner.
    again = load(conn, tmp_path, [rec("pay-001 ", owner="이서연"), rec("PAY-001")])

    assert (again.inserted, again.updated, again.unchanged, again.deactivated) == (0, 0, 1, 1)
    assert record(conn, "PAY-001")["owner"] == "김민준", "the later row, as it was, stays"
    assert issues_of(conn, again.batch_id) == [(2, "duplicate identity: row 3 of this file wins")]


def test_an_unchanged_row_is_no_duplicate_of_another_record_once_at_its_row(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    """A delta source keeps records it does not list, at the row they had: two active records
    may then share a row number. The unchanged row there is the one whose print it has."""
    delta = SourceSpec(SOURCE, 10, full_extract=False)
    first = tmp_path / "delta_1.csv"
    write_csv(first, [rec("PAY-001")])
    load_file(conn, delta, first)
    second = tmp_path / "delta_2.csv"
    write_csv(second, [rec("PAY-002")])  # PAY-001 stays active, at row 2 too
    load_file(conn, delta, second)
    third = tmp_path / "delta_3.csv"
    write_csv(third, [rec("PAY-002"), rec("PAY-001", owner="이서연")])

    again = load_file(conn, delta, third)

    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)
    assert issues_of(conn, again.batch_id) == [], "row 2 is PAY-002 as it stands, not PAY-001"
    assert (record(conn, "PAY-001")["owner"], record(conn, "PAY-001")["source_row"]) == (
        "이서연",
        3,
    )


# --- reloading ----------------------------------------------------------------------------


def test_reloading_the_same_file_is_skipped(conn: psycopg.Connection, tmp_path: Path) -> None:
    first = load(conn, tmp_path, THREE)
    batches = conn.execute("SELECT count(*) FROM ops.batch").fetchone()[0]

    again = load(conn, tmp_path, THREE, path=first.path)

    assert again.status == "skipped"
    assert again.batch_id == first.batch_id, "a skip points at the batch that loaded the file"
    assert conn.execute("SELECT count(*) FROM ops.batch").fetchone()[0] == batches, (
        "a skipped file starts no batch"
    )


def test_forced_reload_changes_nothing(conn: psycopg.Connection, tmp_path: Path) -> None:
    first = load(conn, tmp_path, THREE)
    before = dump_core(conn)

    again = load(conn, tmp_path, THREE, path=first.path, force=True)

    assert again.status == "processed"
    assert again.batch_id != first.batch_id, "force starts a new batch"
    assert counts(again) == no_changes(3), "every record is unchanged"
    assert dump_core(conn) == before, "no record, source record or history row changes"


def test_file_equal_to_an_older_batch_but_not_the_newest_is_processed(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    """Regression: a file reverting to an earlier version (A, B, A) was skipped as a duplicate."""
    first = load(conn, tmp_path, THREE)
    load(conn, tmp_path, [rec("PAY-001", status="off"), *THREE[1:]])

    reverted = load(conn, tmp_path, THREE, path=first.path)

    assert reverted.status == "processed", "only the newest processed file is a duplicate"
    assert counts(reverted) == {**no_changes(2), "updated": 1}
    assert record(conn, "PAY-001")["status"] == "enabled", "core shows the newest file"


@pytest.mark.parametrize(
    ("encoding", "header", "order", "transform"),
    [
        pytest.param("cp949", KOREAN_HEADER, "reversed", None, id="cp949-korean-reordered"),
        pytest.param("utf-8", HEADER, "same", "NFD", id="utf8-nfd"),
        pytest.param("utf-8-sig", HEADER, "reversed", "fullwidth", id="fullwidth-reordered"),
        pytest.param("cp949", KOREAN_HEADER, "same", "fullwidth", id="cp949-fullwidth"),
    ],
)
def test_same_records_in_another_presentation_change_nothing(
    conn: psycopg.Connection,
    tmp_path: Path,
    encoding: str,
    header: tuple[str, ...],
    order: str,
    transform: str | None,
) -> None:
    rows = [
        rec("PAY-001", name="간편 결제", owner="김민준"),
        rec("CHAT-002", name="신규 채팅", status="off", owner="이서연", end="2025-03-01"),
        rec("MAP-003", name="지도 검색", status="beta", platform="Android"),
    ]
    first = load(conn, tmp_path, rows)
    assert first.inserted == 3
    before = dump_core(conn)

    def present(cell: str) -> str:
        if transform == "NFD":
            return unicodedata.normalize("NFD", cell)
        if transform == "fullwidth":
            return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in cell)
        return cell

    columns = list(range(len(header)))
    if order == "reversed":
        columns.reverse()
    other = load(
        conn,
        tmp_path,
        [[present(row[i]) for i in columns] for row in rows],
        header=[header[i] for i in columns],
        encoding=encoding,
    )

    assert other.status == "processed", other.message
    assert other.encoding == encoding, f"the file is read as {encoding}"
    assert counts(other) == no_changes(3), "the same records presented differently are unchanged"
    assert dump_core(conn)["core.record_history"] == before["core.record_history"], (
        "no history is written"
    )
    assert dump_core(conn)["core.record"] == before["core.record"], "core.record is untouched"


# --- unchanged raw rows are taken from their records (core.source_record.raw_print) ----------


def batch_issues(conn: psycopg.Connection, batch_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT source_row, column_name, issue, raw_value FROM core.row_issue "
        "WHERE batch_id = %s ORDER BY source_row, column_name",
        [batch_id],
    ).fetchall()


def test_unchanged_raw_rows_are_not_normalized_again(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    rows = [
        rec("PAY-001", status="보류", start="2024-13-45"),
        rec("PAY-002", end="미정"),
        rec("PAY-003"),
        rec("pay-003", owner="이서연"),
    ]
    first = load(conn, tmp_path, rows)
    # A marker only a skipped normalization keeps: normalizing the row again would find its
    # content hash changed and write the file's name back.
    conn.execute(
        "UPDATE core.source_record SET feature_name = 'kept from the record', "
        "content_hash = md5('marker')::uuid WHERE feature_code = 'PAY-002'"
    )

    again = load(conn, tmp_path, rows, path=first.path, force=True)

    assert counts(again) == {**no_changes(3), "issues": 4}, "the same rows, the same issues"
    assert batch_issues(conn, again.batch_id) == batch_issues(conn, first.batch_id), (
        "rows taken from their records report the same row issues as when they were normalized"
    )
    kept = conn.execute(
        "SELECT feature_name FROM core.source_record WHERE feature_code = 'PAY-002'"
    ).fetchone()[0]
    assert kept == "kept from the record", "an unchanged raw row is taken from its record"


def test_a_new_status_synonym_reaches_rows_already_loaded(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    first = load(conn, tmp_path, [rec("PAY-001", status="보류"), rec("PAY-002")])
    assert record(conn, "PAY-001")["status"] == "unknown"
    conn.execute(
        "INSERT INTO core.status_synonym (synonym_key, status, synonym) "
        "VALUES (core.status_key('보류'), 'planned', '보류')"
    )

    again = load(conn, tmp_path, [], path=first.path, force=True)

    assert (again.updated, again.unchanged, again.issues) == (1, 1, 0)
    assert record(conn, "PAY-001")["status"] == "planned", (
        "a vocabulary change makes every raw row count as new: it is normalized again"
    )


def test_a_row_written_differently_is_printed_again(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, [rec("PAY-001", name="간편 결제", end="미정")])
    printed = conn.execute("SELECT raw_print, effective_to_raw FROM core.source_record").fetchone()

    nfd = load(
        conn,
        tmp_path,
        [rec("PAY-001", name=unicodedata.normalize("NFD", "간편 결제"), end=" 미정 ")],
    )

    assert counts(nfd) == {**no_changes(1), "issues": 1}
    reprinted = conn.execute(
        "SELECT raw_print, effective_to_raw FROM core.source_record"
    ).fetchone()
    assert reprinted[0] != printed[0], "the record now carries the print of the newest row"
    assert (printed[1], reprinted[1]) == ("미정", "미정"), "the unparseable date's text is kept"


# --- updates, deactivation, history --------------------------------------------------------


def test_update_writes_history_with_before_and_after(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, THREE)

    second = load(conn, tmp_path, [rec("PAY-001", owner="박지훈"), *THREE[1:]])

    assert counts(second) == {**no_changes(2), "updated": 1}
    assert record(conn, "PAY-001")["owner"] == "박지훈"
    change, batch_id, before, after = history(conn, "PAY-001")[-1]
    assert (change, batch_id) == ("updated", second.batch_id), "history names the batch"
    assert (before["owner"], after["owner"]) == ("김민준", "박지훈"), "before and after values"
    assert {k for k in after if before.get(k) != after[k]} == {"owner"}, (
        "only the changed field differs"
    )


def test_removed_record_is_deactivated_not_deleted(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, THREE)

    second = load(conn, tmp_path, THREE[1:])

    assert second.status == "processed"
    assert second.deactivated == 1
    shown = record(conn, "PAY-001")
    assert shown["is_active"] is False, "a record missing from the extract becomes inactive"
    assert shown["owner"] == "김민준", "its last values are kept"
    change, batch_id, before, after = history(conn, "PAY-001")[-1]
    assert (change, batch_id) == ("deactivated", second.batch_id)
    assert (before["is_active"], after["is_active"]) == (True, False)


def test_record_reappearing_is_reactivated(conn: psycopg.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, THREE)
    load(conn, tmp_path, THREE[1:])

    third = load(conn, tmp_path, THREE)

    assert counts(third) == {**no_changes(2), "updated": 1}, "a reactivation counts as an update"
    assert record(conn, "PAY-001")["is_active"] is True
    assert [row[0] for row in history(conn, "PAY-001")] == [
        "inserted",
        "deactivated",
        "reactivated",
    ]


def test_a_record_returning_unchanged_at_another_row_is_reactivated_there(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, THREE)
    load(conn, tmp_path, THREE[1:])

    third = load(conn, tmp_path, [*THREE[1:], THREE[0]])

    assert counts(third) == {**no_changes(2), "updated": 1}
    shown = record(conn, "PAY-001")
    assert (shown["is_active"], shown["source_row"], shown["owner"], shown["status"]) == (
        True,
        4,
        "김민준",
        "enabled",
    ), "known by its print, it keeps its values and takes its new row"
    source_row, batch_id = conn.execute(
        "SELECT source_row, last_changed_batch_id FROM core.source_record "
        "WHERE feature_code = 'PAY-001'"
    ).fetchone()
    assert (source_row, batch_id) == (4, third.batch_id)
    change, _, before, after = history(conn, "PAY-001")[-1]
    assert change == "reactivated"
    assert {key for key in after if before[key] != after[key]} == {"is_active"}


def test_what_changed_since_a_time_is_a_history_query(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, THREE)
    since = conn.execute("SELECT clock_timestamp()").fetchone()[0]

    load(conn, tmp_path, [rec("PAY-001", status="off"), THREE[2], rec("PAY-004")])

    changed = conn.execute(
        "SELECT r.feature_code, h.change FROM core.record_history AS h "
        "JOIN core.record AS r USING (identity_hash) WHERE h.changed_at >= %s ORDER BY 1",
        [since],
    ).fetchall()
    assert changed == [
        ("PAY-001", "updated"),
        ("PAY-002", "deactivated"),
        ("PAY-004", "inserted"),
    ], "only what the later batch changed is listed"


@contextlib.contextmanager
def boom_owner_fails(conn: psycopg.Connection) -> Iterator[None]:
    """While inside, a batch that writes a source record with owner 'boom' fails."""
    conn.execute(
        "ALTER TABLE core.source_record "
        "ADD CONSTRAINT test_boom CHECK (owner IS DISTINCT FROM 'boom')"
    )
    yield
    conn.execute("ALTER TABLE core.source_record DROP CONSTRAINT test_boom")


def recent_changes(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT feature_code, change, batch_source FROM snapshot.recent_changes ORDER BY 1"
    ).fetchall()


def test_recent_changes_leave_out_each_sources_initial_load(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, THREE)
    load(conn, tmp_path, [rec("PAY-001", owner="이서연")], source="service_team", priority=20)

    load(conn, tmp_path, [rec("PAY-001", status="off"), THREE[1], rec("PAY-004")])

    assert recent_changes(conn) == [
        ("PAY-001", "updated", SOURCE),
        ("PAY-003", "deactivated", SOURCE),
        ("PAY-004", "inserted", SOURCE),
    ], "a later batch's changes are listed; no source's first load is"


def test_after_a_failed_first_try_the_next_batch_is_the_initial_load(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    with boom_owner_fails(conn):
        assert load(conn, tmp_path, [rec("PAY-001", owner="boom")]).status == "failed"

    assert load(conn, tmp_path, THREE).status == "processed"

    assert recent_changes(conn) == [], "the first batch that changed anything is the initial load"


# --- the mass-deactivation guard ------------------------------------------------------------


FOUR = [*THREE, rec("PAY-004")]


def test_batch_deactivating_more_than_half_is_held(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, FOUR)
    before = dump_core(conn)

    held = load(conn, tmp_path, FOUR[:1])

    assert held.status == "held"
    assert held.deactivated == 3, "the held batch says how many records it would deactivate"
    assert "3 of 4" in (held.message or ""), "the message gives the numbers"
    assert "approve" in (held.message or ""), "the message names the next step"
    assert dump_core(conn) == before, "a held batch changes no record"
    assert conn.execute(
        "SELECT status FROM ops.batch WHERE batch_id = %s", [held.batch_id]
    ).fetchone() == ("held",)


def test_approving_a_held_batch_applies_it(conn: psycopg.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, FOUR)
    held = load(conn, tmp_path, FOUR[:1])
    assert held.batch_id is not None

    approved = reprocess_batch(conn, held.batch_id, approve=True)

    assert approved.status == "processed"
    assert approved.batch_id == held.batch_id
    assert counts(approved) == {**no_changes(1), "deactivated": 3}
    active = conn.execute("SELECT feature_code FROM core.record WHERE is_active").fetchall()
    assert active == [("PAY-001",)], "the approved batch deactivates the missing records"


def test_batch_deactivating_exactly_half_is_processed(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, FOUR)

    result = load(conn, tmp_path, FOUR[:2])

    assert result.status == "processed", "exactly half is not more than half"
    assert result.deactivated == 2


# --- failure is all or nothing ----------------------------------------------------------------


def test_failed_batch_changes_nothing_and_can_be_rerun(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, THREE)
    before = dump_core(conn)
    rows = [rec("PAY-001", status="off"), THREE[1], rec("PAY-009", owner="boom")]

    with boom_owner_fails(conn):
        failed = load(conn, tmp_path, rows)
        after = dump_core(conn)

    assert failed.status == "failed"
    assert (failed.message or "").startswith("failed, no record changed: "), failed.message
    assert "test_boom" in (failed.message or ""), "the message carries the database's reason"
    assert after == before, "a failed batch changes no record, source record or history"
    assert conn.execute(
        "SELECT status, message FROM ops.batch WHERE batch_id = %s", [failed.batch_id]
    ).fetchone() == ("failed", failed.message), "ops.batch is marked failed with the message"

    rerun = process(conn, failed.batch_id)

    assert rerun["status"] == "processed", "a failed batch can be re-run once the cause is gone"
    assert (rerun["inserted"], rerun["updated"], rerun["deactivated"]) == (1, 1, 1)
    assert record(conn, "PAY-009")["owner"] == "boom"


def test_directly_landed_batch_is_processed(conn: psycopg.Connection) -> None:
    batch_id = land(conn, [rec("PAY-001"), rec("PAY-002")])
    assert conn.execute(
        "SELECT status FROM ops.batch WHERE batch_id = %s", [batch_id]
    ).fetchone() == ("landed",), "a registered batch waits as landed"

    result = process(conn, batch_id)

    assert (result["status"], result["row_count"], result["inserted"]) == ("processed", 2, 2)


def test_processed_batch_cannot_be_processed_again(conn: psycopg.Connection) -> None:
    batch_id = land(conn, [rec("PAY-001")])
    process(conn, batch_id)

    with pytest.raises(psycopg.Error, match="already processed"):
        process(conn, batch_id)


# --- several sources ------------------------------------------------------------------------


SHARED = rec("PAY-001", status="on", owner="김민준")


def two_sources(conn: psycopg.Connection, tmp_path: Path) -> None:
    """platform_team (priority 10) and service_team (priority 20) both report PAY-001."""
    load(conn, tmp_path, [SHARED, rec("PAY-002")], source="platform_team", priority=10)
    load(
        conn,
        tmp_path,
        [rec("PAY-001", status="off", owner="이서연"), rec("PAY-003")],
        source="service_team",
        priority=20,
    )


def test_lower_priority_number_is_shown(conn: psycopg.Connection, tmp_path: Path) -> None:
    two_sources(conn, tmp_path)

    shown = record(conn, "PAY-001")
    assert (shown["source"], shown["status"], shown["owner"]) == (
        "platform_team",
        "enabled",
        "김민준",
    ), "the source with the lower priority number wins, even when it loaded first"
    assert [row[0] for row in history(conn, "PAY-001")] == ["inserted"], (
        "a lower-ranked source's differing values change nothing users see"
    )


def test_disagreeing_sources_are_listed_as_conflicts(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    two_sources(conn, tmp_path)
    refresh_snapshot(conn)

    conflicts = conn.execute(
        "SELECT source, priority, is_shown, status, owner FROM snapshot.conflicts "
        "WHERE feature_code = 'PAY-001' ORDER BY priority"
    ).fetchall()
    assert conflicts == [
        ("platform_team", 10, True, "enabled", "김민준"),
        ("service_team", 20, False, "disabled", "이서연"),
    ], "both sources are listed, the shown one marked"
    flags = dict(
        conn.execute("SELECT feature_code, has_conflict FROM snapshot.current_records").fetchall()
    )
    assert flags == {"PAY-001": True, "PAY-002": False, "PAY-003": False}


def test_agreeing_sources_are_no_conflict(conn: psycopg.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, [SHARED], source="platform_team", priority=10)
    load(conn, tmp_path, [SHARED], source="service_team", priority=20)
    refresh_snapshot(conn)

    assert conn.execute("SELECT count(*) FROM snapshot.conflicts").fetchone() == (0,)
    assert conn.execute(
        "SELECT source_count, has_conflict FROM snapshot.current_records"
    ).fetchone() == (2, False)


def conflict_state(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT feature_code, source_count, has_conflict FROM snapshot.current_records ORDER BY 1"
    ).fetchall()


def test_a_lower_ranked_source_settles_a_conflict_without_history(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    two_sources(conn, tmp_path)
    assert conflict_state(conn)[0] == ("PAY-001", 2, True)
    before = history_count(conn)

    load(conn, tmp_path, [SHARED, rec("PAY-003")], source="service_team", priority=20)

    assert conflict_state(conn) == [
        ("PAY-001", 2, False),
        ("PAY-002", 1, False),
        ("PAY-003", 1, False),
    ], "the sources agree now: the record says so without any refresh"
    assert history_count(conn) == before, "what users see of PAY-001 did not change"
    assert conn.execute("SELECT count(*) FROM snapshot.conflicts").fetchone() == (0,)
    assert conn.execute("SELECT * FROM core.integrity_problems()").fetchall() == []


def test_a_source_leaving_lowers_the_source_count(conn: psycopg.Connection, tmp_path: Path) -> None:
    two_sources(conn, tmp_path)

    load(conn, tmp_path, [rec("PAY-003")], source="service_team", priority=20)

    assert conflict_state(conn)[0] == ("PAY-001", 1, False), (
        "an inactive source record no longer counts"
    )
    assert conn.execute("SELECT * FROM core.integrity_problems()").fetchall() == []


def test_integrity_check_notices_a_wrong_conflict_flag(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    two_sources(conn, tmp_path)
    conn.execute("UPDATE core.record SET has_conflict = false")

    problems = dict(conn.execute("SELECT * FROM core.integrity_problems()").fetchall())

    assert problems == {
        "core.record whose source_count or has_conflict disagrees with its sources": 1
    }


def test_other_source_is_shown_when_the_shown_one_drops_the_identity(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    two_sources(conn, tmp_path)

    dropped = load(
        conn, tmp_path, [rec("PAY-002"), rec("PAY-005")], source="platform_team", priority=10
    )

    assert dropped.status == "processed"
    shown = record(conn, "PAY-001")
    assert shown["is_active"] is True, "the identity stays active while a source reports it"
    assert (shown["source"], shown["status"], shown["owner"]) == (
        "service_team",
        "disabled",
        "이서연",
    ), "the remaining source's values are shown"
    change, batch_id, before, after = history(conn, "PAY-001")[-1]
    assert (change, batch_id) == ("updated", dropped.batch_id)
    assert (before["source"], after["source"]) == ("platform_team", "service_team")
    assert (before["status"], after["status"]) == ("enabled", "disabled")


def test_new_priority_applies_to_records_the_batch_did_not_change(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    two_sources(conn, tmp_path)

    load(
        conn,
        tmp_path,
        [SHARED, rec("PAY-002"), rec("PAY-006")],
        source="platform_team",
        priority=50,
    )

    assert record(conn, "PAY-001")["source"] == "service_team", (
        "once platform_team ranks below service_team, service_team's values are shown"
    )


def test_priority_change_alone_marks_the_snapshot_stale(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    two_sources(conn, tmp_path)
    refresh_snapshot(conn)
    conn.execute("SELECT snapshot.mark_refreshed()")

    same = load(
        conn,
        tmp_path,
        [SHARED, rec("PAY-002")],
        source="platform_team",
        priority=50,
        encoding="utf-8",
    )

    assert counts(same) == no_changes(2), "the source's own rows did not change"
    assert record(conn, "PAY-001")["source"] == "service_team", "but the shown source did"
    assert refresh_plan(conn), "a record users see changed, so the snapshot must be refreshed"


# --- snapshot refresh bookkeeping -------------------------------------------------------------


def test_refresh_plan_follows_changes(conn: psycopg.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, THREE)
    assert refresh_plan(conn), "unrefreshed views are in the plan"
    refresh_snapshot(conn)
    conn.execute("SELECT snapshot.mark_refreshed()")
    assert refresh_plan(conn) == [], "nothing to refresh right after a refresh"

    changed = load(conn, tmp_path, [rec("PAY-001", owner="박지훈"), *THREE[1:]])
    assert refresh_plan(conn) == ["home_summary"], (
        "a batch that changed records puts the materialized view in the plan"
    )
    assert conn.execute(
        "SELECT owner FROM snapshot.current_records WHERE feature_code = 'PAY-001'"
    ).fetchone() == ("박지훈",), "the plain views show the change before any refresh"

    refresh_snapshot(conn)
    conn.execute("SELECT snapshot.mark_refreshed()")
    unchanged = load(conn, tmp_path, THREE, path=changed.path, force=True)
    assert unchanged.changed is False
    assert refresh_plan(conn) == [], "a batch that changed nothing leaves the snapshot fresh"


def test_an_old_held_batch_cannot_overwrite_a_newer_processed_one(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    spec = SourceSpec(SOURCE, priority=10)
    load_file(conn, spec, write_csv(tmp_path / "v1.csv", [rec(f"F-{i}") for i in range(4)]))
    held = load_file(conn, spec, write_csv(tmp_path / "v2.csv", [rec("F-0")]))
    assert held.status == "held"
    newer = write_csv(tmp_path / "v3.csv", [rec(f"F-{i}", status="off") for i in range(4)])
    assert load_file(conn, spec, newer).status == "processed"
    with pytest.raises(BatchError, match=r"older than batch \d+, already processed"):
        reprocess_batch(conn, held.batch_id, approve=True)  # type: ignore[arg-type]  # a held batch has an id
    statuses = conn.execute("SELECT DISTINCT status FROM core.record").fetchall()
    assert statuses == [("disabled",)], "the newest file's values stay"


def test_the_same_file_with_a_new_priority_is_applied(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", [rec("F-1")])
    load_file(conn, SourceSpec(SOURCE, priority=10), path)
    again = load_file(conn, SourceSpec(SOURCE, priority=11), path)
    assert again.status == "processed", "a new priority is not a duplicate file"
    row = conn.execute("SELECT priority, resolved_priority FROM ops.source").fetchone()
    assert row == (11, 11)


def test_references_hold_after_a_series_of_batches(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    """The big tables keep their references without foreign keys: core.integrity_problems checks."""
    load(conn, tmp_path, [rec("F-1"), rec("F-2")])
    load(conn, tmp_path, [rec("F-1", status="off"), rec("F-3")])
    load(conn, tmp_path, [rec("F-3")], source="ops_team", priority=5)
    assert conn.execute("SELECT * FROM core.integrity_problems()").fetchall() == []
    conn.execute("DELETE FROM ops.batch WHERE batch_id = 3")  # break one reference on purpose
    problems = dict(conn.execute("SELECT * FROM core.integrity_problems()").fetchall())
    assert problems.get("core.record_history of an unknown record or batch") == 1
