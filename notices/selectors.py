"""Who a notice reaches, who may read it, see its statistics or forward it, and the
reads behind the inbox and the statistics. The audience rule lives here only.

Guarantee: the statistics' read and acknowledgement figures and the drill-down lists
are exact at every level; the audience figures above the county are at most
AUDIENCE_MAX_AGE old (the total's counted_at), and concurrent recounts of them store
one set of rows (see audience_counted)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum, When
from django.db.models.functions import Left, Length, Substr
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import LEVEL_ORDER, SEGMENT, Account, Level, Role, Unit
from core.events import ancestor_paths
from notices.models import (
    Attachment,
    AudienceTally,
    DocNumberCounter,
    DocNumberRule,
    Notice,
    NoticeTarget,
    Receipt,
    ReceiptTally,
    Reminder,
    Status,
)

# --- the audience rule ------------------------------------------------------


def reaches(notice: Notice, account) -> bool:
    """True when `account` is in the notice's audience (a recipient)."""
    if not scoping.is_active_account(account) or notice.status != Status.PUBLISHED:
        return False
    if account.unit.level not in notice.level_list:
        return False
    if notice.managers_only and account.role != Role.MANAGER:
        return False
    return any(account.unit.path.startswith(t.path) for t in notice.targets.all())


def received(account) -> QuerySet[Notice]:
    """Published notices whose audience includes `account`: the inbox, unfiltered."""
    if not scoping.is_active_account(account):
        return Notice.objects.none()
    qs = Notice.objects.filter(status=Status.PUBLISHED, levels__contains=account.unit.level).filter(
        Exists(
            NoticeTarget.objects.filter(
                notice=OuterRef("pk"), path__in=ancestor_paths(account.unit)
            )
        )
    )
    if account.role != Role.MANAGER:
        qs = qs.filter(managers_only=False)
    return qs


def _touches_audience(notice: Notice, unit: Unit) -> bool:
    """The unit lies inside a target subtree at or above an audience level, or a target lies
    inside the unit's subtree. (A unit below every audience level has nobody addressed.)"""
    deepest = max((LEVEL_ORDER.index(lv) for lv in notice.level_list), default=-1)
    above_deepest = LEVEL_ORDER.index(unit.level) <= deepest
    return any(
        (above_deepest and unit.path.startswith(t.path)) or t.path.startswith(unit.path)
        for t in notice.targets.all()
    )


def can_view_stats(account, notice: Notice) -> bool:
    """The author, and managers along the audience (within the author's subtree and
    over or inside one of its subtrees) see who has read and acknowledged."""
    if not scoping.is_active_account(account):
        return False
    if notice.author_id == account.pk:
        return True
    return (
        notice.status == Status.PUBLISHED
        and scoping.is_manager(account)
        and scoping.is_within(account.unit, notice.author_unit)
        and _touches_audience(notice, account.unit)
    )


def can_read(account, notice: Notice) -> bool:
    if notice.status != Status.PUBLISHED:
        return notice.author_id == getattr(account, "pk", None) and scoping.is_active_account(
            account
        )
    return reaches(notice, account) or can_view_stats(account, notice)


def can_forward(account, notice: Notice) -> bool:
    """A manager who received the notice, or oversees part of its audience, may pass it
    down — not once it is withdrawn or corrected (the latest version is forwarded)."""
    return (
        scoping.is_manager(account)
        and notice.status == Status.PUBLISHED
        and is_current(notice)
        and (reaches(notice, account) or can_view_stats(account, notice))
    )


def is_current(notice: Notice) -> bool:
    """Neither withdrawn (撤回) nor superseded by a correction (更正): the notice still
    asks to be read and acknowledged."""
    return notice.withdrawn_at is None and notice.superseded_at is None


def is_issuer(account, notice: Notice) -> bool:
    """The author, or a manager of the author's unit (the unit speaks, not the person)."""
    if not scoping.is_active_account(account):
        return False
    return notice.author_id == account.pk or (
        scoping.is_manager(account) and account.unit_id == notice.author_unit_id
    )


def can_withdraw(account, notice: Notice) -> bool:
    """撤回: the issuer (author, managers of its unit) of a published notice that is neither
    withdrawn nor superseded. A scheduled notice is not withdrawn: its author edits it,
    which returns it to a draft (cancelling the schedule)."""
    return notice.status == Status.PUBLISHED and is_current(notice) and is_issuer(account, notice)


def can_correct(account, notice: Notice) -> bool:
    """更正: as can_withdraw, for the latest version only, and not for a forwarding (its
    text is the original's: the original's issuer corrects it, then it is forwarded again)."""
    return can_withdraw(account, notice) and notice.forwarded_from_id is None


def withdraw_refusal(notice: Notice) -> str | None:
    """Why no acknowledgement or reminder is taken for this notice any more, or None."""
    if notice.withdrawn_at is not None:
        return _("This notice was withdrawn; it is no longer acknowledged or reminded.")
    if notice.superseded_at is not None:
        return _("This notice was corrected; read and acknowledge the latest version instead.")
    return None


