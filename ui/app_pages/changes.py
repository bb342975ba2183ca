"""Changes (변경 이력): every change since a chosen date, filterable, paged, downloadable.

A Streamlit page script; filtering is ``fmw.ui.overview.filter_changes``. Like
Explore, the view lives in the URL (``since``, ``kind``, ``source``, ``field``,
``q``, ``page``) so a link reproduces it; a row opens its record.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import streamlit as st

from fmw.ui import messages, overview, view
from fmw.ui.snapshot_data import Snapshot

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


def _filters(snapshot: Snapshot, lang: str) -> None:
    since, kinds, sources, fields, text = st.columns([1, 1, 1, 1, 1])
    since.date_input(view.tr("changes.since"), key=f"{K}since", format="YYYY-MM-DD")
    kinds.multiselect(
        view.tr("changes.kinds"),
        options=list(overview.CHANGE_KINDS),
        format_func=lambda v: messages.value_label("change", v, lang),
        key=f"{K}kinds",
        placeholder=view.tr("choose"),
    )
    known_sources = overview.change_sources(snapshot)
    picked = st.session_state.get(f"{K}sources", [])
    sources.multiselect(
        view.tr("changes.sources"),
        options=known_sources + [s for s in picked if s not in known_sources],
        key=f"{K}sources",
        placeholder=view.tr("choose"),
    )
    known_fields = overview.change_fields(snapshot)
    picked = st.session_state.get(f"{K}fields", [])
    fields.multiselect(
        view.tr("changes.fields"),
        options=known_fields + [f for f in picked if f not in known_fields],
        format_func=lambda v: messages.field_label(v, lang),
        key=f"{K}fields",
        placeholder=view.tr("choose"),
    )
    text.text_input(view.tr("changes.text"), key=f"{K}q", max_chars=200)


def _table(rows: list[dict[str, object]], lang: str) -> None:
    frame = pd.DataFrame(
        {
            messages.field_label("changed_at", lang): [
                view.when_cell(r["changed_at"]) for r in rows
            ],
            messages.field_label("change", lang): [
                messages.value_label("change", r["change"], lang) for r in rows
            ],
            **{
                messages.field_label(name, lang): [r.get(name) for r in rows]
                for name in (
                    "feature_code",
                    "policy_code",
                    "region",
                    "platform",
                    "changed_fields",
                    "batch_id",
                    "batch_source",
                )
            },
        }
    )
    view.record_table(frame, [r["identity_hash"] for r in rows], key=f"{K}table")


def render() -> None:
    shown = view.start_page("changes")
    snapshot = shown.snapshot
    lang = view.lang()
    url = view.url_params()
    if st.session_state.get(WRITTEN) != url:
        _set_widgets(snapshot, url)
    _filters(snapshot, lang)
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
    if matches.num_rows == 0:
        st.info(view.tr("changes.none"))
    else:
        _table(matches.slice((page - 1) * PAGE_SIZE, PAGE_SIZE).to_pylist(), lang)
        headers = {name: messages.field_label(name, lang) for name in matches.column_names}
        left, right, _ = st.columns([1, 1, 2])
        view.download_buttons(
            left,
            right,
            lambda: matches,
            matches.num_rows,
            headers,
            name=f"changes-{snapshot.id}",
            key=K,
        )

    params = _params(wanted, page)
    view.write_url(params, url)
    st.session_state[WRITTEN] = params


if __name__ == "__main__":
    render()
