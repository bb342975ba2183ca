"""fmw_console, the web app's group role, checked with SET ROLE on the default server and on
PostgreSQL 15: it does each thing the console does (read the bookkeeping, approve, map a
header or a status word, re-resolve, schedule, ask for a run) and is refused, by
PostgreSQL itself, everything else: DDL, direct writes to core, raw and the job tables,
the audit log and the functions the console does not call.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from fmw import database
from fmw.database import embedded_login
from fmw.settings import Settings, WebSettings
from fmw.web.conf import WEB_GROUP, WEB_LOGIN, database_url
from tests.support.raw_rows import land_raw_rows
from tests.support.roles import acting_as, processed_batch, register

ROLE = "fmw_console"


def refused(conn: psycopg.Connection, statement: str) -> str:
    """The message PostgreSQL refuses ``statement`` with when fmw_console runs it."""
    with acting_as(conn, ROLE), pytest.raises(errors.InsufficientPrivilege) as caught:
        conn.execute(statement)  # type: ignore[arg-type]  # fixed test SQL
    return str(caught.value)


@pytest.mark.pg15
def test_the_console_reads_the_bookkeeping_it_shows(sql_conn: psycopg.Connection) -> None:
    batch_id = processed_batch(sql_conn)
    with acting_as(sql_conn, ROLE):
        batches = sql_conn.execute("SELECT batch_id, status FROM ops.batch").fetchall()
        jobs = sql_conn.execute("SELECT jobname FROM ops.job ORDER BY jobname").fetchall()
        aliases = sql_conn.execute("SELECT count(*) FROM core.header_alias").fetchone()
        sources = sql_conn.execute("SELECT source FROM ops.source_overview()").fetchall()
        rate = sql_conn.execute("SELECT * FROM ops.sync_success_rate").fetchone()
        sql_conn.execute("SELECT count(*) FROM ops.admin_action").fetchone()
    assert batches == [(batch_id, "processed")]
    assert [j for (j,) in jobs] == [
        "daily-backup",
        "daily-report",
        "daily-sync",
        "weekly-prune-history",
    ]
    assert aliases is not None and aliases[0] > 0
    assert sources == [("team",)]
    assert rate is not None


@pytest.mark.pg15
def test_the_console_maps_vocabulary_and_reresolves_audited(sql_conn: psycopg.Connection) -> None:
    processed_batch(sql_conn)
    with acting_as(sql_conn, ROLE):
        added = sql_conn.execute(
            "SELECT field_after FROM core.add_header_alias('기능 번호', 'feature_code', 'kim')"
        ).fetchone()
        synonym = sql_conn.execute(
            "SELECT status_after FROM core.add_status_synonym('켜짐', 'enabled', 'kim')"
        ).fetchone()
        sql_conn.execute("SELECT * FROM core.reresolve_sources('kim')")
        removed = sql_conn.execute(
            "SELECT field_before FROM core.remove_header_alias('기능 번호', 'feature_code', 'kim')"
        ).fetchone()
    assert (added, synonym, removed) == (("feature_code",), ("enabled",), ("feature_code",))
    audit = sql_conn.execute(
        "SELECT action, actor, db_user FROM ops.admin_action ORDER BY action_id"
    ).fetchall()
    assert [a[:2] for a in audit[:2]] == [("vocab.alias.add", "kim"), ("vocab.status.add", "kim")]
    assert audit[-1][:2] == ("vocab.alias.remove", "kim")


@pytest.mark.pg15
def test_the_console_approves_a_batch_and_schedules_audited(sql_conn: psycopg.Connection) -> None:
    batch_id = register(sql_conn, "c")
    land_raw_rows(sql_conn, batch_id, [(2, ["PAY-009", "on", "lee"])])
    with acting_as(sql_conn, ROLE):
        processed = sql_conn.execute(
            "SELECT status FROM core.process_batch(%s, true, 'kim')", [batch_id]
        ).fetchone()
        jobid = sql_conn.execute(
            "SELECT ops.admin_schedule('daily-sync', '0 7 * * *', 'fmw:sync', 'kim')"
        ).fetchone()
    assert processed == ("processed",)
    job = sql_conn.execute("SELECT jobid, schedule FROM ops.job WHERE jobname = 'daily-sync'")
    assert jobid is not None and job.fetchone() == (jobid[0], "0 7 * * *")
    audit = sql_conn.execute(
        "SELECT actor, before ->> 'schedule', after ->> 'schedule' FROM ops.admin_action "
        "WHERE action = 'job.schedule'"
    ).fetchall()
    assert audit == [("kim", "0 6 * * *", "0 7 * * *")]


@pytest.mark.pg15
@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("CREATE TABLE ops.console_notes (note text)", "schema ops"),
        ("CREATE TABLE django.notes (note text)", "schema django"),
        ("CREATE SCHEMA console", "database"),
        ("ALTER TABLE ops.job ADD COLUMN note text", "must be owner of table job"),
        ("DROP TABLE django.django_session", "must be owner of table django_session"),
        ("INSERT INTO core.record (identity_hash) VALUES ('x')", "table record"),
        ("UPDATE core.record SET is_active = false", "table record"),
        ("DELETE FROM core.record", "table record"),
        ("INSERT INTO raw.cells (print, cells) VALUES (md5('{}')::uuid, '{}')", "table cells"),
        ("DELETE FROM raw.batch_rows", "table batch_rows"),
        ("SELECT * FROM raw.file_part", "table file_part"),
        ("UPDATE ops.batch SET status = 'processed'", "table batch"),
        (
            "INSERT INTO ops.job (jobname, schedule, command) VALUES ('x', '@daily', 'SELECT 1')",
            "table job",
        ),
        ("UPDATE ops.job SET active = false", "table job"),
        ("DELETE FROM ops.job_run_details", "table job_run_details"),
        (
            "INSERT INTO ops.admin_action (actor, action, target) VALUES ('x', 'a.b', 't')",
            "table admin_action",
        ),
        ("SELECT ops.record_admin_action('a.b', 't', NULL, NULL)", "function record_admin_action"),
        ("SELECT ops.schedule('x', '* * * * *', 'SELECT 1')", "function schedule"),
        ("SELECT ops.unschedule('daily-sync')", "function unschedule"),
        ("SELECT ops.start_job_run(1, now(), 1, NULL)", "function start_job_run"),
        ("SELECT * FROM ops.remove_source('team', 'kim')", "function remove_source"),
        ("SELECT count(*) FROM snapshot.current_records", "schema snapshot"),
    ],
)
def test_the_console_is_refused_everything_else(
    sql_conn: psycopg.Connection, statement: str, reason: str
) -> None:
    """``reason``: what PostgreSQL says, "permission denied for ..." unless it is spelt out."""
    if not reason.startswith("must be"):
        reason = f"permission denied for {reason}"
    assert reason in refused(sql_conn, statement)


def test_the_embedded_servers_web_login_is_made_once_in_fmw_console(db_url: str) -> None:
    """What `fmw web` does on the embedded server (no DBA there to run roles.sql)."""
    url = embedded_login(db_url, WEB_LOGIN, WEB_GROUP)
    embedded_login.cache_clear()
    assert embedded_login(db_url, WEB_LOGIN, WEB_GROUP) == url  # a second time changes nothing
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT current_user, pg_has_role(current_user, 'fmw_console', 'MEMBER'), "
            "pg_has_role(current_user, 'fmw_owner', 'MEMBER')"
        ).fetchone()
    assert row == ("fmw_web", True, False)


def test_fmw_web_connects_as_fmw_web_on_the_embedded_server_else_as_configured(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FMW_DATABASE_URL", raising=False)
    monkeypatch.setattr(database, "start_embedded", lambda pgdata, announce=None: db_url)
    embedded = Settings(base_dir=tmp_path, var_dir=tmp_path / "var")
    assert conninfo_to_dict(database_url(embedded))["user"] == "fmw_web"
    configured = Settings(base_dir=tmp_path, database_url="postgresql://fmw_sync@db/fmw")
    assert database_url(configured) == "postgresql://fmw_sync@db/fmw"
    web = WebSettings(database_url="postgresql://fmw_web@db/fmw")
    assert database_url(Settings(base_dir=tmp_path, web=web)) == "postgresql://fmw_web@db/fmw"
