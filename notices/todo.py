"""The notices' part of the home page's to-dos (core.todo, registered in apps.py):
the acknowledgements I owe, soonest deadline first, and for managers the child units
with the most overdue acknowledgements.

Bounded reads only: a few queries whatever the number of notices, receipts or child
units. Above the county the lag is summed from the counters the statistics keep
(ReceiptTally: acknowledgements; AudienceTally: the audience, as last counted)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Substr
from django.utils import timezone

from accounts import scoping
from accounts.models import SEGMENT, Level, Role, Unit
from notices.models import AudienceTally, Notice, Receipt, ReceiptTally, Status
from notices.selectors import audience_counted, received

# Acknowledgements listed on the home page (the rest are counted, and the inbox's
# "to acknowledge" filter lists them all).
ACK_LIMIT = 5
# The overdue notices a manager's lag is summed over: the latest deadlines first.
LAG_NOTICES = 20
# How far back an overdue deadline still counts as lagging.
LAG_WINDOW = timedelta(days=90)
# Child units listed as lagging.
LAG_UNITS = 5
# Notices whose audience was never counted (nobody opened their statistics above the
# county), counted on one home page view: a national notice's count takes seconds.
RECOUNTS_PER_VIEW = 2


def _live(qs):
    """Withdrawn and superseded notices ask nothing of anyone any more."""
    return qs.filter(withdrawn_at__isnull=True, superseded_at__isnull=True)


def acks_due(account, *, now: datetime | None = None, limit: int = ACK_LIMIT) -> dict:
    """Notices that reach `account`, ask for an acknowledgement it has not given, and
    are neither withdrawn nor superseded: the soonest deadline first (none last)."""
    now = now or timezone.now()
    acked = Receipt.objects.filter(notice=OuterRef("pk"), account=account, acked_at__isnull=False)
    qs = _live(received(account)).filter(requires_ack=True).exclude(Exists(acked))
    items = list(
        qs.select_related("author_unit").order_by(
            F("ack_deadline").asc(nulls_last=True), "published_at", "id"
        )[:limit]
    )
    total = len(items) if len(items) < limit else qs.count()
    for notice in items:
        notice.overdue = notice.ack_deadline is not None and notice.ack_deadline < now
    return {"items": items, "count": total, "more": total - len(items)}


# --- managers: the child units that lag behind --------------------------------------


def _overdue_notices(unit: Unit, now: datetime) -> list[Notice]:
    """The latest overdue notices asking for acknowledgements whose statistics a manager
    of `unit` sees (selectors.can_view_stats): written at or above the unit, to an
    audience that reaches into its subtree."""
    above = unit.ancestor_paths
    return list(
        _live(Notice.objects.filter(status=Status.PUBLISHED, requires_ack=True))
        .filter(
            ack_deadline__lt=now,
            ack_deadline__gte=now - LAG_WINDOW,
            author_unit__path__in=above,
        )
        .filter(Q(targets__path__in=above) | scoping.under("targets__path", unit.path))
        .distinct()
        .order_by("-ack_deadline", "-id")
        .prefetch_related("targets")[:LAG_NOTICES]
    )


def _county_shortfall(unit: Unit, notices: list[Notice], prefix: int) -> dict:
    """(notice id, child path) → audience accounts − acknowledgements, exact: a county
    holds a few thousand accounts, grouped here by unit and role in one query."""
    groups = list(
        scoping.accounts_within(unit)
        .filter(is_active=True)
        .values("unit__path", "unit__level", "role")
        .annotate(n=Count("id"))
        .order_by()
    )
    audience: dict = defaultdict(int)
    for notice in notices:
        levels, targets = notice.level_list, [t.path for t in notice.targets.all()]
        for g in groups:
            if g["unit__level"] not in levels:
                continue
            if notice.managers_only and g["role"] != Role.MANAGER:
                continue
            if any(g["unit__path"].startswith(t) for t in targets):
                audience[notice.pk, g["unit__path"][:prefix]] += g["n"]
    acked = (
        Receipt.objects.filter(
            scoping.under("unit_path", unit.path),
            notice__in=[n.pk for n in notices],
            acked_at__isnull=False,
            account__is_active=True,
        )
        .annotate(child=Substr("unit_path", 1, prefix))
        .values("notice", "child")
        .annotate(n=Count("id"))
        .order_by()
    )
    for r in acked:
        audience[r["notice"], r["child"]] -= r["n"]
    return audience


def _tally_shortfall(unit: Unit, notices: list[Notice], prefix: int) -> dict:
    """The same above the county, from the statistics' counters: each bucket (a county
    with its schools, or a unit above) lies wholly inside one child."""
    ids = [n.pk for n in notices]
    counted = set(
        AudienceTally.objects.filter(notice__in=ids).values_list("notice", flat=True).distinct()
    )
    for notice in [n for n in notices if n.pk not in counted][:RECOUNTS_PER_VIEW]:
        audience_counted(notice)
    below = scoping.under("path", unit.path) & ~Q(path=unit.path)
    audience: dict = defaultdict(int)
    for r in (
        AudienceTally.objects.filter(below, notice__in=ids)
        .annotate(child=Substr("path", 1, prefix))
        .values("notice", "child")
        .annotate(n=Sum("accounts"))
        .order_by()
    ):
        audience[r["notice"], r["child"]] += r["n"]
    for r in (
        ReceiptTally.objects.filter(below, notice__in=ids)
        .annotate(child=Substr("path", 1, prefix))
        .values("notice", "child")
        .annotate(n=Sum("acked"))
        .order_by()
    ):
        # Only where the audience is known: a notice not yet counted adds nothing.
        if (r["notice"], r["child"]) in audience:
            audience[r["notice"], r["child"]] -= r["n"]
    return audience


def lagging_units(account, *, now: datetime | None = None, limit: int = LAG_UNITS) -> dict | None:
    """For a manager above the school: the open child units (closed ones left out) with
    the most overdue acknowledgements outstanding, summed over the latest LAG_NOTICES
    overdue notices; each with the notice it lags most on, for the statistics' link."""
    if not scoping.is_manager(account) or account.unit.level == Level.SCHOOL:
        return None
    now = now or timezone.now()
    unit = account.unit
    notices = _overdue_notices(unit, now)
    rows: list[dict] = []
    if notices:
        prefix = len(unit.path) + SEGMENT
        if unit.level == Level.COUNTY:
            shortfall = _county_shortfall(unit, notices, prefix)
        else:
            shortfall = _tally_shortfall(unit, notices, prefix)
        per_child: dict = {}
        for (notice_pk, child), n in shortfall.items():
            if n <= 0:
                continue
            row = per_child.setdefault(child, {"missing": 0, "notices": 0, "worst": (0, None)})
            row["missing"] += n
            row["notices"] += 1
            row["worst"] = max(row["worst"], (n, notice_pk))
        children = {
            u.path: u
            for u in Unit.objects.filter(
                path__in=list(per_child), parent=unit, closed_at__isnull=True
            )
        }
        for child, row in per_child.items():
            if child in children:
                rows.append({"unit": children[child], **row, "notice": row["worst"][1]})
        rows.sort(key=lambda r: (-r["missing"], -r["notices"], r["unit"].code))
    return {"rows": rows[:limit], "count": len(rows), "notices": len(notices)}
