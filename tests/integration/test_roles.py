"""Least privilege, checked with SET ROLE on the default server and on PostgreSQL 15.

fmw_reader reads the snapshot schema and nothing else; fmw_loader lands rows and runs the
processing and refresh functions but cannot write core tables, delete landed rows, create
or drop objects; every FMW object belongs to fmw_owner.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors, sql

from tests.support.raw_rows import land_raw_rows
from tests.support.roles import acting_as, processed_batch, register

FMW_SCHEMAS = ("core", "raw", "snapshot", "ops")
SNAPSHOT_VIEWS = (
    "current_records",
    "home_summary",
    "record_history",
    "recent_changes",
    "conflicts",
)


def assert_denied(conn: psycopg.Connection, role: str, statement: str) -> None:
    with acting_as(conn, role):
        try:
            conn.execute(statement)
        except errors.InsufficientPrivilege:
            return
    raise AssertionError(f"{role} must not be allowed to run: {statement}")


def populate_snapshot(conn: psycopg.Connection) -> None:
    for name, _ in conn.execute("SELECT * FROM snapshot.refresh_plan(true)").fetchall():
        conn.execute("SELECT snapshot.refresh_view(%s, false)", [name])


# --- fmw_reader -------------------------------------------------------------------------


@pytest.mark.pg15
def test_reader_can_select_every_snapshot_view(sql_conn: psycopg.Connection) -> None:
    processed_batch(sql_conn)
    populate_snapshot(sql_conn)

    with acting_as(sql_conn, "fmw_reader"):
        counts = {
            view: sql_conn.execute(
                sql.SQL("SELECT count(*) FROM snapshot.{}").format(sql.Identifier(view))
            ).fetchone()[0]
            for view in SNAPSHOT_VIEWS
        }
    assert counts["current_records"] == 1, "fmw_reader sees the records in the snapshot"
    assert set(counts) == set(SNAPSHOT_VIEWS)


@pytest.mark.pg15
@pytest.mark.parametrize(
    "table", ["core.record", "raw.row", "raw.cells", "raw.file", "ops.batch", "core.source_record"]
)
def test_reader_cannot_select_private_tables(sql_conn: psycopg.Connection, table: str) -> None:
    assert_denied(sql_conn, "fmw_reader", f"SELECT * FROM {table}")


@pytest.mark.pg15
def test_reader_cannot_process_batches(sql_conn: psycopg.Connection) -> None:
    batch_id = register(sql_conn)

    assert_denied(sql_conn, "fmw_reader", f"SELECT * FROM core.process_batch({batch_id})")
    assert_denied(
        sql_conn,
        "fmw_reader",
        "SELECT ops.register_batch('x', 1, 'x.csv', repeat('c', 64), 'utf-8', '{feature_code}')",
    )


@pytest.mark.pg15
def test_reader_cannot_refresh_the_snapshot(sql_conn: psycopg.Connection) -> None:
    populate_snapshot(sql_conn)

    assert_denied(sql_conn, "fmw_reader", "SELECT snapshot.refresh_view('home_summary', false)")
    assert_denied(sql_conn, "fmw_reader", "SELECT snapshot.mark_refreshed()")
    assert_denied(sql_conn, "fmw_reader", "REFRESH MATERIALIZED VIEW snapshot.home_summary")


# --- fmw_loader -------------------------------------------------------------------------


@pytest.mark.pg15
def test_loader_lands_processes_and_refreshes(sql_conn: psycopg.Connection) -> None:
    with acting_as(sql_conn, "fmw_loader"):
        batch_id = register(sql_conn)
        rows = [(2, ["PAY-001", "on", "김민준"]), (3, ["PAY-002", "off", "이서연"])]
        land_raw_rows(sql_conn, batch_id, rows)
        status, inserted = sql_conn.execute(
            "SELECT status, inserted FROM core.process_batch(%s)", [batch_id]
        ).fetchone()
        refreshed = {
            view: sql_conn.execute("SELECT snapshot.refresh_view(%s, false)", [view]).fetchone()[0]
            for (view, _) in sql_conn.execute("SELECT * FROM snapshot.refresh_plan(true)")
        }
        sql_conn.execute("SELECT snapshot.mark_refreshed()")

    assert (status, inserted) == ("processed", 2), "fmw_loader processes what it landed"
    totals = sql_conn.execute(
        "SELECT status, records FROM snapshot.home_summary WHERE dimension = 'total' ORDER BY 1"
    ).fetchall()
    assert totals == [("disabled", 1), ("enabled", 1)], "fmw_loader refreshes the summary"
    assert refreshed == {"home_summary": 8}, "the one materialized view; 4 grouping sets x 2"
    sizes = sql_conn.execute(
        "SELECT relname, reltuples FROM pg_class WHERE relnamespace = 'core'::regnamespace"
        " AND relname IN ('source_record', 'record', 'record_history') ORDER BY 1"
    ).fetchall()
    assert sizes == [("record", 2), ("record_history", 2), ("source_record", 2)], (
        "a first load ANALYZEs the core tables even when fmw_loader runs it"
    )


@pytest.mark.pg15
def test_loader_cannot_write_core_tables_directly(sql_conn: psycopg.Connection) -> None:
    batch_id = processed_batch(sql_conn)
    statements = [
        "UPDATE core.record SET owner = 'x'",
        "DELETE FROM core.record",
        "INSERT INTO core.record (identity_hash, feature_code, status, source, source_row, "
        "content_hash, is_active, first_seen_at, last_changed_at, last_batch_id) "
        f"VALUES (repeat('0', 64), 'X', 'enabled', 'team', 2, gen_random_uuid(), true, now(), "
        f"now(), {batch_id})",
        "UPDATE core.source_record SET owner = 'x'",
        "DELETE FROM core.source_record",
        "INSERT INTO core.source_record SELECT * FROM core.source_record",
        "UPDATE core.record_history SET change = 'updated'",
        "DELETE FROM core.record_history",
    ]
    for statement in statements:
        assert_denied(sql_conn, "fmw_loader", statement)
    assert sql_conn.execute("SELECT owner FROM core.record").fetchall() == [("김민준",)]


@pytest.mark.pg15
def test_loader_cannot_delete_or_change_landed_rows(sql_conn: psycopg.Connection) -> None:
    processed_batch(sql_conn)

    for table in ("raw.cells", "raw.batch_rows", "raw.file", "raw.file_part"):
        assert_denied(sql_conn, "fmw_loader", f"DELETE FROM {table}")
        assert_denied(sql_conn, "fmw_loader", f"TRUNCATE {table}")
    assert_denied(sql_conn, "fmw_loader", "UPDATE raw.cells SET cells = '{}'")
    assert_denied(sql_conn, "fmw_loader", "UPDATE raw.batch_rows SET prints = '{}'")
    assert_denied(sql_conn, "fmw_loader", "UPDATE raw.file_part SET data = ''")
    assert sql_conn.execute("SELECT count(*) FROM raw.row").fetchone() == (1,)


@pytest.mark.pg15
@pytest.mark.parametrize("schema", FMW_SCHEMAS)
def test_loader_cannot_create_tables(sql_conn: psycopg.Connection, schema: str) -> None:
    assert_denied(sql_conn, "fmw_loader", f"CREATE TABLE {schema}.intruder (id integer)")


@pytest.mark.pg15
def test_loader_cannot_drop_anything(sql_conn: psycopg.Connection) -> None:
    statements = [
        "DROP TABLE core.record",
        "DROP TABLE raw.cells",
        "DROP VIEW raw.row",
        "DROP TABLE ops.batch",
        "DROP MATERIALIZED VIEW snapshot.home_summary",
        "DROP VIEW snapshot.current_records",
        "DROP FUNCTION core.process_batch(bigint, boolean, text)",
        "DROP INDEX core.record_history_changed_at_idx",
        "DROP SCHEMA raw CASCADE",
    ]
    for statement in statements:
        assert_denied(sql_conn, "fmw_loader", statement)


# --- ownership ----------------------------------------------------------------------------


@pytest.mark.pg15
def test_every_fmw_object_is_owned_by_fmw_owner(sql_conn: psycopg.Connection) -> None:
    schemas = list(FMW_SCHEMAS)
    foreign_schemas = sql_conn.execute(
        "SELECT nspname, nspowner::regrole::text FROM pg_namespace "
        "WHERE nspname = ANY(%s) AND nspowner <> 'fmw_owner'::regrole",
        [schemas],
    ).fetchall()
    relations = sql_conn.execute(
        "SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s)",
        [schemas],
    ).fetchone()[0]
    foreign_relations = sql_conn.execute(
        "SELECT n.nspname || '.' || c.relname, c.relkind, c.relowner::regrole::text "
        "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relowner <> 'fmw_owner'::regrole ORDER BY 1",
        [schemas],
    ).fetchall()
    foreign_functions = sql_conn.execute(
        "SELECT p.oid::regprocedure::text, p.proowner::regrole::text "
        "FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE n.nspname = ANY(%s) AND p.proowner <> 'fmw_owner'::regrole ORDER BY 1",
        [schemas],
    ).fetchall()

    assert len(foreign_schemas) == 0, f"FMW schemas owned by someone else: {foreign_schemas}"
    assert relations > 20, "the FMW schemas hold the tables, views, indexes and sequences"
    assert foreign_relations == [], "every table, view, index and sequence is fmw_owner's"
    assert foreign_functions == [], "every FMW function is fmw_owner's"


# --- sources, vocabulary and the admin audit log -------------------------------------------


@pytest.mark.pg15
def test_loader_reads_the_vocabulary_and_reports_but_cannot_change_them(
    sql_conn: psycopg.Connection,
) -> None:
    processed_batch(sql_conn)
    with acting_as(sql_conn, "fmw_loader"):
        aliases = sql_conn.execute("SELECT count(*) FROM core.header_alias").fetchone()[0]
        reports = [
            sql_conn.execute(f"SELECT count(*) FROM {report}").fetchone()[0]
            for report in (
                "ops.source_overview()",
                "core.unknown_headers()",
                "core.unknown_status_words()",
            )
        ]
    assert aliases > 30, "fmw vocab list works for the loader's login"
    assert reports == [1, 0, 0], "fmw source list and fmw vocab unknown work for it too"
    for statement in [
        "SELECT * FROM core.add_header_alias('기능 ID', 'feature_code')",
        "SELECT * FROM core.remove_header_alias('상태', 'status')",
        "SELECT * FROM core.add_status_synonym('보류', 'planned')",
        "SELECT * FROM core.remove_status_synonym('on', 'enabled')",
        "SELECT * FROM core.reresolve_sources()",
        "SELECT * FROM ops.remove_source('team')",
        "SELECT ops.accept_source_shape('team')",
        "SELECT ops.record_admin_action('vocab.apply', 'x', NULL, NULL)",
        "INSERT INTO ops.admin_action (actor, action, target) VALUES ('x', 'a.b', 'x')",
        "INSERT INTO core.header_alias VALUES ('x', 'note', 'x')",
        "DELETE FROM core.status_synonym",
        "SELECT * FROM ops.admin_action",
    ]:
        assert_denied(sql_conn, "fmw_loader", statement)
    assert sql_conn.execute("SELECT count(*) FROM ops.admin_action").fetchone() == (0,)


@pytest.mark.pg15
def test_the_owner_changes_the_vocabulary_and_the_loader_applies_it(
    sql_conn: psycopg.Connection,
) -> None:
    with acting_as(sql_conn, "fmw_owner"):
        sql_conn.execute("SELECT core.add_status_synonym('보류', 'planned', 'kim')")
        sql_conn.execute("SELECT core.add_header_alias('기능 ID', 'feature_code', 'kim')")
    with acting_as(sql_conn, "fmw_loader"):
        batch_id, refusal = sql_conn.execute(
            "SELECT batch_id, refusal FROM ops.register_batch('team', 10, 'team.csv', "
            "repeat('d', 64), 'utf-8', '{기능 ID,상태}')"
        ).fetchone()
        land_raw_rows(sql_conn, batch_id, [(2, ["PAY-1", "보류"])])
        status = sql_conn.execute(
            "SELECT status FROM core.process_batch(%s)", [batch_id]
        ).fetchone()
    assert (refusal, status) == (None, ("processed",))
    assert sql_conn.execute("SELECT status FROM core.record").fetchall() == [("planned",)]
    assert sql_conn.execute(
        "SELECT action, actor FROM ops.admin_action ORDER BY action_id"
    ).fetchall() == [("vocab.status.add", "kim"), ("vocab.alias.add", "kim")]
