"""The app's URLs: ``/api/v1/`` (read API, everyone nginx lets in), ``/api/dev/`` (admins).

Its job is the map and nothing else. nginx sends ``/api/v1/`` and ``/api/dev/``
here (``fmw nginx render``); ``/api/dev/reports/`` and ``/api/dev/snapshots/``
stay static files nginx serves itself.
"""

from __future__ import annotations

from django.urls import path

from fmw.web import api_dev, api_v1, console

urlpatterns = [
    path("api/v1/", api_v1.api.urls),
    path("api/dev/api/", api_dev.api.urls),
    *console.urlpatterns,
]
