"""The tickets' part of the home page's to-dos (core.todo, registered in apps.py): the
tickets waiting on me, and for support managers the child units with the most open
tickets. Bounded reads: a handful of queries whatever the number of tickets."""

from __future__ import annotations

from django.db.models import Count, F, Min
from django.db.models.functions import Substr

from accounts import scoping
from accounts.models import SEGMENT, Level, Unit
from tickets.models import HELD_STATUSES, OPEN_STATUSES, Status, Ticket
from tickets.selectors import LIST_FIELDS, is_support_person, my_tickets

# Tickets listed per kind of wait; the rest are counted.
LIMIT = 5
LAG_UNITS = 5


def _part(qs, why: str, limit: int) -> tuple[list, int]:
    items = list(qs[:limit])
    total = len(items) if len(items) < limit else qs.count()
    for ticket in items:
        ticket.why = why
    return items, total


def waiting_on(account, *, limit: int = LIMIT) -> dict | None:
    """As reporter: my tickets waiting for my reply, or resolved and waiting for me to
    confirm (close, rate or reopen), the longest waiting first. As a support engineer or
    manager of a tier: open tickets assigned to me (not those waiting on their reporter),
    the nearest SLA deadline first; and the tier's unassigned new tickets, oldest first."""
    if not scoping.is_active_account(account):
        return None
    groups = []
    reply = my_tickets(account).filter(status=Status.WAITING).order_by("updated_at", "id")
    confirm = my_tickets(account).filter(status=Status.RESOLVED).order_by("resolved_at", "id")
    groups.append(_part(reply, "reply", limit))
    groups.append(_part(confirm, "confirm", limit))
    support = is_support_person(account)
    if support:
        assigned = (
            Ticket.objects.filter(
                assignee=account, status__in=[s for s in HELD_STATUSES if s != Status.WAITING]
            )
            .select_related(*LIST_FIELDS)
            .order_by(F("breach_at").asc(nulls_last=True), "tier_entered_at", "id")
        )
        queue = (
            Ticket.objects.filter(tier_id=account.unit_id, status=Status.NEW, assignee__isnull=True)
            .select_related(*LIST_FIELDS)
            .order_by(F("breach_at").asc(nulls_last=True), "tier_entered_at", "id")
        )
        groups.append(_part(assigned, "assigned", limit))
        groups.append(_part(queue, "queue", limit))
    items = [t for found, _total in groups for t in found]
    count = sum(total for _found, total in groups)
    return {
        "items": items,
        "count": count,
        "more": count - len(items),
        "support": support,
    }


def lagging_units(account, *, limit: int = LAG_UNITS) -> dict | None:
    """For support managers above the school: the open child units with the most open
    tickets raised under them (then the oldest), from the open tickets' path index."""
    if not (scoping.is_manager(account) and is_support_person(account)):
        return None
    unit = account.unit
    if unit.level == Level.SCHOOL:
        return None
    child = Substr("reporter_path", 1, len(unit.path) + SEGMENT)
    found = list(
        Ticket.objects.filter(scoping.under("reporter_path", unit.path), status__in=OPEN_STATUSES)
        .annotate(child=child)
        .values("child")
        .annotate(open=Count("id"), oldest=Min("created_at"))
        .order_by()
    )
    children = {
        u.path: u
        for u in Unit.objects.filter(
            path__in=[r["child"] for r in found], parent=unit, closed_at__isnull=True
        )
    }
    rows = [{**r, "unit": children[r["child"]]} for r in found if r["child"] in children]
    rows.sort(key=lambda r: (-r["open"], r["oldest"], r["unit"].code))
    return {"rows": rows[:limit], "count": len(rows)}
