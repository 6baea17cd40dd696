"""The charts (issue 16, item 2): each one a figure from its app's selectors, scoped to
the viewer's subtree, turned into one dict that the page shows twice — as the table
behind the chart (rendered on the server, exported to Excel) and as the chart's JSON
(json_script, drawn by static/js/charts.js).

A chart dict: id, title, kind ("bar", "stack", "line", "map"), categories, series
([{name, data}]), percent (values are percentages), columns and rows (the table),
empty (nothing to draw: the page says 暂无数据). The map adds provinces, children and
maps (see ministry_map)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.templatetags.static import static
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import SEGMENT, Level, Unit
from notices import selectors as notice_selectors
from roll import selectors as roll_selectors
from roll.models import Kind
from tickets import selectors as ticket_selectors

SLA_WEEKS = 12
NOTICE_WEEKS = 12
# Provinces whose map of prefectures (or a municipality's districts) is vendored under
# static/vendor/china-map/<code>.json; the others drill into a bar chart.
PROVINCE_MAPS = ("110000", "130000", "350000")
MAP_FIGURES = ("records", "tickets")


def _chart(chart_id, title, kind, *, categories, series, columns, rows, percent=False):
    # Nothing to draw: no rows, or only zero counts (no open ticket), or no percentage
    # at all (a read rate of 0 % is a figure; a week without tickets has none).
    values = [v for s in series for v in s["data"]]
    empty = not rows or not any((v is not None) if percent else v for v in values)
    return {
        "id": chart_id,
        "title": title,
        "kind": kind,
        "categories": categories,
        "series": series,
        "percent": percent,
        "columns": columns,
        "rows": rows,
        "empty": empty,
        "empty_text": _("No data"),
    }


def _name(unit: Unit | None, fallback: str) -> str:
    return unit.name if unit is not None else fallback


# --- the read rate of a notice by child unit -------------------------------------------


def notice_choices(account, *, now: datetime) -> list:
    return notice_selectors.stats_choices(account, since=now - timedelta(weeks=NOTICE_WEEKS))


def read_rate(account, notice) -> dict:
    """notices.selectors.stats at the viewer's statistics root: the share of the
    audience accounts of each child unit who have read the notice."""
    rows = []
    if notice is not None:
        root = notice_selectors.stats_root(account=account, notice=notice)
        _total, rows = notice_selectors.stats(notice=notice, unit=root)
    names, rates, table = [], [], []
    for r in rows:
        name = _name(r.unit, _("This unit"))
        rate = round(100.0 * r.read / r.accounts, 1) if r.accounts else None
        names.append(name)
        rates.append(rate)
        table.append([name, r.accounts, r.read, rate, r.units, r.units_read])
    return _chart(
        "read-rate",
        _("Read rate by unit"),
        "bar",
        categories=names,
        series=[{"name": _("Read rate"), "data": rates}],
        percent=True,
        columns=[
            _("Unit"),
            _("Audience accounts"),
            _("Read"),
            _("Read rate (%)"),
            _("Audience units"),
            _("Units with a reader"),
        ],
        rows=table,
    )


READ_WEEKS = (4, 12)


def read_rate_weeks(unit: Unit, *, weeks: int, now: datetime) -> dict:
    """The read rate by child unit over every circular of the last `weeks` weeks that
    reached `unit`'s subtree: the weekly report's figures (notices.selectors.week_figures)
    over a longer window, so the two never disagree."""
    figures = notice_selectors.week_figures(unit, now - timedelta(weeks=weeks), now)
    units = {u.path: u for u in Unit.objects.filter(path__in=list(figures))}
    names, rates, table = [], [], []
    for path in sorted(figures, key=lambda p: (p != unit.path, p)):
        r = figures[path]
        name = _("This unit") if path == unit.path else _name(units.get(path), path)
        rate = round(100.0 * r["read"] / r["audience"], 1) if r["audience"] else None
        names.append(name)
        rates.append(rate)
        table.append([name, r["notices"], r["audience"], r["read"], rate])
    return _chart(
        "read-rate",
        _("Read rate by unit, notices of the last %(n)s weeks") % {"n": weeks},
        "bar",
        categories=names,
        series=[{"name": _("Read rate"), "data": rates}],
        percent=True,
        columns=[_("Unit"), _("Notices"), _("Audience accounts"), _("Read"), _("Read rate (%)")],
        rows=table,
    )


# --- tickets: the backlog by age and SLA compliance by week ----------------------------


def backlog(unit: Unit, *, now: datetime) -> dict:
    ages = ticket_selectors.backlog_by_age(unit, now=now)
    return _chart(
        "backlog",
        _("Open tickets by age"),
        "bar",
        categories=[label for label, _n in ages],
        series=[{"name": _("Open tickets"), "data": [n for _label, n in ages]}],
        columns=[_("Age"), _("Open tickets")],
        rows=[[label, n] for label, n in ages],
    )


def sla_weeks(unit: Unit, *, now: datetime) -> dict:
    weeks = ticket_selectors.weekly_compliance(unit, weeks=SLA_WEEKS, now=now)
    labels = [w["week"].strftime("%m-%d") for w in weeks]
    return _chart(
        "sla",
        _("SLA compliance, last 12 weeks"),
        "line",
        categories=labels,
        series=[{"name": _("Within SLA"), "data": [w["compliance"] for w in weeks]}],
        percent=True,
        columns=[_("Week of"), _("Tickets raised"), _("Breached"), _("Within SLA (%)")],
        rows=[[w["week"].isoformat(), w["created"], w["breached"], w["compliance"]] for w in weeks],
    )


# --- problem records by kind and by child unit ----------------------------------------


def records(unit: Unit) -> dict:
    """Problem records by child unit (region), one stacked bar per kind; the table has a
    column per kind and a total row (the figures by kind)."""
    found = roll_selectors.by_child_and_kind(unit)
    kinds = [k for k in Kind if any(r["kind"] == k for r in found)]
    children = sorted({r["child"] for r in found})
    units = {u.path: u for u in Unit.objects.filter(path__in=children)}
    cell = {(r["child"], r["kind"]): r["total"] for r in found}
    names = [_name(units.get(p), _("This unit")) for p in children]
    series = [
        {"name": str(k.label), "data": [cell.get((p, k.value), 0) for p in children]} for k in kinds
    ]
    rows = []
    for p, name in zip(children, names, strict=True):
        counts = [cell.get((p, k.value), 0) for k in kinds]
        opened = sum(r["open"] for r in found if r["child"] == p)
        rows.append([name, *counts, sum(counts), opened])
    if rows:
        totals = [sum(row[i] for row in rows) for i in range(1, len(kinds) + 3)]
        rows.append([_("Total"), *totals])
    return _chart(
        "records",
        _("Problem records by kind and unit"),
        "stack",
        categories=names,
        series=series,
        columns=[_("Unit"), *[str(k.label) for k in kinds], _("Total"), _("Still open")],
        rows=rows,
    )


# --- the Ministry's map ---------------------------------------------------------------


def figure_label(figure: str) -> str:
    return _("Open problem records") if figure == "records" else _("Open tickets")


def ministry_map(unit: Unit, figure: str) -> dict:
    """Open problem records (or open tickets) per province, and per child of each
    province (its prefectures, or a municipality's counties) for the drill-down: one
    grouped query at the second level below the Ministry, summed per province."""
    counts = (
        roll_selectors.open_by_prefix(unit, depth=2)
        if figure == "records"
        else ticket_selectors.open_by_prefix(unit, depth=2)
    )
    provinces = list(
        scoping.units_within(unit).filter(parent=unit, level=Level.PROVINCE).order_by("code")
    )
    below = Unit.objects.filter(parent__in=provinces).order_by("code")
    per_province: dict[str, list] = {p.code: [] for p in provinces}
    by_path = {p.path: p for p in provinces}
    for child in below:
        parent = by_path[child.path[:-SEGMENT]]
        per_province[parent.code].append(
            {"code": child.code, "name": child.name, "value": counts.get(child.path, 0)}
        )
    rows, values = [], []
    for p in provinces:
        total = sum(c["value"] for c in per_province[p.code])
        rows.append([p.name, p.code, total])
        values.append({"code": p.code, "name": p.name, "value": total})
    chart = _chart(
        "map",
        _("%(figure)s by province") % {"figure": figure_label(figure)},
        "map",
        categories=[p.name for p in provinces],
        series=[{"name": figure_label(figure), "data": [v["value"] for v in values]}],
        columns=[_("Province name"), _("Code"), figure_label(figure)],
        rows=rows,
    )
    chart.update(
        provinces=values,
        children=per_province,
        maps={"100000": static("vendor/china-map/100000.json")}
        | {code: static(f"vendor/china-map/{code}.json") for code in PROVINCE_MAPS},
        # An empty country still draws its map: the provinces are there, at 0.
        empty=not provinces,
        drill_hint=_("Click a province to see its units."),
        back_text=_("Back to China"),
    )
    return chart


def province_rows(chart: dict, code: str) -> tuple[list[str], list[list]]:
    """The drill-down's table of one province's children (the export)."""
    columns = [_("Unit"), _("Code"), chart["series"][0]["name"]]
    return columns, [[c["name"], c["code"], c["value"]] for c in chart["children"].get(code, [])]
