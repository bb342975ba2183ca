"""The WSGI application waitress serves (``fmw web``): Django set up with FMW's settings.

It must never start a server itself (``fmw.web.__main__`` does).
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fmw.web.django_settings")
application = get_wsgi_application()
