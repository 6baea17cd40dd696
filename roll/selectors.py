"""Who may see and work problem records, masking, and the school / county / region
views.

- A school's accounts see and work its records.
- Managers and support engineers see the records of their subtree (a county its
  schools, a province its counties…).
- ID numbers are masked everywhere (`130102********1234`); only the managers of the
  school and of its county may reveal one or export them in full (with a typed
  reason) — each reveal and export is audited. Staff, and managers above the county,
  get masks (issue 14: full ID numbers only for those who answer for the records).
"""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import Substr
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import SEGMENT, Level, Role, Unit
from roll.models import OPEN_RECORD_STATUSES, Kind, ProblemRecord, RecordStatus, RollKey

KIND_ORDER = [k.value for k in Kind]


def is_school_account(actor) -> bool:
    return scoping.is_active_account(actor) and actor.unit.level == Level.SCHOOL


def can_oversee(actor) -> bool:
    return (
        scoping.is_active_account(actor)
        and actor.unit.level != Level.SCHOOL
        and (actor.role == Role.MANAGER or actor.is_support_engineer)
    )


def visible_records(actor) -> QuerySet[ProblemRecord]:
    if is_school_account(actor):
        return ProblemRecord.objects.filter(school_path=actor.unit.path)
    if can_oversee(actor):
        return ProblemRecord.objects.filter(scoping.under("school_path", actor.unit.path))
    return ProblemRecord.objects.none()


def can_view(actor, record: ProblemRecord) -> bool:
    if not scoping.is_active_account(actor):
        return False
    if actor.unit_id == record.school_id:
        return True
    return can_oversee(actor) and record.school_path.startswith(actor.unit.path)


def handed_over_school_ids(actor) -> set[int]:
    """The closed schools of the actor's county (accounts.unit_changes): their problem
    records pass to the county, whose managers and engineers work them down."""
    if not can_oversee(actor) or actor.unit.level != Level.COUNTY:
        return set()
    return set(
        Unit.objects.filter(
            parent_id=actor.unit_id, level=Level.SCHOOL, closed_at__isnull=False
        ).values_list("pk", flat=True)
    )


def can_work(actor, record: ProblemRecord, handed_over: set[int] | None = None) -> bool:
    """The school's own accounts; for a closed school, its county's overseers (`handed_over`:
    handed_over_school_ids(actor), when asked for many records)."""
    if not scoping.is_active_account(actor):
        return False
    if actor.unit_id == record.school_id:
        return True
    if handed_over is None:
        handed_over = handed_over_school_ids(actor)
    return record.school_id in handed_over


def can_work_school(actor, school: Unit) -> bool:
    """The county works a closed school's records from the school's page."""
    return (
        school.closed_at is not None
        and school.parent_id == getattr(actor, "unit_id", None)
        and can_oversee(actor)
    )


def _may_unmask_under(actor, path: str) -> bool:
    return (
        scoping.is_manager(actor)
        and actor.unit.level in (Level.SCHOOL, Level.COUNTY)
        and path.startswith(actor.unit.path)
    )


def can_unmask(actor, record: ProblemRecord) -> bool:
    """Reveal one record's full ID number: a manager of its school or of its county."""
    return _may_unmask_under(actor, record.school_path)


def can_unmask_unit(actor, unit: Unit) -> bool:
    """Export `unit`'s records with full ID numbers: a manager of the school, or of the
    county the unit is (in)."""
    return _may_unmask_under(actor, unit.path)


def open_count(actor) -> int:
    """The nav badge: open records of my school, or of my subtree for overseers."""
    return visible_records(actor).filter(status__in=OPEN_RECORD_STATUSES).count()


# The most records a school's page lists at once (graduating and oldest first).
PAGE_LIMIT = 5000


