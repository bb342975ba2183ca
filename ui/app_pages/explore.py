"""Explore (검색): ranked search, filters, sorting, a paged table, a past day, downloads.

A Streamlit page script. The whole view lives in the URL (``search.Query``):
on each run the page compares the URL with what it last wrote there; when
they differ (a pasted link, Home's search box or numbers, the browser's Back)
the widgets are set from the URL, otherwise the widgets are the truth and the
URL is rewritten from them. Every widget holds a *value* (``enabled``, ``KR``);
labels are only how it is drawn, and never carry live counts (a label that
changed under a selection used to become the selection). The counts are a
caption under each filter.

The table is plain HTML (``view.table_html``): a header click sorts the whole
result (a link to this view with another ``sort``), a code opens its record
with this view as the record's way back, blanks are blank, the columns are the
chosen ones (``cols=``), and no component offers a download of one page.
Downloads hold every matching row with the chosen columns in the reader's
words and time zone, plus the stored codes for programs.
"""

from __future__ import annotations

import datetime as dt
import html

import numpy as np
import pyarrow as pa
import streamlit as st

from fmw.ui import as_of, display, messages, search, view
from fmw.ui.snapshot_data import Snapshot

K = "explore_"
WRITTEN = f"{K}url_written"
LAST_QUERY = f"{K}last_query"
# The sort the sort box shows on its own (the default for the text): not a choice.
AUTO_SORT = f"{K}auto_sort"
FACET_COUNTS_SHOWN = 6
# The popovers of page size, columns and the disagreeing-sources switch, and of the days
# (True: open). Comments, not docstrings: Streamlit's magic would draw a bare string.
VIEW_MENU = f"{K}view_menu"
TIME_MENU = f"{K}time_menu"
CELL_CLASSES = {
    "feature_code": "code",
    "policy_code": "code",
    "region": "code",
    "platform": "code",
    "status": "code",
    "effective_from": "day",
    "effective_to": "day",
    "first_seen_at": "time",
    "last_changed_at": "time",
}


def _set_widgets(query: search.Query) -> None:
    state = st.session_state
    state[f"{K}q"] = query.text
    for name in search.CHOICE_FILTERS:
        state[f"{K}f_{name}"] = list(query.filters.get(name, ()))
    state[f"{K}conflicts"] = "has_conflict" in query.filters
    state[f"{K}listed"] = query.listed
    _show_sort(query)
    state[f"{K}desc"] = query.descending
    state[f"{K}size"] = query.page_size
    state[f"{K}page"] = query.page
    state[f"{K}cols"] = list(query.columns)
    state[f"{K}asof"] = query.as_of
    state[f"{K}compare"] = query.compare


def _show_sort(query: search.Query) -> None:
    """The sort box shows the sort in force; one nobody chose follows the text."""
    st.session_state[f"{K}sort"] = query.sort or query.effective_sort
    st.session_state[AUTO_SORT] = None if query.sort else query.effective_sort


def _query_from_widgets() -> search.Query:
    state = st.session_state
    text = str(state.get(f"{K}q", "")).strip()[: search.MAX_QUERY_LENGTH]
    sort = str(state.get(f"{K}sort") or "")
    if sort in (state.get(AUTO_SORT), search.Query(text=text).effective_sort):
        sort = ""  # not chosen, or the default for this text: relevance follows the text
    day = state.get(f"{K}asof")
    compare = state.get(f"{K}compare")
    query = search.Query(
        text=text,
        filters={
            **{
                name: tuple(state.get(f"{K}f_{name}", []))
                for name in search.CHOICE_FILTERS
                if state.get(f"{K}f_{name}")
            },
            **({"has_conflict": ("true",)} if state.get(f"{K}conflicts") else {}),
        },
        listed=state.get(f"{K}listed") or "yes",
        sort=sort,
        descending=bool(state.get(f"{K}desc", False)),
        page=int(state.get(f"{K}page", 1) or 1),
        page_size=int(state.get(f"{K}size", search.DEFAULT_PAGE_SIZE)),
        columns=tuple(c for c in search.TABLE_COLUMNS if c in (state.get(f"{K}cols") or []))
        or search.DEFAULT_COLUMNS,
        as_of=day if isinstance(day, dt.date) else None,
        compare=compare if isinstance(compare, dt.date) else None,
    )
    without_page = query.to_params()
    without_page.pop("page", None)
    if state.get(LAST_QUERY) not in (None, without_page):
        query = query.with_changes()  # any change but the page starts again at page 1
    state[LAST_QUERY] = without_page
    return query


def _clear() -> None:
    kept = search.Query.from_params(view.url_params())
    _set_widgets(search.Query(columns=kept.columns, page_size=kept.page_size))


def _search_row(reader: display.Reader) -> None:
    text, listed = st.columns([3, 1.3], vertical_alignment="bottom")
    view.search_inputs(text, listed, reader, K)


