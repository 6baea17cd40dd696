"""Writing a ticket's timeline and telling the people concerned. Shared by
`tickets.services` and `escalation.services`; holds no rule of its own."""

from __future__ import annotations

from accounts.models import MINISTRY_CODE, Level
from core import events
from tickets.models import Ticket, TicketEvent


def entry(ticket: Ticket, kind: str, actor=None, *, body_html="", internal=False, **data):
    """A timeline entry not yet stored (see `add_many`)."""
    return TicketEvent(
        ticket=ticket,
        kind=kind,
        actor=actor,
        body_html=body_html,
        internal=internal,
        data=data,
        created_at=ticket.updated_at,
    )


def add(ticket: Ticket, kind: str, actor=None, *, body_html="", internal=False, **data):
    item = entry(ticket, kind, actor, body_html=body_html, internal=internal, **data)
    item.save()
    return item


def add_many(entries: list[TicketEvent]) -> list[TicketEvent]:
    """Store entries in one INSERT, in order (their ids follow it)."""
    return TicketEvent.objects.bulk_create(entries)


def tier_group(tier) -> str:
    """The accounts of the tier unit itself (filtered to engineers and managers by
    `tickets.selectors.wants_ticket_event`)."""
    return events.tree_group(tier.code, tier.level, managers_only=False)


def _changed(ticket: Ticket, what: str, also, event: TicketEvent | None):
    internal = event is not None and event.internal
    # An internal entry is none of the reporter's business, not even that it exists.
    groups = [] if internal else [events.account_group(ticket.reporter_id)]
    groups += [tier_group(ticket.tier), *also]
    if ticket.assignee_id:
        groups.append(events.account_group(ticket.assignee_id))
    payload = {
        "ticket": ticket.pk,
        "what": what,
        "status": ticket.status,
        "tier": ticket.tier.name,
        "assignee": _name(ticket.assignee),
        "reporter_id": ticket.reporter_id,
        "assignee_id": ticket.assignee_id,
        "entry": event.pk if event else None,
        "internal": internal,
    }
    return ("ticket.changed", payload, groups)


def _assigned(ticket: Ticket):
    payload = {"ticket": ticket.pk, "title": ticket.title, "priority": ticket.priority}
    return ("ticket.assigned", payload, [events.account_group(ticket.assignee_id)])


def announce(
    ticket: Ticket,
    what: str,
    *,
    also=(),
    event: TicketEvent | None = None,
    and_assigned: bool = False,
) -> None:
    """A stored `ticket.changed` event for the reporter, the assignee and the tier
    (plus `also`, e.g. the tier a ticket just left). Carries no user text: pages
    fetch what the viewer may see. `and_assigned` adds the assignee's pop-up
    (`assigned`) to the same publish."""
    items = [_changed(ticket, what, also, event)]
    if and_assigned and ticket.assignee_id:
        items.append(_assigned(ticket))
    events.publish_many(items)


def warning(ticket: Ticket, clocks: list[str]) -> None:
    target = (
        events.account_group(ticket.assignee_id) if ticket.assignee_id else tier_group(ticket.tier)
    )
    events.publish(
        kind="ticket.warning",
        payload={"ticket": ticket.pk, "title": ticket.title, "clocks": clocks},
        groups=[target],
    )


def ministry_alert(ticket: Ticket) -> None:
    events.publish(
        kind="ticket.alert",
        payload={"ticket": ticket.pk, "title": ticket.title, "priority": ticket.priority},
        groups=[events.tree_group(MINISTRY_CODE, Level.MINISTRY, managers_only=True)],
    )


def _name(account) -> str:
    if account is None:
        return ""
    return account.full_name or account.username
