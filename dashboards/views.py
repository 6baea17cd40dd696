"""Pages under /dashboards/: thin views over dashboards.charts; each chart's table is
exported to Excel beside it."""

from __future__ import annotations

from io import BytesIO

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from accounts import scoping
from accounts.models import MINISTRY_CODE, Level
from core.xlsx import safe_row
from dashboards import charts
from tickets import selectors as ticket_selectors

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def may_see_charts(account) -> bool:
    """Support people (engineers, managers above school level): the 统计图表 link."""
    return ticket_selectors.is_support_person(account)


def _support(request):
    if not ticket_selectors.is_support_person(request.user):
        raise PermissionDenied


def may_see_read_rate(account) -> bool:
    """Managers above school level: the read rate of their children."""
    return scoping.is_manager(account) and account.unit.level != Level.SCHOOL


def may_see_map(account) -> bool:
    """The Ministry's managers: the map of China."""
    return scoping.is_manager(account) and account.unit.level == Level.MINISTRY


def _manager_above_school(request):
    if not may_see_read_rate(request.user):
        raise PermissionDenied


def _ministry(request):
    if not may_see_map(request.user):
        raise PermissionDenied


def _shown(chart: dict, export_url: str) -> dict:
    """What the page's include needs beside the chart: its json_script id and export."""
    chart["script_id"] = f"chart-data-{chart['id']}"
    chart["export_url"] = export_url
    return chart


def _xlsx(chart: dict, filename: str, columns=None, rows=None) -> HttpResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=chart["id"])
    sheet.append(safe_row(sheet, [chart["title"]]))
    sheet.append(safe_row(sheet, columns or chart["columns"]))
    for row in rows if rows is not None else chart["rows"]:
        sheet.append(safe_row(sheet, ["" if v is None else v for v in row]))
    out = BytesIO()
    book.save(out)
    response = HttpResponse(out.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response


@scoping.login_and_unit_required
def index(request):
    _support(request)
    user = request.user
    return render(
        request,
        "dashboards/index.html",
        {
            "read_rate": may_see_read_rate(user),
            "ministry": may_see_map(user),
        },
    )


def _chosen_notice(request):
    """The notice named by ?notice= among those the viewer may see statistics of (the
    newest when none is named); (notice or None, choices)."""
    choices = charts.notice_choices(request.user, now=timezone.now())
    raw = request.GET.get("notice", "")
    if not raw:
        return (choices[0] if choices else None), choices
    try:
        pk = int(raw)
    except ValueError:
        raise Http404 from None
    chosen = next((n for n in choices if n.pk == pk), None)
    if chosen is None:
        raise Http404
    return chosen, choices


def _weeks(request) -> int | None:
    """?weeks=4 or 12: the last weeks' notices together instead of one notice."""
    raw = request.GET.get("weeks", "")
    if not raw:
        return None
    if raw not in {str(n) for n in charts.READ_WEEKS}:
        raise Http404
    return int(raw)


@scoping.manager_required
def read_rate(request):
    _manager_above_school(request)
    weeks = _weeks(request)
    export = reverse("dashboard_read_rate_export")
    if weeks:
        chart = charts.read_rate_weeks(request.user.unit, weeks=weeks, now=timezone.now())
        notice, choices = None, charts.notice_choices(request.user, now=timezone.now())
        chart = _shown(chart, f"{export}?weeks={weeks}")
    else:
        notice, choices = _chosen_notice(request)
        chart = None
        if notice is not None:
            chart = _shown(charts.read_rate(request.user, notice), f"{export}?notice={notice.pk}")
    return render(
        request,
        "dashboards/read_rate.html",
        {
            "notice": notice,
            "choices": choices,
            "weeks": weeks,
            "week_choices": charts.READ_WEEKS,
            "charts": [chart] if chart else [],
        },
    )


@scoping.manager_required
def read_rate_export(request):
    _manager_above_school(request)
    weeks = _weeks(request)
    if weeks:
        chart = charts.read_rate_weeks(request.user.unit, weeks=weeks, now=timezone.now())
        return _xlsx(chart, f"read-rate-{weeks}-weeks")
    notice, _choices = _chosen_notice(request)
    name = f"read-rate-{notice.pk}" if notice else "read-rate"
    return _xlsx(charts.read_rate(request.user, notice), name)


def _ticket_charts(request) -> list[dict]:
    now = timezone.now()
    unit = request.user.unit
    return [charts.backlog(unit, now=now), charts.sla_weeks(unit, now=now)]


@scoping.login_and_unit_required
def tickets(request):
    _support(request)
    url = reverse("dashboard_tickets_export")
    shown = [_shown(c, f"{url}?table={c['id']}") for c in _ticket_charts(request)]
    return render(request, "dashboards/tickets.html", {"charts": shown})


@scoping.login_and_unit_required
def tickets_export(request):
    _support(request)
    wanted = request.GET.get("table", "backlog")
    chart = next((c for c in _ticket_charts(request) if c["id"] == wanted), None)
    if chart is None:
        raise Http404
    return _xlsx(chart, f"tickets-{wanted}")


@scoping.login_and_unit_required
def records(request):
    _support(request)
    chart = _shown(charts.records(request.user.unit), reverse("dashboard_records_export"))
    return render(request, "dashboards/records.html", {"charts": [chart]})


@scoping.login_and_unit_required
def records_export(request):
    _support(request)
    return _xlsx(charts.records(request.user.unit), "problem-records")


def _figure(request) -> str:
    figure = request.GET.get("figure", "records")
    return figure if figure in charts.MAP_FIGURES else "records"


@scoping.manager_required
def china_map(request):
    _ministry(request)
    figure = _figure(request)
    chart = charts.ministry_map(request.user.unit, figure)
    _shown(chart, f"{reverse('dashboard_map_export')}?figure={figure}")
    chart["drill_columns"] = charts.province_rows(chart, "")[0]
    figures = [(f, charts.figure_label(f)) for f in charts.MAP_FIGURES]
    return render(
        request,
        "dashboards/map.html",
        {"charts": [chart], "figure": figure, "figures": figures},
    )


@scoping.manager_required
def china_map_export(request):
    _ministry(request)
    figure = _figure(request)
    chart = charts.ministry_map(request.user.unit, figure)
    province = request.GET.get("province", "")
    if not province or province == MINISTRY_CODE:
        return _xlsx(chart, f"map-{figure}")
    if province not in chart["children"]:
        raise Http404
    columns, rows = charts.province_rows(chart, province)
    return _xlsx(chart, f"map-{figure}-{province}", columns, rows)
