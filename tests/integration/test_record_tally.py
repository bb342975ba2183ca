"""core.record_tally keeps the counts snapshot.home_summary groups, whatever changes records.

SQL level: rows of core.record inserted, updated, deleted and truncated by hand (as a DBA or
a later migration could), two transactions at once, and a fold between them; each time the
tally must hold exactly the counts of core.record, and home_summary must equal the grouping
over every record it replaced.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.support.record_tally import RECORDS, SUMMARY, TALLY, by_records, insert_records


def problems(conn: psycopg.Connection) -> list[tuple[str, int]]:
    return conn.execute(
        "SELECT problem, rows FROM core.integrity_problems() WHERE problem LIKE '%tally%'"
    ).fetchall()


def refreshed_summary(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    conn.execute("SELECT snapshot.refresh_view('home_summary', false)")
    return sorted(conn.execute(SUMMARY).fetchall(), key=repr)


def test_the_tally_follows_every_kind_of_change(sql_conn: psycopg.Connection) -> None:
    insert_records(sql_conn, RECORDS)
    assert sql_conn.execute(TALLY).fetchall() == [
        ("검색팀", None, None, "planned", True, 1),
        ("결제팀", "JP", None, "disabled", True, 1),
        ("결제팀", "KR", "iOS", "enabled", True, 2),
        (None, "KR", "Android", "enabled", False, 1),
    ]
    assert refreshed_summary(sql_conn) == by_records(sql_conn)
    assert ("total", None, "enabled", 3, 2) in by_records(sql_conn)

    # An update of what is not counted adds nothing; one of what is moves a count.
    sql_conn.execute("UPDATE core.record SET note = 'x', owner = 'kim'")
    assert sql_conn.execute("SELECT count(*) FROM core.record_tally").fetchone() == (4,)
    sql_conn.execute(
        "UPDATE core.record SET status = 'disabled', is_active = false WHERE feature_code = 'F-1'"
    )
    sql_conn.execute("UPDATE core.record SET team = NULL WHERE feature_code = 'F-5'")
    sql_conn.execute("DELETE FROM core.record WHERE feature_code = 'F-3'")
    assert problems(sql_conn) == []
    assert refreshed_summary(sql_conn) == by_records(sql_conn)
    assert ("team", "결제팀", "disabled", 1, 0) in by_records(sql_conn)

    sql_conn.execute("TRUNCATE core.record")
    assert sql_conn.execute(TALLY).fetchall() == []
    assert refreshed_summary(sql_conn) == []


def test_a_refresh_folds_the_tally_to_one_row_per_combination(
    sql_conn: psycopg.Connection,
) -> None:
    insert_records(sql_conn, RECORDS)
    for status in ("disabled", "planned", "enabled"):  # back where it started
        sql_conn.execute("UPDATE core.record SET status = %s WHERE feature_code = 'F-1'", [status])
    sql_conn.execute("UPDATE core.record SET status = 'unknown' WHERE feature_code = 'F-5'")
    assert sql_conn.execute("SELECT count(*) FROM core.record_tally").fetchone() == (12,)

    summary = refreshed_summary(sql_conn)

    assert summary == by_records(sql_conn)
    assert sql_conn.execute(TALLY).fetchall() == [  # F-5's planned row folded away at 0
        ("검색팀", None, None, "unknown", True, 1),
        ("결제팀", "JP", None, "disabled", True, 1),
        ("결제팀", "KR", "iOS", "enabled", True, 2),
        (None, "KR", "Android", "enabled", False, 1),
    ]
    assert problems(sql_conn) == []


def test_two_writers_of_one_combination_do_not_wait_and_a_fold_between_loses_nothing(
    db_url: str,
) -> None:
    with (
        psycopg.connect(db_url, autocommit=True) as setup,
        psycopg.connect(db_url) as first,
        psycopg.connect(db_url) as second,
    ):
        insert_records(setup, RECORDS)
        # Both change records of the same combination: the tally only gets new rows, so
        # neither waits for the other (a counter row per combination would block here).
        first.execute("UPDATE core.record SET status = 'paused' WHERE feature_code = 'F-1'")
        second.execute("SET lock_timeout = '2s'")
        second.execute("UPDATE core.record SET status = 'paused' WHERE feature_code = 'F-2'")
        second.commit()
        # A fold while `first` has not committed: it folds what it sees, and first's rows
        # stay its own until it commits.
        setup.execute("SELECT snapshot.refresh_view('home_summary', false)")
        first.commit()

        assert problems(setup) == []
        assert refreshed_summary(setup) == by_records(setup)
        assert ("team", "결제팀", "paused", 2, 2) in by_records(setup)


@pytest.mark.parametrize("rows", [1, 3])
def test_the_summary_groups_no_record_it_does_not_have(sql_conn: psycopg.Connection, rows: int):
    insert_records(sql_conn, RECORDS[:rows])
    sql_conn.execute("DELETE FROM core.record")
    assert refreshed_summary(sql_conn) == []
    assert sql_conn.execute("SELECT count(*) FROM core.record_tally").fetchone() == (0,)