def latest_version(notice: Notice) -> Notice:
    """The newest correction of `notice` (itself when it was never corrected)."""
    current, seen = notice, 0
    while current.superseded_at is not None and seen < 50:
        newer = current.corrections.order_by("-version", "-pk").first()
        if newer is None:
            break
        current, seen = newer, seen + 1
    return current


def can_edit(account, notice: Notice) -> bool:
    return notice.author_id == getattr(account, "pk", None) and notice.status != Status.PUBLISHED


def notice_readable_or_404(*, account, pk: int) -> Notice:
    notice = (
        Notice.objects.select_related("author", "author_unit", "forwarded_from", "origin")
        .prefetch_related("targets__unit")
        .filter(pk=pk)
        .first()
    )
    if notice is None or not can_read(account, notice):
        raise Http404
    return notice


def audience_accounts(notice: Notice) -> QuerySet[Account]:
    """Active accounts the notice reaches, computed from the tree."""
    targets = list(notice.targets.all())
    if not targets:
        return Account.objects.none()
    qs = Account.objects.filter(
        is_active=True, unit__level__in=notice.level_list, unit__closed_at__isnull=True
    ).filter(reduce(or_, (scoping.under("unit__path", t.path) for t in targets)))
    if notice.managers_only:
        qs = qs.filter(role=Role.MANAGER)
    return qs


def _units_under(paths: list[str], levels: list[str]) -> QuerySet[Unit]:
    """The audience rule: the units of the chosen levels in the chosen subtrees, closed
    ones left out (accounts.unit_changes)."""
    if not paths:
        return Unit.objects.none()
    return Unit.objects.filter(level__in=levels, closed_at__isnull=True).filter(
        reduce(or_, (scoping.under("path", path) for path in paths))
    )


def audience_units(notice: Notice) -> QuerySet[Unit]:
    return _units_under([t.path for t in notice.targets.all()], notice.level_list)


def reaches_someone(roots: list[Unit], levels: list[str]) -> bool:
    """Whether the audience of these target roots is not empty. Asked root by root with
    the roots in hand: a root of a chosen level answers at once, and the first subtree
    that holds a unit of a chosen level ends it (one small query). One EXISTS over the
    OR of every target's range made a national notice's save cost more than a school's."""
    if any(root.level in levels for root in roots):
        return True
    return any(_units_under([root.path], levels).exists() for root in roots)


def reminder_applies(account, payload: dict) -> bool:
    """A reminder reaches only those who have not yet read (or acknowledged) the notice."""
    receipts = Receipt.objects.filter(
        notice_id=payload.get("notice", {}).get("id"), account=account
    )
    if payload.get("mode") == Reminder.Mode.UNACKED:
        return not receipts.filter(acked_at__isnull=False).exists()
    return not receipts.exists()


# --- inbox -------------------------------------------------------------------

INBOX_FILTERS = ("unread", "ack", "urgent", "overdue")
# Notices still asking to be read and acknowledged (see is_current).
CURRENT = Q(withdrawn_at__isnull=True, superseded_at__isnull=True)


def inbox(*, account, flt: str = "", q: str = "") -> QuerySet[Notice]:
    mine = Receipt.objects.filter(notice=OuterRef("pk"), account=account)
    qs = (
        received(account)
        .select_related("author_unit")
        .annotate(
            is_read=Exists(mine),
            is_acked=Exists(mine.filter(acked_at__isnull=False)),
        )
        .order_by("-published_at", "-id")
    )
    now = timezone.now()
    # Withdrawn and superseded notices stay listed (marked), but are never pending.
    if flt in ("unread", "ack", "overdue"):
        qs = qs.filter(CURRENT)
    if flt == "unread":
        qs = qs.filter(is_read=False)
    elif flt == "ack":
        qs = qs.filter(requires_ack=True, is_acked=False)
    elif flt == "urgent":
        qs = qs.filter(priority="urgent")
    elif flt == "overdue":
        qs = qs.filter(requires_ack=True, is_acked=False, ack_deadline__lt=now)
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(body__icontains=q))
    return qs


def unread_count(account) -> int:
    if not scoping.is_active_account(account) or account.must_change_password:
        return 0
    return (
        received(account)
        .filter(CURRENT)
        .exclude(Exists(Receipt.objects.filter(notice=OuterRef("pk"), account=account)))
        .count()
    )


def sent(*, account) -> QuerySet[Notice]:
    """Notices this account wrote (drafts, scheduled and published)."""
    return (
        Notice.objects.filter(author=account).select_related("author_unit").order_by("-created_at")
    )


def receipt_of(*, account, notice: Notice) -> Receipt | None:
    return Receipt.objects.filter(notice=notice, account=account).first()


def forward_chain(notice: Notice) -> list[Notice]:
    """The original first, then each forwarding down to `notice`."""
    chain, current = [], notice
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.forwarded_from
    return list(reversed(chain))


