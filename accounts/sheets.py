"""Excel in and out: the credential sheet handed down, and school lists read in."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from accounts.models import Role
from core.xlsx import safe_row


def first_login_steps() -> list[str]:
    """What a new account holder does with a row of the sheet (the page and the workbook)."""
    return [
        _("Open the login address in a browser on a computer."),
        _(
            "Log in with your username and your initial code. The code works once, until it expires."
        ),
        _("Set a password of your own at once; from then on log in with it."),
        _(
            "If the code has expired or was already used, ask the manager of the level above "
            "you (who issued your account) to re-issue one."
        ),
    ]


def credential_workbook(rows: Iterable, *, login_url: str = "") -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = _("Credentials")
    headers = [
        _("Unit code"),
        _("Unit name"),
        _("Username"),
        _("Role"),
        _("Person"),
        _("Initial code"),
        _("Code expires"),
    ]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append(
            safe_row(
                ws,
                [
                    r.unit_code,
                    r.unit_name,
                    r.username,
                    str(Role(r.role).label),
                    r.full_name,
                    r.code,
                    r.expires_at,
                ],
            )
        )
    for column, width in zip("ABCDEFG", (14, 30, 18, 10, 12, 24, 18), strict=True):
        ws.column_dimensions[column].width = width
    # Unit codes are text: keep Excel from turning 0-led or long codes into numbers.
    for row in ws.iter_rows(min_row=2, max_col=1):
        for cell in row:
            cell.number_format = "@"
    ws.freeze_panes = "A2"
    # A second sheet, so the first stays one table (read back by scripts and mail merges).
    guide = wb.create_sheet(_("How to log in"))
    guide.append(safe_row(guide, [_("Login address"), login_url]))
    guide.append([])
    for number, step in enumerate(first_login_steps(), start=1):
        guide.append(safe_row(guide, [str(number), step]))
    guide["A1"].font = Font(bold=True)
    guide.column_dimensions["A"].width = 14
    guide.column_dimensions["B"].width = 90
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


SCHOOL_HEADERS = {
    "school_code": {"school_code", "code", "学校标识码", "学校代码", "标识码"},
    "name": {"name", "school_name", "学校名称", "名称"},
    "county_code": {
        "county_code",
        "county",
        "区县代码",
        "所属区县代码",
        "县区代码",
        "行政区划代码",
    },
}


class SheetError(Exception):
    pass


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _rows_from_bytes(content: bytes, filename: str) -> list[list[str]]:
    if filename.lower().endswith((".xlsx", ".xlsm")):
        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:
            raise SheetError(_("The file is not a readable Excel workbook.")) from exc
        ws = wb.worksheets[0]
        return [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    if filename.lower().endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise SheetError(_("The CSV file is neither UTF-8 nor GBK text."))
        return [[_cell(v) for v in row] for row in csv.reader(io.StringIO(text))]
    raise SheetError(_("Only .xlsx and .csv files can be imported."))


def school_rows(content: bytes, filename: str) -> list[tuple[int, str, str, str]]:
    """(row number, school code, name, county code) for each non-empty row.

    The first row is a header when it names the columns (in Chinese or English);
    otherwise the columns are taken in the order code, name, county code.
    """
    rows = _rows_from_bytes(content, filename)
    order = {"school_code": 0, "name": 1, "county_code": 2}
    start = 0
    if rows:
        header = [h.lower() for h in rows[0]]
        found = {
            key: header.index(name)
            for key, names in SCHOOL_HEADERS.items()
            for name in names
            if name in header
        }
        if found:
            missing = set(order) - set(found)
            if missing:
                raise SheetError(
                    _("The header row lacks the column(s): %s") % ", ".join(sorted(missing))
                )
            order, start = found, 1
    out = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(row):
            continue
        cells = [
            row[order[k]] if order[k] < len(row) else ""
            for k in ("school_code", "name", "county_code")
        ]
        out.append((number, *cells))
    return out
