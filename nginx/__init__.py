"""FMW's nginx configuration, shipped as package data (installed as ``fmw.nginx``).

``nginx.conf.template`` is the site that ``fmw nginx render`` fills in from the
settings (``{{ name }}`` placeholders); ``fmw/*.conf`` and ``fmw/mime.types``
are static parts copied as they are into ``PREFIX/conf/fmw/``. This package only
locates the files; it must never render or run anything (``fmw.edge.config`` and
``fmw.edge.install`` do).
"""

from __future__ import annotations

from pathlib import Path

NGINX_ROOT = Path(__file__).resolve().parent
TEMPLATE = NGINX_ROOT / "nginx.conf.template"
STATIC_DIR = NGINX_ROOT / "fmw"


def static_parts() -> list[Path]:
    """The static files copied into ``conf/fmw/``, by name."""
    return sorted(p for p in STATIC_DIR.iterdir() if p.is_file() and not p.name.startswith("."))
