"""``fmw psql``: PostgreSQL's own psql on FMW's database, as the owner or read-only.

Its job: find the database in force (configured, or the embedded server, started
when needed), the psql that fits it (``pg_bin_dir``, the one bundled with the
embedded server, or PATH: as ``fmw.backup.pg_tools`` finds pg_dump), and the
role to act as: ``fmw_owner`` by default, ``fmw_reader`` in read-only
transactions with ``read_only``. The role is set when the connection starts
(libpq ``options``), so the admin never types SET ROLE; a login that is not a
member of the role is refused with the reason. The password, if the URL has
one, travels in PGPASSWORD, never on the command line.

It must never run SQL of its own beyond the membership check, nor hold FMW rules.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from fmw import database
from fmw.backup.pg_tools import client_bin_dir, executable_name, libpq_target
from fmw.errors import PsqlError
from fmw.settings import Settings

OWNER_ROLE = "fmw_owner"
READER_ROLE = "fmw_reader"


@dataclass(frozen=True)
class PsqlLaunch:
    """How to start psql: its command line (no password in it) and extra environment."""

    argv: list[str]
    env: dict[str, str]
    role: str
    login: str
    target: str  # the database, for messages


def plan_psql(
    settings: Settings,
    *,
    read_only: bool,
    extra: list[str],
    announce: Callable[[str], None] | None = None,
) -> PsqlLaunch:
    """The psql to run, as whom, for the database in force."""
    embedded = not (os.environ.get(database.URL_ENV) or settings.database_url)
    url = database.database_url(settings, announce=announce)
    role = READER_ROLE if read_only else OWNER_ROLE
    with database.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT session_user, current_setting('server_version_num')::integer / 10000, "
            "CASE WHEN to_regrole(%s) IS NOT NULL THEN pg_has_role(session_user, %s, 'MEMBER') "
            "END",
            [role, role],
        ).fetchone()
    assert row is not None
    login, major, member = row
    if member is None:  # the roles come with the first migration
        raise PsqlError(f"role {role} does not exist yet: run `fmw db upgrade` first")
    if not member:
        other = "--read-only" if role == OWNER_ROLE else "the owner's login"
        raise PsqlError(
            f"login {login} is not a member of {role}, so psql cannot act as it; "
            f"use {other}, or set {database.URL_ENV} to a login that is"
        )
    bin_dir, _origin = client_bin_dir(settings, major, embedded=embedded, program="psql")
    conninfo, env = libpq_target(_with_role(url, role, read_only), application_name="fmw psql")
    argv = [str(bin_dir / executable_name("psql")), conninfo, *extra]
    return PsqlLaunch(argv, env, role, login, database.describe(url))


def _with_role(url: str, role: str, read_only: bool) -> str:
    """``url`` whose sessions start as ``role`` (read-only transactions with ``read_only``)."""
    params = conninfo_to_dict(url)
    options = [str(params.get("options") or ""), f"-c role={role}"]
    if read_only:
        options.append("-c default_transaction_read_only=on")
    params["options"] = " ".join(o for o in options if o)
    return make_conninfo("", **params)


def run_psql(launch: PsqlLaunch) -> int:
    """Run psql in this console until it ends; its exit code.

    Ctrl-C belongs to psql (it cancels the running query), so this process ignores
    it meanwhile instead of ending psql.
    """
    try:
        with _ignoring_ctrl_c():
            done = subprocess.run(launch.argv, env={**os.environ, **launch.env}, check=False)
    except OSError as exc:
        raise PsqlError(f"cannot run {launch.argv[0]}: {exc}") from exc
    return done.returncode


@contextlib.contextmanager
def _ignoring_ctrl_c() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
