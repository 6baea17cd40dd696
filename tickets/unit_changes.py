"""Tickets follow the tree (issue 15, item 6): receivers of accounts.signals.unit_changed,
connected in TicketsConfig.ready and run inside the approving transaction."""

from __future__ import annotations

from accounts.models import UnitChangeKind
from tickets import timeline
from tickets.models import OPEN_STATUSES, EventKind, Ticket


def unit_changed(sender, *, change, unit, actor=None, **kwargs) -> None:
    """A school closed: its open tickets pass to its county. Nothing moves (the tickets
    stay counted where they were raised, and the school's problem-record ticket keeps
    following its records); selectors.handed_over puts the county on the reporter side
    from now on, and each open ticket's timeline says so."""
    if change.kind != UnitChangeKind.CLOSE:
        return
    county = unit.parent
    tickets = list(
        Ticket.objects.select_for_update()
        .select_related("tier", "reporter_unit")
        .filter(reporter_unit=unit, status__in=OPEN_STATUSES)
        .order_by("id")
    )
    for ticket in tickets:
        event = timeline.add(
            ticket,
            EventKind.ROUTED,
            actor,
            handed_over=True,
            from_unit=unit.name,
            to_unit=county.name,
        )
        timeline.announce(ticket, "handed_over", event=event)
