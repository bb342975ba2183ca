"""Warn when the settings file holds a secret, and louder when others can read it.

Secrets belong in the environment (``PGPASSWORD``, ``FMW_DATABASE_URL``) or a
pgpass file, never in ``fmw.toml``, which is copied around and may end up in
a repository. ``secret_warnings`` finds a password in the file (a
``database_url`` with one, a ``password`` key, a secret-looking variable in
``[service.environment]``) and says where to move it; on POSIX systems it also
reads the file's mode bits and says when group or others may read it. On
Windows the NTFS permissions are not read (an ACL check needs more than mode
bits): the warning says so and names ``icacls``.

It must never print, change a file's permissions, or return a secret's value.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from fmw.errors import SettingsError
from fmw.settings import settings_file

_SECRET_KEY = re.compile(r"(^|_)(PASSWORD|PASSWD|PWD|SECRET|TOKEN)($|_)|^PGPASSWORD$", re.I)


def _url_has_password(url: str) -> bool:
    try:
        return bool(conninfo_to_dict(url).get("password"))
    except Exception:  # not a connection string at all: settings validation reports it
        return False


def secrets_in(doc: dict[str, Any], path: str = "") -> list[str]:
    """The dotted keys of ``doc`` whose values are secrets (never the values)."""
    found: list[str] = []
    for key, value in doc.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, dict):
            found += secrets_in(value, where)
        elif isinstance(value, str) and value:
            is_url = str(key).lower().endswith("url")
            if (is_url and _url_has_password(value)) or _SECRET_KEY.search(str(key)):
                found.append(where)
    return found


def secret_warnings(path: Path | None = None, *, windows: bool | None = None) -> list[str]:
    """Warnings about secrets in the settings file (default: the one in force); [] if none."""
    if path is None:
        try:
            path = settings_file()
        except SettingsError:
            return []  # the command itself reports a missing FMW_SETTINGS file
    if path is None:
        return []
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # loading the settings reports it
    keys = secrets_in(doc)
    if not keys:
        return []
    warnings = [
        f"{path}: {', '.join(keys)} holds a password; secrets belong in the environment "
        "(PGPASSWORD, FMW_DATABASE_URL) or a pgpass file, not in the settings file"
    ]
    windows = os.name == "nt" if windows is None else windows
    if windows:
        warnings.append(
            f"{path}: on Windows FMW does not read NTFS permissions; check that only "
            f'administrators and the service account can read it (icacls "{path}")'
        )
        return warnings
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        who = " and ".join(
            name
            for name, bit in (("its group", stat.S_IRGRP), ("everyone", stat.S_IROTH))
            if mode & bit
        )
        warnings.append(
            f"{path} is readable by {who} (mode {mode:04o}) and holds a secret: chmod 600 {path}"
        )
    return warnings
