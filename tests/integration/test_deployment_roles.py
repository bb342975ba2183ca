"""A configured deployment end to end with its own roles, and no superuser after the bootstrap.

``db/bootstrap/roles.sql`` (what a DBA runs once) creates an owner login and a
loader login; the database belongs to the owner login. Then, on the default
server and on PostgreSQL 15: migrations run as the owner login, and ``fmw
sync`` (load, process, refresh, export), ``fmw export`` and a scheduled job
(``fmw job run``) run as the loader login — through the real ``fmw`` command.
The loader cannot migrate nor write a core table itself. Login names are made
unique per test (roles are cluster-wide) and dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from fmw import migrations
from tests.support.postgres import Server

BOOTSTRAP = Path(__file__).resolve().parents[2] / "db" / "bootstrap" / "roles.sql"
FMW = [sys.executable, "-m", "fmw"]
SOURCE = "feature_code,status,owner\nPAY-001,on,김민준\nPAY-002,off,lee\nPAY-003,on,park\n"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Deployment:
    owner_url: str
    loader_url: str
    web_url: str
    owner: str
    loader: str
    web: str
    admin_url: str
    bootstrap: str


@pytest.fixture(params=["default", "pg15"])
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    server: Server = request.getfixturevalue(
        "pg_server" if request.param == "default" else "pg15_server"
    )
    tag = f"{os.getpid()}_{next(_serial)}"
    owner, loader, dbname = f"fmw_admin_t{tag}", f"fmw_sync_t{tag}", f"fmw_deploy_{tag}"
    web = f"fmw_web_t{tag}"
    script = (
        BOOTSTRAP.read_text()
        .replace("fmw_admin", owner)
        .replace("fmw_sync", loader)
        .replace("fmw_web", web)
    )
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(script)  # type: ignore[arg-type]  # a file's SQL, not an f-string
        admin.execute(f'CREATE DATABASE "{dbname}" OWNER "{owner}"')
    params = conninfo_to_dict(server.admin_url)
    params.pop("password", None)
    params["dbname"] = dbname
    try:
        yield Deployment(
            make_conninfo(**{**params, "user": owner}),
            make_conninfo(**{**params, "user": loader}),
            make_conninfo(**{**params, "user": web}),
            owner,
            loader,
            web,
            server.admin_url,
            script,
        )
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            # PostgreSQL 16+ records the owner login as grantor of 00_roles.sql's
            # GRANT fmw_reader TO fmw_loader (a second grant beside the superuser's); it must
            # go before the login can. Before 16 there is one grant and REVOKE would end it.
            if admin.info.server_version >= 160000:
                admin.execute(f'REVOKE fmw_reader FROM fmw_loader GRANTED BY "{owner}"')
            admin.execute(f'DROP ROLE IF EXISTS "{owner}", "{loader}", "{web}"')


def fmw(folder: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMW_")}
    env.update({"FMW_DATABASE_URL": url, "COLUMNS": "200", "FMW_SCHEDULER__TIME_ZONE": "UTC"})
    return subprocess.run(
        [*FMW, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )


def migrated(deployment: Deployment) -> None:
    with psycopg.connect(deployment.owner_url, autocommit=True) as conn:
        migrations.upgrade(conn)


def test_the_logins_are_no_superusers_and_the_bootstrap_can_run_twice(deployment: Deployment):
    with psycopg.connect(deployment.admin_url, autocommit=True) as admin:
        admin.execute(deployment.bootstrap)  # type: ignore[arg-type]  # a file's SQL, not an f-string
    with psycopg.connect(deployment.owner_url) as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole FROM pg_roles "
            "WHERE rolname IN (%s, %s, %s) ORDER BY rolname",
            [deployment.owner, deployment.loader, deployment.web],
        ).fetchall()
    logins = (deployment.owner, deployment.loader, deployment.web)
    assert rows == sorted((login, False, False) for login in logins)


def test_migrations_run_as_the_owner_login_and_everything_belongs_to_fmw_owner(
    deployment: Deployment,
):
    migrated(deployment)
    with psycopg.connect(deployment.owner_url) as conn:
        state = migrations.status(conn)
        strays = conn.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('ops', 'raw', 'core', 'snapshot') "
            "AND pg_get_userbyid(c.relowner) <> 'fmw_owner'"
        ).fetchall()
    assert state.is_current and not state.drift
    assert strays == []


def test_the_loader_login_syncs_exports_and_runs_jobs_through_fmw(
    deployment: Deployment, tmp_path: Path
):
    migrated(deployment)
    (tmp_path / "team.csv").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "fmw.toml").write_text('[sources.team]\npath = "team.csv"\n', encoding="utf-8")

    synced = fmw(tmp_path, deployment.loader_url, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "inserted 3" in synced.stdout and "snapshot " in synced.stdout

    exported = fmw(tmp_path, deployment.loader_url, "export")
    assert exported.returncode == 0, exported.stderr

    job = fmw(tmp_path, deployment.loader_url, "job", "run", "daily-report")
    assert job.returncode == 0, job.stdout + job.stderr
    assert (tmp_path / "var" / "admin" / "security.json").exists()

    with psycopg.connect(deployment.loader_url) as conn:
        records = conn.execute("SELECT count(*) FROM snapshot.current_records").fetchone()
        runs = conn.execute(
            "SELECT status FROM ops.job_run_details JOIN ops.job USING (jobid) "
            "WHERE jobname = 'daily-report'"
        ).fetchall()
    assert records == (3,)
    assert runs == [("succeeded",)]


def test_a_sql_job_of_the_owner_login_fails_under_the_scheduler_saying_why(
    deployment: Deployment, tmp_path: Path
):
    migrated(deployment)
    scheduled = fmw(
        tmp_path, deployment.owner_url, "job", "schedule", "tally", "@daily", "SELECT 1"
    )
    assert scheduled.returncode == 0, scheduled.stdout + scheduled.stderr
    run = fmw(tmp_path, deployment.loader_url, "job", "run", "tally")
    assert run.returncode != 0
    assert (
        f"job tally runs as {deployment.owner}, a role the scheduler's login "
        f"{deployment.loader} may not take: run it with `fmw job run tally` as {deployment.owner}"
    ) in run.stdout + run.stderr
    by_owner = fmw(tmp_path, deployment.owner_url, "job", "run", "tally")
    assert by_owner.returncode == 0, by_owner.stdout + by_owner.stderr


def test_the_loader_login_cannot_migrate_or_write_core_tables(
    deployment: Deployment, tmp_path: Path
):
    migrated(deployment)
    upgrade = fmw(tmp_path, deployment.loader_url, "db", "upgrade")
    assert upgrade.returncode != 0
    assert "permission denied" in upgrade.stderr
    with psycopg.connect(deployment.loader_url, autocommit=True) as conn:
        for statement in (
            "DELETE FROM core.record",
            "CREATE TABLE ops.mine (x int)",
            "DROP SCHEMA core CASCADE",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


def test_the_web_login_schedules_through_the_audited_function_only(deployment: Deployment):
    migrated(deployment)
    with psycopg.connect(deployment.web_url, autocommit=True) as conn:
        conn.execute("SELECT ops.admin_schedule('daily-report', '20 0 * * *', 'fmw:report', 'kim')")
        jobs = conn.execute("SELECT schedule FROM ops.job WHERE jobname = 'daily-report'")
        assert jobs.fetchone() == ("20 0 * * *",)
        audit = conn.execute("SELECT actor, db_user FROM ops.admin_action").fetchall()
        assert audit == [("kim", deployment.web)]
        for statement in (
            "UPDATE ops.job SET schedule = '* * * * *'",
            "DELETE FROM core.record",
            "CREATE TABLE django.mine (x int)",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


def test_vocabulary_changes_need_the_owner_login_and_psql_takes_the_right_role(
    deployment: Deployment, tmp_path: Path
):
    migrated(deployment)
    (tmp_path / "team.csv").write_text(SOURCE.replace("on,김민준", "보류,김민준"), encoding="utf-8")
    (tmp_path / "fmw.toml").write_text('[sources.team]\npath = "team.csv"\n', encoding="utf-8")
    assert fmw(tmp_path, deployment.loader_url, "sync").returncode == 0

    refused = fmw(tmp_path, deployment.loader_url, "vocab", "status", "add", "보류", "planned")
    added = fmw(tmp_path, deployment.owner_url, "vocab", "status", "add", "보류", "planned")
    reader = fmw(
        tmp_path, deployment.loader_url, "psql", "--read-only", "-At",
        "-c", "SELECT status FROM snapshot.current_records ORDER BY 1",
    )  # fmt: skip
    no_owner = fmw(tmp_path, deployment.loader_url, "psql", "-c", "SELECT 1")

    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "is an admin change and this database login may not make it" in refused.stderr
    assert added.returncode == 0, added.stderr
    assert "1 record changed as users see them" in added.stdout
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.split() == ["disabled", "enabled", "planned"]
    assert no_owner.returncode == 1
    assert f"login {deployment.loader} is not a member of fmw_owner" in no_owner.stderr
    with psycopg.connect(deployment.owner_url) as conn:
        audit = conn.execute("SELECT action, db_user FROM ops.admin_action ORDER BY 1").fetchall()
    assert audit == [("vocab.apply", deployment.owner), ("vocab.status.add", deployment.owner)]
