"""The ticket list as an Excel workbook (openpyxl, write-only: constant memory)."""

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from core.xlsx import safe_row
from tickets.selectors import account_name

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 200_000


def _local(value):
    # China's time (settings.TIME_ZONE, Asia/Shanghai), as escalation's working hours.
    return value.astimezone(timezone.get_default_timezone()).replace(tzinfo=None) if value else None


def tickets_workbook(actor, qs) -> HttpResponse:
    response = HttpResponse(content_type=XLSX)
    stamp = timezone.now().astimezone(timezone.get_default_timezone()).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{file_name(stamp)}"'
    response["Cache-Control"] = "private, no-store"
    write_tickets(response, qs)
    return response


def file_name(stamp: str) -> str:
    return f"tickets-{stamp}.xlsx"


def write_tickets(out, qs, progress=None) -> int:
    """The workbook of the tickets in `qs` written to `out`; the number of rows.
    `progress(done, total)` hears of each row (a long job's bar, core/jobs.py)."""
    total = min(qs.count(), MAX_ROWS) if progress is not None else 0
    count = 0
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Tickets"))
    sheet.append(
        [
            _("No."),
            _("Title"),
            _("Category"),
            _("Priority"),
            _("Status"),
            _("Reporter unit"),
            _("Reporter"),
            _("Current tier"),
            _("Assignee"),
            _("Raised"),
            _("First response"),
            _("Resolved"),
            _("SLA breached"),
            _("Rating"),
        ]
    )
    for t in qs.select_related("reporter", "reporter_unit", "tier", "assignee")[:MAX_ROWS].iterator(
        chunk_size=2000
    ):
        count += 1
        if progress is not None:
            progress(count, total)
        sheet.append(
            safe_row(
                sheet,
                [
                    t.pk,
                    t.title,
                    t.get_category_display(),
                    t.get_priority_display(),
                    t.get_status_display(),
                    f"{t.reporter_unit.name} ({t.reporter_unit.code})",
                    account_name(t.reporter),
                    t.tier.name,
                    account_name(t.assignee),
                    _local(t.created_at),
                    _local(t.first_response_at),
                    _local(t.resolved_at),
                    _("yes") if t.breached else _("no"),
                    t.rating or "",
                ],
            )
        )
    book.save(out)
    return count
