"""The edge's bars as numbers: the security report and the usage report, as JSON documents.

Its job: from the entries ``fmw.edge.logs`` read, count

* security (the bars are 0): requests from off-list addresses and how many of
  them were served; requests for the admin surface (/api/dev) from non-admin
  addresses and how many were served; per day, plus the top offending
  addresses and the breaches themselves. Served means the request reached the
  dashboard or got a file (``LogEntry.served``), never a refusal nginx made
  itself;
* usage (the bar is 70%): per ISO week, the distinct users of the users
  allowlist with at least one dashboard session out of the allowlist's
  names, sessions per user, and the peak of concurrent sessions;

and publish each as ``<name>.json`` plus a static ``<name>.html`` in the admin
folder nginx serves under /api/dev/. Who asked is what nginx logged for its
own ``$remote_addr`` (the allowlist names it matched); X-Forwarded-For never
counts. Malformed lines are counted and shown, never fatal.

It must never change nginx's logs or configuration, nor touch the database.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fmw.edge.config import ACCESS_LOG, admin_path, edge_plan, log_path
from fmw.edge.logs import LogEntry, LogRead, read_logs
from fmw.edge.pages import security_html, usage_html, write_admin_index
from fmw.errors import ReportError
from fmw.files import write_durably
from fmw.settings import Settings

FORMAT_VERSION = 1
USAGE_BAR = 0.70
DEFAULT_SECURITY_DAYS = 30
DEFAULT_WEEKS = 4
TOP_OFFENDERS = 10
BREACHES_KEPT = 20


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _read_part(read: LogRead) -> dict[str, Any]:
    return {
        "log_dir": str(read.folder),
        "files": [p.name for p in read.files],
        "lines": read.lines,
        "malformed": {
            "count": read.malformed,
            "examples": [
                {"file": m.file, "line": m.line, "reason": m.reason} for m in read.examples
            ],
        },
        "problems": list(read.problems),
    }


# --- security --------------------------------------------------------------------------------


def security_report(
    read: LogRead, *, since: date, today: date, now: datetime | None = None
) -> dict[str, Any]:
    """The security document for the days ``since`` .. ``today`` (nginx's local dates)."""
    if since > today:
        raise ReportError(f"--since {since.isoformat()} is after today ({today.isoformat()})")
    days: dict[date, Counter[str]] = {
        since + timedelta(n): Counter() for n in range((today - since).days + 1)
    }
    offenders: dict[str, dict[str, Any]] = {}
    breaches: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    for entry in read.entries:
        day = entry.time.date()
        if day not in days:
            continue
        counts = days[day]
        counts["requests"] += 1
        if entry.status == 429:
            counts["rate_limited"] += 1
        off_list = not entry.listed
        admin_probe = entry.admin_surface and not entry.admin
        if not (off_list or admin_probe):
            continue
        served = entry.served
        if off_list:
            counts["off_list"] += 1
            counts["off_list_served"] += served
        if admin_probe:
            counts["admin_surface_non_admin"] += 1
            counts["admin_surface_non_admin_served"] += served
        _offender(offenders, entry, off_list=off_list, admin_probe=admin_probe)
        if served and len(breaches) < BREACHES_KEPT:
            breaches.append(
                {
                    "time": _iso(entry.time),
                    "addr": entry.addr,
                    "user": entry.user,
                    "method": entry.method,
                    "path": entry.path,
                    "status": entry.status,
                    "why": "off-list" if off_list else "admin surface, not an admin",
                }
            )
    for counts in days.values():
        totals.update(counts)
    keys = (
        "requests",
        "off_list",
        "off_list_served",
        "admin_surface_non_admin",
        "admin_surface_non_admin_served",
        "rate_limited",
    )
    off_served = totals["off_list_served"]
    admin_served = totals["admin_surface_non_admin_served"]
    top = sorted(offenders.values(), key=lambda o: (-o["requests"], o["addr"]))[:TOP_OFFENDERS]
    return {
        "format_version": FORMAT_VERSION,
        "report": "security",
        "generated_at": _iso(now or datetime.now().astimezone()),
        "since": since.isoformat(),
        "until": today.isoformat(),
        **_read_part(read),
        "totals": {key: totals[key] for key in keys},
        "bars": {
            "off_list_served": {"value": off_served, "bar": 0, "met": off_served == 0},
            "admin_surface_served_to_non_admins": {
                "value": admin_served,
                "bar": 0,
                "met": admin_served == 0,
            },
        },
        "ok": off_served == 0 and admin_served == 0,
        "days": [
            {"date": day.isoformat(), **{key: counts[key] for key in keys}}
            for day, counts in sorted(days.items())
        ],
        "top_offenders": [{**o, "first": _iso(o["first"]), "last": _iso(o["last"])} for o in top],
        "breaches": breaches,
    }


def _offender(
    offenders: dict[str, dict[str, Any]], entry: LogEntry, *, off_list: bool, admin_probe: bool
) -> None:
    item = offenders.setdefault(
        entry.addr,
        {
            "addr": entry.addr,
            "user": entry.user,
            "requests": 0,
            "served": 0,
            "off_list": 0,
            "admin_surface": 0,
            "first": entry.time,
            "last": entry.time,
        },
    )
    item["requests"] += 1
    item["served"] += entry.served
    item["off_list"] += off_list
    item["admin_surface"] += admin_probe
    item["first"] = min(item["first"], entry.time)
    item["last"] = max(item["last"], entry.time)


# --- usage -----------------------------------------------------------------------------------


def iso_weeks(today: date, count: int) -> list[tuple[date, date]]:
    """The last ``count`` ISO weeks (Monday, Sunday), oldest first, ending with today's."""
    if count < 1:
        raise ReportError(f"--weeks {count}: give 1 or more weeks")
    monday = today - timedelta(days=today.isoweekday() - 1)
    starts = [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]
    return [(start, start + timedelta(days=6)) for start in starts]


def peak_concurrent(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one moment (one ending as another starts: not both)."""
    spans = list(intervals)
    events = sorted(
        [(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans],
        key=lambda e: (e[0], e[1]),
    )
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def usage_report(
    read: LogRead,
    *,
    team: Iterable[str],
    weeks: list[tuple[date, date]],
    today: date,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The usage document for ``weeks`` (ISO weeks by the session's local start date)."""
    members = sorted(set(team))
    by_week: dict[date, list[LogEntry]] = defaultdict(list)
    for entry in read.entries:
        if not entry.session or not entry.user:
            continue
        start = datetime.fromtimestamp(entry.start, entry.time.tzinfo).date()
        by_week[start - timedelta(days=start.isoweekday() - 1)].append(entry)
    rows = []
    for monday, sunday in weeks:
        sessions = by_week.get(monday, [])
        per_user = Counter(s.user for s in sessions)
        active = sorted(name for name in members if per_user[name])
        ratio = len(active) / len(members) if members else None
        year, week, _ = monday.isocalendar()
        rows.append(
            {
                "week": f"{year}-W{week:02d}",
                "from": monday.isoformat(),
                "to": sunday.isoformat(),
                "partial": sunday >= today,
                "team_size": len(members),
                "active_users": len(active),
                "active": active,
                "inactive": [name for name in members if not per_user[name]],
                "ratio": None if ratio is None else round(ratio, 4),
                "met": None if ratio is None else ratio >= USAGE_BAR,
                "sessions": len(sessions),
                "sessions_per_user": dict(sorted(per_user.items())),
                "peak_concurrent_sessions": peak_concurrent((s.start, s.end) for s in sessions),
            }
        )
    complete = [row for row in rows if not row["partial"]]
    return {
        "format_version": FORMAT_VERSION,
        "report": "usage",
        "generated_at": _iso(now or datetime.now().astimezone()),
        "bar": USAGE_BAR,
        "team": members,
        "team_size": len(members),
        **_read_part(read),
        "weeks": rows,
        "latest_complete_week": complete[-1] if complete else None,
    }


# --- running and publishing ------------------------------------------------------------------


def publish(folder: Path, name: str, doc: dict[str, Any], html: str) -> list[Path]:
    """Write ``name.json`` and ``name.html`` into ``folder`` (each atomically)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        json_path, html_path = folder / f"{name}.json", folder / f"{name}.html"
        write_durably(json_path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())
        write_durably(html_path, html.encode("utf-8"))
        write_admin_index(folder)
    except OSError as exc:
        raise ReportError(f"cannot write the {name} report into {folder}: {exc}") from exc
    return [json_path, html_path]


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min).astimezone()


def run_security(
    settings: Settings,
    *,
    since: date | None = None,
    log_dir: Path | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Read the logs, build the security document, publish it; return it and the files."""
    now = now or datetime.now().astimezone()
    today = now.date()
    since = since or today - timedelta(days=DEFAULT_SECURITY_DAYS - 1)
    folder = log_dir or log_path(settings)
    read = read_logs(folder, ACCESS_LOG, since=_local_midnight(since) - timedelta(days=1))
    doc = security_report(read, since=since, today=today, now=now)
    return doc, publish(admin_path(settings), "security", doc, security_html(doc))


def run_usage(
    settings: Settings,
    *,
    weeks: int = DEFAULT_WEEKS,
    log_dir: Path | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Read the logs, build the usage document, publish it; return it and the files."""
    now = now or datetime.now().astimezone()
    today = now.date()
    span = iso_weeks(today, weeks)
    team = edge_plan(settings).team
    folder = log_dir or log_path(settings)
    read = read_logs(folder, ACCESS_LOG, since=_local_midnight(span[0][0]) - timedelta(days=1))
    doc = usage_report(read, team=team, weeks=span, today=today, now=now)
    return doc, publish(admin_path(settings), "usage", doc, usage_html(doc))


def security_summary(doc: dict[str, Any]) -> str:
    """One line for the scheduler's job history."""
    t = doc["totals"]
    return (
        f"security since {doc['since']}: {t['off_list']} off-list requests, "
        f"{t['off_list_served']} served; {t['admin_surface_non_admin']} admin-surface "
        f"requests from non-admins, {t['admin_surface_non_admin_served']} served; "
        f"{doc['malformed']['count']} malformed lines"
    )


def usage_summary(doc: dict[str, Any]) -> str:
    """One line for the scheduler's job history."""
    week = doc["latest_complete_week"] or doc["weeks"][-1]
    ratio = "n/a" if week["ratio"] is None else f"{week['ratio']:.0%}"
    return (
        f"usage {week['week']}: {week['active_users']}/{week['team_size']} active ({ratio}), "
        f"{week['sessions']} sessions, peak {week['peak_concurrent_sessions']} at once"
    )
