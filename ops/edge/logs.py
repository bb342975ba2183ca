"""Read nginx's FMW logs (``fmw_json`` lines), rotated and gzipped files too, never failing.

Its job: find the log files (``access.log``, ``access.log.1``,
``access.log.2.gz``, ``access.log-20261127.gz``, …), read them line by line
with a hard cap on a line's length, and turn each line into a ``LogEntry`` or
count it as malformed with the file, line number and reason. A line that
cannot be read (too long, not JSON, missing fields, a bad address) is counted
and reported, never fatal; a damaged gzip file is reported and the rest read.

The address that counts is the ``addr`` field, nginx's own ``$remote_addr``;
the ``xff`` field (a client's X-Forwarded-For) is never read for any decision.
This module must never write anything nor know about reports or HTML.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import posixpath
import re
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

MAX_LINE_BYTES = 64 * 1024
EXAMPLES_KEPT = 10
GZIP_MAGIC = b"\x1f\x8b"
ADMIN_SURFACE = re.compile(r"^/api/dev(/|$)", re.IGNORECASE)  # the same rule as fence.conf
SESSION_PATH = "/_stcore/stream"
_ROTATED = re.compile(r"^(?:\.\d+|-\d{8}(?:\d{2,6})?)(?:\.gz)?$|^\.gz$")


@dataclass(frozen=True)
class LogEntry:
    """One request as nginx logged it."""

    time: datetime  # when nginx logged it (the end of the request), in nginx's time zone
    end: float  # the same moment as a Unix time with milliseconds
    addr: str
    user: str  # the users allowlist's name for addr ("" = not on it)
    admin: str  # the admins allowlist's name for addr ("" = not on it)
    deny: str  # why the fence refused it ("off-list", "admin-only") or ""
    method: str
    path: str  # the request URI as sent
    uri: str  # nginx's decoded, normalized URI
    status: int
    bytes: int
    request_time: float
    upstream: str

    @property
    def listed(self) -> bool:
        """On either allowlist (as nginx decided with the allowlists in force then)."""
        return bool(self.user or self.admin)

    @property
    def served(self) -> bool:
        """Reached the dashboard (nginx logged an upstream) or got a file (a 2xx or 3xx).

        Every other answer without an upstream is one nginx made itself without
        serving anything: its refusals (400, 403, 405 TRACE, 408, 413, 414, 429,
        444, 494, 499, 501 unknown Transfer-Encoding, 505 HTTP/2.0 request line,
        …) and a 404 from a location that serves files. Judged by what happened,
        not by a list of refusal codes, so a code nginx adds later is never
        counted as served.
        """
        return bool(self.upstream) or 200 <= self.status < 400

    @property
    def admin_surface(self) -> bool:
        """A request for /api/dev, however its path was spelled."""
        return bool(
            ADMIN_SURFACE.match(normalized_path(self.path)) or ADMIN_SURFACE.match(self.uri)
        )

    @property
    def session(self) -> bool:
        """A dashboard session: Streamlit's WebSocket, logged when it closed."""
        return self.status == 101 and normalized_path(self.path).endswith(SESSION_PATH)

    @property
    def start(self) -> float:
        """When the request began (a session: when it opened)."""
        return self.end - self.request_time


@dataclass(frozen=True)
class Malformed:
    """A line that could not be read, and why."""

    file: str
    line: int
    reason: str


