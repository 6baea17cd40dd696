"""Reads for units, accounts and the audit log, always through `accounts.scoping`."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.http import Http404

from accounts import scoping
from accounts.models import LEVEL_ORDER, SEGMENT, Account, IssueBatch, Level, Role, Unit


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


# --- the unit picker (issue 15): search and browse within the actor's subtree ----------

PICKER_LIMIT = 20


def levels_below(level: str) -> list[str]:
    """The levels strictly below `level`, highest first (a county: ["school"])."""
    return [lv.value for lv in LEVEL_ORDER[LEVEL_ORDER.index(level) + 1 :]]


def unit_search(actor, q: str, *, levels=None, limit: int = PICKER_LIMIT) -> list[Unit]:
    """Open units of the actor's subtree (its own unit included) matching `q`, highest
    level first (the actor's own, then the levels below), by code among those found of
    a level, at most `limit`.

    - digits: the code's prefix;
    - Latin letters: the pinyin initials' prefix (石家庄 for "sjz"), then, while short
      of `limit`, initials or name containing them;
    - anything else (Chinese): the name containing it.

    Asked level by level, each query with the room left as its LIMIT, so that the
    highest units come first without sorting the whole match (ordering 300,000 schools
    by depth made every search of the Ministry a full scan); a prefix is LIKE 'q%' on
    PostgreSQL, served by the code's and initials' pattern indexes (Django's *_like).
    Nothing counts the whole match. A name's "contains" is served on PostgreSQL by the
    pg_trgm indexes of migration 0007 (docs/architecture.md has the figures)."""
    if not scoping.is_active_account(actor):
        return []
    # Control characters (a NUL that PostgreSQL refuses) match nothing: dropped.
    q = " ".join("".join(c for c in (q or "")[:200] if c.isprintable()).split())[:50]
    mine = LEVEL_ORDER.index(actor.unit.level)
    order = [lv.value for lv in LEVEL_ORDER[mine:] if not levels or lv.value in levels]
    base = scoping.units_within(actor.unit).filter(closed_at__isnull=True)
    if not q:
        tiers = [Q()]
    elif q.isascii() and q.isdigit():
        tiers = [Q(code__startswith=q)]
    elif q.isascii() and q.replace(" ", "").isalpha():
        letters = q.replace(" ", "").lower()
        tiers = [
            Q(initials__startswith=letters),
            (Q(initials__contains=letters) | Q(name__icontains=q))
            & ~Q(initials__startswith=letters),
        ]
    else:
        tiers = [Q(name__icontains=q)]
    found: list[Unit] = []
    for tier in tiers:
        for level in order:
            if len(found) >= limit:
                return found
            # No ORDER BY: with one, PostgreSQL may walk the whole code index hoping
            # for an early match of a rare "contains" (a second, where a scan of the
            # range takes 20 ms); the few rows found are put in code order here.
            rows = base.filter(tier, level=level).order_by()[: limit - len(found)]
            found += sorted(rows, key=lambda u: u.code)
    return found


def unit_children(actor, code: str = "", *, levels=None) -> tuple[Unit, list[Unit], dict]:
    """One level of the tree for browsing: the unit (`code`, by default the actor's own;
    Http404 outside its subtree), its open children by code, and each child's number of
    open children (one grouped query over the children's ids, on the parent index; a
    county's schools answer 0 without a query).

    With `levels`, only children on the way to a unit of those levels are listed: a
    child of a chosen level, or of a level above one (a school's children are none)."""
    if code and not (code.isascii() and code.isalnum()):
        raise Http404  # no unit has such a code (and PostgreSQL refuses a NUL)
    unit = actor.unit if not code else unit_visible_or_404(actor=actor, code=code)
    children = Unit.objects.filter(parent=unit, closed_at__isnull=True)
    if levels:
        wanted = [LEVEL_ORDER.index(lv) for lv in levels if lv in Level.values]
        lowest = max(wanted, default=len(LEVEL_ORDER) - 1)
        children = children.filter(level__in=[lv.value for lv in LEVEL_ORDER[: lowest + 1]])
    children = list(children.order_by("code")[:2000])
    counts = {}
    parents = [c.pk for c in children if c.level != Level.SCHOOL]
    if parents:
        counts = dict(
            Unit.objects.filter(parent_id__in=parents, closed_at__isnull=True)
            .values("parent_id")
            .annotate(n=Count("id"))
            .values_list("parent_id", "n")
        )
    return unit, children, {c.pk: counts.get(c.pk, 0) for c in children}


def units_by_code(actor, codes) -> list[Unit]:
    """The units of the actor's subtree among `codes` (the picker's chips for codes
    already typed), in the order given; unknown or out-of-reach codes are left out."""
    codes = [c for c in dict.fromkeys(codes) if c and c.isascii() and c.isalnum()][:200]
    if not codes or not scoping.is_active_account(actor):
        return []
    found = {u.code: u for u in scoping.units_within(actor.unit).filter(code__in=codes)}
    return [found[c] for c in codes if c in found]
