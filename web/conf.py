"""The FMW settings the app runs with, read once per process, and what it derives from them.

Its job: load ``fmw.toml`` and the environment once (``fmw_settings``), name the
URL the app connects with (``[web] database_url``; on the embedded server its own
least-privilege login ``fmw_web``; else the URL in force) and keep
Django's signing key in a file of its own under ``var_dir`` (made once, readable
by its owner only), so sessions and CSRF tokens survive a restart and several
processes agree. It must never connect to the database itself.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

from fmw import database
from fmw.settings import Settings, load_settings

SECRET_FILE = Path("web") / "secret_key"
WEB_LOGIN = "fmw_web"  # as in db/bootstrap/roles.sql
WEB_GROUP = "fmw_console"


@functools.cache
def fmw_settings() -> Settings:
    """The settings in force for this process (tests clear the cache to change them)."""
    return load_settings()


def database_url(settings: Settings) -> str:
    """Where the app connects: ``[web] database_url``; else, on the embedded server, as
    ``fmw_web`` (a member of ``fmw_console``, made when missing); else the URL in force."""
    if settings.web.database_url:
        return settings.web.database_url
    url = database.database_url(settings)
    if database.is_configured(settings):
        return url
    return database.embedded_login(url, WEB_LOGIN, WEB_GROUP)


def secret_key(settings: Settings) -> str:
    """Django's signing key, from ``var_dir/web/secret_key`` (created, mode 0600, when missing)."""
    path = settings.var_path / SECRET_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def meta_key(header: str) -> str:
    """The ``request.META`` key of a header name (``X-FMW-Admin`` -> ``HTTP_X_FMW_ADMIN``);
    ``REMOTE_USER`` (set by the server, not a header) stays itself."""
    name = header.strip()
    if name.upper() == "REMOTE_USER":
        return "REMOTE_USER"
    return "HTTP_" + name.upper().replace("-", "_")
