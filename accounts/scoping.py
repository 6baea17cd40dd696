"""Who may see or act on what: the one place for the platform's scoping rules.

Every view, API, socket handler, admin page and command asks here. The rules:

- Everything is "within my subtree": an account sees its own unit and the units
  under it, never a parent or a sibling.
- Staff read; only managers issue, re-issue, disable or hand over accounts.
- A manager issues staff accounts for its own unit and below, and manager
  accounts only for units strictly below its own (a peer manager of the same
  unit comes from the level above).
- A manager acts on accounts of units below its own, and on the staff accounts
  of its own unit, never on itself or on a fellow manager of its own unit.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from accounts.models import Account, AuditEvent, Role, Unit
from core import http, sockets


def is_active_account(actor) -> bool:
    return bool(
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and actor.is_active
        and actor.unit_id is not None
    )


def socket_refusal(account) -> int | None:
    """Why a logged-in account may not hold the live socket (its close code), or None:
    registered with core.sockets; it reads only the loaded account, no query."""
    if not is_active_account(account):
        return sockets.CLOSE_UNAUTHENTICATED
    if account.must_change_password:
        return sockets.CLOSE_PASSWORD_CHANGE_REQUIRED
    return None


# --- idle managers (issue 14, settings part) -----------------------------------------
# The session key holding when a manager was last seen (epoch seconds, written at most
# once a minute by accounts.services.note_activity).
IDLE_STAMP = "_manager_seen"


def manager_idle_expired(account, session, now: float) -> bool:
    """A manager's session unused for more than MANAGER_IDLE_MINUTES: logged out."""
    from django.conf import settings

    minutes = settings.MANAGER_IDLE_MINUTES
    if not minutes or session is None or not is_manager(account):
        return False
    seen = session.get(IDLE_STAMP)
    return seen is not None and now - seen > minutes * 60


def manager_idle_deadline(account, session) -> float | None:
    """When an open socket of this session re-reads it (core.sockets): the manager may be
    idle by then, unless a page was used meanwhile."""
    import time

    from django.conf import settings

    minutes = settings.MANAGER_IDLE_MINUTES
    if not minutes or session is None or not is_manager(account):
        return None
    seen = session.get(IDLE_STAMP)
    return (time.time() if seen is None else seen) + minutes * 60


def socket_session_refusal(account, session) -> int | None:
    """An idle manager's session may not open a socket (core.sockets, on connect)."""
    import time

    if manager_idle_expired(account, session, time.time()):
        return sockets.CLOSE_UNAUTHENTICATED
    return None


def is_within(unit: Unit, ancestor: Unit) -> bool:
    """True when `unit` is `ancestor` or sits anywhere under it."""
    return unit.path.startswith(ancestor.path)


def under(field: str, path: str) -> Q:
    """`field` holds a unit path inside the subtree whose root path is `path`.

    Written as a range, not LIKE 'path%': paths are digits only, so every path that
    starts with `path` sorts in [path, path + "A"), and a range uses any b-tree index
    on the column (composite ones too) on PostgreSQL whatever its collation, and on
    SQLite, where LIKE does not use the index."""
    return Q(**{f"{field}__gte": path, f"{field}__lt": path + "A"})


def units_within(unit: Unit) -> QuerySet[Unit]:
    return Unit.objects.filter(under("path", unit.path))


def accounts_within(unit: Unit) -> QuerySet[Account]:
    return Account.objects.filter(under("unit__path", unit.path))


def is_manager(actor) -> bool:
    return is_active_account(actor) and actor.role == Role.MANAGER


def is_live(request) -> bool:
    """The request's account is active, bound to a unit and has set its password: its
    pages get the live header (counters, the socket). Every app's header counter asks,
    so the answer is kept on the request."""
    try:
        return request._account_is_live
    except AttributeError:
        user = getattr(request, "user", None)
        # The same rule as the socket's admission: one place says who is live.
        request._account_is_live = user is not None and socket_refusal(user) is None
        return request._account_is_live


def can_view_unit(actor, unit: Unit) -> bool:
    return is_active_account(actor) and is_within(unit, actor.unit)


def can_manage_unit(actor, unit: Unit) -> bool:
    return is_manager(actor) and is_within(unit, actor.unit)


def can_issue(actor, unit: Unit, role: str) -> bool:
    if not can_manage_unit(actor, unit) or unit.closed_at is not None:
        return False
    if role == Role.MANAGER:
        return unit.pk != actor.unit_id
    return role == Role.STAFF


def manageable_accounts(actor) -> QuerySet[Account]:
    """The accounts `actor` may re-issue, disable, enable or hand over."""
    if not is_manager(actor):
        return Account.objects.none()
    return (
        accounts_within(actor.unit)
        .exclude(pk=actor.pk)
        .exclude(Q(unit_id=actor.unit_id) & Q(role=Role.MANAGER))
    )


def can_manage_account(actor, target: Account) -> bool:
    return manageable_accounts(actor).filter(pk=target.pk).exists()


def visible_accounts(actor) -> QuerySet[Account]:
    """Accounts listed to `actor`: a manager sees its whole subtree; staff see none."""
    if not is_manager(actor):
        return Account.objects.none()
    return accounts_within(actor.unit)


def visible_audit_events(actor) -> QuerySet[AuditEvent]:
    """A manager sees the audit log of its subtree."""
    if not is_manager(actor):
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(under("unit_path", actor.unit.path))


# --- view decorators: each view states its permission with one of these ----


def _login_refusal(request):
    """Not logged in: the login page, or for a program that asks for JSON a JSON 401
    (docs/api.md, Errors for programs): a redirect to an HTML page is no answer to it."""
    from django.utils.translation import gettext as _

    from core import errors

    if errors.wants_json(request.path, request.headers.get("Accept", "")):
        return errors.error_response(
            request, 401, code="login_required", message=_("Log in first.")
        )
    return redirect_to_login(request.get_full_path())


def login_and_unit_required(view):
    """Any active account bound to a unit (staff or manager)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _login_refusal(request)
        if not is_active_account(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.permission = "account"
    return wrapper


def manager_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _login_refusal(request)
        if not is_manager(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.permission = "manager"
    return wrapper


# `public` (no login needed) is defined in core, below every app, so core's health
# views can use it too; it is offered here beside the other decorators.
public = http.public
