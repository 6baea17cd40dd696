"""The weekly sheet as an Excel workbook: one sheet for the unit, a row per child unit
and the total, under a title, the week and the unit; set up to print on A4."""

from __future__ import annotations

import io

from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from core.xlsx import safe_row
from reports.columns import COLUMNS
from reports.selectors import Report

FIRST = 5  # the header row; title, week, unit and a blank line above it


def _label(row) -> str:
    return row.unit.name if row.unit is not None else _("The unit itself")


def build(report: Report) -> bytes:
    language = translation.get_language()
    wb = Workbook()
    ws = wb.active
    ws.title = _("Weekly report")[:31]
    width = len(COLUMNS) + 2
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="center", horizontal="center")

    ws.append(safe_row(ws, [_("Weekly report of %(unit)s") % {"unit": report.unit.name}]))
    ws.append(
        safe_row(
            ws,
            [
                _("Week: %(start)s to %(end)s")
                % {"start": report.week.isoformat(), "end": report.last_day.isoformat()}
            ],
        )
    )
    ws.append(
        safe_row(
            ws,
            [_("Unit: %(name)s (%(code)s)") % {"name": report.unit.name, "code": report.unit.code}],
        )
    )
    ws.append([])
    ws.append([_("Unit"), _("Code"), *[c.header(language) for c in COLUMNS]])
    for r in range(1, 4):
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center")
    for cell in ws[FIRST]:
        cell.font, cell.alignment, cell.border = bold, wrap, border

    def put(label: str, code: str, values: list, *, total: bool = False) -> None:
        ws.append(safe_row(ws, [label, code, *values]))
        line = ws.max_row
        for i, cell in enumerate(ws[line]):
            cell.border = border
            if total:
                cell.font = bold
            if i >= 2:
                cell.number_format = COLUMNS[i - 2].number_format

    for row in report.rows:
        put(_label(row), row.unit.code if row.unit else "", row.values)
    put(_("Total"), report.unit.code, report.total.values, total=True)
    if report.is_empty:
        ws.append([_("No data this week.")])

    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 12
    for i in range(len(COLUMNS)):
        ws.column_dimensions[get_column_letter(i + 3)].width = 11
    ws.row_dimensions[FIRST].height = 45
    ws.freeze_panes = ws.cell(row=FIRST + 1, column=3)
    ws.print_title_rows = f"{FIRST}:{FIRST}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def file_name(report: Report) -> str:
    return f"weekly-{report.unit.code}-{report.week.isoformat()}.xlsx"
