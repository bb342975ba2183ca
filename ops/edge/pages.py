"""Static HTML for the admin surface (/api/dev/): the index and the two report pages.

Its job: render a report document through its Jinja2 template in ``templates/``
(shipped as package data: ``base.html`` is the layout and inline CSS,
``macros.html`` the tables and verdicts, one template per page) into one
self-contained page, no script (nginx serves /api/dev/ with
``default-src 'none'``), and write the index that links the reports, the
scheduler's status and the snapshot files. Autoescaping is on for every
template and nothing is marked safe: paths, methods, addresses and names come
from log lines strangers wrote. A missing field fails loudly (StrictUndefined).
It must never read logs or compute numbers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from fmw.files import write_durably


@cache
def environment() -> Environment:
    """The Jinja2 environment the pages render with: templates from the installed package."""
    env = Environment(
        loader=PackageLoader("fmw.edge", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = lambda number: f"{number:,}"
    env.filters["percent"] = lambda ratio: f"{ratio:.0%}"
    return env


def security_html(doc: dict[str, Any]) -> str:
    """The security report page."""
    return environment().get_template("security.html").render(doc=doc)


def usage_html(doc: dict[str, Any]) -> str:
    """The usage report page."""
    users = sorted({name for week in doc["weeks"] for name in week["sessions_per_user"]})
    return environment().get_template("usage.html").render(doc=doc, users=users)


def write_admin_index(folder: Path) -> Path:
    """Write ``index.html`` into the admin folder (created if needed); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    data = environment().get_template("index.html").render().encode("utf-8")
    if not path.exists() or path.read_bytes() != data:
        write_durably(path, data)
    return path
