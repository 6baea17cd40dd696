"""Who may see and work a ticket, and the lists and figures built on that rule.

- The reporter sees its own ticket (never internal notes or routing decisions).
- Support engineers and managers see the tickets raised in their subtree: a county's
  engineer never opens another county's tickets; a province's sees its counties'.
- Working a ticket (public replies, status, escalation) belongs to the engineers and
  managers of the unit that is the ticket's current tier.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, F, Min, Q, QuerySet
from django.db.models.functions import Substr, TruncDate, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import scoping
from accounts.models import SEGMENT, Account, Level, Role, Unit
from tickets import support
from tickets.models import (
    HELD_STATUSES,
    OPEN_STATUSES,
    EventKind,
    Status,
    Ticket,
    TicketEvent,
)

LIST_FIELDS = ("reporter", "reporter_unit", "tier", "assignee")


def is_support_person(actor) -> bool:
    """Support engineers, and managers of the administrative levels (a school's own
    managers are users of support, not part of it)."""
    return scoping.is_active_account(actor) and (
        actor.is_support_engineer
        or (actor.role == Role.MANAGER and actor.unit.level != Level.SCHOOL)
    )


def _reporter_side_q(actor) -> Q:
    """reporter_side as a filter."""
    return (
        Q(reporter=actor)
        | Q(raised_by_platform=True, reporter_unit_id=actor.unit_id)
        | Q(reporter_unit__parent_id=actor.unit_id, reporter_unit__closed_at__isnull=False)
    )


def handed_over(actor, ticket: Ticket) -> bool:
    """A ticket of a closed school (accounts.unit_changes) passes to its county: the
    county's accounts stand on its reporter side, and the county's support people still
    work it when the county is its tier."""
    unit = ticket.reporter_unit
    return unit.closed_at is not None and unit.parent_id == actor.unit_id


def visible_tickets(actor) -> QuerySet[Ticket]:
    if not scoping.is_active_account(actor):
        return Ticket.objects.none()
    mine = _reporter_side_q(actor)
    if is_support_person(actor):
        mine |= scoping.under("reporter_path", actor.unit.path)
    return Ticket.objects.filter(mine)


def reporter_side(actor, ticket: Ticket) -> bool:
    """The reporter, or — for the problem-record ticket the platform raises for a
    school — any account of that school."""
    if ticket.reporter_id == actor.pk:
        return True
    if ticket.raised_by_platform and ticket.reporter_unit_id == actor.unit_id:
        return True
    return handed_over(actor, ticket)


def can_view(actor, ticket: Ticket) -> bool:
    if not scoping.is_active_account(actor):
        return False
    if reporter_side(actor, ticket):
        return True
    return is_support_person(actor) and ticket.reporter_path.startswith(actor.unit.path)


def can_see_internal(actor, ticket: Ticket) -> bool:
    return (
        (not reporter_side(actor, ticket) or handed_over(actor, ticket))
        and is_support_person(actor)
        and can_view(actor, ticket)
    )


def can_work(actor, ticket: Ticket) -> bool:
    """Engineers and managers of the ticket's current tier."""
    return (
        is_support_person(actor)
        and ticket.tier_id == actor.unit_id
        and (not reporter_side(actor, ticket) or handed_over(actor, ticket))
        and can_view(actor, ticket)
    )


def wants_ticket_event(account, payload: dict) -> bool:
    """Live ticket events go to a tier group that holds every account of the tier
    unit; only its engineers and managers, the reporter and the assignee want them —
    and never the reporter an internal one (a county engineer reporting a ticket of
    its own is in the tier's group)."""
    if account.pk == payload.get("reporter_id"):
        return not payload.get("internal")
    if account.pk == payload.get("assignee_id"):
        return True
    return account.is_support_engineer or account.role == Role.MANAGER


def timeline(actor, ticket: Ticket) -> QuerySet[TicketEvent]:
    entries = ticket.events.select_related("actor").prefetch_related("files")
    if not can_see_internal(actor, ticket):
        entries = entries.filter(internal=False)
    return entries.order_by("id")


