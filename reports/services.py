"""Delivering the weekly report: once per (unit, week), to the parent unit's managers,
as a system notice from the platform with the workbook attached."""

from __future__ import annotations

import logging
from datetime import date

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import Unit
from notices import services as notices
from reports import selectors, workbook
from reports import week as weeks
from reports.models import WeeklyReport

log = logging.getLogger(__name__)


def _body(report: selectors.Report) -> str:
    lines = [
        _("The weekly report of %(unit)s for %(start)s to %(end)s is attached.")
        % {
            "unit": report.unit.name,
            "start": report.week.isoformat(),
            "end": report.last_day.isoformat(),
        },
        "",
    ]
    if report.is_empty:
        lines.append(_("No data this week."))
    else:
        language = translation.get_language()
        for column, text in zip(selectors.COLUMNS, report.total.cells, strict=True):
            lines.append(f"- {column.header(language)}：{text}")
    return "\n".join(lines)


def deliver(unit: Unit, week: date) -> WeeklyReport | None:
    """Send `unit`'s report of `week` to its parent's managers, unless it was sent
    already. The row, the notice and its file are written in one transaction: a
    failure leaves none of them, and the next run tries again. Returns the new row,
    or None when there was nothing to do (sent before, by this or a racing worker;
    a unit with no parent)."""
    week = weeks.monday(week)
    if unit.parent_id is None or WeeklyReport.objects.filter(unit=unit, week=week).exists():
        return None
    parent = unit.parent
    with translation.override("zh-hans"):
        report = selectors.weekly(unit, week)
        data = workbook.build(report)
        title = _("Weekly report: %(unit)s, week of %(week)s") % {
            "unit": unit.name,
            "week": week.isoformat(),
        }
        body = _body(report)
    try:
        with transaction.atomic():
            row = WeeklyReport.objects.create(unit=unit, week=week, figures=report.total.raw)
            row.notice = notices.notice_publish_system(
                author_unit=unit,
                title=title,
                body=body,
                targets=[parent],
                levels=[parent.level],
                managers_only=True,
                files=[ContentFile(data, name=workbook.file_name(report))],
            )
            row.save(update_fields=["notice"])
    except IntegrityError:  # a racing worker sent it first
        return None
    return row


def deliver_many(unit_ids: list[int], week: date) -> int:
    """Deliver the reports of these units; one failing unit does not stop the rest
    (its row is not written, so running send_due again on the report day sends it)."""
    sent = 0
    for unit in Unit.objects.filter(pk__in=unit_ids).select_related("parent").order_by("path"):
        try:
            sent += deliver(unit, week) is not None
        except Exception:
            log.exception("weekly report of unit %s, week %s failed", unit.pk, week)
    return sent


CHUNK = 200


def due_batches(today: date) -> list[tuple[date, list[int]]]:
    """The (week, unit ids) batches to send today: nothing unless today is a report
    day; then the reporting units not yet delivered for that week, CHUNK at a time."""
    out = []
    for week in weeks.weeks_due(today):
        done = WeeklyReport.objects.filter(week=week).values("unit_id")
        ids = list(selectors.reporting_units().exclude(pk__in=done).values_list("pk", flat=True))
        out += [(week, ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]
    return out
