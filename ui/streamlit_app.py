"""The dashboard's entry point: ``fmw ui`` runs ``python -m streamlit run`` on this file.

Shared layout only: page settings, the reader's language (``view.init_language``;
the switch itself is a pair of links each page draws, see ``view.language_links``), the
navigation (``st.navigation`` over the scripts in ``app_pages/``, not the old
``pages/`` auto-discovery; it routes but draws no sidebar: each page draws
``view.top_links``) and the errors every page must repeat (an older
snapshot shown, the last sync failed). Each page asks ``view.current()`` for
the shared snapshot itself; a snapshot file that fails verification when a page
first reads it makes the page run again on the previous good generation
(``view.fall_back``). After every run, the pages of the files it read a few rows of
are given back (``view.release_sparse_pages``). Nothing here may import psycopg or
SQLAlchemy.
"""

from __future__ import annotations

import streamlit as st

from fmw.ui import view
from fmw.ui.snapshot_data import SnapshotDamagedError

st.set_page_config(page_title="FMW", page_icon="📋", layout="wide")
view.init_language()

navigation = st.navigation(
    [
        st.Page(
            view.PAGES["home"],
            title=view.tr("nav.home"),
            icon=":material/home:",
            url_path="home",
            default=True,
        ),
        st.Page(
            view.PAGES["explore"],
            title=view.tr("nav.explore"),
            icon=":material/search:",
            url_path="explore",
        ),
        st.Page(
            view.PAGES["record"],
            title=view.tr("nav.record"),
            icon=":material/description:",
            url_path="record",
        ),
        st.Page(
            view.PAGES["matrix"],
            title=view.tr("nav.matrix"),
            icon=":material/grid_on:",
            url_path="matrix",
        ),
        st.Page(
            view.PAGES["changes"],
            title=view.tr("nav.changes"),
            icon=":material/history:",
            url_path="changes",
        ),
    ],
    position="hidden",  # each page draws view.top_links: cheaper than the sidebar
)
try:
    navigation.run()
except SnapshotDamagedError as damaged:
    view.fall_back(damaged)
finally:
    view.release_sparse_pages()