def stints(ticket: Ticket) -> QuerySet:
    """The ticket's stays at tiers (escalation's records, by their reverse relation)."""
    return ticket.stints.select_related("tier", "actor").order_by("hop")


def engineers_of(tier_id: int) -> QuerySet[Account]:
    """The support engineers of a tier, active ones only."""
    return Account.objects.filter(unit_id=tier_id, is_support_engineer=True, is_active=True)


# --- lists ------------------------------------------------------------------------------


def my_tickets(actor) -> QuerySet[Ticket]:
    mine = _reporter_side_q(actor)
    return Ticket.objects.filter(mine).select_related(*LIST_FIELDS).order_by("-id")


def my_queue(actor) -> QuerySet[Ticket]:
    """Open tickets assigned to me, the most urgent deadline first."""
    return (
        Ticket.objects.filter(assignee=actor, status__in=HELD_STATUSES)
        .select_related(*LIST_FIELDS)
        .order_by(F("breach_at").asc(nulls_last=True), "id")
    )


def tier_queue(actor, *, waiting_only: bool = False) -> QuerySet[Ticket]:
    """Open tickets at the actor's unit as a tier, oldest arrival first."""
    if not is_support_person(actor):
        return Ticket.objects.none()
    qs = Ticket.objects.filter(tier_id=actor.unit_id, status__in=OPEN_STATUSES)
    if waiting_only:
        qs = qs.filter(status=Status.NEW)
    return qs.select_related(*LIST_FIELDS).order_by("tier_entered_at", "id")


def search(
    actor, *, q: str = "", status: str = "", category: str = "", unit: Unit | None = None
) -> QuerySet[Ticket]:
    """`unit`: only tickets raised within it (the home page's lagging units link here);
    the visibility rule still applies."""
    qs = visible_tickets(actor)
    if unit is not None:
        qs = qs.filter(scoping.under("reporter_path", unit.path))
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status in Status.values:
        qs = qs.filter(status=status)
    if category:
        qs = qs.filter(category=category)
    if q:
        qs = qs.filter(
            Q(title__icontains=q) | Q(pk=int(q))
            if q.isascii() and q.isdigit() and len(q) <= 18
            else Q(title__icontains=q)
        )
    return qs.select_related(*LIST_FIELDS).order_by("-id")


# --- the manager dashboard -------------------------------------------------------------

# Column headings of the backlog-age table (issue 15: they read "<1d"… in English only).
AGE_BUCKETS = (
    (1, _("Under 1 day")),
    (3, _("1–3 days")),
    (7, _("3–7 days")),
    (None, _("Over 7 days")),
)


def _age_counts(now: datetime) -> dict:
    """AGE_BUCKETS as conditional counts over open tickets: label → Count."""
    age_filters = {}
    lower = 0
    for upper, label in AGE_BUCKETS:
        cond = Q(created_at__lte=now - timedelta(days=lower))
        if upper is not None:
            cond &= Q(created_at__gt=now - timedelta(days=upper))
        age_filters[label] = Count("id", filter=cond)
        lower = upper or lower
    return age_filters


def backlog_by_age(unit: Unit, *, now: datetime) -> list[tuple[str, int]]:
    """The open tickets raised in `unit`'s subtree by age (AGE_BUCKETS, the dashboard's
    wording): one aggregate over the open tickets (dashboards' chart)."""
    counts = _age_counts(now)
    row = Ticket.objects.filter(
        scoping.under("reporter_path", unit.path), status__in=OPEN_STATUSES
    ).aggregate(**{f"age_{i}": c for i, c in enumerate(counts.values())})
    return [(str(label), row[f"age_{i}"]) for i, label in enumerate(counts)]


