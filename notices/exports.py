"""The statistics of a notice as an Excel workbook: per unit, and the replies; the
files of its acknowledgements as one zip."""

import io
import os
import shutil
import tempfile
import unicodedata
import zipfile

from django.core.exceptions import ValidationError
from django.db.models import Sum
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


# --- the acknowledgements' files as one zip (issue 15) -------------------------------------

# The zip is written to a temporary file that stays in memory up to this size and moves
# to disk beyond it; it is then sent in chunks (core.http.spooled_download).
ZIP_SPOOL_MEMORY = 8 * 1024 * 1024
# The files' total above which the zip is refused: drill down to a unit instead.
ZIP_MAX_BYTES = 4 * 1024**3
# Deflated (at level 1: the CPU is the request thread's) only where it pays: text and
# the old binary office formats. PDF, OFD, the Open XML formats, images and archives
# are compressed already and stored as they are.
DEFLATED_EXTENSIONS = {".txt", ".csv", ".doc", ".xls", ".ppt", ".wps", ".et", ".dps"}
ZIP_SEGMENT_MAX = 120
WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)
}
MISSING_LIST = "缺失的文件.txt"
UNSAFE = '<>:"/\\|?*'


def zip_segment(text: str, *, fallback: str = "_") -> str:
    """One folder or file name inside the zip, safe on Windows, macOS and Linux: no path
    separators, control characters or characters Windows refuses, no leading or trailing
    dots and spaces, no reserved device name, at most ZIP_SEGMENT_MAX characters (cut
    before the extension)."""
    text = unicodedata.normalize("NFC", text)
    text = "".join("_" if ch in UNSAFE or not ch.isprintable() else ch for ch in text)
    text = text.strip(" .")
    if len(text) > ZIP_SEGMENT_MAX:
        stem, ext = os.path.splitext(text)
        ext = ext[:20]
        text = stem[: ZIP_SEGMENT_MAX - len(ext)].rstrip(" .") + ext
    if text.split(".")[0].lower() in WINDOWS_RESERVED:
        text = f"_{text}"
    return text or fallback


class ZipNames:
    """Hands out unique entry names: a name taken (case aside, as on Windows and macOS)
    gets " (2)", " (3)" … before its extension."""

    def __init__(self):
        self.taken: set[str] = set()

    def claim(self, folder: str, name: str) -> str:
        stem, ext = os.path.splitext(name)
        candidate, n = f"{folder}/{name}" if folder else name, 1
        while candidate.casefold() in self.taken:
            n += 1
            candidate = f"{folder}/{stem} ({n}){ext}" if folder else f"{stem} ({n}){ext}"
        self.taken.add(candidate.casefold())
        return candidate


def receipt_files_zip(*, notice, unit):
    """The files of the acknowledgements of `notice` by accounts at or under `unit`, one
    folder per unit ("<code> <name>"), each file named "<person>-<file name>": a
    temporary file positioned at its start, which the caller closes. Files copied in
    chunks, never whole in memory. Refused (ValidationError) when there is none or
    their total passes ZIP_MAX_BYTES. A file gone from storage is listed in
    MISSING_LIST inside the zip instead."""
    files = selectors.receipt_files(notice=notice, unit=unit)
    total = files.aggregate(n=Sum("size"))["n"]
    if total is None:
        raise ValidationError(_("No acknowledgement has files yet: there is nothing to download."))
    if total > ZIP_MAX_BYTES:
        raise ValidationError(
            _(
                "The files add up to %(size)s, more than %(limit)s for one download: "
                "open a unit below in the statistics and download its files."
            )
            % {"size": _size(total), "limit": _size(ZIP_MAX_BYTES)}
        )
    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_MEMORY)
    names, missing = ZipNames(), []
    try:
        with zipfile.ZipFile(spool, "w", allowZip64=True) as archive:
            for attachment in files.iterator(chunk_size=500):
                receipt = attachment.receipt
                folder = zip_segment(f"{receipt.unit.code} {receipt.unit.name}")
                person = receipt.account.full_name or receipt.account.username
                name = names.claim(folder, zip_segment(f"{person}-{attachment.name}"))
                try:
                    source = attachment.file.open("rb")
                except FileNotFoundError:
                    missing.append(name)
                    continue
                info = zipfile.ZipInfo(
                    name, date_time=timezone.localtime(attachment.created_at).timetuple()[:6]
                )
                ext = os.path.splitext(name)[1].lower()
                if ext in DEFLATED_EXTENSIONS:
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info._compresslevel = 1  # what ZipFile.write sets; open("w") reads it
                else:
                    info.compress_type = zipfile.ZIP_STORED
                with source, archive.open(info, "w", force_zip64=attachment.size > 2**31) as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
            if missing:
                archive.writestr(
                    names.claim("", MISSING_LIST),
                    _("These files are no longer in storage:") + "\n" + "\n".join(missing) + "\n",
                )
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def _size(n: int) -> str:
    from django.template.defaultfilters import filesizeformat

    return str(filesizeformat(n))