def _filters(
    result: search.SearchResult, query: search.Query, snapshot: Snapshot, reader: display.Reader
) -> None:
    """A multiselect per filter and, under them, one line of counts per filter (one HTML
    element: lighter than a caption each). A filter lists every value of the snapshot, in
    a fixed order, whatever is searched: labels never carry counts and the choices never
    move under the reader (the browser redraws a list whose options changed, ~60 ms a
    search for five); the counts say how many of the result hold each value."""
    names = [n for n in search.CHOICE_FILTERS if n in result.facets]
    for column, name in zip(st.columns(len(names)), names, strict=True):
        column.multiselect(
            reader.header(name),
            options=search.filter_choices(snapshot, query, name),
            format_func=lambda value, name=name: _value_label(reader, name, value),
            key=f"{K}f_{name}",
            placeholder=view.tr("choose"),
            select_all=False,
        )
    cells = []
    for name in names:
        counts = result.facets[name]
        shown = " · ".join(
            f"{_value_label(reader, name, fc.value)} {fc.count:,}"
            for fc in counts[:FACET_COUNTS_SHOWN]
        )
        more = " …" if len(counts) > FACET_COUNTS_SHOWN else ""
        cells.append(f'<div data-filter="{name}">{html.escape(shown + more)}</div>')
    st.html(
        f'<div class="fmw-counts" style="display:grid;grid-template-columns:repeat({len(names)},'
        'minmax(0,1fr));gap:1rem;font-size:0.8rem;color:rgba(49,51,63,0.6);margin-top:-0.5rem">'
        + "".join(cells)
        + "</div>"
    )


def _value_label(reader: display.Reader, name: str, value: str) -> str:
    """A filter value's label (stable: never a count) — blank values read "(빈 값)"."""
    return reader.cell(name, value) or messages.t("value.blank", reader.lang)


def _view_row(result: search.SearchResult, query: search.Query, reader: display.Reader) -> None:
    """Sort, direction and page in sight; page size, columns, the disagreeing-sources switch
    and the days behind two buttons whose contents are drawn only while open (``VIEW_MENU``,
    ``TIME_MENU``): drawn closed, they were 40-90 ms of every search in the browser. Their
    widgets keep their values while hidden (``persist_state="page"``)."""
    line = st.container(horizontal=True, vertical_alignment="bottom")
    line.selectbox(
        view.tr("explore.sort"),
        options=[search.RELEVANCE, *search.SORTABLE],
        format_func=lambda name: (
            messages.t("sort.relevance", reader.lang)
            if name == search.RELEVANCE
            else reader.header(name)
        ),
        key=f"{K}sort",
        width=220,
    )
    line.toggle(view.tr("explore.descending"), key=f"{K}desc")
    line.number_input(
        view.tr("explore.page", pages=view.number(result.pages)),
        min_value=1,
        max_value=result.pages,
        step=1,
        key=f"{K}page",
        width=150,
    )
    menu = line.popover(
        view.tr("explore.view"), icon=":material/tune:", key=VIEW_MENU, on_change="rerun"
    )
    if menu.open:
        with menu:
            st.toggle(view.tr("explore.conflicts"), key=f"{K}conflicts", persist_state="page")
            st.selectbox(
                view.tr("explore.page_size"),
                options=list(search.PAGE_SIZES),
                key=f"{K}size",
                persist_state="page",
            )
            st.multiselect(
                view.tr("explore.columns"),
                options=list(search.TABLE_COLUMNS),
                format_func=reader.header,
                key=f"{K}cols",
                help=view.tr("explore.columns.help"),
                select_all=False,
                placeholder=view.tr("choose"),
                persist_state="page",
            )
    label = view.tr("explore.time")
    if query.as_of or query.compare:
        label += f": {query.as_of or view.tr('time.now')}"
    menu = line.popover(label, icon=":material/history:", key=TIME_MENU, on_change="rerun")
    if menu.open:
        with menu:
            for key, label, help_text in (
                (f"{K}asof", "explore.as_of", "explore.as_of.help"),
                (f"{K}compare", "explore.compare", "explore.compare.help"),
            ):
                st.date_input(
                    view.tr(label),
                    value=None,
                    key=key,
                    format="YYYY-MM-DD",
                    help=view.tr(help_text),
                    persist_state="page",
                )


def _header(name: str, query: search.Query, reader: display.Reader) -> str:
    """A column title; a sortable one links to this view sorted by it (again: reversed)."""
    label = reader.header(name)
    if name not in search.SORTABLE:
        return html.escape(label)
    current = query.effective_sort == name
    flipped = query.with_changes(sort=name, descending=not query.descending if current else False)
    arrow = (" ▼" if query.descending else " ▲") if current else ""
    return view.link(view.page_href("explore", view.as_lists(flipped.to_params())), label + arrow)


def _cell(name: str, value: object, reader: display.Reader) -> str:
    text = html.escape(reader.cell(name, value))
    if name == "status" and value:
        return view.status_badge(str(value), reader.cell(name, value))
    return text


