"""Reads for support routing: the tier chain, who is on duty, the roster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts import scoping
from accounts.models import Account, Level, Unit
from core.events import ancestor_paths
from escalation import workhours
from escalation.models import (
    DEFAULT_CAPACITY,
    DutyProfile,
    DutySlot,
    EscalationRecord,
)
from tickets.models import HELD_STATUSES, Ticket
from tickets.selectors import engineers_of

TIER_LEVELS = (Level.COUNTY, Level.PREFECTURE, Level.PROVINCE, Level.MINISTRY)

# Why an engineer was passed over (stored in routing decisions, shown translated).
NOT_ACTIVATED = "not_activated"
OFF_DUTY = "off_duty"
AWAY = "away"
OFF_SCHEDULE = "off_schedule"
AT_CAPACITY = "at_capacity"
REPORTER = "reporter"
LEFT_TIER = "left_tier"


MAX_DEPTH = 6  # accounts.Unit.path holds at most six segments
# The chain's units, each with whether it has an active engineer other than the
# reporter (0: none excluded) and, for a province, whether its prefecture tier is on:
# one statement. Hand-written (a raw queryset of units) rather than the ORM's
# Exists() annotations, whose compiling cost ~1 ms of CPU on every ticket raised.
_TIER_CHAIN = (
    "SELECT u.*, "
    "EXISTS (SELECT 1 FROM accounts_account a WHERE a.unit_id = u.id "
    "AND a.is_support_engineer AND a.is_active AND a.id <> %s) AS has_engineers, "
    "EXISTS (SELECT 1 FROM escalation_supportsettings s WHERE s.province_id = u.id "
    "AND s.prefecture_tier) AS prefecture_tier "
    "FROM accounts_unit u WHERE u.path IN (%s, %s, %s, %s, %s, %s) "
    "AND u.level IN (%s, %s, %s, %s) ORDER BY u.depth DESC"
)


def tier_chain(unit: Unit, *, reporter_id: int | None = None) -> list[Unit]:
    """The tiers a ticket raised at `unit` climbs, lowest first: its county, its
    prefecture (only where the province has switched that tier on), its province,
    the Ministry. Units with no support engineer (other than the reporter, who never
    works its own ticket) are skipped; the Ministry is always the last tier,
    engineers or not, so a ticket always has somewhere to wait."""
    paths = ancestor_paths(unit)
    # Fixed placeholders (a path has at most MAX_DEPTH segments): padded with a repeat.
    paths += [paths[-1]] * (MAX_DEPTH - len(paths))
    units = list(
        Unit.objects.raw(_TIER_CHAIN, [reporter_id or 0, *paths[:MAX_DEPTH], *TIER_LEVELS])
    )
    with_prefecture = any(u.level == Level.PROVINCE and u.prefecture_tier for u in units)
    chain = []
    for u in units:
        if u.level == Level.PREFECTURE and not with_prefecture:
            continue
        if u.level == Level.MINISTRY or u.has_engineers:
            chain.append(u)
    return chain


def next_tier(ticket: Ticket) -> Unit | None:
    """The closest tier above the ticket's current one, or None at the Ministry."""
    for unit in tier_chain(ticket.reporter_unit, reporter_id=ticket.reporter_id):
        if unit.depth < ticket.tier.depth:
            return unit
    return None


def on_schedule(slots, moment: datetime) -> bool:
    """Whether `moment` falls in one of the weekly slots (Asia/Shanghai). A slot whose
    end is not after its start runs over midnight into the next weekday."""
    local = moment.astimezone(workhours.TZ)
    weekday, now = local.weekday(), local.time().replace(tzinfo=None)
    for slot in slots:
        if slot.start < slot.end:
            if slot.weekday == weekday and slot.start <= now < slot.end:
                return True
        else:
            if slot.weekday == weekday and now >= slot.start:
                return True
            if (slot.weekday + 1) % 7 == weekday and now < slot.end:
                return True
    return False


def profile_of(account: Account) -> DutyProfile:
    try:
        return account.duty
    except DutyProfile.DoesNotExist:
        return DutyProfile(account=account)


def unavailable_reason(account: Account, held: int, moment: datetime) -> str | None:
    """None when `account` can take a ticket at `moment`, else the reason it cannot."""
    profile = profile_of(account)
    return _reason(
        account.must_change_password,
        profile.on_duty,
        profile.away,
        profile.capacity,
        list(account.duty_slots.all()),
        held,
        moment,
    )


def _reason(must_change_password, on_duty, away, capacity, slots, held, moment) -> str | None:
    if must_change_password:
        return NOT_ACTIVATED
    if not on_duty:
        return OFF_DUTY
    if away:
        return AWAY
    if slots and not on_schedule(slots, moment):
        return OFF_SCHEDULE
    if held >= capacity:
        return AT_CAPACITY
    return None


