"""The weekly report's reads: which units report, and the figures of a unit's week
with a row per child unit. The figures themselves come from each app's selectors
(notices, tickets, roll: `week_figures`), each one grouped query per figure by child
unit path, so a sheet costs the same handful of queries for a county of 300 schools
as for a province of 150 counties."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.http import Http404
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import Level, Unit
from notices import selectors as notices
from reports import week as weeks
from reports.columns import COLUMNS, RAW_KEYS
from reports.models import WeeklyReport
from roll import selectors as roll
from tickets import selectors as tickets

# Who sends a report up. Counties, prefectures and provinces report to their parent
# (about 3,200 notices a week across the country); schools do not — a school's figures
# are a row of its county's sheet, and 300,000 notices a week to county managers would
# drown the one notice they must act on. The Ministry has no parent.
REPORTING_LEVELS = (Level.COUNTY, Level.PREFECTURE, Level.PROVINCE)

_TICKETS = {
    "raised": "tickets_raised",
    "solved": "tickets_solved",
    "escalated": "tickets_escalated",
    "sla_met": "sla_met",
}
_RECORDS = {
    "opened": "records_opened",
    "opened_grad": "records_opened_grad",
    "resolved": "records_resolved",
    "resolved_grad": "records_resolved_grad",
}


def shown(column, value) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if column.is_rate else str(value)


@dataclass
class Row:
    unit: Unit | None  # None: the accounts of the unit itself
    raw: dict = field(default_factory=lambda: dict.fromkeys(RAW_KEYS, 0))

    @property
    def values(self) -> list:
        return [c.compute(self.raw) for c in COLUMNS]

    @property
    def cells(self) -> list[str]:
        """The values as shown on the page and in the notice: rates as 85.0%, no base
        as —."""
        return [shown(c, v) for c, v in zip(COLUMNS, self.values, strict=True)]

    @property
    def is_empty(self) -> bool:
        return not any(self.raw.values())

    @property
    def drillable(self) -> bool:
        return self.unit is not None and self.unit.level != Level.SCHOOL


@dataclass
class Report:
    unit: Unit
    week: date
    start: datetime
    end: datetime
    rows: list[Row]
    total: Row

    @property
    def is_empty(self) -> bool:
        return self.total.is_empty

    @property
    def last_day(self) -> date:
        return self.week + timedelta(days=6)


def raw_figures(unit: Unit, start: datetime, end: datetime) -> tuple[dict[str, dict], int]:
    """Child path → raw figures (RAW_KEYS), and the number of distinct notices of the
    week that reached the unit (a notice reaching three children counts once in the
    total)."""
    out: dict[str, dict] = {}

    def row(path: str) -> dict:
        return out.setdefault(path, dict.fromkeys(RAW_KEYS, 0))

    for path, figures in notices.week_figures(unit, start, end).items():
        row(path).update(figures)
    for path, figures in tickets.week_figures(unit, start, end).items():
        r = row(path)
        for key, name in _TICKETS.items():
            r[name] = figures[key]
    for path, figures in roll.week_figures(unit, start, end).items():
        r = row(path)
        for key, name in _RECORDS.items():
            r[name] = figures[key]
    notice_total = notices.week_notices(unit, start, end).count() if out else 0
    return out, notice_total


def weekly(unit: Unit, week: date) -> Report:
    """The report of `unit` for `week` (any day of it): a row per child unit — every
    open child, those with nothing to count too (县不漏校) — the unit's own accounts
    when they have figures, and the total."""
    week = weeks.monday(week)
    start, end = weeks.bounds(week)
    figures, notice_total = raw_figures(unit, start, end)
    children = {c.path: c for c in Unit.objects.filter(parent=unit).order_by("code")}
    rows: dict[str, Row] = {}
    for path, child in children.items():
        if child.closed_at is None or path in figures:
            rows[path] = Row(unit=child)
    own = Row(unit=None)
    for path, raw in figures.items():
        target = rows.get(path, own)
        for key in RAW_KEYS:
            target.raw[key] += raw.get(key, 0)
    total = Row(unit=unit)
    for r in [own, *rows.values()]:
        for key in RAW_KEYS:
            total.raw[key] += r.raw[key]
    total.raw["notices"] = notice_total
    listed = list(rows.values())
    if not own.is_empty:
        listed.insert(0, own)
    return Report(unit=unit, week=week, start=start, end=end, rows=listed, total=total)


def report_unit_or_404(actor, code: str | None) -> Unit:
    """The unit whose report `actor` asks for: its own by default, else a unit in its
    subtree; a sibling's, a parent's or an unknown code is a 404 (nothing told)."""
    if not code:
        return actor.unit
    unit = Unit.objects.filter(code=code).first()
    if unit is None or not scoping.is_within(unit, actor.unit):
        raise Http404(_("No such unit in your jurisdiction."))
    return unit


def trail(actor, unit: Unit) -> list[Unit]:
    """The units from the actor's own down to `unit`, for the page's breadcrumb."""
    paths = [p for p in unit.ancestor_paths if len(p) >= len(actor.unit.path)]
    return list(Unit.objects.filter(path__in=paths).order_by("path"))


def reporting_units():
    """The units that send a report up this week (open ones of REPORTING_LEVELS)."""
    return Unit.objects.filter(level__in=REPORTING_LEVELS, closed_at__isnull=True).order_by("path")


def delivered(week: date):
    return WeeklyReport.objects.filter(week=weeks.monday(week))
