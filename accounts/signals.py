"""Logins, failures and two-factor changes go to the audit log."""

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.dispatch import Signal, receiver

from accounts import services
from accounts.models import Account, AuditAction, Level, Unit
from core.http import client_ip


def _ip(request):
    return client_ip(request) if request is not None else None


@receiver(auth_signals.user_logged_in)
def on_login(sender, request, user, **kwargs):
    services.audit_event(
        action=AuditAction.LOGIN_SUCCEEDED, actor=user, target=user, ip=_ip(request)
    )


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username") or ""
    account = Account.objects.filter(username__iexact=username).select_related("unit").first()
    # Guesses at usernames that do not exist belong to nobody's unit: file them under
    # the Ministry so that someone sees them.
    unit = (
        account.unit if account is not None else Unit.objects.filter(level=Level.MINISTRY).first()
    )
    services.audit_event(
        action=AuditAction.LOGIN_FAILED,
        target=account,
        unit=unit,
        ip=_ip(request),
        detail={"username": username[:150]},
    )


@receiver(mfa_signals.authenticator_added)
def on_mfa_added(sender, request, user, authenticator, **kwargs):
    services.audit_event(
        action=AuditAction.MFA_ACTIVATED,
        actor=user,
        target=user,
        ip=_ip(request),
        detail={"type": authenticator.type},
    )


@receiver(mfa_signals.authenticator_removed)
def on_mfa_removed(sender, request, user, authenticator, **kwargs):
    services.audit_event(
        action=AuditAction.MFA_DEACTIVATED,
        actor=user,
        target=user,
        ip=_ip(request),
        detail={"type": authenticator.type},
    )


@receiver(mfa_signals.authenticator_reset)
def on_mfa_reset(sender, request, user, authenticator, **kwargs):
    services.audit_event(
        action=AuditAction.MFA_RECOVERY_CODES,
        actor=user,
        target=user,
        ip=_ip(request),
        detail={"type": authenticator.type},
    )


@receiver(account_signals.password_changed)
def on_password_changed(sender, request, user, **kwargs):
    services.audit_event(
        action=AuditAction.PASSWORD_CHANGED, actor=user, target=user, ip=_ip(request)
    )


# --- the tree changed (issue 15, item 6: accounts.unit_changes) --------------------------
# Sent inside the approving transaction once a school was added, renamed or closed, with
# `change` (the approved UnitChange), `unit` (the school, as it is now) and `actor`.
# chat, notices and tickets connect their receivers in their AppConfig.ready (accounts
# imports none of them); a receiver that raises rolls the approval back. Problem records
# need none: roll.selectors hands a closed school's records to its county.
unit_changed = Signal()
