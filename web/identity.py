"""Who is asking: the admin's name as the proxy in front (nginx) passes it, and nothing else.

Its job, for every request under ``/api/dev/`` (the only place a name matters):

* believe the identity header (``[web] identity_header``, ``X-FMW-Admin`` by
  default) only when the request comes from a trusted proxy address
  (``[web] trusted_proxies``: the app listens on 127.0.0.1, nginx connects from
  there). nginx maps the client's address to its ``[edge.admins]`` name and
  always overwrites the header; a non-admin's requests carry ``-``;
* a request without the header at all did not come through nginx: it is
  anonymous, unless the app was started with ``--local-admin NAME`` (``fmw web
  --local-admin``: an admin on the server itself), which names it;
* log the named admin in (Django's ``RemoteUserMiddleware``), or answer 403 with
  the reason; a changed name logs the old one out.

Phase 2's single sign-on (an ``auth_request`` in nginx, or IIS Windows
authentication setting ``REMOTE_USER``) sets the same header: a configuration
change. ``ProxyIdentityBackend`` makes every named admin a staff user of the
console (the proxy vouches for admins only). ``/api/v1/`` and ``/api/health``
never look at identity, sessions or the database here.

It must never read any other header, cookie or parameter for identity.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from django.conf import settings
from django.contrib.auth.backends import RemoteUserBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

ADMIN_PREFIX = "/api/dev/"
NOBODY = "-"  # what nginx sends for an address that is not an admin's
MAX_NAME = 150  # auth_user.username


class _SignedIn(Protocol):
    user: AbstractBaseUser | AnonymousUser


def admin_name(request: HttpRequest) -> str:
    """The signed-in admin's name ("" for nobody): what the audit log records as actor."""
    user = cast(_SignedIn, request).user  # set by AuthenticationMiddleware
    return user.get_username() if user.is_authenticated else ""


def proxied_name(request: HttpRequest) -> str | None:
    """The admin the trusted proxy names (None: nobody, or not from a trusted proxy)."""
    if request.META.get("REMOTE_ADDR") not in settings.FMW_TRUSTED_PROXIES:
        return None
    key = settings.FMW_IDENTITY_META
    if key not in request.META:
        return settings.FMW_LOCAL_ADMIN or None  # not through the proxy at all
    name = str(request.META[key]).strip()
    if not name or name == NOBODY or len(name) > MAX_NAME:
        return None
    return name


class ProxyIdentityMiddleware(RemoteUserMiddleware):
    """Django's remote-user machinery, fed only by ``proxied_name``, only for /api/dev/."""

    async_capable = False  # WSGI (waitress) only
    header = "FMW_PROXIED_ADMIN"  # a META key no client can set: HTTP headers get HTTP_

    def __call__(self, request: HttpRequest) -> Any:
        get_response = self.get_response
        assert get_response is not None  # Django's middleware __init__ sets it
        if not request.path.startswith(ADMIN_PREFIX):
            return get_response(request)
        request.META.pop(self.header, None)
        name = proxied_name(request)
        if name is not None:
            request.META[self.header] = name
        self.process_request(request)
        if not admin_name(request):
            return HttpResponse(
                b"403: the admin console is for admins: open it through nginx from an address "
                b"listed in [edge.admins]\n",
                status=403,
                content_type="text/plain; charset=utf-8",
            )
        return get_response(request)


class ProxyIdentityBackend(RemoteUserBackend):
    """A named admin is a staff superuser of the console (created on first visit)."""

    create_unknown_user = True

    def configure_user(self, request: HttpRequest | None, user: Any, created: bool = True) -> Any:
        if created or not (user.is_staff and user.is_superuser):
            user.is_staff = True
            user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        return user
