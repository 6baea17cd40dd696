"""SLA clocks of a ticket's current tier.

Two clocks start when a ticket enters a tier: first response and resolution, with
targets for its priority (defaults below, overridable by the Ministry for the
country and by a province for itself). Low and normal count working hours on
China's calendar; high and urgent count around the clock. The resolution clock
pauses while the ticket waits on its reporter and re-arms on reopen with a full
target, so a reopened ticket never breaches on the spot. Each clock warns the
assignee at 80 % of its target.

These functions change the ticket in memory; the caller saves it inside its
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from accounts.models import SEGMENT, Unit
from escalation import workhours
from tickets.models import Priority, Ticket

# (first response, resolution) in minutes of countable time.
DEFAULT_TARGETS = {
    Priority.URGENT: (30, 4 * 60),
    Priority.HIGH: (2 * 60, 24 * 60),
    Priority.NORMAL: (4 * 60, 20 * 60),  # half a working day; two working days
    Priority.LOW: (8 * 60, 50 * 60),  # one working day; five working days
}
AROUND_CLOCK = {Priority.HIGH, Priority.URGENT}
# The override rows of a priority for two unit paths (the Ministry's, the province's).
_TARGETS = (
    "SELECT u.path, t.response_minutes, t.resolution_minutes "
    "FROM escalation_slatarget t JOIN accounts_unit u ON u.id = t.unit_id "
    "WHERE u.path IN (%s, %s) AND t.priority = %s"
)
WARN_AT = 0.8
# After a pause, at least this share of the resolution target remains: a ticket the
# reporter answers a minute before its deadline still gets time to be worked.
MIN_REMAINING = 0.1


@dataclass(frozen=True)
class Targets:
    response: float  # seconds
    resolution: float
    around_clock: bool


def targets_for(priority: str, reporter_path: str) -> Targets:
    """The targets that apply: the reporter's province's override, else the
    Ministry's, else the defaults."""
    paths = [reporter_path[:SEGMENT], reporter_path[: SEGMENT * 2]]
    # Written-out SQL: on every ticket raised, building the ORM query cost more CPU
    # than running it (bench/middleware.py, POST /tickets/new/).
    with connection.cursor() as cursor:
        cursor.execute(_TARGETS, [*paths, priority])
        rows = {path: (r, s) for path, r, s in cursor.fetchall()}
    response, resolution = rows.get(paths[1]) or rows.get(paths[0]) or DEFAULT_TARGETS[priority]
    return Targets(response * 60.0, resolution * 60.0, priority in AROUND_CLOCK)


def effective_targets(unit: Unit) -> dict[str, tuple[int, int, str]]:
    """For the settings page: per priority, (response, resolution, where from)."""
    out = {}
    for priority in Priority.values:
        t = targets_for(priority, unit.path + "0" * SEGMENT)
        out[priority] = (int(t.response // 60), int(t.resolution // 60))
    return out


def _targets(ticket: Ticket) -> Targets:
    return targets_for(ticket.priority, ticket.reporter_path)


def start(ticket: Ticket, now: datetime) -> None:
    """Both clocks from zero: the ticket has just entered a tier. Problem-record
    tickets run no clock: their pace is the roll system's and the daily reminders'."""
    ticket.tier_entered_at = now
    if ticket.raised_by_platform:
        ticket.first_response_at = None
        ticket.resolution_used = 0.0
        stop(ticket)
        return
    t = _targets(ticket)
    ticket.first_response_at = None
    ticket.response_due = workhours.add(now, t.response, around_clock=t.around_clock)
    ticket.resolution_used = 0.0
    ticket.clock_started_at = now
    ticket.resolution_due = workhours.add(now, t.resolution, around_clock=t.around_clock)
    ticket.response_warned = ticket.resolution_warned = False
    _recompute(ticket, t)


def responded(ticket: Ticket, now: datetime) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.response_due = None
        _recompute(ticket, _targets(ticket))


def pause(ticket: Ticket, now: datetime) -> None:
    """Waiting on the reporter: the resolution clock stops counting."""
    t = _targets(ticket)
    if ticket.clock_started_at is not None:
        ticket.resolution_used += workhours.between(
            ticket.clock_started_at, now, around_clock=t.around_clock
        )
    ticket.clock_started_at = None
    ticket.resolution_due = None
    _recompute(ticket, t)


def resume(ticket: Ticket, now: datetime, *, reopened: bool = False) -> None:
    """The reporter answered (or reopened): the clock counts again. A reopen re-arms a
    full resolution target; a resume keeps what was used, leaving at least 10 %."""
    if ticket.raised_by_platform:
        return
    t = _targets(ticket)
    if reopened:
        ticket.resolution_used = 0.0
        ticket.resolution_warned = False
    remaining = max(t.resolution - ticket.resolution_used, t.resolution * MIN_REMAINING)
    ticket.clock_started_at = now
    ticket.resolution_due = workhours.add(now, remaining, around_clock=t.around_clock)
    _recompute(ticket, t)


def stop(ticket: Ticket) -> None:
    """Resolved or closed: nothing more to breach."""
    ticket.response_due = ticket.resolution_due = ticket.clock_started_at = None
    ticket.breach_at = ticket.warn_at = None


def silence(ticket: Ticket, clock: str) -> None:
    """The last tier was alerted that `clock` (response or resolution) is breached:
    that clock stops, so no further sweep alerts it again until the clocks are armed
    anew (reopen, send-back). The other clock runs on and alerts in its turn."""
    if clock == "response":
        ticket.response_due = None
        ticket.response_warned = True
    else:
        ticket.resolution_due = ticket.clock_started_at = None
        ticket.resolution_warned = True
    _recompute(ticket, _targets(ticket))


def _warn_times(ticket: Ticket, t: Targets) -> tuple[datetime | None, datetime | None]:
    """When each running, not yet warned clock reaches 80 % of its target."""
    response = resolution = None
    if ticket.response_due is not None and not ticket.response_warned:
        response = workhours.add(
            ticket.tier_entered_at, t.response * WARN_AT, around_clock=t.around_clock
        )
    if ticket.resolution_due is not None and not ticket.resolution_warned:
        left = max(0.0, t.resolution * WARN_AT - ticket.resolution_used)
        resolution = workhours.add(ticket.clock_started_at, left, around_clock=t.around_clock)
    return response, resolution


def _recompute(ticket: Ticket, t: Targets) -> None:
    dues = [d for d in (ticket.response_due, ticket.resolution_due) if d is not None]
    ticket.breach_at = min(dues) if dues else None
    warns = [w for w in _warn_times(ticket, t) if w is not None]
    ticket.warn_at = min(warns) if warns else None


def mark_warned(ticket: Ticket, now: datetime) -> list[str]:
    """Which clocks (`response`, `resolution`) warn at `now`; each warns only once."""
    t = _targets(ticket)
    response, resolution = _warn_times(ticket, t)
    fired = []
    if response is not None and response <= now:
        ticket.response_warned = True
        fired.append("response")
    if resolution is not None and resolution <= now:
        ticket.resolution_warned = True
        fired.append("resolution")
    _recompute(ticket, t)
    return fired
