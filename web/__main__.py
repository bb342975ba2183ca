"""``python -m fmw.web``: serve the app with waitress on 127.0.0.1 (what ``fmw web`` runs).

Its job: read the port and threads from ``[web]`` (or the command line), name an
admin for a console opened on the server itself (``--local-admin``: no nginx in
front) and serve until stopped. Why waitress: it is
pure Python and runs as a Windows service under NSSM (gunicorn does not run on
Windows; uvicorn would need ASGI for no gain here: every view is a quick
synchronous read). It must never listen on anything but loopback.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

LOOPBACK = "127.0.0.1"


def main(argv: list[str] | None = None) -> None:
    """Parse the options, set Django up, serve."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fmw.web.django_settings")
    from fmw.web.conf import fmw_settings

    web = fmw_settings().web
    parser = argparse.ArgumentParser(prog="python -m fmw.web", description=__doc__)
    parser.add_argument("--port", type=int, default=web.port)
    parser.add_argument("--threads", type=int, default=web.threads)
    parser.add_argument("--local-admin", default="", help="Admin name for direct requests.")
    args = parser.parse_args(argv)

    from django.conf import settings
    from waitress import serve

    from fmw.heap import return_freed_memory
    from fmw.web.wsgi import application

    app: Any = application  # a WSGI callable; its stubs also allow an async return

    settings.FMW_LOCAL_ADMIN = args.local_admin
    return_freed_memory()
    print(f"FMW web on http://{LOOPBACK}:{args.port}/api/v1/ (admin console /api/dev/)", flush=True)
    serve(app, host=LOOPBACK, port=args.port, threads=args.threads, ident="fmw-web")


if __name__ == "__main__":
    main()
