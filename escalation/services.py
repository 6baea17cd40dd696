"""Routing, duty and escalation: who gets a ticket, when it climbs a tier, and how a
sweep does that exactly once.

Assignment at a tier moves the tier's `Rotation` pointer with one conditional
UPDATE (from the engineer read to the one picked, only if nobody moved it since;
after a few failed attempts, under the row lock), so concurrent tickets cannot land
on the same engineer by accident or skip one: each pick is one numbered turn, and
the turns follow the round robin. The roster, the held counts and the pointer are read
before, outside any lock, and a new ticket takes its turn before its own
transaction (`choose`): the row is locked for that one statement, not for the
ticket's writes. The price: a count read while another ticket of the tier is
between its turn and its commit misses that ticket, so an engineer can go over
capacity by the tier's tickets in flight at that moment (capacity is a load limit,
not a hard rule; the drain, which holds the row lock, counts exactly). A ticket
that fails after its turn gives the turn back unless a later pick built on it.

Escalating a breached ticket is a conditional change (the ticket's `hop` must still
be what the sweep read, under a row lock) plus an `EscalationRecord` insert that a
unique constraint allows once per (ticket, tier, round), all in one transaction: a
sweep that runs twice, races another or dies halfway escalates each breach once.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import Account, AuditAction, Level, Unit
from accounts.services import audit_event
from core import metrics
from escalation import rotation, selectors, sla
from escalation.models import (
    DutyProfile,
    DutySlot,
    EntryKind,
    EscalationRecord,
    Rotation,
    SlaTarget,
    SupportSettings,
    hhmm,
)
from tickets import timeline
from tickets.models import OPEN_STATUSES, EventKind, Priority, Status, Ticket

log = logging.getLogger(__name__)

AUTO_CLOSE_AFTER = timedelta(days=7)
SWEEP_BATCH = 500
DRAIN_BATCH = 200


# --- routing ------------------------------------------------------------------------


def _lock_rotation(tier_id: int) -> Rotation:
    rotation = Rotation.objects.select_for_update().filter(pk=tier_id).first()
    if rotation is None:
        # The tier's first ticket: INSERT … ON CONFLICT DO NOTHING, then lock — no
        # savepoint dance when two first tickets race.
        Rotation.objects.bulk_create([Rotation(tier_id=tier_id)], ignore_conflicts=True)
        rotation = Rotation.objects.select_for_update().get(pk=tier_id)
    return rotation


# One statement, so outside a transaction the row is locked only while it runs. Hand-
# written rather than ORM: the ORM's update() cannot return the new `turns`, and this
# is the statement every assignment in the country goes through.
_ADVANCE = (
    "UPDATE escalation_rotation SET last_account_id = %s, turns = turns + 1 "
    "WHERE tier_id = %s AND last_account_id IS NOT DISTINCT FROM %s RETURNING turns"
)
_GIVE_BACK = (
    "UPDATE escalation_rotation SET last_account_id = %s, turns = turns - 1 "
    "WHERE tier_id = %s AND last_account_id = %s AND turns = %s"
)


def _advance(tier_id: int, expected: int | None, chosen: int) -> int | None:
    """Move the tier's pointer from `expected` to `chosen`: the turn's number, or None
    when another pick moved it first (or the tier has no rotation row yet)."""
    with connection.cursor() as cursor:
        cursor.execute(_ADVANCE, [chosen, tier_id, expected])
        row = cursor.fetchone()
    return row[0] if row else None


def _pointer(tier_id: int) -> int | None:
    """The tier's pointer as committed now; creates the tier's row on its first turn."""
    row = Rotation.objects.filter(pk=tier_id).values_list("last_account_id", flat=True)[:1]
    found = list(row)
    if not found:
        # INSERT … ON CONFLICT DO NOTHING: two first tickets may race here.
        Rotation.objects.bulk_create([Rotation(tier_id=tier_id)], ignore_conflicts=True)
        return None
    return found[0]


# Optimistic attempts at a turn before taking it under the row lock.
RETRIES = 3


class _Tier:
    """One tier's engineers, their load and the rotation pointer, read in one query
    (plus the duty slots') — outside any lock unless `lock` (drain)."""

    def __init__(self, tier_id: int, *, lock: bool = False):
        self.tier_id = tier_id
        if lock:
            # Held to the commit: read after it is granted, the held counts include
            # every assignment committed before, and the pointer cannot move.
            _lock_rotation(tier_id)
        roster, self.last = selectors.routing_roster(tier_id)
        self.engineers = {e.account.pk: e.account for e in roster}
        self.roster = {e.account.pk: e for e in roster}
        self.held = {pk: e.held for pk, e in self.roster.items()}
        self.turn: int | None = None
        self.previous: int | None = None

    def pick(
        self, now: datetime, *, reporter: int | None = None
    ) -> tuple[int | None, list[tuple[int, str]]]:
        """The next available engineer after the pointer as last read, and who was
        passed over and why. The ticket's reporter never works its own ticket."""
        candidates = [
            rotation.Candidate(
                pk,
                selectors.REPORTER if pk == reporter else e.unavailable(now, self.held[pk]),
            )
            for pk, e in self.roster.items()
        ]
        return rotation.pick(candidates, self.last)

    def anyone_available(self, now: datetime) -> bool:
        return self.pick(now)[0] is not None

    def claim(
        self, now: datetime, *, reporter: int | None = None
    ) -> tuple[int | None, list[tuple[int, str]]]:
        """`pick`, and move the pointer to the one picked if nobody else has moved it
        since it was read (one conditional UPDATE). If someone has, the pointer is
        read again and the pick made again, a few times; then once more with the row
        locked in a short transaction of its own, so a busy tier cannot starve a
        caller."""
        for _attempt in range(RETRIES):
            chosen, skipped = self.pick(now, reporter=reporter)
            if chosen is None:
                return None, skipped
            turn = _advance(self.tier_id, self.last, chosen)
            if turn is not None:
                break
            self.last = _pointer(self.tier_id)
        else:
            with transaction.atomic():
                self.last = _lock_rotation(self.tier_id).last_account_id
                chosen, skipped = self.pick(now, reporter=reporter)
                if chosen is None:
                    return None, skipped
                turn = _advance(self.tier_id, self.last, chosen)
        self.previous, self.last, self.turn = self.last, chosen, turn
        self.held[chosen] += 1
        return chosen, skipped

    def give_back(self) -> None:
        """Undo the last claim when its ticket was never stored, if no later pick has
        built on it (else that engineer has lost one turn, nothing worse)."""
        if self.turn is None:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute(_GIVE_BACK, [self.previous, self.tier_id, self.last, self.turn])
        except Exception:  # the ticket's own failure is the one to report
            log.warning("tier %s: turn %s not given back", self.tier_id, self.turn, exc_info=True)


class Decision:
    """A routing decision made before the transaction that stores its ticket (see
    `choose`): the tier, who was chosen, and the unsaved timeline entry's data."""

    def __init__(self, tier: _Tier, chosen: int | None, skipped, cause: str, passed_over=()):
        self.tier, self.chosen, self.cause = tier, chosen, cause
        names = {pk: e.username for pk, e in tier.engineers.items()}
        self.data = {
            "cause": cause,
            "chosen": names.get(chosen, ""),
            "skipped": _passed_over(passed_over, [(names[pk], why) for pk, why in skipped]),
        }
        if chosen is not None:
            # The tier's turn number: the order of assignment, whatever order the
            # tickets' transactions commit in.
            self.data["turn"] = tier.turn

    def apply(self, ticket: Ticket, now: datetime):
        """Set the engineer (or none) on `ticket` in memory; return the unsaved ROUTED
        timeline entry."""
        ticket.updated_at = now
        decision = timeline.entry(
            ticket, EventKind.ROUTED, internal=True, tier=ticket.tier.name, **self.data
        )
        if self.chosen is None:
            ticket.assignee = None
            ticket.status = Status.NEW
        else:
            ticket.assignee = self.tier.engineers[self.chosen]
            ticket.status = Status.ASSIGNED
        return decision


def _decide(tier: _Tier, now: datetime, *, reporter: int | None, cause: str, passed_over=()):
    chosen, skipped = tier.claim(now, reporter=reporter)
    return Decision(tier, chosen, skipped, cause, passed_over)


@contextmanager
def choose(tier: Unit, now: datetime, *, reporter_id: int | None, cause: str = EntryKind.OPENED):
    """Take the tier's next turn for a ticket about to be stored, and yield the
    `Decision` to pass to `enter_tier`. Enter it BEFORE the ticket's transaction: then
    the rotation row is locked only by the one UPDATE that moves its pointer, not by
    the ticket's writes. If the ticket is not stored, the turn is given back."""
    decision = _decide(_Tier(tier.pk), now, reporter=reporter_id, cause=cause)
    try:
        yield decision
    except BaseException:
        decision.tier.give_back()
        raise


def _assign(ticket: Ticket, tier: _Tier, now: datetime, *, cause: str, passed_over=()):
    """Choose the ticket's engineer (or none) and set it on the ticket in memory.
    Returns (chosen or not, the unsaved ROUTED timeline entry with its reasons).
    `passed_over`: (username, reason) decided before the rotation, e.g. the engineer
    who resolved a reopened ticket and is away now."""
    decision = _decide(tier, now, reporter=ticket.reporter_id, cause=cause, passed_over=passed_over)
    return decision.chosen is not None, decision.apply(ticket, now)


def _passed_over(first, then) -> list[list[str]]:
    """Who was passed over and why, each engineer once: decided before the rotation
    (`first`), then in rotation order."""
    seen = {name for name, _ in first}
    return [[n, r] for n, r in first] + [[n, r] for n, r in then if n not in seen]


def route(ticket: Ticket, now: datetime, *, cause: str, passed_over=()) -> bool:
    """Give a saved `ticket` to the next available engineer of its tier, or leave it
    waiting in the tier queue; the decision goes on its timeline. Call inside the
    transaction that saves the ticket."""
    tier = _Tier(ticket.tier_id)
    assigned, decision = _assign(ticket, tier, now, cause=cause, passed_over=passed_over)
    decision.save()
    return assigned


def route_reopened(ticket: Ticket, now: datetime) -> bool:
    """A reopened ticket goes back to whoever resolved it if they can still hold it;
    else back into rotation (True when that gave it to someone). Capacity does not
    count for the one who resolved it (the ticket was theirs), availability does."""
    holder = ticket.assignee
    if holder is None:
        return route(ticket, now, cause="reopen")
    if not (holder.is_active and holder.is_support_engineer and holder.unit_id == ticket.tier_id):
        reason = selectors.LEFT_TIER
    else:
        reason = selectors.unavailable_reason(holder, 0, now)
    if reason is None:
        return False
    return route(ticket, now, cause="reopen", passed_over=[(holder.username, reason)])


def drain(tier_id: int, now: datetime | None = None) -> int:
    """Assign the tier's waiting tickets, oldest first, while anyone is available."""
    now = now or timezone.now()
    done = 0
    with transaction.atomic():
        tier = _Tier(tier_id, lock=True)
        waiting = (
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("tier", "reporter")
            .filter(tier_id=tier_id, status=Status.NEW, assignee__isnull=True)
            .order_by("tier_entered_at", "pk")[:DRAIN_BATCH]
        )
        for ticket in waiting:
            assigned, decision = _assign(ticket, tier, now, cause="drain")
            if not assigned:
                if tier.anyone_available(now):
                    continue  # only its own reporter is free: the next ticket may go
                break  # nobody left; the miss is not logged again on every sweep
            decision.save()
            ticket.save(update_fields=["assignee", "status", "updated_at"])
            timeline.announce(ticket, "assigned", and_assigned=True)
            done += 1
    return done


def _drain_after_commit(tier_id: int) -> None:
    """A ticket left `tier_id`: fill the freed capacity once this transaction has
    committed — taking a second tier's rotation lock inside it could deadlock with a
    send-back taking the two in the other order."""
    transaction.on_commit(lambda: drain(tier_id))


def drain_all(now: datetime | None = None) -> int:
    """Every tier with waiting tickets (engineers whose duty hours just began)."""
    tiers = (
        Ticket.objects.filter(status=Status.NEW, assignee__isnull=True)
        .values_list("tier_id", flat=True)
        .distinct()
    )
    return sum(drain(tier_id, now) for tier_id in list(tiers))


# --- tiers ------------------------------------------------------------------------------


def enter_tier(
    ticket: Ticket,
    tier: Unit,
    now: datetime,
    *,
    kind: str,
    actor: Account | None = None,
    reason: str = "",
    entries=(),
    decision: Decision | None = None,
) -> EscalationRecord:
    """Move a ticket to `tier`, or place a new, not yet saved one there: a new stay
    with fresh SLA clocks, then routing. The ticket is saved here, after routing, so a
    new ticket is one INSERT; `entries` (unsaved timeline entries, e.g. its creation)
    are stored with the routing decision, which is made here unless `decision` (from
    `choose`, before the transaction) brings it. Raises IntegrityError if this stay
    already exists."""
    previous = ticket.tier if kind != EntryKind.OPENED else None
    if previous is not None:
        EscalationRecord.objects.filter(ticket=ticket, hop=ticket.hop, left_at__isnull=True).update(
            left_at=now
        )
    if kind == EntryKind.RETURNED:
        ticket.round += 1
    ticket.hop += 1
    ticket.tier = tier
    ticket.assignee = None
    ticket.status = Status.NEW
    ticket.updated_at = now
    sla.start(ticket, now)
    entries = list(entries)
    moved = None
    if previous is not None:
        moved = timeline.entry(
            ticket,
            EventKind.RETURNED if kind == EntryKind.RETURNED else EventKind.ESCALATED,
            actor,
            cause=kind,
            tier=tier.name,
            from_tier=previous.name,
            reason=reason,
        )
        entries.append(moved)
    if decision is None:
        _assigned, routed = _assign(ticket, _Tier(tier.pk), now, cause=kind)
    else:
        routed = decision.apply(ticket, now)
    ticket.save()
    timeline.add_many([*entries, routed])
    record = EscalationRecord.objects.create(
        ticket=ticket,
        tier=tier,
        level=tier.level,
        from_tier=previous,
        round=ticket.round,
        hop=ticket.hop,
        kind=kind,
        reason=reason,
        actor=actor,
        entered_at=now,
        reporter_path=ticket.reporter_path,
        created_on=ticket.created_at,
    )
    if previous is not None:
        also = [timeline.tier_group(previous)]
        timeline.announce(ticket, kind, also=also, event=moved, and_assigned=True)
    else:
        timeline.announce(ticket, "created", and_assigned=True)
    return record


def _current_stint(ticket: Ticket) -> EscalationRecord | None:
    return EscalationRecord.objects.filter(ticket=ticket, hop=ticket.hop).first()


def escalate(*, actor: Account, ticket: Ticket, reason: str, now: datetime | None = None) -> Ticket:
    """An engineer or manager of the current tier sends the ticket up, with a reason."""
    from tickets import selectors as ticket_selectors

    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the ticket goes to the next tier."))
    if len(reason) > 2000:
        raise ValidationError(_("The reason is limited to 2,000 characters."))
    with transaction.atomic():
        ticket = _lock(ticket.pk)
        if not ticket_selectors.can_work(actor, ticket):
            raise PermissionDenied
        if not ticket.is_open:
            raise ValidationError(_("Only an open ticket can be escalated."))
        target = selectors.next_tier(ticket)
        if target is None:
            raise ValidationError(_("The Ministry is the last tier; there is nowhere higher."))
        old_tier = ticket.tier_id
        enter_tier(ticket, target, now, kind=EntryKind.MANUAL, actor=actor, reason=reason)
        _drain_after_commit(old_tier)
        transaction.on_commit(lambda: metrics.escalated("manual"))
    return ticket


def send_back(
    *, actor: Account, ticket: Ticket, guidance: str, now: datetime | None = None
) -> Ticket:
    """A higher tier returns the ticket to the tier it came from, with guidance."""
    from tickets import selectors as ticket_selectors

    now = now or timezone.now()
    guidance = (guidance or "").strip()
    if not guidance:
        raise ValidationError(_("Give the lower tier guidance on what to do."))
    if len(guidance) > 2000:
        raise ValidationError(_("The guidance is limited to 2,000 characters."))
    with transaction.atomic():
        ticket = _lock(ticket.pk)
        if not ticket_selectors.can_work(actor, ticket):
            raise PermissionDenied
        if not ticket.is_open:
            raise ValidationError(_("Only an open ticket can be sent back."))
        stint = _current_stint(ticket)
        if stint is None or stint.from_tier is None or stint.from_tier.depth <= ticket.tier.depth:
            raise ValidationError(_("This ticket did not come from a lower tier."))
        old_tier = ticket.tier_id
        enter_tier(
            ticket, stint.from_tier, now, kind=EntryKind.RETURNED, actor=actor, reason=guidance
        )
        _drain_after_commit(old_tier)
    return ticket


def _lock(pk: int) -> Ticket:
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("tier", "reporter_unit")
        .get(pk=pk)
    )


