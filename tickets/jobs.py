"""tickets' long job (core/jobs.py): a large export of the ticket list, written by a
worker with a progress bar; registered from TicketsConfig.ready()."""

from __future__ import annotations

import tempfile

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import Account, Unit
from core import jobs
from tickets import exports, selectors

EXPORT = "tickets.export"


def inline_limit() -> int:
    """Up to this many rows a request writes the export itself; more go to a job."""
    from django.conf import settings

    return getattr(settings, "JOB_INLINE_MAX", 2000)


def start_export(*, owner, q: str, status: str, category: str, unit: Unit | None):
    code = unit.code if unit is not None else ""
    return jobs.start(
        EXPORT,
        f"{q}|{status}|{category}|{code}",
        owner,
        params={"q": q, "status": status, "category": category, "unit": code},
        title=_("Export the tickets"),
    )


def _run_export(job, progress):
    owner = Account.objects.select_related("unit").filter(pk=job.owner_id).first()
    if owner is None or not scoping.is_manager(owner) or not scoping.is_active_account(owner):
        raise PermissionDenied(_("Only managers export the ticket list."))
    p = job.params
    unit = Unit.objects.filter(code=p.get("unit")).first() if p.get("unit") else None
    if unit is not None and not scoping.can_view_unit(owner, unit):
        unit = None
    qs = selectors.search(
        owner,
        q=p.get("q", ""),
        status=p.get("status", ""),
        category=p.get("category", ""),
        unit=unit,
    )
    out = tempfile.TemporaryFile()
    rows = exports.write_tickets(out, qs, progress=progress)
    out.seek(0)
    stamp = timezone.now().astimezone(timezone.get_default_timezone()).strftime("%Y%m%d-%H%M")
    return jobs.Output(
        message=_("%d rows exported.") % rows, file_name=exports.file_name(stamp), content=out
    )


def register_kinds() -> None:
    jobs.register(EXPORT, run=_run_export)
