"""Finding and running pg_dump/pg_restore: versions, passwords, error messages."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from fmw.backup.pg_tools import (
    _count_copy_rows,
    archive_header,
    bundled_bin_dirs,
    find_tools,
    libpq_target,
    stderr_tail,
)
from fmw.errors import PgToolError
from fmw.settings import Settings

BUNDLED = bundled_bin_dirs()


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(base_dir=tmp_path, **values)  # type: ignore[arg-type]  # pydantic checks them


def test_the_password_travels_in_the_environment_not_the_command_line():
    target, env = libpq_target("postgresql://backup:s3cr%40t@db.example:5433/fmw")
    assert "s3cr" not in target
    assert "host=db.example" in target and "dbname=fmw" in target and "user=backup" in target
    assert env == {"PGPASSWORD": "s3cr@t"}


def test_no_password_means_no_pgpassword():
    _, env = libpq_target("postgresql://postgres@/fmw?host=/tmp/sockets")
    assert env == {}


def test_the_embedded_server_uses_the_bundled_programs_of_its_version(tmp_path: Path):
    major = min(BUNDLED)
    tools = find_tools(settings(tmp_path), major, embedded=True)
    assert (tools.bin_dir, tools.major) == (BUNDLED[major], major)
    assert tools.origin == "bundled with the embedded server"


def test_an_embedded_server_version_without_bundled_programs_is_a_clear_error(tmp_path: Path):
    with pytest.raises(PgToolError, match="runs PostgreSQL 99 but only programs for"):
        find_tools(settings(tmp_path), 99, embedded=True)


def test_pg_dump_older_than_the_server_is_refused(tmp_path: Path):
    if len(BUNDLED) < 2:
        pytest.skip("needs two bundled PostgreSQL versions")
    old, new = min(BUNDLED), max(BUNDLED)
    with pytest.raises(PgToolError) as caught:
        find_tools(settings(tmp_path, pg_bin_dir=BUNDLED[old]), new, embedded=False)
    assert f"is PostgreSQL {old}, older than the server's {new}" in str(caught.value)
    assert "set pg_bin_dir" in str(caught.value)


def test_a_newer_pg_dump_than_the_server_is_fine(tmp_path: Path):
    newest = max(BUNDLED)
    tools = find_tools(settings(tmp_path, pg_bin_dir=BUNDLED[newest]), 15, embedded=False)
    assert tools.major == newest and tools.origin == "pg_bin_dir setting"


def test_a_pg_bin_dir_without_the_programs_is_refused(tmp_path: Path):
    with pytest.raises(PgToolError, match=r"\(pg_bin_dir setting\) has no pg_dump"):
        find_tools(settings(tmp_path, pg_bin_dir=tmp_path), 16, embedded=False)


def test_a_failing_program_is_named_with_its_stderr(tmp_path: Path):
    tools = find_tools(settings(tmp_path), max(BUNDLED), embedded=True)
    not_an_archive = tmp_path / "notes.dump"
    not_an_archive.write_text("hello\n")
    with pytest.raises(PgToolError) as caught:
        archive_header(tools, not_an_archive, error=PgToolError)
    message = str(caught.value)
    assert message.startswith("pg_restore failed (exit code 1): ")
    assert f"--list {not_an_archive}" in message
    assert "input file does not appear to be a valid archive" in message


def test_stderr_tail_keeps_the_last_lines_on_one_line():
    text = "pg_dump: a\n\npg_dump: b\npg_dump: c\npg_dump: d\npg_dump: e\n"
    assert stderr_tail(text) == "pg_dump: b; pg_dump: c; pg_dump: d; pg_dump: e"
    assert stderr_tail("") == "no error output"


def test_stderr_tail_keeps_the_error_before_a_long_quoted_query():
    query = "LOCK TABLE " + ", ".join(f"core.t{i}" for i in range(200)) + " IN ACCESS SHARE MODE"
    text = (
        "pg_dump: error: query failed: ERROR:  permission denied for table t0\n"
        f"pg_dump: detail: Query was: {query}\n"
    )
    tail = stderr_tail(text)
    assert tail.startswith("pg_dump: error: query failed: ERROR:  permission denied for table t0; ")
    assert tail.endswith("…") and len(tail) < 300


RESTORE_TEXT = b"""--
-- Data for Name: row; Type: TABLE DATA; Schema: raw; Owner: fmw_owner
--

COPY raw."row" (batch_id, source_row, cells) FROM stdin;
1\t2\t{a,b}
1\t3\t{"COPY x FROM stdin;"}
\\.


--
-- Data for Name: status; Type: TABLE DATA; Schema: core; Owner: fmw_owner
--

COPY core.status (code) FROM stdin;
\\.

CREATE FUNCTION f() AS $$
COPY t FROM stdin;
$$;
"""


def test_copy_rows_are_counted_per_table_from_pg_restore_text():
    counts: dict[str, int] = {}
    unfinished = _count_copy_rows(io.BytesIO(RESTORE_TEXT), counts)
    assert (counts, unfinished) == ({"raw.row": 2, "core.status": 0}, False)


def test_a_stream_ending_inside_table_data_is_unfinished():
    counts: dict[str, int] = {}
    cut = RESTORE_TEXT[: RESTORE_TEXT.index(b"1\t3")]
    assert _count_copy_rows(io.BytesIO(cut), counts) is True


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need a privilege on Windows")
def test_a_configured_server_uses_the_programs_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    on_path = tmp_path / "bin"
    on_path.mkdir()
    newest = max(BUNDLED)
    for name in ("pg_dump", "pg_restore"):
        (on_path / name).symlink_to(BUNDLED[newest] / name)
    monkeypatch.setenv("PATH", str(on_path))
    tools = find_tools(settings(tmp_path), newest, embedded=False)
    assert (tools.bin_dir, tools.origin, tools.major) == (on_path, "PATH", newest)


def test_no_pg_dump_on_path_names_the_setting_to_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PgToolError, match=r"pg_dump is not on PATH: .* or set pg_bin_dir"):
        find_tools(settings(tmp_path), 16, embedded=False)