def attachment_readable_or_404(*, account, notice_pk: int, pk: int) -> Attachment:
    notice = notice_readable_or_404(account=account, pk=notice_pk)
    attachment = Attachment.objects.filter(pk=pk).select_related("receipt").first()
    if attachment is None:
        raise Http404
    if attachment.notice_id is not None:
        if attachment.notice_id != notice.source.pk:
            raise Http404
        return attachment
    # A reply's file: its writer, the notice's author, and statistics viewers over its unit.
    receipt = attachment.receipt
    if receipt.notice_id != notice.pk:
        raise Http404
    if receipt.account_id == account.pk:
        return attachment
    if can_view_stats(account, notice) and (
        notice.author_id == account.pk or scoping.is_within(receipt.unit, account.unit)
    ):
        return attachment
    raise Http404


# --- statistics -----------------------------------------------------------------


@dataclass
class StatsRow:
    unit: Unit | None  # None: accounts of the viewed unit itself
    accounts: int = 0
    read: int = 0
    acked: int = 0
    units: int = 0
    units_read: int = 0
    # On the total: when the audience (accounts, units) was counted, if it comes from
    # the AudienceTally rows rather than from the tree just now.
    counted_at: datetime | None = None

    @property
    def unread(self) -> int:
        return self.accounts - self.read

    @property
    def unacked(self) -> int:
        return self.accounts - self.acked


def stats_root(*, account, notice: Notice) -> Unit:
    """Where a viewer's statistics start: the author's unit for the author, else the viewer's."""
    return notice.author_unit if notice.author_id == account.pk else account.unit


def stats_unit_or_404(*, account, notice: Notice, code: str | None) -> Unit:
    root = stats_root(account=account, notice=notice)
    if not code:
        return root
    unit = Unit.objects.filter(code=code).first()
    if unit is None or not scoping.is_within(unit, root):
        raise Http404
    return unit


# How old the audience counts of the statistics above the county may get.
AUDIENCE_MAX_AGE = timedelta(minutes=5)


def tally_path(*, level: str, path: str) -> str:
    """The bucket a unit's receipts are counted in (ReceiptTally, AudienceTally): a
    school's county (schools hang only under counties), else the unit itself."""
    return path[:-SEGMENT] if level == Level.SCHOOL else path


def _bucket(path_field: str, level_field: str):
    """tally_path in SQL."""
    return Case(
        When(
            **{level_field: Level.SCHOOL},
            then=Left(path_field, Length(path_field) - SEGMENT),
        ),
        default=F(path_field),
    )


def receipt_tallies(notice: Notice) -> dict[str, tuple[int, int, int]]:
    """The notice's stored counters: bucket path → (read, acked, units with a reader)."""
    return {
        t.path: (t.read, t.acked, t.units_read)
        for t in ReceiptTally.objects.filter(notice=notice)
        if t.read or t.acked or t.units_read
    }


def receipt_tallies_recounted(notice: Notice) -> dict[str, tuple[int, int, int]]:
    """What receipt_tallies must say, counted from the receipts themselves (for checks,
    and for loading receipts written in bulk outside the services)."""
    return {
        r["bucket"]: (r["read"], r["acked"], r["units_read"])
        for r in Receipt.objects.filter(notice=notice)
        .annotate(bucket=_bucket("unit_path", "unit__level"))
        .values("bucket")
        .annotate(
            read=Count("id"),
            acked=Count("id", filter=Q(acked_at__isnull=False)),
            units_read=Count("unit", distinct=True),
        )
        .order_by()
    }


def audience_counted(notice: Notice, *, live_units: bool = False) -> datetime:
    """When the notice's AudienceTally rows were counted, recounting them first when
    missing or older than AUDIENCE_MAX_AGE, and with `live_units` also when a unit
    was added or removed since (the drill-down needs the live number of units; the
    figures, which say when they were counted, spare that look at the unit table).
    A cache of two grouped reads of the tree (a national notice's take one to three
    seconds), kept in the database so that every process shares it; concurrent
    recounts store the same figures once."""
    now = timezone.now()
    # Read before counting: a unit committed in between changes it again, so the
    # next look recounts rather than trusting a count that may lack the unit.
    tree = Unit.objects.aggregate(n=Count("id"), last=Max("id")) if live_units else None
    stored = (
        AudienceTally.objects.filter(notice=notice)
        .values_list("counted_at", "tree_units", "tree_last_unit")
        .first()
    )
    if stored is not None and stored[0] > now - AUDIENCE_MAX_AGE:
        if tree is None or stored[1:] == (tree["n"], tree["last"] or 0):
            return stored[0]
    if tree is None:
        tree = Unit.objects.aggregate(n=Count("id"), last=Max("id"))
    buckets: dict[str, AudienceTally] = {}

    def bucket(path: str) -> AudienceTally:
        if path not in buckets:
            buckets[path] = AudienceTally(
                notice=notice,
                path=path,
                counted_at=now,
                tree_units=tree["n"],
                tree_last_unit=tree["last"] or 0,
            )
        return buckets[path]

    for r in (
        audience_accounts(notice)
        .annotate(bucket=_bucket("unit__path", "unit__level"))
        .values("bucket")
        .annotate(n=Count("id"))
    ):
        bucket(r["bucket"]).accounts = r["n"]
    for r in (
        audience_units(notice)
        .annotate(bucket=_bucket("path", "level"))
        .values("bucket")
        .annotate(n=Count("id"))
    ):
        bucket(r["bucket"]).units = r["n"]
    with transaction.atomic():
        AudienceTally.objects.filter(notice=notice).delete()
        AudienceTally.objects.bulk_create(buckets.values(), ignore_conflicts=True)
    return now


