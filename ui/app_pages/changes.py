"""Changes (변경 이력): every change since a chosen date, filterable, paged, downloadable.

A Streamlit page script; filtering is ``fmw.ui.overview.filter_changes``. Like
Explore, the view lives in the URL (``since``, ``kind``, ``source``, ``field``,
``q``, ``page``) so a link reproduces it. Each change says what changed (every
field before → after, from the history the snapshot holds: ``as_of.change_documents``),
the feature's name and the source by its display name; its code opens the record,
with this view as the record's way back. The table is plain HTML (no page-only
download); the downloads are in the reader's words, or the stored codes.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import streamlit as st

from fmw.ui import as_of, display, messages, overview, view
from fmw.ui.snapshot_data import Snapshot, document_changes

K = "changes_"
WRITTEN = f"{K}url_written"
PAGE_SIZE = 100
LISTS = {"kind": "kinds", "source": "sources", "field": "fields"}


def _parse_day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _set_widgets(snapshot: Snapshot, params: dict[str, list[str]]) -> None:
    since = _parse_day((params.get("since") or [""])[-1])
    st.session_state[f"{K}since"] = since or overview.default_since(snapshot, zone=view.zone())
    for param, field in LISTS.items():
        st.session_state[f"{K}{field}"] = list(dict.fromkeys(params.get(param, [])))
    st.session_state[f"{K}q"] = (params.get("q") or [""])[-1]
    page = (params.get("page") or ["1"])[-1]
    st.session_state[f"{K}page"] = int(page) if page.isdigit() and 0 < int(page) < 10**9 else 1
    st.session_state.pop(f"{K}filter", None)


def _wanted() -> overview.ChangeFilter:
    state = st.session_state
    since = state.get(f"{K}since")
    return overview.ChangeFilter(
        since=since if isinstance(since, dt.date) else None,
        kinds=tuple(state.get(f"{K}kinds", [])),
        sources=tuple(state.get(f"{K}sources", [])),
        fields=tuple(state.get(f"{K}fields", [])),
        text=str(state.get(f"{K}q", "")).strip(),
    )


def _params(wanted: overview.ChangeFilter, page: int) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    if wanted.since is not None:
        params["since"] = [wanted.since.isoformat()]
    for param, field in LISTS.items():
        values = list(getattr(wanted, field))
        if values:
            params[param] = values
    if wanted.text:
        params["q"] = [wanted.text]
    if page != 1:
        params["page"] = [str(page)]
    return params


def _filters(snapshot: Snapshot, lang: str, reader: display.Reader) -> None:
    since, kinds, sources, fields, text = st.columns([1, 1, 1, 1, 1])
    since.date_input(view.tr("changes.since"), key=f"{K}since", format="YYYY-MM-DD")
    kinds.multiselect(
        view.tr("changes.kinds"),
        options=list(overview.CHANGE_KINDS),
        format_func=lambda v: messages.value_label("change", v, lang),
        key=f"{K}kinds",
        placeholder=view.tr("choose"),
        select_all=False,
    )
    known_sources = overview.change_sources(snapshot)
    picked = st.session_state.get(f"{K}sources", [])
    sources.multiselect(
        view.tr("changes.sources"),
        options=known_sources + [s for s in picked if s not in known_sources],
        format_func=reader.source,
        key=f"{K}sources",
        placeholder=view.tr("choose"),
        select_all=False,
    )
    known_fields = overview.change_fields(snapshot)
    picked = st.session_state.get(f"{K}fields", [])
    fields.multiselect(
        view.tr("changes.fields"),
        options=known_fields + [f for f in picked if f not in known_fields],
        format_func=lambda v: messages.field_label(v, lang),
        key=f"{K}fields",
        placeholder=view.tr("choose"),
        select_all=False,
    )
    text.text_input(view.tr("changes.text"), key=f"{K}q", max_chars=200)


def _what(
    before: dict[str, object] | None, after: dict[str, object], reader: display.Reader
) -> str:
    """Each changed field as "label: before → after" (HTML); blank for a new record."""
    if before is None:
        return ""
    parts = []
    known = {k: v for k, v in after.items() if k in before}  # an older document: its keys only
    for change in document_changes(before, known):
        parts.append(
            f"<b>{html.escape(reader.header(change.field))}</b>: "
            f'<span class="was">{html.escape(reader.cell(change.field, change.before))}</span>'
            f" → {html.escape(reader.cell(change.field, change.after))}"
        )
    return "<br>".join(parts)


def _table(
    snapshot: Snapshot, rows: list[dict[str, Any]], reader: display.Reader, back: str
) -> None:
    """``rows``: changes as ``to_pylist`` gives them (each value of its column's type)."""
    documents = as_of.change_documents(snapshot, [int(r["history_id"]) for r in rows])
    names = _feature_names(snapshot, [str(r["identity_hash"]) for r in rows])
    columns = ("changed_at", "change", "feature_code", "feature_name", "policy_code", "region")
    headers = [reader.header(c) for c in (*columns, "platform")]
    headers += [view.tr("changes.what"), reader.header("batch_source"), reader.header("batch_id")]
    body = []
    for row, (before, after), name in zip(rows, documents, names, strict=True):
        href = view.record_href(str(row["identity_hash"]), back)
        code = html.escape(str(row.get("feature_code") or ""))
        body.append(
            [
                f'<td class="time">{html.escape(reader.when(row["changed_at"]))}</td>',
                f"<td>{html.escape(reader.cell('change', row['change']))}</td>",
                f'<td class="code"><a href="{html.escape(href)}" target="_self">{code}</a></td>',
                f"<td>{html.escape(name)}</td>",
                *(
                    f'<td class="code">{html.escape(str(row.get(c) or ""))}</td>'
                    for c in ("policy_code", "region", "platform")
                ),
                f"<td>{_what(before, after, reader)}</td>",
                f"<td>{html.escape(reader.source(str(row.get('batch_source') or '')))}</td>",
                f'<td class="num">{row.get("batch_id") or ""}</td>',
            ]
        )
    st.html(
        view.TABLE_STYLE
        + view.table_html(
            [html.escape(h) for h in headers],
            body,
            css="fmw-changes",
            row_ids=[str(r["identity_hash"]) for r in rows],
        )
    )


def _feature_names(snapshot: Snapshot, identities: list[str]) -> list[str]:
    """Each identity's feature name ("" when this snapshot does not hold it): a binary
    search each (a hash of every identity would cost most of a second at a million)."""
    column = snapshot.records["feature_name"]
    names = []
    for identity in identities:
        row = snapshot.row_index(identity)
        names.append("" if row is None else str(column[row].as_py() or ""))
    return names


def render() -> None:
    shown = view.start_page("changes")
    snapshot = shown.snapshot
    lang = view.lang()
    reader = view.reader(shown.settings)
    url = view.url_params()
    if st.session_state.get(WRITTEN) != url:
        _set_widgets(snapshot, url)
    _filters(snapshot, lang, reader)
    wanted = _wanted()
    matches = overview.filter_changes(snapshot, wanted, zone=view.zone())
    pages = max(1, math.ceil(matches.num_rows / PAGE_SIZE))
    previous = st.session_state.get(f"{K}filter")
    if previous is not None and previous != wanted:
        st.session_state[f"{K}page"] = 1  # a new filter starts at the first page
    st.session_state[f"{K}filter"] = wanted
    st.session_state[f"{K}page"] = min(max(1, int(st.session_state.get(f"{K}page", 1))), pages)

    count_col, page_col = st.columns([3, 1], vertical_alignment="bottom")
    count_col.markdown(f"**{view.tr('changes.count', count=view.number(matches.num_rows))}**")
    page = int(
        page_col.number_input(
            view.tr("changes.page", pages=view.number(pages)),
            min_value=1,
            max_value=pages,
            step=1,
            key=f"{K}page",
        )
    )
    params = _params(wanted, page)
    if matches.num_rows == 0:
        st.info(view.tr("changes.none"))
    else:
        shown = matches.slice((page - 1) * PAGE_SIZE, PAGE_SIZE).to_pylist()
        _table(snapshot, shown, reader, back=view.page_href("changes", params))
        listed = matches.drop_columns(["history_id"])
        view.download_buttons(
            lambda: reader.table(listed),
            lambda: listed,
            matches.num_rows,
            name=f"changes-{snapshot.id}",
            key=K,
            zone_name=reader.zone_name(),
        )
    view.write_url(params, url)
    st.session_state[WRITTEN] = params


if __name__ == "__main__":
    render()