def weekly_compliance(unit: Unit, *, weeks: int, now: datetime) -> list[dict]:
    """SLA compliance of the tickets raised in `unit`'s subtree in each of the last
    `weeks` weeks (Monday to Sunday, China time), oldest first, weeks without tickets
    included: one grouped query on the creation-time index. A ticket counts as within
    SLA unless it breached (the dashboard's rule); tickets the platform raises for
    problem records run no SLA clock and are left out, as in the weekly report."""
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    found = {
        timezone.localtime(r["week"], tz).date()
        if isinstance(r["week"], datetime)
        else r["week"]: r
        for r in Ticket.objects.filter(
            scoping.under("reporter_path", unit.path),
            created_at__gte=start,
            raised_by_platform=False,
        )
        .annotate(week=TruncWeek("created_at", tzinfo=tz))
        .values("week")
        .annotate(created=Count("id"), breached=Count("id", filter=Q(breached=True)))
        .order_by()
    }
    out = []
    for i in range(weeks):
        week = first + timedelta(days=7 * i)
        r = found.get(week, {"created": 0, "breached": 0})
        out.append(
            {
                "week": week,
                "created": r["created"],
                "breached": r["breached"],
                "compliance": _rate(r["created"] - r["breached"], r["created"]),
            }
        )
    return out


def dashboard(actor, *, days: int, now: datetime) -> dict:
    """Volumes, backlog age and SLA compliance for the actor's subtree over `days`.

    Every figure reads either open tickets (a partial index, bounded by the backlog)
    or tickets created in the window (an index on creation time), never the whole
    history, so the page costs the same with ten thousand or a million tickets."""
    unit: Unit = actor.unit
    in_tree = scoping.under("reporter_path", unit.path)
    since = now - timedelta(days=days)
    child = Substr("reporter_path", 1, len(unit.path) + SEGMENT)

    open_qs = Ticket.objects.filter(in_tree, status__in=OPEN_STATUSES)
    age_filters = _age_counts(now)
    backlog = open_qs.aggregate(
        total=Count("id"),
        waiting=Count("id", filter=Q(status=Status.NEW)),
        oldest=Min("created_at"),
        **{f"age_{i}": f for i, f in enumerate(age_filters.values())},
    )
    backlog["ages"] = [
        (label, backlog.pop(f"age_{i}")) for i, label in enumerate(age_filters.keys())
    ]
    by_status = dict(open_qs.values_list("status").annotate(n=Count("id")))

    window = Ticket.objects.filter(in_tree, created_at__gte=since)
    volume = window.aggregate(
        created=Count("id"),
        resolved=Count("id", filter=Q(status__in=(Status.RESOLVED, Status.CLOSED))),
        breached=Count("id", filter=Q(breached=True)),
    )
    per_day = list(
        # China's time (settings.TIME_ZONE, Asia/Shanghai): the day a ticket was raised.
        window.annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )

    children = {
        row["child"]: row
        for row in window.annotate(child=child)
        .values("child")
        .annotate(
            created=Count("id"),
            resolved=Count("id", filter=Q(status__in=(Status.RESOLVED, Status.CLOSED))),
            breached=Count("id", filter=Q(breached=True)),
        )
    }
    for row in (
        open_qs.annotate(child=child)
        .values("child")
        .annotate(open=Count("id"), oldest=Min("created_at"))
    ):
        children.setdefault(
            row["child"], {"child": row["child"], "created": 0, "resolved": 0, "breached": 0}
        )
        children[row["child"]].update(open=row["open"], oldest=row["oldest"])
    units = {u.path: u for u in Unit.objects.filter(path__in=list(children))}
    child_rows = []
    for path, row in sorted(children.items()):
        row.setdefault("open", 0)
        row.setdefault("oldest", None)
        row["unit"] = units.get(path)
        row["compliance"] = _rate(row["created"] - row["breached"], row["created"])
        child_rows.append(row)

    tiers = []
    for row in support.desk().tier_compliance(unit, since):
        row["compliance"] = _rate(row["stays"] - row["breached"], row["stays"])
        tiers.append(row)
    order = {"county": 0, "prefecture": 1, "province": 2, "ministry": 3}
    tiers.sort(key=lambda r: order.get(r["level"], 9))
    volume["compliance"] = _rate(volume["created"] - volume["breached"], volume["created"])
    return {
        "backlog": backlog,
        "by_status": by_status,
        "volume": volume,
        "per_day": per_day,
        "children": child_rows,
        "tiers": tiers,
        "days": days,
    }


