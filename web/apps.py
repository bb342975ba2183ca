"""The Django application config of the app (its label and templates, nothing else)."""

from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """``fmw.web`` as a Django app: its templates; it has no models of its own."""

    name = "fmw.web"
    label = "fmw_web"
    verbose_name = "FMW"
