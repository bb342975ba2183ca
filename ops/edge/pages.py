"""Static HTML for the admin surface (/api/dev/): the index and the two report pages.

Its job: turn a report document into one self-contained page (inline CSS, no
script: nginx serves /api/dev/ with ``default-src 'none'``) and write the index
that links the reports, the scheduler's status and the snapshot files. Every
value from a log (paths, methods, addresses) is HTML-escaped: log lines are
written by strangers. It must never read logs or compute numbers.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fmw.files import write_durably

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.t,th.t{text-align:left}
.ok{color:#17612a;font-weight:600}.bad{color:#b00020;font-weight:600}.dim{color:#777}
code{background:#f3f3f3;padding:0 .2em;word-break:break-all}
"""

INDEX_LINKS = (
    ("security.html", "Security report", "off-list and admin-surface requests, per day"),
    ("usage.html", "Usage report", "weekly active users, sessions, peak concurrency"),
    ("security.json", "security.json", "the security report as JSON"),
    ("usage.json", "usage.json", "the usage report as JSON"),
    ("scheduler-status.json", "scheduler-status.json", "the scheduler's heartbeat and jobs"),
    ("snapshots/", "Snapshot files", "CURRENT.json and every kept generation, for download"),
)


def e(value: object) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        f'<p class="dim"><a href="./">FMW admin</a></p>\n<h1>{e(title)}</h1>\n{body}\n'
        "</body></html>\n"
    )


def table(headers: list[str], rows: list[list[object]], text_columns: set[int]) -> str:
    def cell(tag: str, index: int, value: object) -> str:
        klass = ' class="t"' if index in text_columns else ""
        return f"<{tag}{klass}>{value}</{tag}>"

    head = "".join(cell("th", i, e(h)) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>\n" for row in rows
    )
    return f"<table><tr>{head}</tr>\n{body}</table>"


def verdict(met: bool | None, text: str) -> str:
    if met is None:
        return f'<span class="dim">{e(text)}</span>'
    return f'<span class="{"ok" if met else "bad"}">{e(text)}</span>'


def _read_section(doc: dict[str, Any]) -> str:
    malformed = doc["malformed"]
    parts = [
        "<h2>Logs read</h2>",
        f"<p>{len(doc['files'])} files in <code>{e(doc['log_dir'])}</code>, "
        f"{doc['lines']:,} lines, {malformed['count']:,} malformed (counted, skipped).</p>",
    ]
    if malformed["examples"]:
        parts.append(
            table(
                ["file", "line", "why"],
                [[e(m["file"]), m["line"], e(m["reason"])] for m in malformed["examples"]],
                {0, 2},
            )
        )
    parts += [f'<p class="bad">{e(problem)}</p>' for problem in doc["problems"]]
    return "\n".join(parts)