def school_records(school: Unit, *, status: str = "open") -> dict:
    """The school's list: grouped by kind, graduating first, oldest first; at most
    PAGE_LIMIT of `total`."""
    qs = ProblemRecord.objects.filter(school_path=school.path)
    if status == "open":
        qs = qs.filter(status__in=OPEN_RECORD_STATUSES)
    elif status in RecordStatus.values:
        qs = qs.filter(status=status)
    groups: dict[str, list] = {k: [] for k in KIND_ORDER}
    shown = 0
    for record in qs.order_by("-graduating", "created_at", "pk")[:PAGE_LIMIT]:
        groups[record.kind].append(record)
        shown += 1
    total = shown if shown < PAGE_LIMIT else qs.count()
    labels = dict(Kind.choices)
    return {
        "groups": [(k, labels[k], rows) for k, rows in groups.items() if rows],
        "shown": shown,
        "total": total,
    }


def progress_by_child(unit: Unit) -> list[dict]:
    """Per child unit of `unit` (schools for a county): open / in progress / resolved /
    closed, graduating open, oldest open."""
    child = Substr("school_path", 1, len(unit.path) + SEGMENT)
    rows = {
        r["child"]: r
        for r in ProblemRecord.objects.filter(scoping.under("school_path", unit.path))
        .annotate(child=child)
        .values("child")
        .annotate(
            open=Count("id", filter=Q(status=RecordStatus.OPEN)),
            in_progress=Count("id", filter=Q(status=RecordStatus.IN_PROGRESS)),
            resolved=Count("id", filter=Q(status=RecordStatus.RESOLVED)),
            closed=Count("id", filter=Q(status=RecordStatus.CLOSED)),
            graduating_open=Count("id", filter=Q(status__in=OPEN_RECORD_STATUSES, graduating=True)),
            oldest_open=Min("detected_at", filter=Q(status__in=OPEN_RECORD_STATUSES)),
        )
    }
    # Every child unit, those without records too: no county misses a school (县不漏校).
    units = {u.path: u for u in Unit.objects.filter(parent=unit)}
    units.update(
        {u.path: u for u in Unit.objects.filter(path__in=[p for p in rows if p not in units])}
    )
    zero = dict.fromkeys(("open", "in_progress", "resolved", "closed", "graduating_open"), 0)
    for path in units:
        rows.setdefault(path, {"child": path, **zero, "oldest_open": None})
    out = []
    for path, r in rows.items():
        total = r["open"] + r["in_progress"] + r["resolved"] + r["closed"]
        r["unit"] = units.get(path)
        r["total"] = total
        r["rate"] = round(100.0 * (r["resolved"] + r["closed"]) / total, 1) if total else None
        out.append(r)
    out.sort(key=lambda r: (r["oldest_open"] is None, r["oldest_open"] or 0, r["child"]))
    return out


def by_kind(unit: Unit) -> list[tuple[str, str, int, int]]:
    """(kind, label, open, total) in the subtree."""
    rows = (
        ProblemRecord.objects.filter(scoping.under("school_path", unit.path))
        .values("kind")
        .annotate(total=Count("id"), open=Count("id", filter=Q(status__in=OPEN_RECORD_STATUSES)))
    )
    labels = dict(Kind.choices)
    found = {r["kind"]: r for r in rows}
    return [(k, labels[k], found[k]["open"], found[k]["total"]) for k in KIND_ORDER if k in found]


def slowest_counties(unit: Unit, limit: int = 10) -> list[dict]:
    """Counties under `unit` with open records, oldest open record first (then the
    lowest resolution rate). A school's parent is its county."""
    if unit.level in (Level.COUNTY, Level.SCHOOL):
        return []
    rows = list(
        ProblemRecord.objects.filter(scoping.under("school_path", unit.path))
        .values("school__parent_id")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(status__in=(RecordStatus.RESOLVED, RecordStatus.CLOSED))),
            open=Count("id", filter=Q(status__in=OPEN_RECORD_STATUSES)),
            oldest_open=Min("detected_at", filter=Q(status__in=OPEN_RECORD_STATUSES)),
        )
        .filter(open__gt=0)
    )
    counties = Unit.objects.in_bulk([r["school__parent_id"] for r in rows])
    for r in rows:
        r["unit"] = counties.get(r["school__parent_id"])
        r["rate"] = round(100.0 * r["done"] / r["total"], 1) if r["total"] else None
    rows.sort(key=lambda r: (r["oldest_open"], r["rate"] or 0))
    return rows[:limit]


