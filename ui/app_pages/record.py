"""Record (상세): every field of one record, its sources and their disagreements, its timeline.

A Streamlit page script; the record is named by ``?id=<identity_hash>`` so a
link to a record can be shared. The timeline lists each change newest first:
when, what kind, which batch (source and file), and each field before -> after.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from fmw.ui import messages, overview, view
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


def _shown(name: str, value: object, lang: str) -> str:
    """A field value as text people read."""
    if name == "status":
        return messages.value_label("status", value, lang)
    if name == "change":
        return messages.value_label("change", value, lang)
    if isinstance(value, bool):
        return messages.value_label("bool", value, lang)
    if isinstance(value, dt.datetime):
        return view.when(value)
    if value is None or value == "":
        return messages.t("value.empty", lang)
    return str(value)


def _fields(record: dict[str, object], lang: str) -> None:
    st.subheader(view.tr("record.fields"))
    names = [n for n in FIELD_ORDER if n in record] + [n for n in record if n not in FIELD_ORDER]
    frame = pd.DataFrame(
        {
            view.tr("record.field"): [messages.field_label(n, lang) for n in names],
            view.tr("record.value"): [_shown(n, record[n], lang) for n in names],
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="record_fields", height="content")


def _sources(snapshot: Snapshot, record: dict[str, object], lang: str) -> None:
    st.subheader(view.tr("record.sources"))
    st.markdown(
        view.tr(
            "record.shown_from",
            source=record.get("source") or messages.t("value.empty", lang),
            row=record.get("source_row") or "-",
            count=record.get("source_count") or 1,
        )
    )
    sources = snapshot.conflicts_of(str(record["identity_hash"])).to_pylist()
    differing = overview.disagreeing_fields(sources)
    if not sources or not differing:
        st.caption(view.tr("record.agree"))
        return
    labels = ", ".join(messages.field_label(n, lang) for n in differing)
    st.warning(view.tr("record.conflict", fields=labels), icon="⚖️")
    columns = ["source", "priority", "is_shown", *overview.CONFLICT_FIELDS]
    frame = pd.DataFrame(
        {
            messages.field_label(c, lang): [_shown(c, row.get(c), lang) for row in sources]
            for c in columns
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="record_sources")


def _timeline(snapshot: Snapshot, identity: str, lang: str) -> None:
    st.subheader(view.tr("record.timeline"))
    entries = overview.timeline(snapshot, identity)
    if not entries:
        st.caption(view.tr("record.timeline.none"))
        return
    for number, entry in enumerate(entries):
        title = view.tr(
            "record.entry",
            when=view.when(entry.changed_at),
            change=messages.value_label("change", entry.change, lang),
            batch=entry.batch_id,
            source=entry.batch_source,
            file=entry.batch_file,
        )
        with st.expander(title, expanded=number == 0):
            frame = pd.DataFrame(
                {
                    view.tr("record.field"): [
                        messages.field_label(c.field, lang) for c in entry.fields
                    ],
                    view.tr("record.before"): [
                        "" if c.before is None else _shown(c.field, c.before, lang)
                        for c in entry.fields
                    ],
                    view.tr("record.after"): [_shown(c.field, c.after, lang) for c in entry.fields],
                }
            )
            st.dataframe(frame, hide_index=True, width="stretch", key=f"record_change_{number}")


def render() -> None:
    shown = view.start_page("record")
    snapshot = shown.snapshot
    lang = view.lang()
    identity = (st.query_params.get("id") or "").strip()
    if not identity:
        st.info(view.tr("record.pick"))
        st.page_link(
            view.page_path("explore"), label=view.tr("record.back"), icon=":material/search:"
        )
        return
    record = snapshot.record(identity)
    if record is None:
        st.warning(view.tr("record.not_found", id=identity))
        st.page_link(
            view.page_path("explore"), label=view.tr("record.back"), icon=":material/search:"
        )
        return
    st.header(
        " · ".join(
            str(record.get(n) or messages.t("value.empty", lang))
            for n in ("feature_code", "policy_code", "region", "platform")
        )
    )
    st.caption(f"{record.get('feature_name') or ''} — {record.get('policy_name') or ''}")
    st.markdown(
        f"**{messages.field_label('status', lang)}**: "
        f"{messages.value_label('status', record.get('status'), lang)} · "
        f"**{messages.field_label('is_active', lang)}**: "
        f"{messages.value_label('bool', record.get('is_active'), lang)}"
    )
    left, right = st.columns([1, 1], gap="large")
    with left:
        _fields(record, lang)
    with right:
        _sources(snapshot, record, lang)
        _timeline(snapshot, identity, lang)
    st.page_link(view.page_path("explore"), label=view.tr("record.back"), icon=":material/search:")


if __name__ == "__main__":
    render()