# --- the sweep ----------------------------------------------------------------------------


def escalate_breached(pk: int, hop: int, now: datetime) -> bool:
    """Escalate one breached ticket if nobody has yet. True when this call did it."""
    try:
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update(of=("self",))
                .select_related("tier", "reporter_unit", "assignee")
                .filter(pk=pk, hop=hop, breach_at__lte=now, status__in=OPEN_STATUSES)
                .first()
            )
            if ticket is None:
                return False  # another sweep got there first, or it was answered
            clock = (
                "response" if ticket.response_due and ticket.response_due <= now else "resolution"
            )
            EscalationRecord.objects.filter(ticket=ticket, hop=ticket.hop).update(breached=True)
            ticket.breached = True
            ticket.updated_at = now
            target = selectors.next_tier(ticket)
            # For Prometheus (core/metrics.py), once this sweep's change is stored.
            transaction.on_commit(lambda: metrics.sla_breached(clock))
            if target is None:
                return _alert_last_tier(ticket, clock, now)
            transaction.on_commit(lambda: metrics.escalated("breach"))
            old_tier = ticket.tier_id
            timeline.add(ticket, EventKind.BREACH, clock=clock, tier=ticket.tier.name)
            enter_tier(ticket, target, now, kind=EntryKind.BREACH, reason=clock)
            _drain_after_commit(old_tier)
            return True
    except IntegrityError:
        log.info("ticket %s: escalation from hop %s already recorded", pk, hop)
        return False


