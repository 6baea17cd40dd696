"""escalation's side of `tickets.support`: the desk tickets asks for routing, SLA
clocks and escalation (registered in EscalationConfig.ready()). Each method hands
over to the service, selector or clock that keeps the rule."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from django.db import transaction

from escalation import selectors, services, sla
from escalation.models import EntryKind


class Desk:
    @contextmanager
    def raising(self, unit, now: datetime, *, reporter_id: int | None):
        tier = selectors.tier_chain(unit, reporter_id=reporter_id)[0]
        with services.choose(tier, now, reporter_id=reporter_id) as decision:

            def place(ticket, *, actor=None, entries=()) -> None:
                services.enter_tier(
                    ticket,
                    tier,
                    now,
                    kind=EntryKind.OPENED,
                    actor=actor,
                    entries=entries,
                    decision=decision,
                )

            yield place

    def reopened(self, ticket, now: datetime) -> bool:
        return services.route_reopened(ticket, now)

    def freed(self, tier_id: int) -> None:
        transaction.on_commit(lambda: services.drain(tier_id))

    def responded(self, ticket, now: datetime) -> None:
        sla.responded(ticket, now)

    def paused(self, ticket, now: datetime) -> None:
        sla.pause(ticket, now)

    def resumed(self, ticket, now: datetime, *, reopened: bool = False) -> None:
        sla.resume(ticket, now, reopened=reopened)

    def stopped(self, ticket) -> None:
        sla.stop(ticket)

    def escalate(self, *, actor, ticket, reason: str):
        return services.escalate(actor=actor, ticket=ticket, reason=reason)

    def send_back(self, *, actor, ticket, guidance: str):
        return services.send_back(actor=actor, ticket=ticket, guidance=guidance)

    def can_climb(self, ticket) -> bool:
        return selectors.next_tier(ticket) is not None

    def reason_labels(self) -> dict[str, str]:
        return selectors.reason_labels()

    def tier_compliance(self, unit, since: datetime) -> list[dict]:
        return selectors.tier_compliance(unit, since)
