"""The weekly report on demand: /reports/weekly/ (the table, a row per child, drill in)
and its workbook. Thin: the figures come from reports.selectors."""

from __future__ import annotations

import io
from datetime import date, timedelta

from django.contrib import messages
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from reports import jobs as report_jobs
from reports import selectors, workbook
from reports import week as weeks


def _week(request) -> date:
    """The asked week (any day of it, YYYY-MM-DD), else the last complete one; a week
    not yet over, or a date that is none, is refused with a message."""
    last = weeks.last_complete_week(timezone.localdate())
    raw = (request.GET.get("week") or "").strip()
    if not raw:
        return last
    try:
        week = weeks.monday(date.fromisoformat(raw))
    except ValueError:
        messages.error(request, _("Give the week as a date (YYYY-MM-DD)."))
        return last
    if week > last:
        messages.error(request, _("That week is not over yet: showing the last complete week."))
        return last
    return week


@scoping.manager_required
def weekly(request):
    unit = selectors.report_unit_or_404(request.user, request.GET.get("unit"))
    week = _week(request)
    report = selectors.weekly(unit, week)
    last = weeks.last_complete_week(timezone.localdate())
    return render(
        request,
        "reports/weekly.html",
        {
            "report": report,
            "unit": unit,
            "trail": selectors.trail(request.user, unit),
            "columns": [c.header(request.LANGUAGE_CODE) for c in selectors.COLUMNS],
            "previous": week - timedelta(days=7),
            "next": week + timedelta(days=7) if week < last else None,
            "report_day": weeks.report_day(week),
        },
    )


@scoping.manager_required
def weekly_xlsx(request):
    unit = selectors.report_unit_or_404(request.user, request.GET.get("unit"))
    week = _week(request)
    if report_jobs.as_job(unit):
        # A province's or the country's sheet: a worker writes it, with a progress bar
        # (core/jobs.py); asking again while it runs shows the same job.
        job = report_jobs.start_workbook(owner=request.user, unit=unit, week=week)
        return redirect("job_detail", pk=job.pk)
    report = selectors.weekly(unit, week)
    response = FileResponse(
        io.BytesIO(workbook.build(report)),
        as_attachment=True,
        filename=workbook.file_name(report),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Cache-Control"] = "no-store"
    return response
