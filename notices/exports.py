"""The statistics of a notice as an Excel workbook: per unit, and the replies."""

import io

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from core.xlsx import safe_row
from notices import selectors


def stats_workbook(*, notice, unit) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = _("By unit")
    ws.append(
        [
            _("Unit code"),
            _("Unit name"),
            _("Units"),
            _("Units read"),
            _("Accounts"),
            _("Read"),
            _("Acknowledged"),
        ]
    )
    total, rows = selectors.stats(notice=notice, unit=unit)
    for r in rows:
        u = r.unit or unit
        ws.append(
            [
                u.code,
                u.name if r.unit else f"{u.name} ({_('itself')})",
                r.units,
                r.units_read,
                r.accounts,
                r.read,
                r.acked,
            ]
        )
    ws.append(
        [
            unit.code,
            _("Total"),
            total.units,
            total.units_read,
            total.accounts,
            total.read,
            total.acked,
        ]
    )
    lag_units, lag_people = selectors.laggards(notice=notice, unit=unit, limit=100_000)
    ws2 = wb.create_sheet(_("Not read"))
    ws2.append([_("Unit code"), _("Unit name"), _("Level")])
    for u in lag_units:
        ws2.append(safe_row(ws2, [u.code, u.name, u.get_level_display()]))
    ws3 = wb.create_sheet(_("Replies"))
    ws3.append(
        [
            _("Unit code"),
            _("Unit name"),
            _("Username"),
            _("Acknowledged at"),
            _("Reply"),
            _("Files"),
        ]
    )
    for receipt in selectors.replies(notice=notice, unit=unit):
        ws3.append(
            safe_row(
                ws3,
                [
                    receipt.unit.code,
                    receipt.unit.name,
                    receipt.account.username,
                    timezone.localtime(receipt.acked_at).strftime("%Y-%m-%d %H:%M"),
                    receipt.reply,
                    ", ".join(a.name for a in receipt.attachments.all()),
                ],
            )
        )
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