def _table(
    result: search.SearchResult,
    query: search.Query,
    reader: display.Reader,
    timed: view.Timed,
    back: str,
) -> None:
    """The page's rows as an HTML table; comparing two days, a changed cell reads
    before → after and a last column names the changes of the columns not shown."""
    columns = [c for c in query.columns if c in result.rows.column_names]
    rows = result.rows.to_pylist()
    taken = pa.array(result.row_numbers, pa.int64())
    changed: list[set[str]] = [set() for _ in rows]
    earlier: list[dict[str, object]] = [{} for _ in rows]
    later: list[dict[str, object]] = [{} for _ in rows]
    existed = [True for _ in rows]
    if timed.before is not None and rows:
        changed = as_of.changed_columns(timed.before, timed.snapshot, result.row_numbers)
        names = sorted(set(columns) | {n for differs in changed for n in differs})
        earlier = timed.before.records.select(names).take(taken).to_pylist()
        later = timed.snapshot.records.select(names).take(taken).to_pylist()
        if timed.before.present is not None:
            existed = timed.before.present[result.row_numbers].tolist()
    body = []
    for index, row in enumerate(rows):
        cells = []
        for name in columns:
            shown = _cell(name, row.get(name), reader)
            if name in changed[index]:
                was = _cell(name, earlier[index].get(name), reader)
                shown = f'<span class="was">{was}</span> → <span class="now">{shown}</span>'
            if name == "feature_code" and row.get(name):  # one link a row: a light page
                href = view.record_href(str(row["identity_hash"]), back)
                shown = f'<a href="{html.escape(href)}" target="_self">{shown}</a>'
            css = CELL_CLASSES.get(name, "")
            cells.append(f'<td class="{css}">{shown}</td>' if css else f"<td>{shown}</td>")
        if timed.before is not None:
            notes = [
                f"<b>{html.escape(reader.header(n))}</b>: "
                f'<span class="was">{_cell(n, earlier[index].get(n), reader)}</span> → '
                f"{_cell(n, later[index].get(n), reader)}"
                for n in sorted(changed[index] - set(columns))
            ]
            if not existed[index]:
                notes.insert(0, html.escape(view.tr("explore.new_since")))
            cells.append(f"<td>{'<br>'.join(notes)}</td>")
        body.append(cells)
    headers = [_header(c, query, reader) for c in columns]
    if timed.before is not None:
        headers.append(html.escape(view.tr("explore.other_changes")))
    st.html(
        view.TABLE_STYLE
        + view.table_html(
            headers, body, css="fmw-explore", row_ids=[str(r["identity_hash"]) for r in rows]
        )
    )


def _downloads(timed: view.Timed, query: search.Query, reader: display.Reader, total: int) -> None:
    snapshot = timed.snapshot
    columns = [c for c in query.columns if c in snapshot.records.column_names]

    def order() -> np.ndarray:
        return search.run_search(snapshot, query.with_changes(page=1), only=timed.differs).order

    def shown() -> pa.Table:
        before = None if timed.before is None else timed.before.records
        return display.download_table(
            reader, snapshot.records, order(), columns, before, f" ({view.tr('record.before')})"
        )

    def codes() -> pa.Table:
        return snapshot.records.take(pa.array(order(), pa.int64()))

    name = f"records-{snapshot.id}" + (f"-{query.as_of}" if query.as_of else "")
    view.download_buttons(shown, codes, total, name=name, key=K, zone_name=reader.zone_name())


def render() -> None:
    shown = view.start_page("explore")
    reader = view.reader(shown.settings)
    url = view.url_params()
    if st.session_state.get(WRITTEN) != url:
        _set_widgets(search.Query.from_params(url))
        st.session_state.pop(LAST_QUERY, None)
    query = _query_from_widgets()
    timed = view.timed(shown.snapshot, query.as_of, query.compare)
    result = search.run_search(timed.snapshot, query, only=timed.differs)
    query = query.with_changes(page=result.page)
    st.session_state[f"{K}page"] = result.page
    _show_sort(query)
    params = view.as_lists(query.to_params())

    _search_row(reader)
    _filters(result, query, timed.snapshot, reader)
    st.button(view.tr("explore.clear"), on_click=_clear, key=f"{K}clear", type="tertiary")
    _view_row(result, query, reader)
    _notes(query, result)
    if result.total:
        _table(result, query, reader, timed, back=view.page_href("explore", params))
    _downloads(timed, query, reader, result.total)

    view.write_url(params, url)
    st.session_state[WRITTEN] = params


def _notes(query: search.Query, result: search.SearchResult) -> None:
    if query.compare is not None:
        st.info(
            view.tr(
                "explore.compare.note",
                before=query.compare.isoformat(),
                after=query.as_of.isoformat() if query.as_of else view.tr("time.now"),
            ),
            icon=":material/compare_arrows:",
        )
    elif query.as_of is not None:
        st.info(view.tr("explore.as_of.note", day=query.as_of.isoformat()), icon="🕰️")
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
            + " "
            + view.tr("explore.sort_hint")
        )
    if result.hidden:
        st.caption(view.tr("explore.hidden", n=view.number(result.hidden)))


if __name__ == "__main__":
    render()