def stats(*, notice: Notice, unit: Unit) -> tuple[StatsRow, list[StatsRow]]:
    """Totals under `unit` and one row per child unit: audience accounts, read and
    acknowledged, and audience units with at least one reader.

    A county or a school is counted exactly from the tree and the receipts (a few
    thousand rows at most). Above the county, the unit's own accounts are counted so,
    and its children are summed from the buckets below it: read and acknowledged from
    the ReceiptTally counters (exact, kept with the receipts), the audience from the
    AudienceTally rows (at most AUDIENCE_MAX_AGE old; the total's counted_at says
    when). Either way a few grouped queries, whatever the size of the audience."""
    prefix = len(unit.path) + SEGMENT
    children = {c.path: c for c in unit.children.all()}
    rows = {path: StatsRow(unit=c) for path, c in children.items()}
    own = StatsRow(unit=None)

    def row(path: str) -> StatsRow:
        return rows.get(path) or own

    exact = unit.level in (Level.COUNTY, Level.SCHOOL)
    counted_at = None
    if exact:
        accounts_q = scoping.under("unit__path", unit.path)
        receipts_q = scoping.under("unit_path", unit.path)
        units_q = scoping.under("path", unit.path)
    else:
        accounts_q, receipts_q, units_q = (
            Q(unit__path=unit.path),
            Q(unit_path=unit.path),
            Q(path=unit.path),
        )
    accounts = (
        audience_accounts(notice)
        .filter(accounts_q)
        .annotate(child=Substr("unit__path", 1, prefix))
        .values("child")
        .annotate(n=Count("id"))
    )
    for r in accounts:
        row(r["child"]).accounts += r["n"]
    receipts = (
        Receipt.objects.filter(receipts_q, notice=notice)
        .annotate(child=Substr("unit_path", 1, prefix))
        .values("child")
        .annotate(
            read=Count("id"),
            acked=Count("id", filter=Q(acked_at__isnull=False)),
            units_read=Count("unit", distinct=True),
        )
    )
    for r in receipts:
        target = row(r["child"])
        target.read += r["read"]
        target.acked += r["acked"]
        target.units_read += r["units_read"]
    units = (
        audience_units(notice)
        .filter(units_q)
        .annotate(child=Substr("path", 1, prefix))
        .values("child")
        .annotate(n=Count("id"))
    )
    for r in units:
        row(r["child"]).units += r["n"]
    if not exact:
        counted_at = audience_counted(notice)
        below = scoping.under("path", unit.path) & ~Q(path=unit.path)
        for r in (
            AudienceTally.objects.filter(below, notice=notice)
            .annotate(child=Substr("path", 1, prefix))
            .values("child")
            .annotate(accounts=Sum("accounts"), units=Sum("units"))
        ):
            target = row(r["child"])
            target.accounts += r["accounts"]
            target.units += r["units"]
        for r in (
            ReceiptTally.objects.filter(below, notice=notice)
            .annotate(child=Substr("path", 1, prefix))
            .values("child")
            .annotate(read=Sum("read"), acked=Sum("acked"), units_read=Sum("units_read"))
        ):
            target = row(r["child"])
            target.read += r["read"]
            target.acked += r["acked"]
            target.units_read += r["units_read"]
    listed = [r for r in rows.values() if r.accounts or r.units]
    listed.sort(key=lambda r: r.unit.code)
    total = StatsRow(unit=unit, counted_at=counted_at)
    for r in [own, *listed]:
        for field in ("accounts", "read", "acked", "units", "units_read"):
            setattr(total, field, getattr(total, field) + getattr(r, field))
    if own.accounts or own.units:
        listed.insert(0, own)
    return total, listed


def laggards(*, notice: Notice, unit: Unit, mode: str = "unread", limit: int = 500):
    """Audience units under `unit` with nobody who has read (or acknowledged), and the
    audience accounts under it who have not — the drill-down of the statistics."""
    done = Receipt.objects.filter(notice=notice)
    if mode == "unacked":
        done = done.filter(acked_at__isnull=False)
    # Units with nobody the notice reaches are not behind: they are listed apart
    # (unstaffed_units).
    units = (
        audience_units(notice)
        .filter(scoping.under("path", unit.path))
        .filter(_staffed(notice))
        .exclude(Exists(done.filter(unit=OuterRef("pk"))))
        .order_by("path")
    )
    if mode == "unread" and unit.level not in (Level.COUNTY, Level.SCHOOL):
        lagging = _unread_units_above_county(notice=notice, unit=unit, units=units, limit=limit)
    else:
        lagging = list(units[:limit])
    people = (
        audience_accounts(notice)
        .filter(scoping.under("unit__path", unit.path))
        .exclude(Exists(done.filter(account=OuterRef("pk"))))
        .select_related("unit")
        .order_by("unit__path", "username")[:limit]
    )
    return lagging, list(people)