def security_html(doc: dict[str, Any]) -> str:
    """The security report page."""
    bars = doc["bars"]
    off, adm = bars["off_list_served"], bars["admin_surface_served_to_non_admins"]
    totals = doc["totals"]
    body = [
        f"<p>From {e(doc['since'])} to {e(doc['until'])}; made {e(doc['generated_at'])}. "
        "The address that counts is nginx's own (X-Forwarded-For is ignored).</p>",
        "<h2>The bars</h2><ul>",
        f"<li>Requests from off-list addresses that were served: "
        f"{verdict(off['met'], str(off['value']))} (bar: 0) of {totals['off_list']:,} "
        "off-list requests</li>",
        f"<li>Admin-surface (/api/dev) requests from non-admin addresses that were served: "
        f"{verdict(adm['met'], str(adm['value']))} (bar: 0) of "
        f"{totals['admin_surface_non_admin']:,}</li>",
        f"<li>Rate-limited requests (429): {totals['rate_limited']:,}</li></ul>",
    ]
    if doc["breaches"]:
        body.append("<h2>Served although they should not have been</h2>")
        body.append(
            table(
                ["time", "address", "user", "method", "path", "status", "why"],
                [
                    [
                        e(b["time"]),
                        e(b["addr"]),
                        e(b["user"]),
                        e(b["method"]),
                        f"<code>{e(b['path'])}</code>",
                        b["status"],
                        e(b["why"]),
                    ]
                    for b in doc["breaches"]
                ],
                {0, 1, 2, 3, 4, 6},
            )
        )
    body.append("<h2>Per day</h2>")
    body.append(
        table(
            ["date", "requests", "off-list", "served", "admin surface, non-admin", "served", "429"],
            [
                [
                    e(d["date"]),
                    f"{d['requests']:,}",
                    f"{d['off_list']:,}",
                    verdict(d["off_list_served"] == 0, str(d["off_list_served"])),
                    f"{d['admin_surface_non_admin']:,}",
                    verdict(
                        d["admin_surface_non_admin_served"] == 0,
                        str(d["admin_surface_non_admin_served"]),
                    ),
                    f"{d['rate_limited']:,}",
                ]
                for d in reversed(doc["days"])
            ],
            {0},
        )
    )
    body.append("<h2>Top offending addresses</h2>")
    if doc["top_offenders"]:
        body.append(
            table(
                [
                    "address",
                    "user",
                    "requests",
                    "off-list",
                    "admin surface",
                    "served",
                    "first",
                    "last",
                ],
                [
                    [
                        e(o["addr"]),
                        e(o["user"]),
                        f"{o['requests']:,}",
                        f"{o['off_list']:,}",
                        f"{o['admin_surface']:,}",
                        verdict(o["served"] == 0, str(o["served"])),
                        e(o["first"]),
                        e(o["last"]),
                    ]
                    for o in doc["top_offenders"]
                ],
                {0, 1, 6, 7},
            )
        )
    else:
        body.append("<p>None.</p>")
    body.append(_read_section(doc))
    return page("FMW security report", "\n".join(body))


def usage_html(doc: dict[str, Any]) -> str:
    """The usage report page."""
    bar = doc["bar"]
    body = [
        f"<p>Made {e(doc['generated_at'])}. A session is one dashboard WebSocket, counted when "
        f"it closes; a user is a name on the users allowlist ({doc['team_size']} names). "
        f"The bar: weekly active users at least {bar:.0%} of them.</p>",
        "<h2>Per ISO week</h2>",
        table(
            ["week", "from", "to", "active", "of", "share", "sessions", "peak at once", "not seen"],
            [
                [
                    e(w["week"]) + (' <span class="dim">(so far)</span>' if w["partial"] else ""),
                    e(w["from"]),
                    e(w["to"]),
                    w["active_users"],
                    w["team_size"],
                    verdict(
                        None if w["partial"] else w["met"],
                        "n/a" if w["ratio"] is None else f"{w['ratio']:.0%}",
                    ),
                    w["sessions"],
                    w["peak_concurrent_sessions"],
                    e(", ".join(w["inactive"])),
                ]
                for w in reversed(doc["weeks"])
            ],
            {0, 1, 2, 8},
        ),
        "<h2>Sessions per user</h2>",
    ]
    names = sorted({n for w in doc["weeks"] for n in w["sessions_per_user"]})
    if names:
        body.append(
            table(
                ["user", *[w["week"] for w in doc["weeks"]]],
                [[e(n), *[w["sessions_per_user"].get(n, 0) for w in doc["weeks"]]] for n in names],
                {0},
            )
        )
    else:
        body.append("<p>No sessions.</p>")
    body.append(_read_section(doc))
    return page("FMW usage report", "\n".join(body))


def index_html() -> str:
    items = "\n".join(
        f'<li><a href="{e(href)}">{e(label)}</a> <span class="dim">{e(note)}</span></li>'
        for href, label, note in INDEX_LINKS
    )
    return page(
        "FMW admin",
        "<p>Admins only: nginx lets no other address in here. The reports are refreshed "
        f"daily by the scheduler's <code>fmw:report</code> job.</p>\n<ul>\n{items}\n</ul>",
    )


def write_admin_index(folder: Path) -> Path:
    """Write ``index.html`` into the admin folder (created if needed); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    data = index_html().encode("utf-8")
    if not path.exists() or path.read_bytes() != data:
        write_durably(path, data)
    return path
