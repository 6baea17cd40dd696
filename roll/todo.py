"""The problem records' part of the home page's to-dos (core.todo, registered in
apps.py): my school's open records, graduating grade first; for those who oversee a
subtree, its open count; and for managers the child units with the most open records.
Bounded reads on the one (school_path, status, kind) index."""

from __future__ import annotations

from django.db.models import Count, Min, Q
from django.db.models.functions import Substr

from accounts import scoping
from accounts.models import SEGMENT, Unit
from roll.models import OPEN_RECORD_STATUSES, Kind, ProblemRecord
from roll.selectors import can_oversee, is_school_account, visible_records

LIMIT = 5
LAG_UNITS = 5


def open_records(account, *, limit: int = LIMIT) -> dict | None:
    """A school's accounts: its open records, graduating first, then the longest known.
    Overseers (county and above): how many are open in their subtree, graduating among
    them. Anyone else: nothing (None)."""
    school = is_school_account(account)
    if not (school or can_oversee(account)):
        return None
    qs = visible_records(account).filter(status__in=OPEN_RECORD_STATUSES)
    figures = qs.aggregate(n=Count("id"), graduating=Count("id", filter=Q(graduating=True)))
    items = []
    if school and figures["n"]:
        labels = dict(Kind.choices)
        items = list(
            qs.only("kind", "name", "grade", "graduating", "detected_at").order_by(
                "-graduating", "detected_at", "pk"
            )[:limit]
        )
        for record in items:
            record.kind_label = labels.get(record.kind, record.kind)
    return {
        "items": items,
        "count": figures["n"],
        "graduating": figures["graduating"],
        "more": figures["n"] - len(items),
        "school": school,
    }


def lagging_units(account, *, limit: int = LAG_UNITS) -> dict | None:
    """For managers who oversee a subtree: the open child units (closed ones left out)
    with the most open records, graduating and oldest as tie-breaks."""
    if not (scoping.is_manager(account) and can_oversee(account)):
        return None
    unit = account.unit
    child = Substr("school_path", 1, len(unit.path) + SEGMENT)
    found = list(
        ProblemRecord.objects.filter(
            scoping.under("school_path", unit.path), status__in=OPEN_RECORD_STATUSES
        )
        .annotate(child=child)
        .values("child")
        .annotate(
            open=Count("id"),
            graduating=Count("id", filter=Q(graduating=True)),
            oldest=Min("detected_at"),
        )
        .order_by()
    )
    children = {
        u.path: u
        for u in Unit.objects.filter(
            path__in=[r["child"] for r in found], parent=unit, closed_at__isnull=True
        )
    }
    rows = [{**r, "unit": children[r["child"]]} for r in found if r["child"] in children]
    rows.sort(key=lambda r: (-r["open"], -r["graduating"], r["oldest"], r["unit"].code))
    return {"rows": rows[:limit], "count": len(rows)}
