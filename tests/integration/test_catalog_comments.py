"""SQL is documented where DBAs read it: every FMW table, view, column group and function."""

from __future__ import annotations

import psycopg

FMW_SCHEMAS = ("ops", "raw", "core", "snapshot")


def test_every_table_and_view_has_a_comment(sql_conn: psycopg.Connection):
    missing = sql_conn.execute(
        """
        SELECT n.nspname || '.' || c.relname
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm', 'p')
          AND obj_description(c.oid, 'pg_class') IS NULL
        ORDER BY 1
        """,
        [list(FMW_SCHEMAS)],
    ).fetchall()
    assert missing == [], f"add COMMENT ON for: {missing}"


def test_every_function_has_a_comment(sql_conn: psycopg.Connection):
    missing = sql_conn.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%s) AND obj_description(p.oid, 'pg_proc') IS NULL
        ORDER BY 1
        """,
        [list(FMW_SCHEMAS)],
    ).fetchall()
    assert missing == [], f"add COMMENT ON FUNCTION for: {missing}"


def test_every_schema_has_a_comment(sql_conn: psycopg.Connection):
    rows = sql_conn.execute(
        "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
        "WHERE nspname = ANY(%s) ORDER BY 1",
        [list(FMW_SCHEMAS)],
    ).fetchall()
    assert [name for name, comment in rows if comment] == sorted(FMW_SCHEMAS)


def test_security_definer_functions_pin_their_search_path(sql_conn: psycopg.Connection):
    unpinned = sql_conn.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%s) AND p.prosecdef
          AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']
        """,
        [list(FMW_SCHEMAS)],
    ).fetchall()
    assert unpinned == []
