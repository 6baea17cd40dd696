import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from accounts import scoping, selectors, services
from core.http import wants_json

ALWAYS_OPEN = ("/static/", "/i18n/", "/healthz", "/readyz", "/favicon.ico")


def _open(path: str, extra: tuple[str, ...]) -> bool:
    return path.startswith(ALWAYS_OPEN + extra)


class PasswordChangeRequiredMiddleware:
    """Until an account has set its own password, every page leads to the change form
    and every API call is refused with the code `password_change_required`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.must_change_password:
            change = reverse("password_first")
            if not _open(request.path, (change, reverse("account_logout"))):
                if wants_json(request):
                    return JsonResponse(
                        {
                            "error": "password_change_required",
                            "detail": _("Set your own password before using the platform."),
                        },
                        status=403,
                    )
                target = request.get_full_path()
                if (
                    url_has_allowed_host_and_scheme(target, allowed_hosts=None)
                    and request.method == "GET"
                ):
                    return redirect(f"{change}?next={target}")
                return redirect(change)
        return self.get_response(request)


class MfaRequiredMiddleware:
    """With MFA_REQUIRED_FOR_SENIOR_MANAGERS on, Ministry and province managers
    activate TOTP before anything else."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.must_change_password
            and selectors.mfa_required_but_missing(user)
            and not _open(request.path, ("/auth/",))
        ):
            if wants_json(request):
                return JsonResponse(
                    {
                        "error": "mfa_required",
                        "detail": _("Activate two-factor authentication first."),
                    },
                    status=403,
                )
            return redirect("mfa_activate_totp")
        return self.get_response(request)


class ManagerIdleTimeoutMiddleware:
    """A manager idle for MANAGER_IDLE_MINUTES is logged out: the login page says why
    (an API call gets 401 `session_expired`). Rules in accounts.scoping / services."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            now = time.time()
            if scoping.manager_idle_expired(user, request.session, now):
                logout(request)
                detail = _(
                    "You were signed out after %(minutes)d minutes without activity. "
                    "Please sign in again."
                ) % {"minutes": settings.MANAGER_IDLE_MINUTES}
                if wants_json(request):
                    return JsonResponse({"error": "session_expired", "detail": detail}, status=401)
                messages.info(request, detail)
                return redirect_to_login(request.get_full_path())
            services.note_activity(user, request.session, now)
        return self.get_response(request)
