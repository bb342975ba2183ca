"""fmw.edge.logs: nginx's fmw_json lines read as they are, hostile ones counted, never fatal.

``tests/data/nginx/access.log`` holds real lines written by Debian's nginx 1.22
with FMW's rendered configuration (the same requests the nginx tests make: a
user, an off-list address, an admin, /api/dev spelled five ways, a browser
session and two WebSocket sessions, and hostile requests: a forged
X-Forwarded-For, raw non-UTF-8 bytes and a quote injection in the path, an
over-long URI, a TLS hello sent to the HTTP port).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fmw.edge.logs import (
    MAX_LINE_BYTES,
    log_files,
    normalized_path,
    parse_line,
    read_logs,
)
from tests.support.nginx_log import SAMPLE, SAMPLE_LINES, line


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def test_every_real_nginx_line_parses(logs: Path):
    shutil.copy(SAMPLE, logs / "access.log")
    read = read_logs(logs)
    assert (read.lines, read.malformed, len(read.entries)) == (SAMPLE_LINES, 0, SAMPLE_LINES)
    assert read.problems == []


def test_raw_bytes_and_a_quote_injection_stay_inside_the_path(logs: Path):
    shutil.copy(SAMPLE, logs / "access.log")
    hostile = [e for e in read_logs(logs).entries if "user" in e.path]
    assert len(hostile) == 1
    entry = hostile[0]
    assert entry.addr == "127.0.0.2" and entry.user == "" and not entry.listed
    assert "\ufffd" in entry.path, "bytes that are not UTF-8 are shown as replacement characters"
    assert entry.status == 403 and not entry.served


def test_a_forged_x_forwarded_for_changes_nothing(logs: Path):
    shutil.copy(SAMPLE, logs / "access.log")
    raw = [json.loads(x) for x in SAMPLE.read_bytes().decode("utf-8", "replace").splitlines()]
    forged = [doc for doc in raw if doc["xff"] == "127.0.0.3"]
    assert [(d["addr"], d["admin"], d["status"]) for d in forged] == [
        ("127.0.0.2", "", 403),
        ("127.0.0.1", "", 403),
    ], "nginx judged the socket's address, not the header"


def test_rotated_and_gzipped_files_are_read_too(logs: Path):
    data = SAMPLE.read_bytes()
    (logs / "access.log").write_bytes(data)
    (logs / "access.log.1").write_bytes(data)
    (logs / "access.log.2.gz").write_bytes(gzip.compress(data))
    (logs / "access.log-20261120.gz").write_bytes(gzip.compress(data))
    (logs / "access.log.3").write_bytes(gzip.compress(data))  # gzip without the suffix
    (logs / "access.log.bak").write_bytes(b"not a rotation\n")
    (logs / "denied.log").write_bytes(data)
    read = read_logs(logs)
    assert sorted(p.name for p in read.files) == [
        "access.log",
        "access.log-20261120.gz",
        "access.log.1",
        "access.log.2.gz",
        "access.log.3",
    ]
    assert (len(read.entries), read.malformed) == (5 * SAMPLE_LINES, 0)


def test_the_denial_log_is_read_by_its_own_name(logs: Path):
    (logs / "denied.log").write_bytes(line(addr="127.0.0.2", user="", deny="off-list", status=403))
    read = read_logs(logs, "denied.log")
    assert [(e.addr, e.deny) for e in read.entries] == [("127.0.0.2", "off-list")]


def test_files_are_listed_oldest_first(logs: Path):
    for name, age in (("access.log", 0), ("access.log.1", 100), ("access.log.2.gz", 200)):
        (logs / name).write_bytes(b"")
        os.utime(logs / name, (1_800_000_000 - age, 1_800_000_000 - age))
    assert [p.name for p in log_files(logs, "access.log")] == [
        "access.log.2.gz",
        "access.log.1",
        "access.log",
    ]


def test_a_missing_folder_reads_as_nothing(tmp_path: Path):
    read = read_logs(tmp_path / "never")
    assert (read.files, read.entries, read.malformed) == ([], [], 0)


def test_a_huge_line_is_counted_malformed_and_the_next_one_still_read(logs: Path):
    huge = b'{"fmw":1,"path":"' + b"A" * (3 * MAX_LINE_BYTES) + b'"}\n'
    (logs / "access.log").write_bytes(line(path="/before") + huge + line(path="/after"))
    read = read_logs(logs)
    assert [e.path for e in read.entries] == ["/before", "/after"]
    assert read.malformed == 1
    assert read.examples[0].line == 2 and "longer than 64 KiB" in read.examples[0].reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe\x00garbage\n", "not JSON"),
        (b'127.0.0.1 - - [27/Nov/2026:05:27:42 +0000] "GET / HTTP/1.1" 200 2\n', "not JSON"),
        (b'{"time": "2026-11-27T05:27:42+00:00"}\n', "not an FMW log line"),
        (b"[1, 2]\n", "not an FMW log line"),
        (line(addr="127.0.0.1, 10.0.0.1"), "field 'addr' is not an IP address"),
        (line(addr=7), "field 'addr' is not text"),
        (line(status="200"), "field 'status' is missing or not a number"),
        (line(status=7000), "field 'status' is not an HTTP status"),
        (line(time="2026-11-27T05:27:42"), "field 'time' has no UTC offset"),
        (line(time="yesterday"), "field 'time' is not an ISO 8601 time"),
        (line(request_time=-1), "field 'request_time' is negative"),
        (line(user=["admin"]), "field 'user' is not text"),
        (line()[:-20] + b"\n", "not JSON"),
    ],
)
def test_a_malformed_line_is_counted_with_its_reason(logs: Path, raw: bytes, reason: str):
    (logs / "access.log").write_bytes(line(path="/ok") + raw)
    read = read_logs(logs)
    assert [e.path for e in read.entries] == ["/ok"]
    assert read.malformed == 1
    assert reason in read.examples[0].reason
    assert (read.examples[0].file, read.examples[0].line) == ("access.log", 2)


def test_only_the_first_examples_are_kept_but_all_are_counted(logs: Path):
    (logs / "access.log").write_bytes(b"nope\n" * 50)
    read = read_logs(logs)
    assert (read.malformed, len(read.examples)) == (50, 10)


def test_a_truncated_gzip_file_is_reported_and_its_readable_lines_kept(logs: Path):
    packed = gzip.compress(line(path="/a") * 2000)
    (logs / "access.log.1.gz").write_bytes(packed[: len(packed) // 2])
    (logs / "access.log").write_bytes(line(path="/live"))
    read = read_logs(logs)
    assert read.entries[-1].path == "/live"
    assert 0 < len(read.entries) - 1 < 2000
    assert len(read.problems) == 1 and "access.log.1.gz: damaged after line" in read.problems[0]


def test_since_skips_old_rotations_and_old_lines(logs: Path):
    (logs / "access.log.1").write_bytes(line(path="/old-file"))
    os.utime(logs / "access.log.1", (1_700_000_000, 1_700_000_000))
    (logs / "access.log").write_bytes(
        line(path="/old", msec=1_790_000_000.0) + line(path="/new", msec=1_795_000_000.0)
    )
    read = read_logs(logs, since=datetime.fromtimestamp(1_794_000_000, UTC))
    assert [p.name for p in read.files] == ["access.log"]
    assert [e.path for e in read.entries] == ["/new"]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/api/dev/?x=1", "/api/dev/"),
        ("/api//dev/", "/api/dev/"),
        ("/api/%64ev/", "/api/dev/"),
        ("/x/../api/dev/index.html", "/api/dev/index.html"),
        ("/api/./dev", "/api/dev"),
        ("//api/dev/", "/api/dev/"),
        ("http://fmw.example/api/dev/", "/api/dev/"),
        ("", "/"),
        ("/../../", "/"),
    ],
)
def test_paths_are_normalized_like_nginx_matches_them(raw: str, normal: str):
    assert normalized_path(raw) == normal


@pytest.mark.parametrize(
    ("path", "uri", "admin_surface"),
    [
        ("/api/dev/", "/api/dev/", True),
        ("/API/DEV/x", "/API/DEV/x", True),
        ("/api/%64ev", "/api/dev", True),
        ("/api/devices", "/api/devices", False),
        ("", "", False),
        ("/", "/api/dev/index.html", True),  # after nginx's internal redirect
    ],
)
def test_the_admin_surface_is_recognised_however_it_is_spelled(
    path: str, uri: str, admin_surface: bool
):
    assert parse_line(line(path=path, uri=uri)).admin_surface is admin_surface


@pytest.mark.parametrize(
    ("status", "upstream", "served"),
    [
        (200, "", True),
        (403, "", False),
        (429, "", False),
        (400, "", False),
        (404, "", False),
        (304, "", True),
        (301, "", True),
        (502, "127.0.0.1:8501", True),
        (403, "127.0.0.1:8501", True),
        (101, "127.0.0.1:8501", True),
    ],
)
def test_served_means_a_file_or_the_dashboard_was_reached(status: int, upstream: str, served: bool):
    assert parse_line(line(status=status, upstream=upstream)).served is served


def test_a_session_is_a_streamlit_websocket_and_starts_at_end_minus_duration():
    entry = parse_line(line(path="/_stcore/stream", status=101, msec=1000.5, request_time=600.25))
    assert entry.session and entry.start == pytest.approx(400.25)
    assert not parse_line(line(path="/_stcore/stream", status=403)).session
    assert not parse_line(line(path="/_stcore/health", status=101)).session
