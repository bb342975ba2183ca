"""The app's own connection to FMW's database, for the functions the ``fmw`` command calls.

Its job: open a plain psycopg connection (autocommit, like every ``fmw``
command's) to ``[web] database_url`` for the length of one request's work, so
the modules the command line uses (``fmw.vocabulary``, ``fmw.sources``,
``fmw.scheduler.jobs``, ``fmw.loader.landing``) run exactly as they do there,
with their own transactions. Django's connection (search_path ``django``) is
left to Django's own tables. It must never run SQL itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from fmw.database import connect
from fmw.web.conf import database_url, fmw_settings


@contextlib.contextmanager
def fmw_connection() -> Iterator[psycopg.Connection]:
    """An autocommit connection as the app's login; DatabaseUnavailableError when it fails."""
    with connect(database_url(fmw_settings()), autocommit=True) as conn:
        yield conn