def _unread_units_above_county(*, notice: Notice, unit: Unit, units, limit: int) -> list[Unit]:
    """`units` (the unread audience units under `unit`, in path order), looked for only in
    buckets where fewer units have a reader than the audience holds: a national
    notice's complete counties are skipped instead of checking each of their schools.
    Exact, as AudienceTally.units is the live count of units (see audience_counted) and
    ReceiptTally.units_read the exact count of units read. Each incomplete bucket holds
    at least one unread unit, so `limit` of them are found in at most `limit` buckets."""
    audience_counted(notice, live_units=True)
    below = scoping.under("path", unit.path)
    have = {
        t.path: t.units
        for t in AudienceTally.objects.filter(below, notice=notice, units__gt=0).only(
            "path", "units"
        )
    }
    read = dict(ReceiptTally.objects.filter(below, notice=notice).values_list("path", "units_read"))
    incomplete = sorted(path for path, n in have.items() if read.get(path, 0) < n)
    found: list[Unit] = []
    for start in range(0, len(incomplete), 50):
        chunk = incomplete[start : start + 50]
        counties = set(
            Unit.objects.filter(path__in=chunk, level=Level.COUNTY).values_list("path", flat=True)
        )
        # A bucket is a county's subtree (the county and its schools), or a unit
        # above the county on its own.
        ranges = [
            scoping.under("path", path) if path in counties else Q(path=path) for path in chunk
        ]
        found += units.filter(reduce(or_, ranges))[: limit - len(found)]
        if len(found) >= limit:
            break
    return found


# --- the drill-down, complete and paged (issue 15) ------------------------------------

LAG_PAGE = 100


def _staffed(notice: Notice) -> Exists:
    """The unit has someone the notice reaches: an active account (a manager, for a
    managers-only notice). For audience units, whose level and subtree already match."""
    people = Account.objects.filter(unit=OuterRef("pk"), is_active=True)
    if notice.managers_only:
        people = people.filter(role=Role.MANAGER)
    return Exists(people)


def staffed_by_bucket(notice: Notice) -> dict[str, int]:
    """Audience units with at least one audience account, per bucket (tally_path), as
    counted with the AudienceTally rows (the same age, recounted with them): one more
    aggregate of the accounts' grouped read, kept in the cache beside the rows (shared
    by every process; counted again when Redis lost it)."""
    from django.core.cache import cache
    from redis.exceptions import RedisError

    counted_at = audience_counted(notice)
    key = f"notice-staffed:{notice.pk}:{counted_at.timestamp()}"
    try:
        found = cache.get(key)
    except RedisError:
        found = None
    if found is None:
        found = {
            r["bucket"]: r["n"]
            for r in audience_accounts(notice)
            .annotate(bucket=_bucket("unit__path", "unit__level"))
            .values("bucket")
            .annotate(n=Count("unit", distinct=True))
            .order_by()
        }
        try:
            cache.set(key, found, timeout=int(AUDIENCE_MAX_AGE.total_seconds()) * 2)
        except RedisError:
            pass
    return found


@dataclass
class LagPage:
    """One page of a drill-down list, with the size of the whole list."""

    items: list
    count: int
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def lag_counts(*, notice: Notice, unit: Unit, mode: str = "unread") -> tuple[int, int]:
    """(audience units under `unit` where someone could read but nobody has read — or
    acknowledged —, audience units with nobody the notice reaches). A county or a school
    is counted from the tree. Above the county: units with a reader from the
    ReceiptTally counters (exact), units and units with someone to read from the
    AudienceTally rows and staffed_by_bucket (at most AUDIENCE_MAX_AGE old, like the
    figures above them); units with an acknowledgement by one grouped count of the
    acknowledgements. Never a scan of the audience's units."""
    done = Receipt.objects.filter(notice=notice)
    if mode == "unacked":
        done = done.filter(acked_at__isnull=False)
    if unit.level in (Level.COUNTY, Level.SCHOOL):
        units = audience_units(notice).filter(scoping.under("path", unit.path))
        staffed = units.filter(_staffed(notice))
        behind = staffed.exclude(Exists(done.filter(unit=OuterRef("pk")))).count()
        return behind, units.exclude(_staffed(notice)).count()
    audience_counted(notice, live_units=True)
    below = scoping.under("path", unit.path)
    units = AudienceTally.objects.filter(below, notice=notice).aggregate(n=Sum("units"))["n"]
    staffed = sum(n for path, n in staffed_by_bucket(notice).items() if path.startswith(unit.path))
    if mode == "unacked":
        reached = (
            done.filter(scoping.under("unit_path", unit.path)).values("unit").distinct().count()
        )
    else:
        tallies = ReceiptTally.objects.filter(below, notice=notice)
        reached = tallies.aggregate(n=Sum("units_read"))["n"]
    return max(0, staffed - (reached or 0)), max(0, (units or 0) - staffed)


