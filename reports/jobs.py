"""The weekly report's workbook as a long job (core/jobs.py) for the units whose sheet
sums the largest subtrees (the Ministry, a province): the request hands it to a worker
and the manager watches its progress; smaller units get it inline. Registered from
ReportsConfig.ready()."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import Account, Level, Unit
from core import jobs
from reports import selectors, workbook

WORKBOOK = "reports.weekly"
# A sheet of these levels sums a whole province's or the country's figures.
AS_JOB_LEVELS = (Level.MINISTRY, Level.PROVINCE)


def as_job(unit: Unit) -> bool:
    return unit.level in AS_JOB_LEVELS


def start_workbook(*, owner, unit: Unit, week: date):
    return jobs.start(
        WORKBOOK,
        f"{unit.code}|{week.isoformat()}",
        owner,
        params={"unit": unit.code, "week": week.isoformat()},
        title=_("Weekly report: %(unit)s, week of %(week)s")
        % {"unit": unit.name, "week": week.isoformat()},
        unit_path=unit.path,
    )


def _run_workbook(job, progress):
    owner = Account.objects.select_related("unit").filter(pk=job.owner_id).first()
    unit = Unit.objects.filter(code=job.params.get("unit")).first()
    if (
        owner is None
        or unit is None
        or not scoping.is_active_account(owner)
        or not scoping.is_manager(owner)
        or not scoping.is_within(unit, owner.unit)
    ):
        raise PermissionDenied(_("No such unit in your jurisdiction."))
    progress(0, 2)
    report = selectors.weekly(unit, date.fromisoformat(job.params["week"]))
    progress(1, 2)
    data = workbook.build(report)
    progress(2, 2)
    return jobs.Output(
        message=_("No data this week.") if report.is_empty else "",
        file_name=workbook.file_name(report),
        content=data,
    )


def register_kinds() -> None:
    jobs.register(WORKBOOK, run=_run_workbook)
