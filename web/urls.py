"""The app's URLs: ``/api/v1/`` (read API, everyone nginx lets in), ``/api/dev/`` (admins).

Its job is the map (and the one-line health answer). nginx sends ``/api/v1/`` and ``/api/dev/``
here (``fmw nginx render``); ``/api/dev/reports/`` and ``/api/dev/snapshots/``
stay static files nginx serves itself.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from fmw.web import api_dev, api_v1, console


def health(request: HttpRequest) -> HttpResponse:
    """``ok`` while the app serves: no database, no snapshot (a deploy and fmw doctor ask)."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("api/health", health),
    path("api/v1/", api_v1.api.urls),
    path("api/dev/api/", api_dev.api.urls),
    *console.urlpatterns,
]
