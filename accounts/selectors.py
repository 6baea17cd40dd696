"""Reads for units, accounts and the audit log, always through `accounts.scoping`."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.http import Http404

from accounts import scoping
from accounts.models import SEGMENT, Account, IssueBatch, Level, Role, Unit


def mfa_required_but_missing(user) -> bool:
    if not settings.MFA_REQUIRED_FOR_SENIOR_MANAGERS or not scoping.is_manager(user):
        return False
    if user.unit.level not in (Level.MINISTRY, Level.PROVINCE):
        return False
    from allauth.mfa.models import Authenticator

    return not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def unit_visible_or_404(*, actor, code: str) -> Unit:
    unit = Unit.objects.filter(code=code).select_related("parent").first()
    if unit is None or not scoping.can_view_unit(actor, unit):
        raise Http404
    return unit


def unit_trail(*, actor=None, unit: Unit, top: Unit | None = None) -> list[Unit]:
    """The units from `top` (by default the actor's own) down to `unit`, for breadcrumbs."""
    top = top or actor.unit
    codes = unit.ancestor_codes + [unit.code]
    units = {u.code: u for u in Unit.objects.filter(code__in=codes)}
    trail = [units[c] for c in codes if c in units]
    return [u for u in trail if scoping.is_within(u, top)]


@dataclass
class ChildRow:
    unit: Unit
    units: int
    accounts: int
    active_accounts: int


def unit_children_with_counts(*, unit: Unit) -> list[ChildRow]:
    """The children of `unit`, each with the number of units and accounts in its subtree.

    Two grouped queries whatever the number of children: the child a descendant
    sits under is the fixed-width path prefix one segment longer than `unit`'s.
    """
    children = list(unit.children.order_by("code"))
    prefix_len = len(unit.path) + SEGMENT
    unit_counts = dict(
        scoping.units_within(unit)
        .filter(depth__gt=unit.depth + 1)  # strictly under a child, not the child itself
        .annotate(child=Substr("path", 1, prefix_len))
        .values("child")
        .annotate(n=Count("id"))
        .values_list("child", "n")
    )
    account_counts = {
        row["child"]: row
        for row in scoping.accounts_within(unit)
        .exclude(unit_id=unit.pk)
        .annotate(child=Substr("unit__path", 1, prefix_len))
        .values("child")
        .annotate(n=Count("id"), active=Count("id", filter=Q(is_active=True)))
    }
    return [
        ChildRow(
            unit=c,
            units=unit_counts.get(c.path, 0),
            accounts=account_counts.get(c.path, {}).get("n", 0),
            active_accounts=account_counts.get(c.path, {}).get("active", 0),
        )
        for c in children
    ]


def unit_own_accounts(*, actor, unit: Unit):
    return scoping.visible_accounts(actor).filter(unit=unit).order_by("role", "username")


def account_list(*, actor, q: str = "", unit: Unit | None = None, role: str = "", status: str = ""):
    qs = scoping.visible_accounts(actor).select_related("unit")
    if unit is not None:
        qs = qs.filter(scoping.under("unit__path", unit.path))
    if q:
        qs = qs.filter(
            Q(username__icontains=q)
            | Q(full_name__icontains=q)
            | Q(unit__name__icontains=q)
            | Q(unit__code__startswith=q)
        )
    if role in Role.values:
        qs = qs.filter(role=role)
    if status == "active":
        qs = qs.filter(is_active=True)
    elif status == "disabled":
        qs = qs.filter(is_active=False)
    elif status == "pending":
        qs = qs.filter(is_active=True, must_change_password=True)
    return qs.order_by("unit__path", "role", "username")


def account_manageable_or_404(*, actor, pk: int) -> Account:
    account = scoping.manageable_accounts(actor).select_related("unit").filter(pk=pk).first()
    if account is None:
        raise Http404
    return account


def audit_log(*, actor, action: str = "", q: str = ""):
    qs = scoping.visible_audit_events(actor).select_related("unit")
    if action:
        qs = qs.filter(action=action)
    if q:
        qs = qs.filter(
            Q(actor_username__icontains=q)
            | Q(target_username__icontains=q)
            | Q(unit__code__startswith=q)
        )
    return qs


def issue_batch_own_or_404(*, actor, pk: int) -> IssueBatch:
    batch = IssueBatch.objects.filter(pk=pk, issued_by=actor).select_related("unit").first()
    if batch is None:
        raise Http404
    return batch


def recent_batches(*, actor, limit: int = 10):
    return IssueBatch.objects.filter(issued_by=actor).select_related("unit")[:limit]