def _alert_last_tier(ticket: Ticket, clock: str, now: datetime) -> bool:
    """No tier above: the Ministry's managers are alerted, once per breached clock and
    arming — the row lock and the conditional read in escalate_breached let one sweep
    through, and `silence` stops the clock it reports."""
    EscalationRecord.objects.filter(ticket=ticket, hop=ticket.hop).update(alerted=True)
    sla.silence(ticket, clock)
    ticket.save()
    timeline.add(ticket, EventKind.BREACH, clock=clock, tier=ticket.tier.name)
    timeline.ministry_alert(ticket)
    timeline.announce(ticket, "breach")
    return True


def warn_due(now: datetime) -> int:
    """Every warning due by `now`, a batch at a time (what a batch cannot warn —
    locked by a concurrent sweep — waits for the next minute)."""
    sent = 0
    while True:
        due = list(
            Ticket.objects.filter(warn_at__lte=now)
            .order_by("warn_at")
            .values_list("pk", "warn_at")[:SWEEP_BATCH]
        )
        done = _warn_batch(due, now)
        sent += done
        if len(due) < SWEEP_BATCH or not done:
            return sent


def _warn_batch(due, now: datetime) -> int:
    sent = 0
    for pk, warn_at in due:
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update(of=("self",))
                .select_related("tier")
                .filter(pk=pk, warn_at=warn_at)
                .first()
            )
            if ticket is None:
                continue
            clocks = sla.mark_warned(ticket, now)
            ticket.updated_at = now  # the warning's time on the timeline
            ticket.save(
                update_fields=[
                    "response_warned",
                    "resolution_warned",
                    "warn_at",
                    "breach_at",
                    "updated_at",
                ]
            )
            if clocks:
                timeline.add(ticket, EventKind.WARNING, internal=True, clocks=clocks)
                timeline.warning(ticket, clocks)
                sent += 1
    return sent


