"""``fmw doctor``: the admin's morning check, one line per check, done in seconds.

Each check returns a ``Check``: ok (True), red (False) or not applicable
(None), a short detail, and for red the next step to take. Checks never change
anything and never raise: an unexpected error is itself a red line. This module
must never fix what it finds; the one thing it writes is a label: a landed batch
no loader holds any more is marked interrupted (``ops.mark_interrupted_batches``),
so `fmw batch retry` and `fmw batch discard` take it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from fmw import database, migrations
from fmw.backup.dump import BACKUP_LOCK_KEY, SCRATCH_PREFIX, scratch_databases
from fmw.backup.files import interrupted_files, latest_verified
from fmw.doctor.listening import deployment_problems
from fmw.edge.config import conf_path, nginx_executable, nginx_url, prefix_path
from fmw.edge.install import nginx_test
from fmw.errors import EdgeError, FmwError, ServiceError
from fmw.scheduler.status import heartbeat_of, read_status, status_path
from fmw.services.control import service_states
from fmw.services.model import describe_services, web_health_url
from fmw.settings import Settings, settings_file
from fmw.snapshot.generations import interrupted_publishes, latest_good_generation
from fmw.sync import PUBLISH_LOCK_KEY

MIN_FREE_BYTES = 2 * 1024**3
MIN_FREE_SHARE = 0.05
BACKUP_MAX_AGE = timedelta(hours=26)  # a daily backup, with two hours of slack
HEARTBEATS_MISSED = 3


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool | None
    detail: str
    next_step: str = ""


CheckFn = Callable[["Context"], Iterator[Check]]


@dataclass
class Context:
    """What the checks share: settings, the time, and a connection if one could be made."""

    settings: Settings
    now: datetime
    conn: psycopg.Connection | None = None
    db_error: str | None = None
    schema_current: bool = False


def _age(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def check_database(ctx: Context) -> Iterator[Check]:
    if ctx.conn is None:
        yield Check(
            "database",
            False,
            ctx.db_error or "not reachable",
            "start PostgreSQL (or its service) and check FMW_DATABASE_URL",
        )
        return
    state = migrations.status(ctx.conn)
    where = database.describe(ctx.conn.info.dsn)
    if state.drift:
        yield Check(
            "database",
            False,
            f"{where}: {state.drift[0]}",
            "restore the edited migration file from the release",
        )
    elif not state.is_current:
        yield Check("database", False, f"{where}: {state.pending_text} pending", "fmw db upgrade")
    else:
        ctx.schema_current = True
        yield Check("database", True, f"{where}: {len(state.applied)} migrations, current")


def check_sync(ctx: Context) -> Iterator[Check]:
    if ctx.conn is None or not ctx.schema_current:
        yield Check("last sync", None, "not checked: the database is not reachable and current")
        return
    last = ctx.conn.execute(
        "SELECT d.status, d.end_time, d.return_message FROM ops.job_run_details AS d "
        "WHERE d.command = 'fmw:sync' AND d.end_time IS NOT NULL "
        "ORDER BY d.end_time DESC LIMIT 1"
    ).fetchone()
    due = timedelta(hours=ctx.settings.sync_every_hours + ctx.settings.freshness_grace_hours)
    if last is None:
        yield Check(
            "last sync",
            False,
            "no scheduled sync has run yet",
            "start the scheduler (fmw service start) or run fmw job run daily-sync",
        )
    else:
        status, ended, message = last
        if status != "succeeded":
            yield Check(
                "last sync",
                False,
                f"{status} {_age(ended, ctx.now)}: {message or ''}",
                "fmw job history daily-sync; fix the source, then fmw job run daily-sync",
            )
        elif ctx.now - ended > due:
            yield Check(
                "last sync",
                False,
                f"succeeded, but {_age(ended, ctx.now)}",
                "is the scheduler running? fmw service status",
            )
        else:
            yield Check("last sync", True, f"succeeded {_age(ended, ctx.now)}")
    rate = ctx.conn.execute(
        "SELECT success_rate, days_counted FROM ops.sync_success_rate"
    ).fetchone()
    if rate is None or rate[0] is None:
        yield Check("sync success rate", None, "no days counted yet")
    else:
        share, days = float(rate[0]), rate[1]
        yield Check(
            "sync success rate",
            share >= 0.98,
            f"{share:.1%} of {days} days (bar: 98%)",
            "fmw job history daily-sync shows the failed days",
        )


def check_snapshot(ctx: Context) -> Iterator[Check]:
    root = ctx.settings.snapshot_path
    try:
        generation, problems = latest_good_generation(root, verify=True)
    except FmwError as exc:
        yield Check("snapshot", False, str(exc), "fmw sync")
        return
    limit = timedelta(hours=ctx.settings.sync_every_hours + ctx.settings.freshness_grace_hours)
    age = ctx.now - generation.generated_at
    if problems:
        yield Check("snapshot", False, f"serving {generation.id}; {problems[0]}", "fmw export")
    elif age > limit:
        yield Check(
            "snapshot",
            False,
            f"{generation.id} is from {_age(generation.generated_at, ctx.now)}",
            "fmw sync, then find out why the scheduled sync did not run",
        )
    else:
        yield Check(
            "snapshot",
            True,
            f"{generation.id}, {_age(generation.generated_at, ctx.now)}, "
            f"{len(generation.files)} files verified",
        )


def check_batches(ctx: Context) -> Iterator[Check]:
    if ctx.conn is None or not ctx.schema_current:
        yield Check("batches", None, "not checked: the database is not reachable and current")
        return
    ctx.conn.execute("SELECT count(*) FROM ops.mark_interrupted_batches()")
    rows = ctx.conn.execute(
        "SELECT b.batch_id, b.source, b.file_name FROM ops.batch AS b "
        "WHERE b.status = 'interrupted' ORDER BY b.batch_id"
    ).fetchall()
    if not rows:
        yield Check("batches", True, "no interrupted batch")
        return
    first = rows[0][0]
    names = ", ".join(f"{b} ({source}, {file})" for b, source, file in rows[:3])
    yield Check(
        "batches",
        False,
        f"{len(rows)} interrupted batch{'es' if len(rows) > 1 else ''}, landed but never "
        f"processed: {names}{' …' if len(rows) > 3 else ''}",
        f"fmw batch retry {first} (or fmw batch discard {first})",
    )


def check_backup(ctx: Context) -> Iterator[Check]:
    newest = latest_verified(ctx.settings.backup_path)
    if newest is None:
        yield Check(
            "backup", False, f"no verified backup in {ctx.settings.backup_path}", "fmw backup"
        )
    elif ctx.now - newest.created_at > BACKUP_MAX_AGE:
        yield Check(
            "backup",
            False,
            f"newest verified {newest.stem} is from {_age(newest.created_at, ctx.now)}",
            "fmw backup; check the backup job",
        )
    else:
        how = newest.verification.get("method", "verified")
        yield Check("backup", True, f"{newest.stem}, {_age(newest.created_at, ctx.now)}, {how}")


# What interrupted runs leave. A lock held by a session means its operation is running and
# the files are its own; read from pg_locks, so checking never takes a lock someone starting
# now would miss.
LOCK_HELD = """
SELECT EXISTS (
    SELECT FROM pg_catalog.pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1
      AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
      AND classid = (%(key)s >> 32)::oid AND objid = (%(key)s & 4294967295)::oid
)
"""
# Scratch databases of backups before FMW named them after the database they prove.
OLD_SCRATCH = re.compile(rf"{SCRATCH_PREFIX}\d+_\d{{14}}")


def _lock_held(conn: psycopg.Connection, key: int) -> bool:
    found = conn.execute(LOCK_HELD, {"key": key}).fetchone()
    return bool(found and found[0])


def _size(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
            with contextlib.suppress(OSError):
                total += item.stat().st_size if item.is_file() else 0
    return total


def _human(size: int) -> str:
    value, unit = float(size), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _database_sizes(conn: psycopg.Connection, names: list[str]) -> int:
    found = conn.execute(
        "SELECT coalesce(sum(pg_database_size(d)), 0)::bigint FROM unnest(%s::text[]) AS d "
        "WHERE has_database_privilege(d, 'CONNECT')",
        [names],
    ).fetchone()
    return int(found[0]) if found else 0


def check_export_leftovers(ctx: Context) -> Iterator[Check]:
    folders = interrupted_publishes(ctx.settings.snapshot_path)
    if not folders:
        yield Check("export leftovers", True, "no .partial generation folder")
    elif ctx.conn is not None and _lock_held(ctx.conn, PUBLISH_LOCK_KEY):
        yield Check("export leftovers", None, "an export is running: its .partial folder is in use")
    else:
        yield Check(
            "export leftovers",
            False,
            f"{len(folders)} .partial generation folder{'s' if len(folders) > 1 else ''} "
            f"({_human(_size(folders))}) left by interrupted exports: "
            f"{', '.join(f.name for f in folders[:3])}{' …' if len(folders) > 3 else ''}",
            "fmw export (it removes them first)",
        )


def check_backup_leftovers(ctx: Context) -> Iterator[Check]:
    files = interrupted_files(ctx.settings.backup_path)
    scratch: list[str] = []
    old: list[str] = []
    if ctx.conn is not None:
        if _lock_held(ctx.conn, BACKUP_LOCK_KEY):
            yield Check("backup leftovers", None, "a backup is running: its files are in use")
            return
        scratch = scratch_databases(ctx.conn, ctx.conn.info.dbname)
        rows = ctx.conn.execute(
            "SELECT datname FROM pg_catalog.pg_database WHERE starts_with(datname, %s)",
            [SCRATCH_PREFIX],
        ).fetchall()
        old = sorted(name for (name,) in rows if OLD_SCRATCH.fullmatch(name))
    if not (files or scratch or old):
        yield Check("backup leftovers", True, "no .partial file and no scratch database")
        return
    if files or scratch:
        size = _size(files) + (_database_sizes(ctx.conn, scratch) if ctx.conn and scratch else 0)
        names = [f.name for f in files] + [f"scratch database {name}" for name in scratch]
        yield Check(
            "backup leftovers",
            False,
            f"{', '.join(names)} ({_human(size)}) left by an interrupted backup",
            "fmw backup (it removes them first)",
        )
    if old:
        yield Check(
            "backup leftovers",
            False,
            f"scratch database{'s' if len(old) > 1 else ''} {', '.join(old)} left by a backup "
            "of an older FMW",
            f"DROP DATABASE {old[0]} (as the backup user), once no backup is running",
        )


def check_scheduler(ctx: Context) -> Iterator[Check]:
    doc = read_status(status_path(ctx.settings))
    beat = heartbeat_of(doc)
    limit = timedelta(seconds=ctx.settings.scheduler.heartbeat_seconds * HEARTBEATS_MISSED)
    if beat is None:
        yield Check(
            "scheduler",
            False,
            "no status file: the scheduler has never run here",
            "fmw service start (or fmw scheduler run)",
        )
    elif (doc or {}).get("state") != "running" or ctx.now - beat > limit:
        yield Check(
            "scheduler",
            False,
            f"last heartbeat {_age(beat, ctx.now)} ({(doc or {}).get('state')})",
            "fmw service start",
        )
    else:
        yield Check("scheduler", True, f"running, heartbeat {_age(beat, ctx.now)}")


def _folders(settings: Settings) -> dict[str, Path]:
    logs = settings.service.log_dir
    return {
        "data": settings.var_path,
        "snapshots": settings.snapshot_path,
        "backups": settings.backup_path,
        "logs": settings.resolve(logs) if logs else settings.var_path / "logs",
    }


def check_disk(ctx: Context) -> Iterator[Check]:
    for label, folder in _folders(ctx.settings).items():
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        free_gib = usage.free / 1024**3
        enough = usage.free >= MIN_FREE_BYTES and usage.free >= usage.total * MIN_FREE_SHARE
        yield Check(
            f"disk ({label})",
            enough,
            f"{free_gib:.1f} GiB free for {folder}",
            "free space or move the folder in fmw.toml",
        )


def check_services(ctx: Context) -> Iterator[Check]:
    try:
        states = service_states(describe_services(ctx.settings, settings_path=settings_file()))
    except ServiceError as exc:
        yield Check("services", None, f"not checked: {exc}")
        return
    for state in states:
        yield Check(
            f"service {state.name}",
            state.running,
            state.detail,
            "fmw service install" if not state.installed else "fmw service start",
        )


def check_loopback(ctx: Context) -> Iterator[Check]:
    problems, notes = deployment_problems(ctx.settings, ctx.conn)
    if problems:
        for problem in problems:
            yield Check(
                "loopback only",
                False,
                problem,
                "bind it to 127.0.0.1 (listen_addresses = 'localhost' for PostgreSQL)",
            )
    else:
        detail = "dashboard, scheduler and PostgreSQL listen on loopback only"
        yield Check("loopback only", True, detail + (f" ({'; '.join(notes)})" if notes else ""))


def check_nginx(ctx: Context) -> Iterator[Check]:
    if nginx_url(ctx.settings) is None:
        yield Check("nginx", None, "not configured here (fmw nginx render)")
        return
    nginx = nginx_executable(ctx.settings)
    if nginx is None:
        yield Check(
            "nginx",
            False,
            "configured, but no nginx executable found",
            "set [service.nginx] executable in fmw.toml",
        )
        return
    try:
        nginx_test(nginx, prefix_path(ctx.settings), conf_path(ctx.settings))
    except EdgeError as exc:
        yield Check("nginx", False, str(exc), "fmw nginx render, then fix what nginx -t names")
        return
    yield Check("nginx", True, f"nginx -t accepts {conf_path(ctx.settings)}")


def check_web(ctx: Context) -> Iterator[Check]:
    if not ctx.settings.web.enabled:
        yield Check("web", None, "not enabled ([web] enabled = false)")
        return
    url = web_health_url(ctx.settings.web.port)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as answer:
            body = answer.read(16).decode("utf-8", errors="replace").strip()
    except (urllib.error.URLError, OSError) as exc:
        yield Check("web", False, f"{url} does not answer: {getattr(exc, 'reason', exc)}",
                    "fmw service start (or fmw web)")  # fmt: skip
        return
    yield Check("web", body == "ok", f"{url} answered {body!r}", "see the FMW-Web service log")


CHECKS: list[CheckFn] = [
    check_database,
    check_sync,
    check_batches,
    check_snapshot,
    check_export_leftovers,
    check_backup,
    check_backup_leftovers,
    check_scheduler,
    check_services,
    check_loopback,
    check_disk,
    check_nginx,
    check_web,
]


def run_checks(settings: Settings, *, extra: list[CheckFn] | None = None) -> list[Check]:
    """Run every check; a check that raises becomes a red line naming the error."""
    ctx = Context(settings, datetime.now(UTC))
    try:
        url = database.database_url(settings)
        ctx.conn = psycopg.connect(
            url, autocommit=True, connect_timeout=3, application_name="fmw doctor"
        )
    except (FmwError, psycopg.Error) as exc:
        ctx.db_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    results: list[Check] = []
    try:
        for check in [*CHECKS, *(extra or [])]:
            try:
                results.extend(check(ctx))
            except Exception as exc:  # a doctor reports, it does not crash
                name = check.__name__.removeprefix("check_")
                results.append(Check(name, False, f"check failed: {exc}", "see fmw's log"))
    finally:
        if ctx.conn is not None:
            ctx.conn.close()
    return results
