"""The thin loader against a real database: bad input is refused whole, with file/row/column."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fmw.errors import SourceFileError
from fmw.loader.landing import SourceSpec, load_file

HEADER = "Feature Code,Policy Code,market,platform,Status,owner\n"
SPEC = SourceSpec("team_a", priority=10)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM raw.row), (SELECT count(*) FROM core.record), "
        "(SELECT count(*) FROM core.source_record)"
    ).fetchone()  # type: ignore[return-value]  # three counts: always one row


def test_a_good_file_lands_every_row_and_reports_counts(conn: psycopg.Connection, tmp_path: Path):
    path = write(tmp_path / "a.csv", HEADER + "PAY-1,P1,KR,iOS,on,kim\nPAY-2,P1,KR,iOS,off,lee\n")
    result = load_file(conn, SPEC, path)
    assert (result.status, result.rows, result.inserted, result.encoding) == (
        "processed",
        2,
        2,
        "utf-8",
    )
    assert counts(conn) == (2, 2, 2)
    batch = conn.execute(
        "SELECT source, file_name, row_count, headers FROM ops.batch WHERE batch_id = %s",
        [result.batch_id],
    ).fetchone()
    assert batch == ("team_a", "a.csv", 2, HEADER.strip().split(","))


def test_undecodable_bytes_mid_file_leave_nothing_loaded(conn: psycopg.Connection, tmp_path: Path):
    good = "".join(f"F-{i},P1,KR,iOS,on,kim\n" for i in range(50)).encode()
    path = tmp_path / "bad.csv"
    path.write_bytes(HEADER.encode() + good + b"F-99,P1,KR,iOS,on,\xff\xfe\n")
    with pytest.raises(SourceFileError) as caught:
        load_file(conn, SPEC, path)
    message = str(caught.value)
    assert "bad.csv" in message and "row 52" in message and "column owner" in message
    assert counts(conn) == (0, 0, 0), "no row of a file that failed half-way is kept"
    failed = conn.execute("SELECT status, message FROM ops.batch").fetchall()
    assert len(failed) == 1 and failed[0][0] == "failed" and "row 52" in failed[0][1]


def test_a_ragged_row_is_refused_with_its_row_number(conn: psycopg.Connection, tmp_path: Path):
    path = write(tmp_path / "ragged.csv", HEADER + "A,P,KR,iOS,on,kim\nB,P,KR,iOS,on\n")
    with pytest.raises(SourceFileError, match=r"ragged\.csv, row 3"):
        load_file(conn, SPEC, path)
    assert counts(conn) == (0, 0, 0)


def test_headers_without_feature_code_are_refused_before_anything_lands(
    conn: psycopg.Connection, tmp_path: Path
):
    path = write(tmp_path / "nokey.csv", "Code,Policy Code,Status\nA,P,on\n")
    with pytest.raises(
        SourceFileError,
        match=r"nokey\.csv, row 1: no column maps to feature_code .*"
        r"if Code holds the feature code: `fmw vocab alias add Code feature_code`",
    ):
        load_file(conn, SPEC, path)
    assert conn.execute("SELECT status, headers, unmapped_columns FROM ops.batch").fetchall() == [
        ("refused", ["Code", "Policy Code", "Status"], ["Code"])
    ], "the refusal is kept as a refused batch, for `fmw batch list` and `fmw vocab unknown`"
    assert conn.execute("SELECT count(*) FROM raw.row").fetchone() == (0,)


def test_an_empty_file_and_a_missing_file_are_clear_errors(
    conn: psycopg.Connection, tmp_path: Path
):
    with pytest.raises(SourceFileError, match=r"empty\.csv.*empty"):
        load_file(conn, SPEC, write(tmp_path / "empty.csv", ""))
    with pytest.raises(SourceFileError, match=r"missing\.csv: no such file"):
        load_file(conn, SPEC, tmp_path / "missing.csv")


def test_the_same_file_twice_is_skipped_and_force_changes_nothing(
    conn: psycopg.Connection, tmp_path: Path
):
    path = write(tmp_path / "a.csv", HEADER + "PAY-1,P1,KR,iOS,on,kim\n")
    first = load_file(conn, SPEC, path)
    again = load_file(conn, SPEC, path)
    forced = load_file(conn, SPEC, path, force=True)
    assert (again.status, again.batch_id) == ("skipped", first.batch_id)
    assert "--force" in (again.message or "")
    assert (forced.status, forced.inserted, forced.updated, forced.unchanged) == (
        "processed",
        0,
        0,
        1,
    )


def test_cp949_korean_file_is_detected_and_loaded(conn: psycopg.Connection, tmp_path: Path):
    text = "기능코드\t정책코드\t국가\t플랫폼\t상태\t담당자\nPAY-1\tP1\tKR\tiOS\t적용\t김민준\n"
    result = load_file(conn, SPEC, write(tmp_path / "k.csv", text, "cp949"))
    assert result.encoding == "cp949"
    assert conn.execute("SELECT status, owner FROM core.record").fetchone() == ("enabled", "김민준")