def _rate(good: int, total: int) -> float | None:
    return None if not total else round(100.0 * good / total, 1)


def account_name(account: Account | None) -> str:
    return "" if account is None else (account.full_name or account.username)


def week_figures(unit: Unit, start: datetime, end: datetime) -> dict[str, dict]:
    """The weekly report's ticket figures per child unit path of `unit` (the unit's
    own path for its own accounts' tickets) for [start, end): raised, solved (resolved
    in the week), escalated (an escalation in the week) and SLA compliance of the
    tickets raised in the week — neither clock breached (escalation/sla.py), the same
    rule as the support dashboard's. Tickets the platform raises for problem records
    run no SLA clock and are counted with the problem records, not here."""
    prefix = len(unit.path) + SEGMENT
    child = Substr("reporter_path", 1, prefix)
    mine = Ticket.objects.filter(
        scoping.under("reporter_path", unit.path), raised_by_platform=False
    )
    out: dict[str, dict] = {}

    def row(path: str) -> dict:
        return out.setdefault(path, {"raised": 0, "solved": 0, "escalated": 0, "sla_met": 0})

    for r in (
        mine.filter(created_at__gte=start, created_at__lt=end)
        .annotate(child=child)
        .values("child")
        .annotate(raised=Count("id"), sla_met=Count("id", filter=Q(breached=False)))
        .order_by()
    ):
        row(r["child"]).update(raised=r["raised"], sla_met=r["sla_met"])
    for r in (
        mine.filter(resolved_at__gte=start, resolved_at__lt=end)
        .annotate(child=child)
        .values("child")
        .annotate(n=Count("id"))
        .order_by()
    ):
        row(r["child"])["solved"] = r["n"]
    escalated = TicketEvent.objects.filter(
        kind=EventKind.ESCALATED, created_at__gte=start, created_at__lt=end
    ).values("ticket_id")
    for r in (
        mine.filter(pk__in=escalated)
        .annotate(child=child)
        .values("child")
        .annotate(n=Count("id"))
        .order_by()
    ):
        row(r["child"])["escalated"] = r["n"]
    return out


def open_by_prefix(unit: Unit, *, depth: int) -> dict[str, int]:
    """Open tickets raised in `unit`'s subtree counted by the unit `depth` levels below
    it that the reporter sits under: one grouped query on the open-ticket index (the
    Ministry's map, by province and their prefectures)."""
    prefix = Substr("reporter_path", 1, len(unit.path) + depth * SEGMENT)
    return {
        r["prefix"]: r["n"]
        for r in Ticket.objects.filter(
            scoping.under("reporter_path", unit.path), status__in=OPEN_STATUSES
        )
        .annotate(prefix=prefix)
        .values("prefix")
        .annotate(n=Count("id"))
        .order_by()
    }


# --- canned replies (常用回复, issue 16) ----------------------------------------------


def can_keep_canned(actor) -> bool:
    """Engineers and managers of a support tier keep its canned replies (their own
    unit's; a school is no tier)."""
    return is_support_person(actor) and actor.unit.level != Level.SCHOOL


def canned_kept(actor):
    """The canned replies of the actor's own tier, which it may edit."""
    from tickets.models import CannedReply

    if not can_keep_canned(actor):
        return CannedReply.objects.none()
    return CannedReply.objects.filter(tier_id=actor.unit_id).order_by("shortcut")


def canned_for(actor):
    """The canned replies an engineer may insert: those of its own tier and of every
    tier above it (a reply kept at a tier serves its whole subtree), nearest tier first."""
    from tickets.models import CannedReply

    if not is_support_person(actor):
        return CannedReply.objects.none()
    return (
        CannedReply.objects.filter(tier__path__in=actor.unit.ancestor_paths)
        .select_related("tier")
        .order_by("-tier__path", "shortcut")
    )
