"""Home (홈): totals, status chart, by team and region, the latest changes, freshness.

A Streamlit page script (run by ``st.navigation``); numbers come from
``fmw.ui.overview``, labels from the message catalog. A search box hands its
query to Explore through the URL (``?q=``). Home is the page everyone opens,
so it only uses light elements: metrics, and tables and a bar chart in plain
HTML (``st.html``) — no charting library, table or grid component to load
(measured: ``st.table`` alone made Home ~0.35 s slower to show).
"""

from __future__ import annotations

import html

import pyarrow as pa
import streamlit as st

from fmw.ui import messages, overview, view


def _search_box() -> None:
    with st.form("home_search", border=False, enter_to_submit=True):
        left, right = st.columns([5, 1], vertical_alignment="bottom")
        query = left.text_input(
            view.tr("home.search"),
            key="home_q",
            placeholder=view.tr("home.search.placeholder"),
        )
        submitted = right.form_submit_button(view.tr("home.search.go"), width="stretch")
    if submitted and query.strip():
        st.switch_page(view.page_path("explore"), query_params={"q": query.strip()})


def _metrics(totals: overview.Totals) -> None:
    cells = st.columns(5)
    cells[0].metric(view.tr("metric.records"), view.number(totals.records))
    cells[1].metric(view.tr("metric.active"), view.number(totals.active))
    cells[2].metric(view.tr("metric.inactive"), view.number(totals.inactive))
    cells[3].metric(view.tr("metric.conflicts"), view.number(totals.conflicts))
    cells[4].metric(view.tr("metric.changes"), view.number(totals.latest_changes))


STATUS_COLOURS = {
    "enabled": "#2e7d32",
    "pilot": "#1565c0",
    "planned": "#ef6c00",
    "disabled": "#757575",
    "deprecated": "#c62828",
}


def _status_chart(counts: list[tuple[str, int, int]]) -> None:
    """A horizontal bar chart in plain HTML/CSS: no charting library to load on Home."""
    st.subheader(view.tr("home.status"))
    lang = view.lang()
    top = max((n for _, n, _ in counts), default=0) or 1
    bars = "".join(
        f"<span>{html.escape(messages.value_label('status', status, lang))}</span>"
        f'<span style="display:block;height:0.9rem;border-radius:3px;'
        f"width:{max(0.5, 100 * records / top):.1f}%;"
        f'background:{STATUS_COLOURS.get(status, "#9e9e9e")}"></span>'
        f'<span style="text-align:right">{records:,}</span>'
        for status, records, _ in counts
    )
    st.html(
        '<div class="fmw-status-chart" style="display:grid;'
        "grid-template-columns:max-content 1fr max-content;gap:0.45rem 0.75rem;"
        f'align-items:center;font-size:0.9rem">{bars}</div>'
    )


def _html_table(headers: list[str], rows: list[list[object]], key: str) -> None:
    """A static table in plain HTML (numbers right-aligned): lighter than st.table or a grid."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell:,}</td>'
            if isinstance(cell, int)
            else f"<td>{html.escape(str(cell))}</td>"
            for cell in row
        )
        + "</tr>"
        for row in rows
    )
    st.html(
        f'<table class="fmw-table fmw-{key}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _breakdown(title_key: str, rows: list[dict[str, object]], dimension: str) -> None:
    st.subheader(view.tr(title_key))
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
    _html_table(
        headers,
        [
            [row[k] or messages.t("value.empty", lang) if k == "value" else row[k] for k in keys]
            for row in rows
        ],
        dimension,
    )


def _latest_changes(changes: pa.Table, total: int) -> None:
    lang = view.lang()
    if total == 0:
        st.caption(view.tr("home.latest.none"))
        return
    st.subheader(view.tr("home.latest", count=view.number(total)))
    columns = [
        "feature_code",
        "policy_code",
        "region",
        "platform",
        "changed_fields",
        "batch_source",
    ]
    headers = [messages.field_label(c, lang) for c in ("changed_at", "change", *columns)]
    rows = [
        [
            view.when(r["changed_at"]),
            messages.value_label("change", r["change"], lang),
            *(r[c] if r[c] is not None else "" for c in columns),
        ]
        for r in changes.slice(0, 10).to_pylist()
    ]
    _html_table(headers, rows, "latest")
    st.page_link(
        view.page_path("changes"), label=view.tr("home.latest.all"), icon=":material/history:"
    )


STYLE = (
    "<style>.fmw-table{border-collapse:collapse;width:100%;font-size:0.875rem}"
    ".fmw-table th,.fmw-table td{border-bottom:1px solid rgba(49,51,63,0.15);"
    "padding:0.3rem 0.5rem;text-align:left;white-space:nowrap}"
    ".fmw-table td.num{text-align:right;font-variant-numeric:tabular-nums}</style>"
)


def render() -> None:
    st.html(STYLE)  # style only: Streamlit adds it to the page without a visible element
    shown = view.start_page("nav.home")
    snapshot = shown.snapshot
    view.show_freshness(shown)
    _search_box()
    totals = overview.totals(snapshot)
    _metrics(totals)
    left, right = st.columns([2, 3], gap="large")
    with left:
        _status_chart(overview.status_counts(snapshot))
    with right:
        _breakdown("home.by_team", overview.breakdown(snapshot, "team"), "team")
    _breakdown("home.by_region", overview.breakdown(snapshot, "region"), "region")
    _latest_changes(overview.latest_changes(snapshot), totals.latest_changes)


if __name__ == "__main__":
    render()
