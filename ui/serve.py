"""Serve the dashboard: Streamlit's own command line, with the first visit made ready.

Its job: ``python -m fmw.ui.serve run ui/streamlit_app.py --server.port=...`` (the
command ``fmw ui`` and the services run, ``fmw.services.dashboard.command``) is
``python -m streamlit run ...`` plus two things done before anyone asks:

* the dashboard's modules are imported (pyarrow, numpy, the pages' modules: about
  a second on a busy server), which Streamlit would otherwise do in the first
  visitor's run;
* in a background thread, the current snapshot generation is mapped and the files
  Home reads are verified (their SHA-256, once per process:
  ``fmw.snapshot.generations``), so the first visit finds them checked and in the
  page cache. A problem here is only logged: the page itself says it.

This module must never import psycopg or SQLAlchemy, and never write a file.
"""

from __future__ import annotations

import logging
import sys
import threading

from streamlit.web import cli

from fmw.errors import FmwError
from fmw.heap import return_freed_memory
from fmw.settings import load_settings
from fmw.ui import as_of, downloads, history, matrix, overview, search, snapshot_data, view

PRELOADED = (as_of, downloads, history, matrix, overview, search, view)
"""The modules a page needs, imported before the server starts (not on the first visit)."""

log = logging.getLogger(__name__)


def warm() -> None:
    """Map the generation to show and verify what Home reads (the records, its latest
    changes' segments); any problem is for the page to show."""
    try:
        snapshot, _ = snapshot_data.load_snapshot(load_settings().snapshot_path)
        overview.totals(snapshot)
    except FmwError as exc:
        log.info("nothing to prepare before the first visit: %s", exc)


def main() -> None:
    return_freed_memory()
    threading.Thread(target=warm, name="fmw-warm", daemon=True).start()
    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
