"""The web app (``fmw.web``) under Django's test client, in the test process.

Django is set up once per process, with FMW's settings pointing at an address no
server answers (so a read-API test proves it never needs PostgreSQL) and a
temporary ``var_dir``. ``use(...)`` then points the running app at a test's own
snapshot folder and, for the admin side, its own database: FMW's settings are
read again (``fmw_settings.cache_clear``) and Django's connection is re-aimed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

NOWHERE = "postgresql://fmw_nobody@127.0.0.1:9/fmw_nowhere?connect_timeout=2"
ADMIN_HEADER = "HTTP_X_FMW_ADMIN"


def setup_django() -> None:
    """Set Django up once for this process (later calls do nothing)."""
    import django
    from django.apps import apps

    if apps.ready:
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = "fmw.web.django_settings"
    saved = {key: os.environ.get(key) for key in ("FMW_DATABASE_URL", "FMW_VAR_DIR")}
    os.environ["FMW_DATABASE_URL"] = NOWHERE
    os.environ["FMW_VAR_DIR"] = tempfile.mkdtemp(prefix="fmw-web-test-")
    try:
        from django.conf import settings

        # No logging set-up: a handler bound to the stderr of the test running now would
        # outlive pytest's capture of it.
        settings.LOGGING_CONFIG = None
        django.setup()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def use(monkeypatch: pytest.MonkeyPatch, snapshot_dir: Path, db_url: str = NOWHERE) -> None:
    """Point the app at ``snapshot_dir`` and ``db_url`` for this test."""
    setup_django()
    from django.db import connections

    from fmw.web.conf import fmw_settings

    monkeypatch.setenv("FMW_SNAPSHOT_DIR", str(snapshot_dir))
    monkeypatch.setenv("FMW_DATABASE_URL", db_url)
    fmw_settings.cache_clear()
    params = conninfo_to_dict(db_url)
    connection = connections["default"]
    connection.close()
    connection.settings_dict.update(
        NAME=params.get("dbname", ""),
        USER=params.get("user", ""),
        PASSWORD=params.get("password", ""),
        HOST=params.get("host", ""),
        PORT=str(params.get("port", "")),
    )


def client(admin: str | None = None, *, address: str = "127.0.0.1"):
    """Django's test client as nginx would connect: from ``address``, naming ``admin``
    (None: no header at all; "-": nginx's word for a non-admin)."""
    from django.test import Client

    headers = {"REMOTE_ADDR": address}
    if admin is not None:
        headers[ADMIN_HEADER] = admin
    return Client(enforce_csrf_checks=True, **headers)