def _units_page(*, notice, unit, units, page: int, per_page: int, bucketed: bool):
    start = (page - 1) * per_page
    if bucketed:
        found = _unread_units_above_county(
            notice=notice, unit=unit, units=units, limit=start + per_page + 1
        )[start:]
    else:
        found = list(units[start : start + per_page + 1])
    return found[:per_page], len(found) > per_page


def lagging_units(
    *, notice: Notice, unit: Unit, mode: str = "unread", page: int = 1, per_page: int = LAG_PAGE
) -> tuple[list[Unit], bool]:
    """One page (path order) of the audience units under `unit` that have someone to
    read and nobody who has read (or acknowledged); and whether more follow. Above the
    county, unread units are looked for only in incomplete buckets (see
    _unread_units_above_county): a page costs what the pages before it cost, not the
    audience."""
    done = Receipt.objects.filter(notice=notice)
    if mode == "unacked":
        done = done.filter(acked_at__isnull=False)
    units = (
        audience_units(notice)
        .filter(scoping.under("path", unit.path))
        .filter(_staffed(notice))
        .exclude(Exists(done.filter(unit=OuterRef("pk"))))
        .order_by("path")
    )
    bucketed = mode == "unread" and unit.level not in (Level.COUNTY, Level.SCHOOL)
    return _units_page(
        notice=notice, unit=unit, units=units, page=page, per_page=per_page, bucketed=bucketed
    )


def unstaffed_units(
    *, notice: Notice, unit: Unit, page: int = 1, per_page: int = LAG_PAGE
) -> tuple[list[Unit], bool]:
    """One page of the audience units under `unit` with nobody the notice reaches (no
    active account yet; no manager, for a managers-only notice): listed apart, never
    counted as not read. Nobody there reads, so above the county they lie in incomplete
    buckets (a unit whose only readers were since disabled may be missed there)."""
    units = (
        audience_units(notice)
        .filter(scoping.under("path", unit.path))
        .exclude(_staffed(notice))
        .order_by("path")
    )
    return _units_page(
        notice=notice,
        unit=unit,
        units=units,
        page=page,
        per_page=per_page,
        bucketed=unit.level not in (Level.COUNTY, Level.SCHOOL),
    )


def lagging_people(
    *, notice: Notice, unit: Unit, mode: str = "unread", page: int = 1, per_page: int = LAG_PAGE
) -> tuple[list[Account], bool]:
    """One page of the audience accounts under `unit` who have not read (or not
    acknowledged), by unit and username. Their number is the statistics' total."""
    done = Receipt.objects.filter(notice=notice)
    if mode == "unacked":
        done = done.filter(acked_at__isnull=False)
    start = (page - 1) * per_page
    found = list(
        audience_accounts(notice)
        .filter(scoping.under("unit__path", unit.path))
        .exclude(Exists(done.filter(account=OuterRef("pk"))))
        .select_related("unit")
        .order_by("unit__path", "username")[start : start + per_page + 1]
    )
    return found[:per_page], len(found) > per_page


def replies(*, notice: Notice, unit: Unit):
    """Acknowledgements with their replies and files, under `unit`."""
    return (
        Receipt.objects.filter(
            scoping.under("unit_path", unit.path), notice=notice, acked_at__isnull=False
        )
        .select_related("account", "unit")
        .prefetch_related("attachments")
        .order_by("unit_path", "acked_at")
    )


def targetable_levels() -> list[tuple[str, str]]:
    return [(lv.value, lv.label) for lv in Level if lv != Level.MINISTRY]


def stats_recount(*, notice, unit) -> dict[str, tuple[int, int, int, int, int]]:
    """Per child of `unit` (its own path for its own accounts): (accounts, read, acked,
    units, units read), counted from the tree and the receipts without the counters.
    Slow at national scale: the yardstick the counters are checked against (tests, the
    statistics benchmark), never a page."""
    prefix = len(unit.path) + SEGMENT
    out: dict[str, list[int]] = {}

    def grouped(qs, field, **aggregates):
        return (
            qs.filter(scoping.under(field, unit.path))
            .annotate(child=Substr(field, 1, prefix))
            .values("child")
            .annotate(**aggregates)
        )

    for r in grouped(audience_accounts(notice), "unit__path", n=Count("id")):
        out.setdefault(r["child"], [0] * 5)[0] = r["n"]
    for r in grouped(
        Receipt.objects.filter(notice=notice),
        "unit_path",
        read=Count("id"),
        acked=Count("id", filter=Q(acked_at__isnull=False)),
        units_read=Count("unit", distinct=True),
    ):
        row = out.setdefault(r["child"], [0] * 5)
        row[1], row[2], row[4] = r["read"], r["acked"], r["units_read"]
    for r in grouped(audience_units(notice), "path", n=Count("id")):
        out.setdefault(r["child"], [0] * 5)[3] = r["n"]
    return {k: tuple(v) for k, v in out.items()}


# --- the formal shape: document numbers (文号), 主送, 落款, 成文日期 (issue 15) ----------

