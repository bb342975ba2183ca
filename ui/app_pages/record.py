"""Record (상세): every field of one record, its sources and their disagreements, its timeline.

A Streamlit page script; the record is named by ``?id=<identity_hash>`` so a
link to a record can be shared. The timeline lists each change newest first:
when, what kind, which batch (source and file), and each field before -> after.
``?back=`` (a relative link to the view the record was opened from: Explore, the
matrix or Changes, with its search, filters, sort and page) is the way back.
"""

from __future__ import annotations

import html

import streamlit as st

from fmw.ui import display, overview, view
from fmw.ui.snapshot_data import Snapshot

FIELD_ORDER = (
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "status",
    "status_raw",
    "region",
    "platform",
    "owner",
    "team",
    "effective_from",
    "effective_to",
    "note",
    "is_active",
    "source",
    "source_row",
    "source_count",
    "has_conflict",
    "first_seen_at",
    "last_changed_at",
    "identity_hash",
)

ONLY_WHEN_SET = frozenset({"status_raw"})  # fields listed only when they hold a value

# Where a Record's way back may lead (``?back=`` is a relative link to one of them). A page
# script holds no bare string literal: Streamlit's "magic" would draw it on the page.
BACK_PAGES = ("explore", "matrix", "changes", "./")


def back_link(value: str | None) -> str | None:
    """``?back=`` when it is a relative link to one of BACK_PAGES, else None (never a link
    to another site)."""
    if not value or "//" in value or "\\" in value or ":" in value.split("?", 1)[0]:
        return None
    page = value.split("?", 1)[0]
    return value if page in BACK_PAGES or page == "" else None


def _rows(headers: list[str], rows: list[list[str]], css: str) -> None:
    cells = [[f"<td>{html.escape(cell)}</td>" for cell in row] for row in rows]
    st.html(
        view.TABLE_STYLE
        + "<style>.fmw-grid.fmw-plain{max-height:none}</style>"
        + view.table_html([html.escape(h) for h in headers], cells, css=f"fmw-plain {css}")
    )


def _fields(record: dict[str, object], reader: display.Reader) -> None:
    st.subheader(view.tr("record.fields"))
    names = [n for n in FIELD_ORDER if n in record] + [n for n in record if n not in FIELD_ORDER]
    # The unrecognized status word is a warning: a row only when there is one.
    names = [n for n in names if n not in ONLY_WHEN_SET or record[n] not in (None, "")]
    _rows(
        [view.tr("record.field"), view.tr("record.value")],
        [[reader.header(n), reader.cell(n, record[n])] for n in names],
        "fmw-fields",
    )


def _sources(snapshot: Snapshot, record: dict[str, object], reader: display.Reader) -> None:
    st.subheader(view.tr("record.sources"))
    st.markdown(
        view.tr(
            "record.shown_from",
            source=reader.source(str(record.get("source") or "")),
            row=record.get("source_row") or "-",
            count=record.get("source_count") or 1,
        )
    )
    sources = snapshot.conflicts_of(str(record["identity_hash"])).to_pylist()
    differing = overview.disagreeing_fields(sources)
    if not sources or not differing:
        st.caption(view.tr("record.agree"))
        return
    labels = ", ".join(reader.header(n) for n in differing)
    st.warning(view.tr("record.conflict", fields=labels), icon="⚖️")
    columns = ["source", "priority", "is_shown", *overview.CONFLICT_FIELDS]
    _rows(
        [reader.header(c) for c in columns],
        [[reader.cell(c, row.get(c)) for c in columns] for row in sources],
        "fmw-sources",
    )


def _timeline(snapshot: Snapshot, identity: str, reader: display.Reader) -> None:
    st.subheader(view.tr("record.timeline"))
    entries = overview.timeline(snapshot, identity)
    if not entries:
        st.caption(view.tr("record.timeline.none"))
        return
    for number, entry in enumerate(entries):
        title = view.tr(
            "record.entry",
            when=reader.when(entry.changed_at),
            change=reader.cell("change", entry.change),
            batch=entry.batch_id,
            source=reader.source(entry.batch_source),
            file=entry.batch_file,
        )
        with st.expander(title, expanded=number == 0):
            _rows(
                [view.tr("record.field"), view.tr("record.before"), view.tr("record.after")],
                [
                    [
                        reader.header(c.field),
                        reader.cell(c.field, c.before),
                        reader.cell(c.field, c.after),
                    ]
                    for c in entry.fields
                    if c.before is not None or c.after not in (None, "")  # a new record: set ones
                ],
                f"fmw-change-{number}",
            )


def _way_back(back: str | None) -> None:
    target = back or view.page_href("explore", {})
    label = view.tr("record.back") if back else view.tr("record.to_explore")
    st.html(f'<p class="fmw-back">{view.link(target, label)}</p>')


def render() -> None:
    shown = view.start_page("record")
    snapshot = shown.snapshot
    reader = view.reader(shown.settings)
    identity = (st.query_params.get("id") or "").strip()
    back = back_link(st.query_params.get("back"))
    if not identity:
        st.info(view.tr("record.pick"))
        _way_back(back)
        return
    record = snapshot.record(identity)
    if record is None:
        st.warning(view.tr("record.not_found", id=identity))
        _way_back(back)
        return
    _way_back(back)
    st.header(
        " · ".join(
            str(record.get(n) or "") for n in ("feature_code", "policy_code", "region", "platform")
        )
    )
    names = [str(record.get(n) or "") for n in ("feature_name", "policy_name")]
    st.caption(" — ".join(n for n in names if n))
    status = reader.cell("status", record.get("status"))
    listed = reader.cell("is_active", record.get("is_active"))
    st.html(
        f"<p>{html.escape(reader.header('status'))}: "
        f"{view.status_badge(str(record.get('status') or ''), status)} · "
        f"{html.escape(reader.header('is_active'))}: {html.escape(listed)}</p>"
    )
    left, right = st.columns([1, 1], gap="large")
    with left:
        _fields(record, reader)
    with right:
        _sources(snapshot, record, reader)
        _timeline(snapshot, identity, reader)


if __name__ == "__main__":
    render()