def ticket_summary(school: Unit, row: dict, kinds: Counter) -> str:
    """The problem-record ticket's description: what is open, by kind."""
    labels = dict(Kind.choices)
    lines = [
        _("%(school)s has %(n)d open problem records (%(g)d of graduating students).")
        % {"school": school.name, "n": row.get("open", 0), "g": row.get("graduating", 0)},
        "",
    ]
    for kind in KIND_ORDER:
        if kinds.get(kind):
            lines.append(f"- {labels[kind]}: {kinds[kind]}")
    lines += [
        "",
        _(
            "Work through them on the Problem records page; this ticket resolves itself when none is open."
        ),
    ]
    return "\n".join(lines)


def keys_within(unit: Unit) -> QuerySet[RollKey]:
    """The roll keys of `unit` and of every unit under it (a Ministry manager sees and
    can revoke a province's leaked key)."""
    return (
        RollKey.objects.filter(scoping.under("unit__path", unit.path))
        .select_related("unit", "created_by", "revoked_by")
        .order_by("unit__path", "-created_at")
    )


def week_figures(unit: Unit, start, end) -> dict[str, dict]:
    """The weekly report's problem-record figures per child unit path of `unit` for
    [start, end): records detected (opened) and resolved in the week, the graduating
    grade's apart."""
    prefix = len(unit.path) + SEGMENT
    child = Substr("school_path", 1, prefix)
    mine = ProblemRecord.objects.filter(scoping.under("school_path", unit.path))
    out: dict[str, dict] = {}

    def row(path: str) -> dict:
        return out.setdefault(
            path, {"opened": 0, "opened_grad": 0, "resolved": 0, "resolved_grad": 0}
        )

    for r in (
        mine.filter(detected_at__gte=start, detected_at__lt=end)
        .annotate(child=child)
        .values("child")
        .annotate(n=Count("id"), grad=Count("id", filter=Q(graduating=True)))
        .order_by()
    ):
        row(r["child"]).update(opened=r["n"], opened_grad=r["grad"])
    for r in (
        mine.filter(resolved_at__gte=start, resolved_at__lt=end)
        .annotate(child=child)
        .values("child")
        .annotate(n=Count("id"), grad=Count("id", filter=Q(graduating=True)))
        .order_by()
    ):
        row(r["child"]).update(resolved=r["n"], resolved_grad=r["grad"])
    return out


def by_child_and_kind(unit: Unit) -> list[dict]:
    """Problem records in `unit`'s subtree per child unit and kind (open and total): one
    grouped query (the dashboards' chart by kind and region). Rows {child path, kind,
    open, total}; children without records are absent."""
    child = Substr("school_path", 1, len(unit.path) + SEGMENT)
    return list(
        ProblemRecord.objects.filter(scoping.under("school_path", unit.path))
        .annotate(child=child)
        .values("child", "kind")
        .annotate(total=Count("id"), open=Count("id", filter=Q(status__in=OPEN_RECORD_STATUSES)))
        .order_by("child", "kind")
    )


def open_by_prefix(unit: Unit, *, depth: int) -> dict[str, int]:
    """Open problem records in `unit`'s subtree counted by the unit `depth` levels below
    it that each record sits under (its path prefix): one grouped query. The Ministry's
    map reads depth 2 (each province's prefectures, or a municipality's counties), and
    sums them per province."""
    prefix = Substr("school_path", 1, len(unit.path) + depth * SEGMENT)
    return {
        r["prefix"]: r["n"]
        for r in ProblemRecord.objects.filter(
            scoping.under("school_path", unit.path), status__in=OPEN_RECORD_STATUSES
        )
        .annotate(prefix=prefix)
        .values("prefix")
        .annotate(n=Count("id"))
        .order_by()
    }
