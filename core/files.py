"""Uploads every app takes the same way (notices, their replies, tickets, chat): the
accepted types and sizes, a name safe to store and offer back, and the files of a
failed transaction removed again."""

import os
from contextlib import contextmanager

from django import forms
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

ALLOWED_EXTENSIONS = {
    ".pdf",
    ".ofd",
    ".doc",
    ".docx",
    ".wps",
    ".xls",
    ".xlsx",
    ".et",
    ".csv",
    ".ppt",
    ".pptx",
    ".dps",
    ".txt",
    ".zip",
    ".rar",
    ".7z",
    ".jpg",
    ".jpeg",
    ".png",
}

MAX_FILE_NAME = 200


def clean_file_name(name: str) -> str:
    """The base name, printable and without characters Windows refuses, at most
    MAX_FILE_NAME characters — shortened before its extension, which decides the type."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')
    if len(base) > MAX_FILE_NAME:
        stem, ext = os.path.splitext(base)
        ext = ext[:20]
        base = stem[: MAX_FILE_NAME - len(ext)] + ext
    return base or "file"


def check_files(files) -> list[str]:
    """Every reason the uploads cannot be stored; empty when they all can."""
    errors = []
    if len(files) > settings.NOTICE_MAX_FILES:
        errors.append(_("At most %d files may be attached.") % settings.NOTICE_MAX_FILES)
    for f in files:
        name = clean_file_name(f.name)
        ext = os.path.splitext(name)[1].lower()
        if ext not in ALLOWED_EXTENSIONS:
            errors.append(
                _(
                    "%(name)s: files of type “%(ext)s” are not accepted; use PDF, Office/WPS, CSV, text, images or archives."
                )
                % {"name": name, "ext": ext or "?"}
            )
        if f.size > settings.NOTICE_MAX_FILE_BYTES:
            errors.append(
                _("%(name)s is %(size).1f MB; the limit is %(limit)d MB.")
                % {
                    "name": name,
                    "size": f.size / 2**20,
                    "limit": settings.NOTICE_MAX_FILE_BYTES // 2**20,
                }
            )
        if f.size == 0:
            errors.append(_("%s is empty.") % name)
    return errors


@contextmanager
def undo_files():
    """Files written in a transaction that then fails are removed: nothing half-written
    stays. Every upload field uses the default storage, so that is where they are."""
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        for path in stored:
            default_storage.delete(path)
        raise


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True
    # A labelled button in the platform's language instead of the browser's "Choose Files".
    template_name = "core/widgets/file_picker.html"


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files]
