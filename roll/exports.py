"""The open problem records as the Excel workbook a county hands to its schools: a
summary sheet, then one sheet per school (graduating first). Masked unless asked
and allowed; the view audits every export."""

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook

from accounts import scoping
from core.xlsx import safe_row
from escalation import workhours
from roll.masking import mask, mask_roll_no
from roll.models import OPEN_RECORD_STATUSES, Kind, ProblemRecord

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 500_000


def _sheet_title(name: str, code: str, used: set) -> str:
    # Excel: at most 31 characters, none of []:*?/\ ; unique.
    base = "".join(ch for ch in f"{code} {name}" if ch not in "[]:*?/\\")[:31]
    title, n = base, 2
    while title in used:
        title = f"{base[:28]}~{n}"
        n += 1
    used.add(title)
    return title


def open_records_workbook(unit, *, unmasked: bool) -> tuple[HttpResponse, int]:
    labels = {k: str(label) for k, label in Kind.choices}  # openpyxl refuses lazy strings
    records = (
        ProblemRecord.objects.filter(
            scoping.under("school_path", unit.path), status__in=OPEN_RECORD_STATUSES
        )
        .select_related("school")
        .order_by("school_path", "-graduating", "kind", "created_at", "pk")[:MAX_ROWS]
    )
    book = Workbook(write_only=True)
    summary = book.create_sheet(_("Summary"))
    summary.append([_("School code"), _("School"), _("Open records"), _("Graduating")])
    header = [
        _("Alert"),
        _("Kind"),
        pgettext("person", "Name"),
        _("Gender"),
        _("Birth date"),
        _("ID number"),
        _("Roll number"),
        _("Grade"),
        _("Graduating"),
        _("Detected"),
        _("Detail"),
        _("Status"),
        _("Roll system's note on reopening"),
        _("How it was corrected"),
    ]
    used: set[str] = set()
    sheet, current, count, totals = None, None, 0, []
    for r in records.iterator(chunk_size=2000):
        if r.school_id != current:
            current = r.school_id
            sheet = book.create_sheet(_sheet_title(r.school.name, r.school.code, used))
            sheet.append(header)
            totals.append([r.school.code, r.school.name, 0, 0])
        totals[-1][2] += 1
        totals[-1][3] += int(r.graduating)
        sheet.append(
            safe_row(
                sheet,
                [
                    r.alert_id,
                    labels.get(r.kind, r.kind),
                    r.name,
                    {"M": _("Male"), "F": _("Female")}.get(r.gender, ""),
                    r.birth_date,
                    r.id_number if unmasked else mask(r.id_number),
                    r.roll_no if unmasked else mask_roll_no(r.roll_no),
                    r.grade,
                    _("yes") if r.graduating else "",
                    r.detected_at.astimezone(workhours.TZ).replace(tzinfo=None),
                    r.detail,
                    r.get_status_display(),
                    r.reopened_detail,
                    "",
                ],
            )
        )
        count += 1
    for row in totals:
        summary.append(safe_row(summary, row))
    response = HttpResponse(content_type=XLSX)
    stamp = timezone.now().astimezone(workhours.TZ).strftime("%Y%m%d")
    response["Content-Disposition"] = (
        f'attachment; filename="problem-records-{unit.code}-{stamp}.xlsx"'
    )
    response["Cache-Control"] = "private, no-store"
    book.save(response)
    return response, count
