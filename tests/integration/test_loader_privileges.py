"""Issue 15, item 7: least privilege for the loader login, and source names as identifiers.

The refusals are asserted with a real LOGIN in fmw_loader (as fmw_sync is deployed), not
SET ROLE: the loader lands raw rows only into the batch its own session is landing, notes
cells only for it, and cannot change jobs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from fmw.errors import JobError, SettingsError, SourceNameError
from fmw.loader.landing import SourceSpec, load_file
from fmw.scheduler.jobs import schedule_job, unschedule_job
from fmw.settings import Settings, SourceSettings, check_source_name_grammar, load_settings
from tests.support.checksums import data_checksums
from tests.support.raw_rows import land_raw_rows

HEADER = "feature_code,policy_code,status,owner\n"
LOGIN = f"fmw_sync_test_{os.getpid()}"


@pytest.fixture
def loader(conn: psycopg.Connection, db_url: str) -> Iterator[psycopg.Connection]:
    """A connection as a real login that is a member of fmw_loader only."""
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(LOGIN)))
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE fmw_loader").format(sql.Identifier(LOGIN)))
    url = psycopg.conninfo.make_conninfo(db_url, user=LOGIN)
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            assert connection.execute("SELECT session_user").fetchone() == (LOGIN,)
            yield connection
    finally:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(LOGIN)))


def load(conn: psycopg.Connection, tmp_path: Path, name: str, body: str) -> int:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    result = load_file(conn, SourceSpec("team"), path)
    assert result.batch_id is not None
    return result.batch_id


def test_the_loader_lands_its_own_batch_and_nothing_else(
    conn: psycopg.Connection, loader: psycopg.Connection, tmp_path: Path
):
    processed = load(loader, tmp_path, "a.csv", "A-1,P1,on,kim\n")
    assert loader.execute(
        "SELECT status FROM ops.batch WHERE batch_id = %s", [processed]
    ).fetchone() == ("processed",)
    before = data_checksums(conn)

    with pytest.raises(errors.InsufficientPrivilege, match=f"batch {processed} is not"):
        land_raw_rows(loader, processed, [(99, ["X", "P", "on", "me"])])
    with pytest.raises(errors.InsufficientPrivilege, match="landed by this session"):
        loader.execute("SELECT ops.note_cells(%s, '{2}', '{1}', '{forged}', '{x}')", [processed])
    # A batch another session is landing right now (its landing lock held there).
    other = conn.execute(
        "SELECT batch_id FROM ops.register_batch('team', 100, 'b.csv', %s, 'utf-8', %s)",
        ["b" * 64, HEADER.strip().split(",")],
    ).fetchone()
    assert other is not None
    with pytest.raises(errors.InsufficientPrivilege, match=f"batch {other[0]} is not"):
        land_raw_rows(loader, other[0], [(2, ["X", "P", "on", "me"])])
    with pytest.raises(errors.InsufficientPrivilege, match="landed by this session"):
        loader.execute("SELECT ops.note_cells(%s, '{2}', '{1}', '{forged}', '{x}')", [other[0]])
    with pytest.raises(errors.InsufficientPrivilege):
        loader.execute("DELETE FROM raw.batch_rows")
    # Rows are stored by their print: none can be stored under another row's print.
    kept = loader.execute("SELECT print FROM raw.cells WHERE cells = '{A-1,P1,on,kim}'").fetchone()
    assert kept is not None
    with pytest.raises(errors.CheckViolation, match="cells_print_matches"):
        loader.execute("INSERT INTO raw.cells (print, cells) VALUES (%s, '{A-1,P1,off,kim}')", kept)
    assert data_checksums(conn) == before


def test_the_loader_cannot_change_jobs(conn: psycopg.Connection, loader: psycopg.Connection):
    jobs = conn.execute("SELECT jobname, schedule, command FROM ops.job ORDER BY jobname")
    before = jobs.fetchall()
    assert before, "the migrations schedule the daily jobs"
    name = before[0][0]
    with pytest.raises(errors.InsufficientPrivilege):
        loader.execute("SELECT ops.unschedule(%s)", [name])
    with pytest.raises(errors.InsufficientPrivilege):
        loader.execute("SELECT ops.schedule('evil', '* * * * *', 'SELECT 1')")
    for statement in (
        "UPDATE ops.job SET command = 'SELECT 1'",
        "DELETE FROM ops.job",
        "INSERT INTO ops.job_run_details (jobid, status) VALUES (1, 'succeeded')",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            loader.execute(statement)
    with pytest.raises(JobError, match="jobs are changed by the admin login"):
        unschedule_job(loader, name)
    with pytest.raises(JobError, match="jobs are changed by the admin login"):
        schedule_job(loader, "evil", "0 3 * * *", "fmw:sync")
    after = conn.execute("SELECT jobname, schedule, command FROM ops.job ORDER BY jobname")
    assert after.fetchall() == before
    schedule_job(conn, "owner-job", "0 3 * * *", "fmw:export")  # the owner still may


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Team",
        "team-a",
        "1team",
        "../../etc/passwd",
        "a" * 64,
        "a" * 10_000,
        "tab\tname",
        "팀",
        "team\x00",
    ],
)
def test_a_source_name_that_is_not_an_identifier_is_refused(name: str):
    with pytest.raises(SourceNameError, match="is not allowed: a source name is a lowercase"):
        check_source_name_grammar(name)
    with pytest.raises(ValueError, match="is not allowed"):
        Settings(sources={name: SourceSettings(path="x.csv")})


@pytest.mark.parametrize("name", ["a", "team_a", "t2", "a" * 63])
def test_a_source_name_that_is_an_identifier_is_taken(name: str):
    assert check_source_name_grammar(name) == name


def test_a_long_name_is_shortened_in_the_message():
    with pytest.raises(SourceNameError) as caught:
        check_source_name_grammar("x" * 10_000)
    assert "(10,000 characters)" in str(caught.value) and len(str(caught.value)) < 200


def test_fmw_toml_with_a_bad_source_name_is_one_line(tmp_path: Path, monkeypatch):
    (tmp_path / "fmw.toml").write_text('[sources."../../etc/passwd"]\npath = "x.csv"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=r"source name '\.\./\.\./etc/passwd' is not allowed"):
        load_settings()


def test_the_database_refuses_a_bad_source_name_too(conn: psycopg.Connection):
    with pytest.raises(errors.CheckViolation, match="source_name_check"):
        conn.execute(
            "SELECT ops.register_batch('../x', 100, 'x.csv', %s, 'utf-8', %s)",
            ["c" * 64, HEADER.strip().split(",")],
        )
