"""Django's settings for the app, computed from FMW's own settings (``fmw.toml``).

Its job: turn ``[web]`` and the database URL into what Django reads at start-up.
Choices, each for a reason:

* Django's own tables (users, groups, permissions, content types, sessions)
  live in the ``django`` schema: the connection's ``search_path`` is ``django``.
  FMW's migration ``000011_web.sql`` creates them (``fmw db upgrade``), never
  ``manage.py migrate``: the app's login creates nothing.
* Identity comes from the proxy: ``ProxyIdentityMiddleware`` believes
  ``[web] identity_header`` only from ``[web] trusted_proxies`` and only under
  ``/api/dev/``; ``ProxyIdentityBackend`` turns the name into a user.
* CSRF protection is on for every unsafe method; the session and CSRF cookies
  are scoped to ``/api/dev/``, so ``/api/v1/`` never reads a session (it must
  answer while PostgreSQL is down).
* No static files and no Django admin: the console's pages are a few plain
  templates with inline styles, so nothing is collected or served besides them.

It must never connect to anything at import time (Django connects on first query).
"""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from fmw.scheduler.jobs import scheduler_zone, zone_name
from fmw.web.conf import database_url, fmw_settings, meta_key, secret_key

DJANGO_SCHEMA = "django"

_fmw = fmw_settings()
_params = {key: str(value) for key, value in conninfo_to_dict(database_url(_fmw)).items()}
_options = {
    key: value
    for key, value in _params.items()
    if key not in ("dbname", "user", "password", "host", "port", "options")
}
_options["options"] = " ".join(
    part for part in (_params.get("options", ""), f"-c search_path={DJANGO_SCHEMA}") if part
)

DEBUG = False
SECRET_KEY = secret_key(_fmw)
ALLOWED_HOSTS = list(_fmw.web.allowed_hosts)
ROOT_URLCONF = "fmw.web.urls"
WSGI_APPLICATION = "fmw.web.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "ninja",
    "fmw.web.apps.ConsoleConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "fmw.web.identity.ProxyIdentityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
AUTHENTICATION_BACKENDS = ["fmw.web.identity.ProxyIdentityBackend"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _params.get("dbname", ""),
        "USER": _params.get("user", ""),
        "PASSWORD": _params.get("password", ""),
        "HOST": _params.get("host", ""),
        "PORT": _params.get("port", ""),
        "OPTIONS": _options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
MIGRATION_MODULES = {"auth": None, "contenttypes": None, "sessions": None}  # FMW's SQL does it

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
            ],
        },
    }
]

LANGUAGE_CODE = "en"
USE_I18N = False
USE_TZ = True
TIME_ZONE = zone_name(scheduler_zone(_fmw))

SESSION_COOKIE_NAME = "fmw_console_session"
SESSION_COOKIE_PATH = "/api/dev/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
CSRF_COOKIE_NAME = "fmw_console_csrf"
CSRF_COOKIE_PATH = "/api/dev/"
CSRF_COOKIE_SAMESITE = "Lax"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

FMW_IDENTITY_META = meta_key(_fmw.web.identity_header)
FMW_TRUSTED_PROXIES = tuple(_fmw.web.trusted_proxies)
FMW_LOCAL_ADMIN = ""  # `python -m fmw.web --local-admin NAME` sets it (no proxy in front)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"fmw.web": {"level": "INFO"}},
}