# Document years and dates of issue are those of the platform's home, whatever the
# server's or the setting's time zone.
DOC_ZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_DOC_PATTERN = "{prefix}〔{year}〕{n}号"
DOC_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
DOC_FIELDS = ("prefix", "year", "n")
MAIN_RECIPIENTS_MAX = 300


def format_doc_number(pattern: str, *, prefix: str, year: int, n: int) -> str:
    """The pattern with {prefix}, {year} and {n} filled in, in one pass (a prefix that
    contains "{n}" stays as typed); any other brace is left as it stands."""
    values = {"prefix": prefix, "year": str(year), "n": str(n)}
    return DOC_PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), pattern)


def doc_year(moment: datetime) -> int:
    return timezone.localtime(moment, DOC_ZONE).year


def doc_date(moment: datetime):
    return timezone.localtime(moment, DOC_ZONE).date()


def numbering_rule(unit: Unit) -> DocNumberRule | None:
    return DocNumberRule.objects.filter(unit=unit).first()


def next_doc_number(unit: Unit, rule: DocNumberRule | None = None) -> str | None:
    """What the unit's next circular published this year would be numbered (not
    reserved: another may take it first), or None without a rule."""
    rule = rule or numbering_rule(unit)
    if rule is None:
        return None
    year = doc_year(timezone.now())
    last = (
        DocNumberCounter.objects.filter(unit=unit, year=year).values_list("last", flat=True).first()
    )
    return format_doc_number(rule.pattern, prefix=rule.prefix, year=year, n=(last or 0) + 1)


def numbered_notices(unit: Unit) -> QuerySet[Notice]:
    """The unit's numbered circulars, newest number first (the rule page lists a few)."""
    return (
        Notice.objects.filter(author_unit=unit, doc_seq__isnull=False)
        .only("pk", "title", "doc_number", "doc_year", "doc_seq", "published_at")
        .order_by("-doc_year", "-doc_seq")
    )


def default_main_recipients(units) -> str:
    """主送 by default: the target units' names joined with 、, shortened with 等 when
    they do not fit the field."""
    names = [u.name for u in sorted(units, key=lambda u: u.path)]
    joined = "、".join(names)
    if len(joined) <= MAIN_RECIPIENTS_MAX:
        return joined
    kept = ""
    for name in names:
        longer = f"{kept}、{name}" if kept else name
        if len(longer) + 1 > MAIN_RECIPIENTS_MAX:
            break
        kept = longer
    return f"{kept}等"


def default_issuer_line(unit: Unit, rule: DocNumberRule | None) -> str:
    """落款 by default: the rule's issuing authority, else the unit's name."""
    return (rule.issuer_line if rule is not None else "") or unit.name


@dataclass
class FormalLines:
    doc_number: str
    main_recipients: str
    issuer_line: str
    signed_on: date | None
    # True while the notice is unpublished and a line shows its default, not a stored value.
    provisional: bool = False


def formal_lines(notice: Notice) -> FormalLines:
    """The header and signature of a circular: as stored once it is published (the
    service fills the defaults then; a notice published before it did gets them
    here), the defaults it would get for a draft."""
    if notice.status == Status.PUBLISHED:
        return FormalLines(
            doc_number=notice.doc_number,
            main_recipients=notice.main_recipients
            or default_main_recipients([t.unit for t in notice.targets.all()]),
            issuer_line=notice.issuer_line or notice.author_unit.name,
            signed_on=notice.signed_on or doc_date(notice.published_at),
        )
    rule = numbering_rule(notice.author_unit)
    return FormalLines(
        doc_number="",
        main_recipients=notice.main_recipients
        or default_main_recipients([t.unit for t in notice.targets.all()]),
        issuer_line=notice.issuer_line or default_issuer_line(notice.author_unit, rule),
        signed_on=notice.signed_on or (notice.publish_at and doc_date(notice.publish_at)),
        provisional=True,
    )


def receipt_files(*, notice: Notice, unit: Unit) -> QuerySet[Attachment]:
    """The files attached to acknowledgements of `notice` by accounts at or under
    `unit`, in unit order, with what the zip of them needs."""
    return (
        Attachment.objects.filter(
            scoping.under("receipt__unit_path", unit.path),
            receipt__notice=notice,
            receipt__acked_at__isnull=False,
        )
        .select_related("receipt__unit", "receipt__account")
        .order_by("receipt__unit_path", "receipt__acked_at", "pk")
    )


# --- the weekly report's notice figures (issue 16, F1: reports app) ----------------

