"""Call the database's admin functions (vocabulary, sources) and turn their refusals into errors.

An admin function checks its input in SQL and refuses with SQLSTATE FM005 and a
message that says why and what to run instead; this module passes that message
on as ``AdminRefusedError``. A login that may not make admin changes (the
loader's) gets ``OwnerRequiredError`` naming the login that may. It also finds
the name the admin audit log records (``ops.admin_action.actor``).

It must never hold the rules themselves: those stay in SQL.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator

import psycopg

from fmw.errors import AdminRefusedError, OwnerRequiredError

ADMIN_REFUSED = "FM005"  # SQLSTATE of an admin function's refusal
OWNER_ROLE = "fmw_owner"


def os_user() -> str | None:
    """The operating-system user running this process (None when it cannot be told)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME/USERNAME and no passwd entry
        return None


@contextlib.contextmanager
def admin_call(what: str) -> Iterator[None]:
    """Run an admin function: FM005 becomes AdminRefusedError, a denied one OwnerRequiredError."""
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise OwnerRequiredError(
            f"{what} is an admin change and this database login may not make it: connect as a "
            f"login in {OWNER_ROLE} (the one `fmw db upgrade` uses, e.g. "
            f"FMW_DATABASE_URL=postgresql://fmw_admin@localhost/fmw)"
        ) from exc
    except psycopg.Error as exc:
        if exc.sqlstate == ADMIN_REFUSED:
            raise AdminRefusedError(exc.diag.message_primary or str(exc)) from exc
        raise
