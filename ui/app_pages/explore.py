"""Explore (검색): free-text search, facet filters with live counts, sorting, a paged table.

A Streamlit page script. The whole view lives in the URL: on each run the
page compares the URL with what it last wrote there; when they differ (a
pasted link, Home's search box, the back button) the widgets are set from the
URL, otherwise the widgets are the truth and the URL is rewritten from them.
Only one page of rows reaches the browser; downloads are generated when
clicked (``fmw.ui.downloads``), from the query, never kept per session.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import streamlit as st

from fmw.ui import downloads, messages, search, view
from fmw.ui.snapshot_data import FACETS, Snapshot

K = "explore_"
WRITTEN = f"{K}url_written"
LAST_QUERY = f"{K}last_query"


def _set_widgets(query: search.Query) -> None:
    st.session_state[f"{K}q"] = query.text
    for name in FACETS:
        st.session_state[f"{K}f_{name}"] = list(query.filters.get(name, ()))
    st.session_state[f"{K}sort"] = query.sort
    st.session_state[f"{K}desc"] = query.descending
    st.session_state[f"{K}size"] = query.page_size
    st.session_state[f"{K}page"] = query.page


def _query_from_widgets() -> search.Query:
    state = st.session_state
    query = search.Query(
        text=str(state.get(f"{K}q", "")).strip()[: search.MAX_QUERY_LENGTH],
        filters={
            name: tuple(state.get(f"{K}f_{name}", []))
            for name in FACETS
            if state.get(f"{K}f_{name}")
        },
        sort=state.get(f"{K}sort", search.DEFAULT_SORT),
        descending=bool(state.get(f"{K}desc", False)),
        page=int(state.get(f"{K}page", 1) or 1),
        page_size=int(state.get(f"{K}size", search.DEFAULT_PAGE_SIZE)),
    )
    without_page = query.to_params()
    without_page.pop("page", None)
    if state.get(LAST_QUERY) not in (None, without_page):
        query = query.with_changes()  # any change but the page starts again at page 1
    state[LAST_QUERY] = without_page
    return query


def _clear() -> None:
    _set_widgets(search.Query())


def _filters(result: search.SearchResult) -> None:
    lang = view.lang()
    st.subheader(view.tr("explore.filters"))
    for name in FACETS:
        counts = {fc.value: fc.count for fc in result.facets.get(name, [])}

        def label(value: str, name: str = name, counts: dict[str, int] = counts) -> str:
            return f"{messages.facet_value_label(name, value, lang)} ({counts.get(value, 0):,})"

        st.multiselect(
            messages.field_label(name, lang),
            options=list(counts),
            format_func=label,
            key=f"{K}f_{name}",
            placeholder=view.tr("choose"),
        )
    st.button(view.tr("explore.clear"), on_click=_clear, key=f"{K}clear")


def _table(snapshot: Snapshot, result: search.SearchResult) -> None:
    lang = view.lang()
    rows = result.rows.to_pylist()
    frame = pd.DataFrame(
        {
            messages.field_label(name, lang): [_cell(name, row.get(name), lang) for row in rows]
            for name in result.rows.column_names
            if name != "identity_hash"
        }
    )
    open_label = messages.field_label("open", lang)
    frame[open_label] = [f"record?id={row['identity_hash']}" for row in rows]
    view.record_table(
        frame,
        [row["identity_hash"] for row in rows],
        key=f"{K}table",
        column_config={
            open_label: st.column_config.LinkColumn(
                open_label, display_text=view.tr("explore.open")
            )
        },
    )


def _cell(name: str, value: object, lang: str) -> object:
    if name == "status":
        return messages.value_label("status", value, lang)
    if name == "last_changed_at":
        return view.when_cell(value)
    return value


def _downloads(snapshot: Snapshot, query: search.Query, total: int) -> None:
    lang = view.lang()
    headers = {name: messages.field_label(name, lang) for name in snapshot.records.column_names}

    def matching() -> pa.Table:
        order = search.run_search(snapshot, query.with_changes(page=1)).order
        return snapshot.records.take(order)

    left, right, note = st.columns([1, 1, 2])
    view.download_buttons(
        left, right, matching, total, headers, name=f"records-{snapshot.id}", key=K
    )
    if total > downloads.XLSX_MAX_ROWS:
        note.caption(view.tr("download.xlsx_cut", rows=view.number(downloads.XLSX_MAX_ROWS)))


def render() -> None:
    shown = view.start_page("explore")
    snapshot = shown.snapshot
    url = view.url_params()
    if st.session_state.get(WRITTEN) != url:
        _set_widgets(search.Query.from_params(url))
        st.session_state.pop(LAST_QUERY, None)
    query = _query_from_widgets()
    result = search.run_search(snapshot, query)
    query = query.with_changes(page=result.page)
    st.session_state[f"{K}page"] = result.page

    st.text_input(
        view.tr("explore.search"),
        key=f"{K}q",
        placeholder=view.tr("home.search.placeholder"),
        max_chars=search.MAX_QUERY_LENGTH,
    )
    side, main = st.columns([1, 3], gap="medium")
    with side:
        _filters(result)
    with main:
        lang = view.lang()
        sort_col, desc_col, size_col, page_col = st.columns(
            [2, 1, 1, 1], vertical_alignment="bottom"
        )
        sort_col.selectbox(
            view.tr("explore.sort"),
            options=list(search.SORTABLE),
            format_func=lambda name: messages.field_label(name, lang),
            key=f"{K}sort",
        )
        desc_col.toggle(view.tr("explore.descending"), key=f"{K}desc")
        size_col.selectbox(
            view.tr("explore.page_size"), options=list(search.PAGE_SIZES), key=f"{K}size"
        )
        page_col.number_input(
            view.tr("explore.page", pages=view.number(result.pages)),
            min_value=1,
            max_value=result.pages,
            step=1,
            key=f"{K}page",
        )
        if result.total == 0:
            st.info(view.tr("explore.none"))
        else:
            first = (result.page - 1) * query.page_size + 1
            st.caption(
                view.tr(
                    "explore.count",
                    total=view.number(result.total),
                    first=view.number(first),
                    last=view.number(first + result.rows.num_rows - 1),
                )
                + " · "
                + view.tr("explore.open_hint")
            )
            _table(snapshot, result)
        _downloads(snapshot, query, result.total)

    params = view.as_lists(query.to_params())
    view.write_url(params, url)
    st.session_state[WRITTEN] = params


if __name__ == "__main__":
    render()
