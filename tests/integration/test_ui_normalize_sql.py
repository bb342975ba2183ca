"""The dashboard matches text the way the database does: Python against the SQL functions.

``fmw.ui.normalize.key_part`` must equal ``core.key_part`` and ``search_key``
must equal ``core.status_key`` (key_part without spaces; NULL as ""), on the
embedded server and on PostgreSQL 15; ``fmw.ui.cells.guard`` must equal
``snapshot.csv_safe``. Generated text is limited to characters Python's
Unicode version assigns (see tests/integration/test_normalization_sql.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fmw.ui import cells, normalize

TRICKY = [
    "",
    " ",
    "ＰＡＹ－００１",
    " pay\u200b-001 ",
    "PAY\ufeff-001",
    "결제\u00a0기능",
    "결제\u3000 기능",
    "\u1100\u1161\u11a8",  # decomposed 각
    "Ǆ ß İ ﬁ",
    "a\x1fb\x7fc",
    "tab\tand\nnew\r\nline\u2028end",
    "=1+2",
    "'=1+2",
    "@kim",
    "-3",
    "㈜ ℡ ①",
]
TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cn"), exclude_characters="\x00"),
    max_size=16,
)


def sql_map(conn: psycopg.Connection, expression: str, values: Sequence[str | None]) -> list:
    rows = conn.execute(
        f"SELECT {expression} FROM unnest(%s::text[]) WITH ORDINALITY AS v (value, n) ORDER BY v.n",
        [list(values)],
    ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.pg15
def test_key_part_and_search_key_equal_sql_on_tricky_text(sql_conn: psycopg.Connection):
    values: list[str | None] = [*TRICKY, None]
    assert sql_map(sql_conn, "core.key_part(v.value)", values) == [
        normalize.key_part(v) for v in values
    ]
    expected = [normalize.search_key(v) for v in values]
    assert sql_map(sql_conn, "coalesce(core.status_key(v.value), '')", values) == expected
    assert normalize.search_key_array(pa.array(values, pa.string())).to_pylist() == expected


@pytest.mark.pg15
@given(st.lists(TEXT, min_size=1, max_size=30))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_key_part_equals_sql_on_generated_text(sql_conn: psycopg.Connection, values: list[str]):
    assert sql_map(sql_conn, "core.key_part(v.value)", values) == [
        normalize.key_part(v) for v in values
    ]
    assert sql_map(sql_conn, "coalesce(core.status_key(v.value), '')", values) == [
        normalize.search_key(v) for v in values
    ]


@pytest.mark.pg15
def test_the_download_guard_equals_snapshot_csv_safe(sql_conn: psycopg.Connection):
    values = [*TRICKY, "\tx", "\rx", "\nx", "+x", None]
    assert sql_map(sql_conn, "snapshot.csv_safe(v.value)", values) == [
        cells.guard(v) for v in values
    ]
