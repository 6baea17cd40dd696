"""Rows for openpyxl worksheets holding text that came from people or outside systems."""

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE


def safe_row(sheet, values) -> list:
    """`values` ready for `sheet.append`: text that starts with "=" stays text
    (openpyxl writes it as a formula, and =HYPERLINK(...) in a title or a reply would
    run in Excel); control characters a worksheet cannot hold are dropped (openpyxl
    would refuse the row). Works for write-only and ordinary sheets alike."""
    out = []
    for value in values:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
            if value.startswith("="):
                value = WriteOnlyCell(sheet, value=value)
                value.data_type = "s"
        out.append(value)
    return out
