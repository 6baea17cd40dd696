"""What tickets asks of the support desk above it: routing, SLA clocks, escalation.

`tickets` sits below `escalation`: escalation's models point at tickets, and its
rotation, clocks and sweep act on them. So tickets never imports escalation; what it
needs from it is this interface (`Desk`), which escalation implements and registers
in its AppConfig.ready() (escalation/desk.py). A hand-written seam rather than
Django signals: these calls return answers (who got the ticket, whether it may climb)
and must run inside the caller's transaction, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from accounts.models import Account, Unit
    from tickets.models import Ticket

    # place(ticket, actor=…, entries=[…]): the new ticket, not yet saved, goes to the
    # tier and engineer chosen on entering `raising`, and is saved with its entries.
    Place = Callable[..., None]


class Desk(Protocol):
    def raising(
        self, unit: Unit, now: datetime, *, reporter_id: int | None
    ) -> AbstractContextManager[Place]:
        """Enter BEFORE the new ticket's transaction: its tier's next turn is taken
        then, so the rotation is not held by the ticket's writes; given back if the
        ticket is never stored."""

    def reopened(self, ticket: Ticket, now: datetime) -> bool:
        """Back to whoever resolved it if they can still hold it, else back into
        rotation; True when that gave it to someone new."""

    def freed(self, tier_id: int) -> None:
        """A ticket stopped holding a place at `tier_id`: fill it after commit."""

    def responded(self, ticket: Ticket, now: datetime) -> None: ...

    def paused(self, ticket: Ticket, now: datetime) -> None: ...

    def resumed(self, ticket: Ticket, now: datetime, *, reopened: bool = False) -> None: ...

    def stopped(self, ticket: Ticket) -> None: ...

    def escalate(self, *, actor: Account, ticket: Ticket, reason: str) -> Ticket: ...

    def send_back(self, *, actor: Account, ticket: Ticket, guidance: str) -> Ticket: ...

    def can_climb(self, ticket: Ticket) -> bool:
        """Whether there is a tier above the ticket's current one."""

    def reason_labels(self) -> dict[str, str]:
        """Routing decisions' reasons for passing an engineer over, translated."""

    def tier_compliance(self, unit: Unit, since: datetime) -> list[dict]:
        """Per tier level, stays of tickets raised under `unit` since `since`, and how
        many breached: [{"level", "stays", "breached"}]."""


_desk: Desk | None = None


def register(desk: Desk) -> None:
    global _desk
    _desk = desk


def desk() -> Desk:
    if _desk is None:
        raise ImproperlyConfigured("No support desk registered: is `escalation` installed?")
    return _desk