# Audience accounts per (child of the root, audience shape) in one query. A shape is a
# notice's (target paths, levels, managers-only): notices sent to the same audience —
# most of a week's, forwarded and re-sent down the same tree — are counted once. Each
# shape's targets are joined to the units under them (a path range: a b-tree range scan
# per target) within the root's subtree, the shape's levels and managers-only applied.
# The shapes come as a UNION ALL of parameter rows (SQLite has no VALUES column names).
_WEEK_AUDIENCE = (
    "SELECT substr(u.path, 1, %s) AS child, s.shape, COUNT(a.id) "
    "FROM ({shapes}) s "
    "JOIN accounts_unit u ON u.path >= s.path AND u.path < s.path || 'A' "
    "JOIN accounts_account a ON a.unit_id = u.id "
    "WHERE u.path >= %s AND u.path < %s AND u.closed_at IS NULL "
    "AND a.is_active AND (s.managers_only = 0 OR a.role = %s) "
    "AND (',' || s.levels || ',') LIKE ('%%,' || u.level || ',%%') "
    "GROUP BY substr(u.path, 1, %s), s.shape"
)
_SHAPE_ROW = "SELECT %s AS shape, %s AS path, %s AS levels, %s AS managers_only"


def week_notices(unit: Unit, start: datetime, end: datetime) -> QuerySet[Notice]:
    """Current circulars published in [start, end) whose audience reaches into `unit`'s
    subtree (a target at or above it, or inside it); the platform's own notices (its
    reminders, the weekly reports themselves) are not circulars and are left out."""
    from accounts.services import SYSTEM_USERNAME

    covers = Q(path__in=unit.ancestor_paths) | scoping.under("path", unit.path)
    return (
        Notice.objects.filter(
            CURRENT, status=Status.PUBLISHED, published_at__gte=start, published_at__lt=end
        )
        .exclude(author__username=SYSTEM_USERNAME)
        .filter(Exists(NoticeTarget.objects.filter(covers, notice=OuterRef("pk"))))
    )


def week_figures(unit: Unit, start: datetime, end: datetime) -> dict[str, dict]:
    """Per child unit path of `unit` (and `unit.path` itself for its own accounts): the
    notices of the week that reached it, their audience accounts, how many read them,
    and, for notices asking for an acknowledgement, the audience and how many
    acknowledged by the deadline. Four queries whatever the tree's size and however many
    notices: the notices, their targets, the audience per shape, the receipts."""
    from django.db import connection

    prefix = len(unit.path) + SEGMENT
    notices = {
        n.pk: n
        for n in week_notices(unit, start, end).only(
            "pk", "requires_ack", "levels", "managers_only"
        )
    }
    out: dict[str, dict] = {}
    if not notices:
        return out

    def row(child: str) -> dict:
        return out.setdefault(
            child,
            {
                "notice_ids": set(),
                "audience": 0,
                "read": 0,
                "ack_audience": 0,
                "acked_on_time": 0,
            },
        )

    ids = sorted(notices)
    targets: dict[int, list[str]] = {}
    for notice_id, path in NoticeTarget.objects.filter(notice_id__in=ids).values_list(
        "notice_id", "path"
    ):
        targets.setdefault(notice_id, []).append(path)
    shapes: dict[tuple, list[int]] = {}
    for pk, n in notices.items():
        key = (tuple(sorted(targets.get(pk, ()))), n.levels, n.managers_only)
        shapes.setdefault(key, []).append(pk)
    params, selects = [], []
    for number, (paths, levels, managers_only) in enumerate(shapes):
        for path in paths:
            selects.append(_SHAPE_ROW)
            params += [number, path, levels, int(managers_only)]
    shape_notices = list(shapes.values())
    sql = _WEEK_AUDIENCE.format(shapes=" UNION ALL ".join(selects))
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix, *params, unit.path, unit.path + "A", Role.MANAGER, prefix])
        for child, number, n in cursor.fetchall():
            r = row(child)
            for notice_id in shape_notices[number]:
                r["notice_ids"].add(notice_id)
                r["audience"] += n
                if notices[notice_id].requires_ack:
                    r["ack_audience"] += n
    on_time = Q(acked_at__isnull=False) & (
        Q(notice__ack_deadline__isnull=True) | Q(acked_at__lte=F("notice__ack_deadline"))
    )
    for r in (
        Receipt.objects.filter(scoping.under("unit_path", unit.path), notice_id__in=ids)
        .annotate(child=Substr("unit_path", 1, prefix))
        .values("child")
        .annotate(
            read=Count("id"),
            acked_on_time=Count("id", filter=on_time & Q(notice__requires_ack=True)),
        )
        .order_by()
    ):
        target = row(r["child"])
        target["read"] += r["read"]
        target["acked_on_time"] += r["acked_on_time"]
    for r in out.values():
        r["notices"] = len(r.pop("notice_ids"))
    return out


# --- the dashboards' read-rate chart (issue 16, F2) ----------------------------------


def stats_choices(account, *, since: datetime, limit: int = 30) -> list[Notice]:
    """Current circulars published since `since` whose statistics `account` may view
    (can_view_stats), newest first: the notices the read-rate chart offers. Their
    authors sit at or above the account's unit; targets are prefetched."""
    if not scoping.is_active_account(account):
        return []
    qs = (
        Notice.objects.filter(
            CURRENT,
            status=Status.PUBLISHED,
            published_at__gte=since,
            author_unit__path__in=account.unit.ancestor_paths,
        )
        .select_related("author_unit")
        .prefetch_related("targets")
        .order_by("-published_at", "-pk")[: limit * 3]
    )
    return [n for n in qs if can_view_stats(account, n)][:limit]
