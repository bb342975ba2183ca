"""fmw.edge.pages: the /api/dev/ pages from the installed templates, escaping what strangers wrote.

The report documents are built from real (hand-made) nginx lines, then every
text in them is replaced by a hostile one that names its place, so a field
added to a document later is covered (or must be declared as not shown).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest
from markupsafe import escape

from fmw.edge.logs import read_logs
from fmw.edge.pages import environment, security_html, usage_html, write_admin_index
from fmw.edge.reports import iso_weeks, security_report, usage_report
from tests.support.nginx_log import line

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "ops" / "edge" / "templates"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
MONDAY = date(2026, 11, 16)  # ISO week 2026-W47, complete on TODAY

# Texts in the documents that no page shows (the JSON file has them).
NOT_SHOWN = {
    "report",  # the page's title says it
    "files[]",  # only their number is shown
    "team[]",  # shown as the team's size and who was not seen
    "weeks[].active[]",  # shown as a number
    "latest_complete_week",  # a copy of one of the weeks, for the scheduler's summary
}


def hostile(place: str) -> str:
    """Markup, both quotes, an ampersand and template syntax, naming where it was put."""
    return (
        f"<script>alert('{place}')</script> \"{place}\" & {{{{ 7*7 }}}} "
        f"{{% raw %}}{place}{{% endraw %}}"
    )


def poisoned(value: Any, place: str, seen: set[str]) -> Any:
    """``value`` with every text (and every user name key) replaced by ``hostile(place)``."""
    if isinstance(value, str):
        seen.add(place)
        return hostile(place)
    if isinstance(value, list):
        return [poisoned(item, f"{place}[]", seen) for item in value]
    if isinstance(value, dict):
        prefix = f"{place}." if place else ""
        result = {key: poisoned(item, prefix + key, seen) for key, item in value.items()}
        if place.endswith("sessions_per_user"):  # keys are user names from the logs
            seen.add(f"{place}{{}}")
            result = {hostile(f"{place}{{}}") + key: n for key, n in result.items()}
        return result
    return value


def at(day: date, hour: int = 10) -> dict[str, Any]:
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return {"time": moment.isoformat(), "msec": moment.timestamp()}


def session(user: str, day: date) -> bytes:
    end = datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)
    return line(
        user=user,
        path="/_stcore/stream",
        uri="/_stcore/stream",
        status=101,
        time=end.isoformat(),
        msec=end.timestamp(),
        request_time=600,
    )


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Lines that fill every part of both documents: breaches, offenders, bad lines, a
    damaged rotation, sessions of two users and a team member never seen."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "access.log").write_bytes(
        line(addr="10.6.6.6", user="", path="/secret", status=200, **at(TODAY))
        + line(path="/api/dev/usage.json", uri="/api/dev/usage.json", upstream="", **at(TODAY))
        + b"not json\n"
        + session("kim", MONDAY)
        + session("lee", MONDAY + timedelta(days=1))
    )
    (folder / "access.log.1.gz").write_bytes(gzip.compress(line(**at(TODAY)) * 50)[:-20])
    return folder


def documents(logs: Path) -> dict[str, dict[str, Any]]:
    read = read_logs(logs)
    security = security_report(read, since=TODAY - timedelta(days=1), today=TODAY, now=NOW)
    usage = usage_report(
        read, team=["kim", "lee", "park"], weeks=iso_weeks(TODAY, 2), today=TODAY, now=NOW
    )
    return {"security": security, "usage": usage}


RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    "security": security_html,
    "usage": usage_html,
}


def test_the_documents_fill_every_part_of_the_pages(logs: Path):
    """The fixture is only useful if every list the pages show has something in it."""
    docs = documents(logs)
    security, usage = docs["security"], docs["usage"]
    assert [len(security[k]) for k in ("breaches", "top_offenders", "problems")] == [2, 2, 1]
    assert security["malformed"]["examples"][0]["reason"].startswith("not JSON")
    assert usage["weeks"][0]["sessions_per_user"] == {"kim": 1, "lee": 1}
    assert usage["weeks"][0]["inactive"] == ["park"]


@pytest.mark.parametrize("report", ["security", "usage"])
def test_every_text_a_stranger_could_write_is_shown_escaped(logs: Path, report: str):
    places: set[str] = set()
    doc = poisoned(documents(logs)[report], "", places)
    page = RENDER[report](doc)
    shown = {p for p in places if not any(p == n or p.startswith(n + ".") for n in NOT_SHOWN)}
    for place in sorted(shown):
        assert str(escape(hostile(place))) in page, f"{place} is not shown escaped"
        assert f"alert('{place}')" not in page, f"{place} is shown raw"
    for place in sorted(places - shown):
        assert f"alert(&#39;{place}&#39;)" not in page, f"{place} is shown: drop it from NOT_SHOWN"
    assert "<script" not in page
    assert "{{ 7*7 }}" in page and "49" not in page, "template syntax in a value is only text"
    assert "{% raw %}" in page
    expected = {
        "security": {
            "since",
            "until",
            "generated_at",
            "log_dir",
            "malformed.examples[].file",
            "malformed.examples[].reason",
            "problems[]",
            "days[].date",
            "breaches[].time",
            "breaches[].addr",
            "breaches[].user",
            "breaches[].method",
            "breaches[].path",
            "breaches[].why",
            "top_offenders[].addr",
            "top_offenders[].user",
            "top_offenders[].first",
            "top_offenders[].last",
        },
        "usage": {
            "generated_at",
            "log_dir",
            "malformed.examples[].file",
            "malformed.examples[].reason",
            "problems[]",
            "weeks[].week",
            "weeks[].from",
            "weeks[].to",
            "weeks[].inactive[]",
            "weeks[].sessions_per_user{}",
        },
    }
    assert shown == expected[report], "a new text field: check that its page escapes it"


def test_a_path_method_and_user_from_a_log_line_are_escaped(logs: Path):
    """Through the real parser: an off-list breach and an admin-surface one by a user."""
    (logs / "access.log").write_bytes(
        line(
            addr="10.6.6.6", user="", method='GE"T', path="/<script>alert(1)</script>", **at(TODAY)
        )
        + line(user="o'brien & co", path="/api/dev/?<b>", upstream="", **at(TODAY))
    )
    page = security_html(documents(logs)["security"])
    assert "<script>" not in page and "<b>" not in page
    assert "<code>/&lt;script&gt;alert(1)&lt;/script&gt;</code>" in page
    assert '<td class="t">GE&#34;T</td>' in page
    assert '<td class="t">o&#39;brien &amp; co</td>' in page
    assert "<code>/api/dev/?&lt;b&gt;</code>" in page


@pytest.mark.parametrize("report", ["security", "usage"])
def test_a_missing_field_fails_loudly(logs: Path, report: str):
    doc = documents(logs)[report]
    del doc["log_dir"]
    with pytest.raises(jinja2.UndefinedError, match="log_dir"):
        RENDER[report](doc)


def test_the_pages_are_self_contained_and_run_no_script(logs: Path, tmp_path: Path):
    docs = documents(logs)
    pages = [
        security_html(docs["security"]),
        usage_html(docs["usage"]),
        write_admin_index(tmp_path / "admin").read_text(encoding="utf-8"),
    ]
    for page in pages:
        assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</body></html>\n")
        assert "<style>" in page and "td.t,th.t{text-align:left}" in page
        assert re.search(r"<script|<link|\bsrc=|\bon[a-z]+=|https?:|//[a-z]", page) is None


def test_the_report_pages_show_the_numbers_and_verdicts(logs: Path):
    docs = documents(logs)
    security = security_html(docs["security"])
    assert (
        "Requests from off-list addresses that were served: "
        '<span class="bad">1</span>\n(bar: 0) of 1 off-list requests'
    ) in security
    assert '<tr><td class="t">2026-11-26</td><td>0</td><td>0</td><td><span class="ok">0</span>' in (
        security
    )
    assert "<p>2 files in <code>" in security and "\n1 malformed (counted, skipped)" in security
    usage = usage_html(docs["usage"])
    assert (
        '<tr><td class="t">2026-W48 <span class="dim">(so far)</span></td>'
        '<td class="t">2026-11-23</td><td class="t">2026-11-29</td><td>0</td><td>3</td>'
        '<td><span class="dim">0%</span></td>'
    ) in usage
    assert '<td><span class="bad">67%</span></td><td>2</td><td>1</td><td class="t">park</td>' in (
        usage
    )
    assert '<tr><th class="t">user</th><th>2026-W47</th><th>2026-W48</th></tr>' in usage
    assert '<tr><td class="t">lee</td><td>1</td><td>0</td></tr>' in usage


def test_the_index_links_every_admin_file_and_replaces_a_stale_one(tmp_path: Path):
    path = write_admin_index(tmp_path / "admin")
    hrefs = re.findall(r'href="([^"]+)"', path.read_text(encoding="utf-8"))
    assert hrefs == [
        "./",
        "security.html",
        "usage.html",
        "security.json",
        "usage.json",
        "scheduler-status.json",
        "snapshots/",
    ]
    path.write_text("old", encoding="utf-8")
    write_admin_index(path.parent)
    assert "security.html" in path.read_text(encoding="utf-8")


def test_every_template_is_installed_and_compiles():
    """The templates ship as package data (pyproject.toml [tool.setuptools.package-data]); the
    strict editable install links them at install time, so a new one needs `pip install -e .`."""
    env = environment()
    on_disk = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.*"))
    assert env.list_templates() == on_disk, (
        "run `pip install -e .` again, and check the package-data globs for fmw.edge"
    )
    for name in on_disk:
        assert Path(env.get_template(name).filename or "").name == Path(name).name
    assert {"base.html", "macros.html", "index.html", "security.html", "usage.html"} <= set(on_disk)