@dataclass
class Engineer:
    """One engineer as routing reads it (`routing_roster`)."""

    account: Account  # the columns read below; any other loads on first access
    must_change_password: bool
    on_duty: bool
    away: bool
    capacity: int
    held: int
    slots: list[DutySlot]

    def unavailable(self, moment: datetime, held: int | None = None) -> str | None:
        return _reason(
            self.must_change_password,
            self.on_duty,
            self.away,
            self.capacity,
            self.slots,
            self.held if held is None else held,
            moment,
        )


_ACCOUNT_COLUMNS = ("id", "username", "unit_id", "full_name", "must_change_password")
_ROUTING_ROSTER = (
    "SELECT a.id, a.username, a.unit_id, a.full_name, a.must_change_password, "
    "d.on_duty, d.away, d.capacity, "
    "(SELECT count(*) FROM tickets_ticket t WHERE t.assignee_id = a.id "
    "AND t.status IN (%s, %s, %s)), "
    "EXISTS (SELECT 1 FROM escalation_dutyslot s WHERE s.account_id = a.id), "
    "(SELECT r.last_account_id FROM escalation_rotation r WHERE r.tier_id = %s) "
    "FROM accounts_account a LEFT JOIN escalation_dutyprofile d ON d.account_id = a.id "
    "WHERE a.unit_id = %s AND a.is_support_engineer AND a.is_active ORDER BY a.id"
)


def routing_roster(tier_id: int) -> tuple[list[Engineer], int | None]:
    """The tier's engineers in id order with what routing needs, and the tier's
    rotation pointer: one statement, plus one for the duty slots when anyone has some.

    What `roster_for_routing` answers, written as SQL by hand: every ticket in the
    country is routed through it, and compiling the ORM's version costs about 2 ms
    of CPU a call on our machines, several times the database's own work."""
    assert len(HELD_STATUSES) == 3  # the three placeholders of _ROUTING_ROSTER
    with connection.cursor() as cursor:
        cursor.execute(_ROUTING_ROSTER, [*HELD_STATUSES, tier_id, tier_id])
        rows = cursor.fetchall()
    slots: dict[int, list[DutySlot]] = {}
    if any(row[9] for row in rows):
        for item in DutySlot.objects.filter(account_id__in=[row[0] for row in rows if row[9]]):
            slots.setdefault(item.account_id, []).append(item)
    out = []
    for pk, username, unit_id, full_name, must_change, on_duty, away, cap, n, _s, _p in rows:
        must_change = bool(must_change)  # SQLite answers 0 / 1
        account = Account.from_db(
            connection.alias, _ACCOUNT_COLUMNS, (pk, username, unit_id, full_name, must_change)
        )
        has_profile = on_duty is not None  # no DutyProfile row: the defaults
        out.append(
            Engineer(
                account=account,
                must_change_password=must_change,
                on_duty=bool(on_duty) if has_profile else True,
                away=bool(away) if has_profile else False,
                capacity=cap if has_profile else DEFAULT_CAPACITY,
                held=n,
                slots=slots.get(pk, []),
            )
        )
    return out, (rows[0][10] if rows else None)


def roster_for_routing(tier_id: int) -> QuerySet[Account]:
    """The tier's engineers with their duty profile and slots, each annotated with
    `held` (open tickets it holds): one query plus the slots'."""
    held = (
        Ticket.objects.filter(assignee=OuterRef("pk"), status__in=HELD_STATUSES)
        .order_by()
        .values("assignee")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        engineers_of(tier_id)
        .select_related("duty")
        .prefetch_related("duty_slots")
        .annotate(held=Coalesce(Subquery(held), 0))
    )


def roster(tier: Unit, moment: datetime) -> list[dict]:
    """The tier's engineers with their profile, slots, load and availability now."""
    return [
        {
            "account": e,
            "profile": profile_of(e),
            "slots": list(e.duty_slots.all()),
            "held": e.held,
            "unavailable": unavailable_reason(e, e.held, moment),
        }
        for e in roster_for_routing(tier.pk).order_by("pk")
    ]


def tier_compliance(unit: Unit, since: datetime) -> list[dict]:
    """Per tier level, the stays of tickets raised under `unit` since `since`, and how
    many of them breached (the support dashboard)."""
    return list(
        EscalationRecord.objects.filter(
            scoping.under("reporter_path", unit.path), created_on__gte=since
        )
        .values("level")
        .annotate(stays=Count("id"), breached=Count("id", filter=Q(breached=True)))
    )


def reason_labels() -> dict[str, str]:
    from django.utils.translation import gettext as _

    return {
        NOT_ACTIVATED: _("skipped: has not logged in yet"),
        OFF_DUTY: _("skipped: off duty"),
        AWAY: _("skipped: away"),
        OFF_SCHEDULE: _("skipped: outside duty hours"),
        AT_CAPACITY: _("skipped: at capacity"),
        REPORTER: _("skipped: raised the ticket"),
        LEFT_TIER: _("skipped: no longer an engineer of this tier"),
    }