@dataclass
class LogRead:
    """What reading a folder's logs found."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    entries: list[LogEntry] = field(default_factory=list)
    lines: int = 0
    malformed: int = 0
    examples: list[Malformed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files that could not be (fully) read

    def bad(self, file: Path, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(Malformed(file.name, line, reason))


def normalized_path(raw: str) -> str:
    """A request path as nginx matches it: no query, decoded, single slashes, no dot segments."""
    path = raw.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:  # an absolute-form request line: http://host/path
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    path = urllib.parse.unquote(path, errors="replace")
    path = re.sub(r"/{2,}", "/", path)
    if not path.startswith("/"):
        path = "/" + path
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = path[1:]
    return path + "/" if trailing and path != "/" else path


def log_files(folder: Path, base: str) -> list[Path]:
    """``base`` and its rotated copies in ``folder``, oldest first (by modification time)."""
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.name.startswith(base)
        and (p.name == base or _ROTATED.match(p.name[len(base) :]))
    ]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def read_logs(folder: Path, base: str = "access.log", *, since: datetime | None = None) -> LogRead:
    """Every entry of ``base`` and its rotations logged at or after ``since`` (aware)."""
    result = LogRead(folder)
    cutoff = since.timestamp() if since else None
    for path in log_files(folder, base):
        if cutoff is not None and path.stat().st_mtime < cutoff:
            continue  # rotated before the window opened: nothing in it can be in the window
        result.files.append(path)
        for number, line in _lines(path, result):
            result.lines += 1
            if line is None:
                result.bad(path, number, f"longer than {MAX_LINE_BYTES // 1024} KiB")
                continue
            if not line.strip():
                continue
            try:
                entry = parse_line(line)
            except ValueError as exc:
                result.bad(path, number, str(exc))
                continue
            if cutoff is None or entry.end >= cutoff:
                result.entries.append(entry)
    return result


def _lines(path: Path, result: LogRead) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line; None for a line over the cap (skipped whole)."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == GZIP_MAGIC
        handle: io.BufferedIOBase = gzip.open(path, "rb") if gzipped else path.open("rb")  # noqa: SIM115
    except OSError as exc:
        result.problems.append(f"{path}: cannot be read: {exc}")
        return
    number = 0
    try:
        with handle:
            while True:
                chunk = handle.readline(MAX_LINE_BYTES + 1)
                if not chunk:
                    return
                number += 1
                if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                    while chunk and not chunk.endswith(b"\n"):  # skip the rest of the line
                        chunk = handle.readline(MAX_LINE_BYTES)
                    yield number, None
                    continue
                yield number, chunk
    except (EOFError, OSError, zlib.error) as exc:  # a truncated or damaged gzip file
        result.problems.append(f"{path}: damaged after line {number}: {exc}")


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is not text")
    return value


def _number(doc: dict[str, Any], key: str, default: float | None = None) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"field {key!r} is missing or not a number")
    return float(value)


def parse_line(line: bytes) -> LogEntry:
    """One ``fmw_json`` line; ValueError saying what is wrong with it."""
    text = line.decode("utf-8", errors="replace")  # raw bytes nginx passed through stay visible
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(doc, dict) or doc.get("fmw") != 1:
        raise ValueError('not an FMW log line (no "fmw": 1): is nginx using fmw_json?')
    try:
        when = datetime.fromisoformat(_text(doc, "time"))
    except ValueError as exc:
        raise ValueError(f"field 'time' is not an ISO 8601 time ({exc})") from None
    if when.tzinfo is None:
        raise ValueError("field 'time' has no UTC offset")
    addr = _text(doc, "addr")
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"field 'addr' is not an IP address: {addr[:60]!r}") from None
    status = _number(doc, "status")
    if not status.is_integer() or not 100 <= status <= 999:
        raise ValueError(f"field 'status' is not an HTTP status: {status}")
    request_time = _number(doc, "request_time", 0.0)
    if request_time < 0:
        raise ValueError("field 'request_time' is negative")
    return LogEntry(
        time=when,
        end=_number(doc, "msec", when.timestamp()),
        addr=addr,
        user=_text(doc, "user"),
        admin=_text(doc, "admin"),
        deny=_text(doc, "deny"),
        method=_text(doc, "method"),
        path=_text(doc, "path"),
        uri=_text(doc, "uri"),
        status=int(status),
        bytes=int(_number(doc, "bytes", 0)),
        request_time=request_time,
        upstream=_text(doc, "upstream"),
    )
