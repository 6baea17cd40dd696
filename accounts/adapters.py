import math
import time

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import login_limits, services
from core.errors import error_response
from core.http import client_ip


def wait_text(minutes: int) -> str:
    return ngettext(
        "Please try again in %(minutes)d minute.",
        "Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def refusal_response(request, refusal: login_limits.Refusal, *, password: str = ""):
    """The 429 for a refused login: how long to wait (the real time left) and what to
    do, as a page or JSON (core/errors.py), with Retry-After."""
    if refusal.reason == login_limits.NETWORK_BLOCKED:
        message = _("Too many failed logins came from your network, so logins from it are paused.")
        advice = _(
            "Colleagues on the same network (e.g. the county's schools behind one address) "
            "are paused too; wait, then log in with care."
        )
    else:
        # Said of any username, existing or not, so the answer reveals nothing.
        message = _("Too many failed logins for this username, so it is locked for a while.")
        if services.initial_code_normalize(password or "") is not None:
            advice = _(
                "If your initial code keeps being refused, ask the manager of the level above "
                "you (who issued your account) to re-issue one, and log in with it once the "
                "wait is over."
            )
        else:
            advice = _(
                "If you have forgotten your password, ask the manager of the level above you "
                "to re-issue an initial code."
            )
    wait = wait_text(refusal.minutes)
    return error_response(
        request,
        429,
        code=refusal.reason,
        title=_("Login paused"),
        message=f"{message} {wait} {advice}",
        headers={"Retry-After": refusal.retry_after},
        context={"wait": wait, "advice": advice, "reason": message, "login_refused": True},
    )


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are issued from above, never signed up for. Logins are limited per
    account, not per shared address (accounts/login_limits.py)."""

    def is_open_for_signup(self, request):
        return False

    def ajax_response(self, request, response, *args, **kwargs):
        # A 429 keeps its status, Retry-After and JSON body (core/errors.py); allauth
        # would wrap it into a 200 for a client that accepts JSON.
        if response.status_code == 429:
            return response
        return super().ajax_response(request, response, *args, **kwargs)

    def get_client_ip(self, request):
        # The platform's one notion of the client address (proxy headers: core/http.py).
        return client_ip(request) or super().get_client_ip(request)

    def pre_authenticate(self, request, **credentials):
        refusal = login_limits.attempt_begin(
            ip=client_ip(request), username=credentials.get("username") or ""
        )
        _refuse(request, refusal, credentials)
        # Not allauth's own pre_authenticate: its "login_failed" counting of passwords is
        # replaced by the above. The limit itself stays configured (config/settings.py):
        # allauth MFA counts wrong two-factor codes with it.

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is not None:
            login_limits.attempt_succeeded(username=credentials.get("username") or "")
        return user

    def authentication_failed(self, request, **credentials):
        # Audited by accounts/signals.py (Django's user_login_failed); here only counted.
        refusal = login_limits.attempt_failed(
            ip=client_ip(request), username=credentials.get("username") or ""
        )
        _refuse(request, refusal, credentials)


# URL name -> allauth's rate-limit action, for the wait time of its generic 429.
_ALLAUTH_ACTIONS = {
    "account_login": "login",
    "account_change_password": "change_password",
    "account_set_password": "change_password",
    "account_email": "manage_email",
    "account_reset_password": "reset_password",
    "account_reset_password_from_key": "reset_password_from_key",
    "account_reauthenticate": "reauthenticate",
    "account_signup": "signup",
    "account_request_login_code": "request_login_code",
}


def _allauth_retry_after(request) -> int:
    """Seconds until allauth's exceeded limit for this page lets a request through:
    exact for limits per address or per user (from allauth's own counter), the limit's
    whole window otherwise (per e-mail key, or an action this table does not know)."""
    config = allauth_settings.RATE_LIMITS
    match = getattr(request, "resolver_match", None)
    action = _ALLAUTH_ACTIONS.get(match.url_name if match else "")
    if action is None:
        windows = [
            r.duration for value in config.values() for r in allauth_ratelimit.parse_rates(value)
        ]
        return int(max(windows, default=60))
    now, waits = time.time(), []
    for rate in allauth_ratelimit.parse_rates(config.get(action)):
        wait = rate.duration
        if rate.per == "ip" or (rate.per == "user" and request.user.is_authenticated):
            key = allauth_ratelimit.get_cache_key(
                request, app="allauth.account", action=action, rate=rate
            )
            history = allauth_ratelimit.cache.get(key, [])
            if len(history) < rate.amount:
                continue  # not this limit
            wait = history[rate.amount - 1] + rate.duration - now
        waits.append(wait)
    return max(1, int(max(waits, default=60) + 0.999))


def rate_limited(request):
    """allauth's 429 (config/urls.py `handler429`, read by allauth's respond_429): the
    platform's page or JSON saying how long to wait, with Retry-After."""
    seconds = _allauth_retry_after(request)
    wait = wait_text(max(1, math.ceil(seconds / 60)))
    return error_response(
        request,
        429,
        message=f"{_('Too many requests from your network or account.')} {wait}",
        headers={"Retry-After": seconds},
        context={"wait": wait},
    )


def _refuse(request, refusal, credentials) -> None:
    """Answer the login with the limit's 429 page or JSON, when a limit refused it."""
    if refusal is not None:
        raise ImmediateHttpResponse(
            refusal_response(request, refusal, password=credentials.get("password") or "")
        )
