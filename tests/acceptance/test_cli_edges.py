"""Edges of the real `fmw` command (issue 15, item 7): one clear line, never a traceback.

`fmw export` onto a full disk (a real, tiny tmpfs where this runs as root; an
injected ENOSPC otherwise, at the same file-write boundary) and `fmw load` of
a named pipe or a device: each ends at once with one line and exit 1, and
changes nothing: the previous snapshot generation stays current, no record moves.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fmw.loader.landing import SourceSpec, load_file
from fmw.snapshot.generations import GENERATIONS_DIR, current_pointer
from tests.support.checksums import data_checksums
from tests.support.commands import FMW, clean_env, run

HEADER = "Feature Code,Policy Code,market,platform,Status,owner\n"


@pytest.fixture
def folder(tmp_path: Path, db_url: str) -> Path:
    tmp_path.chmod(0o755)
    (tmp_path / "fmw.toml").write_text(
        f'database_url = "{db_url}"\nvar_dir = "var"\nsnapshot_dir = "snapshots"\n'
    )
    return tmp_path


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@contextlib.contextmanager
def tiny_filesystem(where: Path) -> Iterator[bool]:
    """A 4 MiB tmpfs mounted at ``where`` (True), or nothing where mounting is not allowed."""
    where.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> None:
    """Write into ``folder`` until its file system has no byte left."""
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
        while True:
            filler.write(b"\0" * 4096)
            filler.flush()
    with contextlib.suppress(OSError):  # what a page less leaves: the free bytes are 0
        (folder / "filler-2").write_bytes(b"\0" * 4096)
    assert shutil.disk_usage(folder).free < 4096


def test_export_on_a_full_disk_is_one_line_and_keeps_the_current_generation(
    folder: Path, conn: psycopg.Connection
):
    snapshots = folder / "snapshots"
    with tiny_filesystem(snapshots) as mounted:
        (folder / "a.csv").write_text(HEADER + "PAY-1,P1,KR,iOS,on,kim\n", encoding="utf-8")
        load_file(conn, SourceSpec("team_a"), folder / "a.csv")
        assert run(folder, "export").returncode == 0
        published = current_pointer(snapshots)
        (folder / "b.csv").write_text(HEADER + "PAY-1,P1,KR,iOS,off,kim\n", encoding="utf-8")
        load_file(conn, SourceSpec("team_a"), folder / "b.csv")
        before = data_checksums(conn)
        if mounted:
            fill(snapshots)
            result = run(folder, "export")
        else:  # no tmpfs without root: the same OSError, raised where the files are written
            hook = folder / "sitecustomize.py"
            hook.write_text(
                "import errno, fmw.snapshot.generations as g\n"
                "def full(self, data):\n"
                "    raise OSError(errno.ENOSPC, 'No space left on device', str(self._path))\n"
                "g.HashingWriter.write = full\n"
            )
            env = {**clean_env(250), "PYTHONPATH": str(folder)}
            result = subprocess.run(
                [*FMW, "export"], cwd=folder, env=env, capture_output=True, text=True, timeout=300
            )
        line = one_line_error(result)
        assert f"cannot write a snapshot generation under {snapshots}: " in line
        assert os.strerror(errno.ENOSPC) in line
        assert "the previous generation stays current" in line
        assert current_pointer(snapshots) == published
        assert sorted(p.name for p in (snapshots / GENERATIONS_DIR).iterdir()) == [published]
        assert data_checksums(conn) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_load_of_a_named_pipe_is_refused_at_once(folder: Path, conn: psycopg.Connection):
    pipe = folder / "pipe.csv"
    os.mkfifo(pipe)
    started = time.monotonic()
    line = one_line_error(run(folder, "load", str(pipe), "--source", "team_a"))
    assert time.monotonic() - started < 30, "it did not wait for a writer"
    assert line == f"error: {pipe}: is a named pipe (FIFO), not a file"
    assert conn.execute("SELECT count(*) FROM ops.batch").fetchone() == (0,)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_load_of_dev_zero_is_refused_at_once(folder: Path):
    line = one_line_error(run(folder, "load", "/dev/zero", "--source", "team_a"))
    assert line == "error: /dev/zero: is a character device, not a file"