def close_resolved(now: datetime) -> int:
    """Resolved tickets the reporter left alone for seven days close themselves."""
    from tickets import services as ticket_services

    cutoff = now - AUTO_CLOSE_AFTER
    pks = Ticket.objects.filter(status=Status.RESOLVED, resolved_at__lte=cutoff).values_list(
        "pk", flat=True
    )
    return sum(ticket_services.auto_close(pk, now) for pk in list(pks[:SWEEP_BATCH]))


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The minute job: warnings, escalations, auto-close, then fill free capacity."""
    now = now or timezone.now()
    counts = {"warned": warn_due(now), "escalated": 0}
    while True:
        due = list(
            Ticket.objects.filter(breach_at__lte=now)
            .order_by("breach_at")
            .values_list("pk", "hop")[:SWEEP_BATCH]
        )
        done = sum(escalate_breached(pk, hop, now) for pk, hop in due)
        counts["escalated"] += done
        # A full batch where nothing moved (all taken by a concurrent sweep, or
        # failing) waits for the next minute instead of spinning on the same rows.
        if len(due) < SWEEP_BATCH or not done:
            break
    counts["closed"] = close_resolved(now)
    counts["assigned"] = drain_all(now)
    return counts


# --- duty -------------------------------------------------------------------------------


def can_edit_duty(actor, engineer: Account) -> bool:
    """Managers of the engineer's tier (or above) edit the roster; an engineer switches
    their own on-duty and away status."""
    if not scoping.is_active_account(actor) or not engineer.is_support_engineer:
        return False
    return actor.pk == engineer.pk or scoping.can_manage_unit(actor, engineer.unit)


def duty_update(
    *,
    actor: Account,
    engineer: Account,
    on_duty: bool | None = None,
    away: bool | None = None,
    capacity: int | None = None,
    now: datetime | None = None,
) -> DutyProfile:
    now = now or timezone.now()
    if not can_edit_duty(actor, engineer):
        raise PermissionDenied
    if capacity is not None:
        if not scoping.can_manage_unit(actor, engineer.unit):
            raise PermissionDenied
        if not 0 <= capacity <= 500:
            raise ValidationError(_("Capacity must be between 0 and 500 open tickets."))
    with transaction.atomic():
        profile, _created = DutyProfile.objects.select_for_update().get_or_create(account=engineer)
        changed = {}
        for field, value in (("on_duty", on_duty), ("away", away), ("capacity", capacity)):
            if value is not None and getattr(profile, field) != value:
                setattr(profile, field, value)
                changed[field] = value
        profile.updated_at = now
        profile.save()
        if changed and actor.pk != engineer.pk:
            audit_event(
                action=AuditAction.SUPPORT_ROSTER_CHANGED,
                actor=actor,
                target=engineer,
                detail=changed,
            )
    drain(engineer.unit_id, now)
    return profile


def parse_slots(rows) -> list[tuple[int, time, time]]:
    """Validate (weekday, start, end) rows; every problem is reported with its row."""
    out, errors = [], []
    for n, (weekday, start, end) in enumerate(rows, start=1):
        if not isinstance(weekday, int) or not 0 <= weekday <= 6:
            errors.append(_("Row %d: choose a weekday.") % n)
            continue
        if not isinstance(start, time) or not isinstance(end, time):
            errors.append(_("Row %d: give a start and an end time (HH:MM).") % n)
            continue
        if start == end:
            errors.append(
                _("Row %d: start and end are the same; a slot past midnight ends the next day.") % n
            )
            continue
        out.append((weekday, start, end))
    if len(out) > 50:
        errors.append(_("At most 50 duty slots per engineer."))
    if errors:
        raise ValidationError(errors)
    return out


def slots_replace(*, actor: Account, engineer: Account, rows, now: datetime | None = None):
    if not scoping.can_manage_unit(actor, engineer.unit) or not engineer.is_support_engineer:
        raise PermissionDenied
    slots = parse_slots(rows)
    with transaction.atomic():
        DutySlot.objects.filter(account=engineer).delete()
        DutySlot.objects.bulk_create(
            [DutySlot(account=engineer, weekday=w, start=s, end=e) for w, s, e in slots]
        )
        audit_event(
            action=AuditAction.SUPPORT_ROSTER_CHANGED,
            actor=actor,
            target=engineer,
            detail={"slots": [[w, hhmm(s), hhmm(e)] for w, s, e in slots]},
        )
    drain(engineer.unit_id, now)


# --- settings ---------------------------------------------------------------------------


def can_edit_sla(actor, unit: Unit) -> bool:
    return unit.level in (Level.MINISTRY, Level.PROVINCE) and scoping.can_manage_unit(actor, unit)


def sla_targets_set(*, actor: Account, unit: Unit, targets: dict[str, tuple[int, int]]) -> None:
    """Replace `unit`'s SLA overrides: {priority: (response minutes, resolution minutes)}."""
    if not can_edit_sla(actor, unit):
        raise PermissionDenied
    errors = []
    for priority, (response, resolution) in targets.items():
        label = Priority(priority).label
        if not 1 <= response <= 60 * 24 * 30 or not 1 <= resolution <= 60 * 24 * 90:
            errors.append(_("%s: targets must be between 1 minute and 30 / 90 days.") % label)
        elif response > resolution:
            errors.append(_("%s: the first response cannot be due after the resolution.") % label)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for priority, (response, resolution) in targets.items():
            SlaTarget.objects.update_or_create(
                unit=unit,
                priority=priority,
                defaults={"response_minutes": response, "resolution_minutes": resolution},
            )
        audit_event(
            action=AuditAction.SUPPORT_SLA_CHANGED,
            actor=actor,
            unit=unit,
            detail={p: list(v) for p, v in targets.items()},
        )


def prefecture_tier_set(*, actor: Account, province: Unit, enabled: bool) -> None:
    if province.level != Level.PROVINCE or not scoping.can_manage_unit(actor, province):
        raise PermissionDenied
    with transaction.atomic():
        SupportSettings.objects.update_or_create(
            province=province, defaults={"prefecture_tier": enabled}
        )
        audit_event(
            action=AuditAction.SUPPORT_TIERS_CHANGED,
            actor=actor,
            unit=province,
            detail={"prefecture_tier": enabled},
        )
