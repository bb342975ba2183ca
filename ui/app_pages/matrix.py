"""Matrix (현황표): features (or policies) down, regions × platforms across, statuses in colour.

A Streamlit page script answering the question people come with — which
feature is on, for which market and platform — on one screen. Every filter of
Explore applies (the same ``search.Query`` in the URL, plus ``by``), and so
do a past day and a comparison between two days (a changed cell reads
before → after). A cell of one record opens it (this view is its way back);
a cell of several lists them in Explore. The table is plain HTML; downloads
hold every line, in the reader's words, or the stored codes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pyarrow as pa
import streamlit as st

from fmw.ui import display, matrix, messages, search, view
from fmw.ui.snapshot_data import Snapshot

K = "matrix_"
WRITTEN = f"{K}url_written"
LAST = f"{K}last"


@dataclass(frozen=True)
class _Context:
    """What every cell of the table needs: who reads, the day(s) shown, the view."""

    reader: display.Reader
    timed: view.Timed
    query: search.Query
    by: str
    back: str
    """This view as a relative link: the way back from a record it opens."""


def _state_from(params: dict[str, list[str]]) -> None:
    query = search.Query.from_params(params)
    by = (params.get("by") or ["feature"])[-1]
    state = st.session_state
    state[f"{K}by"] = by if by in matrix.BY else "feature"
    state[f"{K}q"] = query.text
    for name in search.CHOICE_FILTERS:
        state[f"{K}f_{name}"] = list(query.filters.get(name, ()))
    state[f"{K}conflicts"] = "has_conflict" in query.filters
    state[f"{K}listed"] = query.listed
    state[f"{K}page"] = query.page
    state[f"{K}asof"] = query.as_of
    state[f"{K}compare"] = query.compare


def _wanted() -> tuple[str, search.Query]:
    state = st.session_state
    query = search.Query(
        text=str(state.get(f"{K}q", "")).strip()[: search.MAX_QUERY_LENGTH],
        filters={
            **{
                name: tuple(state.get(f"{K}f_{name}", []))
                for name in search.CHOICE_FILTERS
                if state.get(f"{K}f_{name}")
            },
            **({"has_conflict": ("true",)} if state.get(f"{K}conflicts") else {}),
        },
        listed=state.get(f"{K}listed") or "yes",
        page=int(state.get(f"{K}page", 1) or 1),
        as_of=state.get(f"{K}asof"),
        compare=state.get(f"{K}compare"),
    )
    by = state.get(f"{K}by") or "feature"
    key = (by, str(query.with_changes().to_params()))
    if state.get(LAST) not in (None, key):
        query = query.with_changes()  # a new filter starts at the first page
    state[LAST] = key
    return by, query


def _params(by: str, query: search.Query) -> dict[str, list[str]]:
    params = view.as_lists(query.to_params())
    if by != "feature":
        params["by"] = [by]
    return params


def _controls(snapshot: Snapshot, reader: display.Reader, pages: int, query: search.Query) -> None:
    by, text, listed = st.columns([1.2, 3, 1.6], vertical_alignment="bottom")
    by.segmented_control(
        view.tr("matrix.by"),
        options=list(matrix.BY),
        format_func=lambda value: messages.t(f"matrix.by.{value}", reader.lang),
        key=f"{K}by",
        required=True,
    )
    view.search_inputs(text, listed, reader, K)
    columns = st.columns([1] * len(search.FILTERS) + [1, 1], vertical_alignment="bottom")
    columns[len(search.CHOICE_FILTERS)].toggle(view.tr("explore.conflicts"), key=f"{K}conflicts")
    for column, name in zip(columns, search.CHOICE_FILTERS, strict=False):
        column.multiselect(
            reader.header(name),
            options=search.filter_choices(snapshot, query, name),
            format_func=lambda value, name=name: (
                reader.cell(name, value) or messages.t("value.blank", reader.lang)
            ),
            key=f"{K}f_{name}",
            placeholder=view.tr("choose"),
            select_all=False,
        )
    columns[-2].number_input(
        view.tr("explore.page", pages=view.number(pages)),
        min_value=1,
        max_value=pages,
        step=1,
        key=f"{K}page",
    )
    label = view.tr("explore.time")
    if query.as_of or query.compare:
        label += f": {query.as_of or view.tr('time.now')}"
    with columns[-1].popover(label, icon=":material/history:"):
        st.date_input(
            view.tr("explore.as_of"),
            value=None,
            key=f"{K}asof",
            format="YYYY-MM-DD",
            help=view.tr("explore.as_of.help"),
        )
        st.date_input(
            view.tr("explore.compare"),
            value=None,
            key=f"{K}compare",
            format="YYYY-MM-DD",
            help=view.tr("explore.compare.help"),
        )


def _cell(cell: matrix.Cell | None, line: matrix.Line, pair: tuple[str, str], ctx: _Context) -> str:
    if cell is None:
        return "<td></td>"
    reader, timed = ctx.reader, ctx.timed
    several = cell.records > 1
    shown = " ".join(
        view.status_badge(status, reader.cell("status", status) + (f" {n}" if several else ""))
        for status, n in cell.statuses
    )
    if timed.before is not None and cell.row is not None:
        was = timed.before.records["status"][cell.row].as_py()
        present = timed.before.present is None or timed.before.present[cell.row]
        if not present or was != cell.statuses[0][0]:
            old = view.status_badge(was, reader.cell("status", was)) if present else "∅"
            shown = f'<span class="was">{old}</span> → {shown}'
    if cell.identity is not None:
        href = view.record_href(cell.identity, ctx.back)
    else:
        params = view.as_lists(ctx.query.to_params())
        params.pop("page", None)
        scope = "feature" if ctx.by == "feature" else "policy"
        text = f"{ctx.query.text} {scope}:{line.code}".strip()
        params.update({"q": [text], "region": [pair[0]], "platform": [pair[1]]})
        href = view.page_href("explore", params)
    return f'<td class="cell"><a href="{html.escape(href)}" target="_self">{shown}</a></td>'


def _table(grid: matrix.Matrix, ctx: _Context) -> None:
    reader = ctx.reader
    code_column, name_column = matrix.BY[grid.by]
    headers = [html.escape(reader.header(code_column)), html.escape(reader.header(name_column))]
    headers += [f"{html.escape(r)}<br>{html.escape(p)}" for r, p in grid.columns]
    rows = [
        [
            f'<td class="code">{html.escape(line.code)}</td>',
            f'<td class="name">{html.escape(line.name)}</td>',
            *(_cell(line.cells.get(pair), line, pair, ctx) for pair in grid.columns),
        ]
        for line in grid.lines
    ]
    st.html(
        view.TABLE_STYLE + "<style>.fmw-matrix td.cell a{text-decoration:none}"
        ".fmw-matrix td.name{white-space:nowrap}.fmw-matrix td.cell{min-width:4.5rem}</style>"
        + view.table_html(headers, rows, css="fmw-matrix")
    )


def _download_table(grid: matrix.Matrix, reader: display.Reader, *, codes: bool) -> pa.Table:
    code_column, name_column = matrix.BY[grid.by]
    data: dict[str, list[str]] = {
        reader.header(code_column): [line.code for line in grid.lines],
        reader.header(name_column): [line.name for line in grid.lines],
    }
    for region, platform in grid.columns:
        data[f"{region} · {platform}"] = [
            " / ".join(
                f"{s if codes else reader.cell('status', s)}"
                + (f" {n}" if line.cells[(region, platform)].records > 1 else "")
                for s, n in (line.cells[(region, platform)].statuses
                             if (region, platform) in line.cells else ())
            )
            for line in grid.lines
        ]  # fmt: skip
    return pa.table(data)


def render() -> None:
    shown = view.start_page("matrix")
    reader = view.reader(shown.settings)
    url = view.url_params()
    if st.session_state.get(WRITTEN) != url:
        _state_from(url)
        st.session_state.pop(LAST, None)
    by, query = _wanted()
    timed = view.timed(shown.snapshot, query.as_of, query.compare)
    result = search.run_search(
        timed.snapshot,
        query.with_changes(page=1, page_size=25),
        only=timed.differs,
        with_facets=False,  # the filters list every value (search.filter_choices), no counts
    )
    mask = result.mask  # the matrix and its downloads: the same rows
    grid = matrix.build(timed.snapshot, mask, by, page=query.page)
    query = query.with_changes(page=grid.page)
    st.session_state[f"{K}page"] = grid.page
    params = _params(by, query)

    _controls(timed.snapshot, reader, grid.pages, query)
    if query.compare is not None:
        st.info(
            view.tr(
                "explore.compare.note",
                before=query.compare.isoformat(),
                after=query.as_of.isoformat() if query.as_of else view.tr("time.now"),
            )
        )
    elif query.as_of is not None:
        st.info(view.tr("explore.as_of.note", day=query.as_of.isoformat()), icon="🕰️")
    if not grid.lines:
        st.info(view.tr("matrix.none"))
    else:
        first = (grid.page - 1) * matrix.PAGE_SIZE + 1
        st.caption(
            view.tr(
                "matrix.count",
                total=view.number(grid.total_lines),
                first=view.number(first),
                last=view.number(first + len(grid.lines) - 1),
                records=view.number(grid.records),
            )
            + " · "
            + view.tr("matrix.hint")
        )
        ctx = _Context(reader, timed, query, by, back=view.page_href("matrix", params))
        _table(grid, ctx)

    def whole(*, codes: bool) -> pa.Table:
        return _download_table(matrix.table(timed.snapshot, mask, by), reader, codes=codes)

    view.download_buttons(
        lambda: whole(codes=False),
        lambda: whole(codes=True),
        grid.total_lines,
        name=f"matrix-{shown.snapshot.id}",
        key=K,
        zone_name=reader.zone_name(),
    )
    view.write_url(params, url)
    st.session_state[WRITTEN] = params


if __name__ == "__main__":
    render()
