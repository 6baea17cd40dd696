"""accounts' long jobs (core/jobs.py), registered from AccountsConfig.ready(): the school
import, a province's bulk issuance and the register export. Each checks again, in the
worker, that its owner may still do it; a refusal or a bad row fails the job with its
reason and writes nothing (the work runs in the job's transaction)."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import register, scoping, services
from accounts.models import Account, Unit
from core import jobs

IMPORT_SCHOOLS = "accounts.import_schools"
ISSUE_BULK = "accounts.issue_bulk"
REGISTER_EXPORT = "accounts.register_export"
# Reasons listed in a failed import's message (the rest counted).
MAX_LISTED_ERRORS = 20


def inline_limit() -> int:
    """Up to this many rows or accounts a request does the work itself; more go to a job."""
    return getattr(settings, "JOB_INLINE_MAX", 2000)


def _owner(job) -> Account:
    account = Account.objects.select_related("unit").filter(pk=job.owner_id).first()
    if account is None or not scoping.is_active_account(account):
        raise PermissionDenied(_("The account that started this job is no longer active."))
    return account


def _unit(code: str) -> Unit:
    unit = Unit.objects.filter(code=code).first()
    if unit is None:
        raise jobs.JobFailed(_("No unit has the code %s.") % code)
    return unit


# --- the school import ---------------------------------------------------------------


def start_import_schools(*, owner: Account, rows, file_name: str):
    """The import of `rows` (accounts.sheets.school_rows) as a job of `owner`."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:16]
    return jobs.start(
        IMPORT_SCHOOLS,
        digest,
        owner,
        params={"rows": [list(r) for r in rows], "file_name": file_name},
        title=_("Import schools: %s") % file_name,
    )


def _run_import_schools(job, progress):
    owner = _owner(job)
    if not (owner.role == "manager" and owner.unit.level in ("ministry", "province")):
        raise PermissionDenied(_("Only managers of the Ministry or a province import schools."))
    rows = [tuple(r) for r in job.params.get("rows", [])]
    if not rows:
        raise jobs.JobFailed(_("The file has no rows."))
    result = services.schools_import(rows=rows, progress=progress)
    if result.errors:
        listed = [
            _("row %(row)d, %(column)s: %(reason)s")
            % {"row": e.row, "column": e.column, "reason": e.reason}
            for e in result.errors[:MAX_LISTED_ERRORS]
        ]
        more = len(result.errors) - len(listed)
        if more > 0:
            listed.append(_("and %d more") % more)
        raise jobs.JobFailed(
            _("%d error(s); nothing was imported.") % len(result.errors) + "\n" + "\n".join(listed)
        )
    return jobs.Output(
        message=_("%(created)d schools added, %(renamed)d renamed, %(unchanged)d unchanged.")
        % {"created": result.created, "renamed": result.renamed, "unchanged": result.unchanged}
    )


# --- bulk issuance -------------------------------------------------------------------------


def start_issue_bulk(*, owner: Account, root: Unit, scope: str, roles: str, ip: str | None):
    return jobs.start(
        ISSUE_BULK,
        f"{root.code}:{scope}:{roles}",
        owner,
        params={"root": root.code, "scope": scope, "roles": roles, "ip": ip},
        title=_("Issue accounts: %s") % root.name,
    )


def _run_issue_bulk(job, progress):
    owner = _owner(job)
    p = job.params
    result = services.accounts_issue_bulk(
        actor=owner,
        root=_unit(p["root"]),
        scope=p["scope"],
        roles=p["roles"],
        ip=p.get("ip"),
        progress=progress,
    )
    batch = result.batch
    return jobs.Output(
        message=_(
            "%(n)d accounts issued, %(skipped)d skipped (they had one); the credential sheet is on the batch's page."
        )
        % {"n": batch.account_count, "skipped": batch.skipped_count},
        url=reverse("issue_batch", args=[batch.pk]),
    )


# --- the register export --------------------------------------------------------------------


def start_register_export(*, owner: Account, unit: Unit, subtree: bool, since, ip):
    since_text = since.isoformat() if since else ""
    return jobs.start(
        REGISTER_EXPORT,
        f"{unit.code}:{int(subtree)}:{since_text}",
        owner,
        params={"unit": unit.code, "subtree": subtree, "since": since_text, "ip": ip},
        title=_("Export the register: %s") % unit.name,
    )


def _run_register_export(job, progress):
    owner = _owner(job)
    p = job.params
    unit = _unit(p["unit"])
    since = date.fromisoformat(p["since"]) if p.get("since") else None
    out, rows = register.register_export(
        actor=owner,
        unit=unit,
        subtree=bool(p.get("subtree")),
        since=since,
        ip=p.get("ip"),
        progress=progress,
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    return jobs.Output(
        message=_("%d rows exported.") % rows,
        file_name=f"register-{unit.code}-{stamp}.xlsx",
        content=out,
    )


def register_kinds() -> None:
    jobs.register(IMPORT_SCHOOLS, run=_run_import_schools)
    jobs.register(ISSUE_BULK, run=_run_issue_bulk)
    jobs.register(REGISTER_EXPORT, run=_run_register_export)
