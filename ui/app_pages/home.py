"""Home (홈): totals, status chart, by team and region, the latest changes, freshness.

A Streamlit page script (run by ``st.navigation``); numbers come from
``fmw.ui.overview``, labels from the message catalog. Home is the page
everyone opens, so it is built from as few and as light elements as possible —
every element costs the browser a render, and each new kind a script chunk
(measured in Chromium, docs/benchmarks.md "Dashboard"). Besides the title and
the warnings and errors (``st.warning``/``st.error``, only when there is
something to say), everything is one ``st.html`` block of plain HTML/CSS —
no widget, chart library, table or grid component:

* the page and language links (``view.top_links``) and the freshness line;
* the search box: a plain GET form to ``explore?q=...`` (Enter or its button;
  a full page load of Explore, which reads ``?q=`` and ``?language=``);
* the five numbers as cards (``.fmw-metric``), the status chart, the team and
  region tables, the latest changes and the link to all of them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pyarrow as pa
import streamlit as st

from fmw.ui import display, messages, overview, view

EXPLORE_URL = "explore"  # relative: also right behind a reverse proxy's path prefix
LATEST_SHOWN = 10  # how many of the latest changes Home lists (Changes has them all)
LATEST_COLUMNS = (
    "feature_code",
    "policy_code",
    "region",
    "platform",
    "changed_fields",
    "batch_source",
)
STYLE = (
    "<style>.fmw-home h3{font-size:1.25rem;font-weight:600;margin:1.25rem 0 0.5rem}"
    ".fmw-home .fmw-row{display:grid;grid-template-columns:2fr 3fr;gap:2.5rem}"
    ".fmw-status-chart{display:grid;grid-template-columns:max-content 1fr max-content;"
    "gap:0.45rem 0.75rem;align-items:center;font-size:0.9rem}"
    ".fmw-status-chart .bar{display:block;height:0.9rem;border-radius:3px}"
    ".fmw-table{border-collapse:collapse;width:100%;font-size:0.875rem}"
    ".fmw-table th,.fmw-table td{border-bottom:1px solid rgba(49,51,63,0.15);"
    "padding:0.3rem 0.5rem;text-align:left;white-space:nowrap}"
    ".fmw-table td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".fmw-scroll{overflow-x:auto}"
    ".fmw-fresh{font-size:0.875rem;color:rgba(49,51,63,0.6)}"
    ".fmw-metrics{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:1rem;"
    "margin:1rem 0}"
    ".fmw-metric-label{font-size:0.875rem}"
    ".fmw-home a.fmw-go{color:inherit;text-decoration:none;display:block}"
    ".fmw-home a.fmw-go:hover .fmw-metric-value,.fmw-home a.fmw-go:hover span{"
    "text-decoration:underline}"
    ".fmw-table td a{color:inherit}"
    ".fmw-metric-value{font-size:2.25rem;line-height:1.3;font-variant-numeric:tabular-nums}"
    ".fmw-search label{display:block;font-size:0.875rem;margin-bottom:0.25rem}"
    ".fmw-search div{display:flex;gap:0.5rem}"
    ".fmw-search input{flex:1;font:inherit;padding:0.4rem 0.75rem;border-radius:0.5rem;"
    "border:1px solid rgba(49,51,63,0.2);background:#f0f2f6}"
    ".fmw-search button{font:inherit;padding:0.4rem 0.75rem;border-radius:0.5rem;"
    "border:1px solid rgba(49,51,63,0.2);background:#fff;cursor:pointer}</style>"
)


def _search_box() -> str:
    """A plain HTML GET form: Enter or its button opens Explore at ``explore?q=...``."""
    lang = view.lang()
    hidden = (
        ""
        if lang == messages.DEFAULT_LANGUAGE
        else f'<input type="hidden" name="{view.FORM_LANG_KEY}" value="{lang}">'
    )
    return (
        f'<form class="fmw-search" method="get" action="{EXPLORE_URL}">'
        f'<label for="fmw-home-q">{html.escape(view.tr("home.search"))}</label>'
        f'<div><input id="fmw-home-q" type="search" name="q" required'
        f' placeholder="{html.escape(view.tr("home.search.placeholder"))}">{hidden}'
        f'<button type="submit">{html.escape(view.tr("home.search.go"))}</button></div></form>'
    )


def _metrics(totals: overview.Totals, latest_since: dict[str, list[str]]) -> str:
    """The five numbers; each opens the records (or changes) it counts.

    ``latest_since``: the Changes view's parameters that list the latest changes.
    """
    cards = (
        ("metric.records", totals.records, view.page_href("explore", {"listed": ["all"]})),
        ("metric.active", totals.active, view.page_href("explore", {})),
        ("metric.inactive", totals.inactive, view.page_href("explore", {"listed": ["no"]})),
        (
            "metric.conflicts",
            totals.conflicts,
            view.page_href("explore", {"has_conflict": ["true"], "listed": ["all"]}),
        ),
        ("metric.changes", totals.latest_changes, view.page_href("changes", latest_since)),
    )
    return (
        '<div class="fmw-metrics">'
        + "".join(
            f'<a class="fmw-go" href="{html.escape(href)}" target="_self">'
            f'<div class="fmw-metric"><div class="fmw-metric-label">{html.escape(view.tr(key))}'
            f'</div><div class="fmw-metric-value">{view.number(value)}</div></div></a>'
            for key, value, href in cards
        )
        + "</div>"
    )


def _heading(text: str) -> str:
    return f"<h3>{html.escape(text)}</h3>"


def _status_chart(counts: list[tuple[str, int, int]]) -> str:
    """A horizontal bar chart in plain HTML/CSS: no charting library to load on Home."""
    reader = view.reader()
    top = max((n for _, n, _ in counts), default=0) or 1
    bars = "".join(
        f"<span>{view.link(_explore('status', status), reader.cell('status', status))}</span>"
        f'<a href="{html.escape(_explore("status", status))}" target="_self">'
        f'<span class="bar" style="width:{max(0.5, 100 * records / top):.1f}%;'
        f'background:{view.STATUS_COLOURS.get(status, "#9e9e9e")}"></span></a>'
        f'<span style="text-align:right">{records:,}</span>'
        for status, records, _ in counts
    )
    return _heading(view.tr("home.status")) + f'<div class="fmw-status-chart">{bars}</div>'


def _explore(column: str, value: str) -> str:
    """Explore filtered to one value, every record (Home's numbers count them all)."""
    return view.page_href("explore", {column: [value], "listed": ["all"]})


def _html_table(
    headers: list[str], rows: Sequence[Sequence[object]], key: str, links: list[str] | None = None
) -> str:
    """A static table in plain HTML (numbers right-aligned): lighter than st.table or a grid.

    ``links``: per row, where its first cell leads.
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)

    def first(cell: object, row: int) -> str:
        text = html.escape(str(cell))
        return f'<a href="{html.escape(links[row])}" target="_self">{text}</a>' if links else text

    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell:,}</td>'
            if isinstance(cell, int)
            else f"<td>{first(cell, i) if j == 0 else html.escape(str(cell))}</td>"
            for j, cell in enumerate(row)
        )
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return (
        f'<div class="fmw-scroll"><table class="fmw-table fmw-{key}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _breakdown(title_key: str, rows: list[dict[str, object]], dimension: str) -> str:
    lang = view.lang()
    keys = list(rows[0]) if rows else ["value", "records", "active_records"]
    headers = [
        messages.field_label(dimension, lang)
        if key == "value"
        else messages.field_label(key, lang)
        if key in ("records", "active_records")
        else messages.value_label("status", key, lang)
        for key in keys
    ]
    cells = [
        [row[k] or view.tr("value.blank") if k == "value" else row[k] for k in keys] for row in rows
    ]
    links = [_explore(dimension, str(row["value"])) for row in rows]
    return _heading(view.tr(title_key)) + _html_table(headers, cells, dimension, links)


def _latest_changes(
    changes: pa.Table, total: int, reader: display.Reader, since: dict[str, list[str]]
) -> str:
    if total == 0:
        return f"<p>{html.escape(view.tr('home.latest.none'))}</p>"
    headers = [reader.header(c) for c in ("changed_at", "change", *LATEST_COLUMNS)]
    shown = changes.slice(0, LATEST_SHOWN).to_pylist()
    rows = [
        [reader.when(r["changed_at"]), *(reader.cell(c, r[c]) for c in ("change", *LATEST_COLUMNS))]
        for r in shown
    ]
    links = [view.record_href(str(r["identity_hash"]), "./") for r in shown]
    return (
        _heading(view.tr("home.latest", count=view.number(total)))
        + _html_table(headers, rows, "latest", links)
        + f'<p><a href="{html.escape(view.page_href("changes", since))}" target="_self">'
        + f"{html.escape(view.tr('home.latest.all'))}</a></p>"
    )


def render() -> None:
    shown = view.start_page("home", top=False)  # the top links are in the HTML block
    snapshot = shown.snapshot
    made = view.show_freshness(shown)
    totals = overview.totals(snapshot)
    reader = view.reader(shown.settings)
    latest = overview.latest_changes(snapshot)
    since = {"since": [overview.latest_since(latest, view.zone()).isoformat()]}
    st.html(
        STYLE
        + '<div class="fmw-home">'
        + view.top_links("home")
        + f'<p class="fmw-fresh">{html.escape(made)} · {html.escape(view.tr("home.open_hint"))}</p>'
        + _search_box()
        + _metrics(totals, since)
        + '<div class="fmw-row"><div>'
        + _status_chart(overview.status_counts(snapshot))
        + "</div><div>"
        + _breakdown("home.by_team", overview.breakdown(snapshot, "team"), "team")
        + "</div></div>"
        + _breakdown("home.by_region", overview.breakdown(snapshot, "region"), "region")
        + _latest_changes(latest, totals.latest_changes, reader, since)
        + "</div>"
    )


if __name__ == "__main__":
    render()
