"""School additions, renames and closures (issue 15, item 6): a county manager proposes,
a manager of the level above (the county's parent unit or any unit above it) approves
or refuses with a reason. Every step is one transaction and goes to the audit log.

On approval the tree changes here; the other apps follow through
`accounts.signals.unit_changed`, sent inside the same transaction (chat renames rooms,
notices recount audiences, tickets and problem records of a closed school pass to its
county). A closed school stays in the tree for the record (`Unit.closed_at`): its
accounts are disabled, and audiences, pickers, rooms and issuance leave it out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import (
    Account,
    AuditAction,
    Level,
    Unit,
    UnitChange,
    UnitChangeKind,
    UnitChangeStatus,
)

# The school types a county may give a new school (学校类型), stored as written.
SCHOOL_TYPES = [
    "小学",
    "初级中学",
    "九年一贯制学校",
    "高级中学",
    "完全中学",
    "十二年一贯制学校",
    "中等职业学校",
    "特殊教育学校",
    "其他",
]
SCHOOL_CODE_LENGTH = 10
MAX_REASON = 1000
# The most rows one Excel workbook of proposals may hold.
MAX_BATCH_ROWS = 2000


# --- who may do what ------------------------------------------------------------------


def can_propose(actor) -> bool:
    """County managers propose changes to the schools of their own county."""
    return (
        scoping.is_manager(actor)
        and actor.unit.level == Level.COUNTY
        and actor.unit.closed_at is None
    )


def can_decide(actor, change: UnitChange) -> bool:
    """Managers of the proposing county's parent unit or of any unit above it; never
    the county itself, a sibling or a school."""
    if not scoping.is_manager(actor):
        return False
    path = actor.unit.path
    return change.proposer_path.startswith(path) and len(path) < len(change.proposer_path)


def can_withdraw(actor, change: UnitChange) -> bool:
    return (
        scoping.is_manager(actor)
        and change.status == UnitChangeStatus.PENDING
        and change.proposer_unit_id == actor.unit_id
    )


def is_decider(actor) -> bool:
    """A manager above county level (someone who may have proposals to decide)."""
    return scoping.is_manager(actor) and actor.unit.level in (
        Level.MINISTRY,
        Level.PROVINCE,
        Level.PREFECTURE,
    )


# --- reads ----------------------------------------------------------------------------


def open_schools(county: Unit) -> QuerySet[Unit]:
    """The county's schools that are not closed (the choices for rename and close)."""
    return Unit.objects.filter(parent=county, level=Level.SCHOOL, closed_at__isnull=True).order_by(
        "name", "code"
    )


def proposals_of(actor) -> QuerySet[UnitChange]:
    """The proposals of the actor's own county, newest first."""
    if not scoping.is_manager(actor):
        return UnitChange.objects.none()
    return UnitChange.objects.filter(proposer_unit_id=actor.unit_id).select_related(
        "unit", "proposed_by", "decided_by"
    )


def to_decide(actor) -> QuerySet[UnitChange]:
    """Pending proposals of counties strictly below the actor's unit, oldest first."""
    if not is_decider(actor):
        return UnitChange.objects.none()
    return (
        UnitChange.objects.filter(
            scoping.under("proposer_path", actor.unit.path), status=UnitChangeStatus.PENDING
        )
        .exclude(proposer_path=actor.unit.path)
        .select_related("unit", "proposer_unit", "proposed_by")
        .order_by("proposed_at", "id")
    )


def decided_below(actor, limit: int = 100) -> list[UnitChange]:
    """The latest decided or withdrawn proposals of the actor's subtree (the history)."""
    if not is_decider(actor):
        return []
    return list(
        UnitChange.objects.filter(scoping.under("proposer_path", actor.unit.path))
        .exclude(status=UnitChangeStatus.PENDING)
        .select_related("unit", "proposer_unit", "proposed_by", "decided_by")
        .order_by("-decided_at", "-proposed_at", "-id")[:limit]
    )


# --- telling the people concerned (the header's toast, static/js/realtime.js) ----------


def _tell(what: str, *, county: Unit, name: str = "", count: int = 1, groups: list[str]):
    """A stored `unit.change` event (pushed after commit): no text, only what happened,
    the county's and the school's names (both visible to every recipient)."""
    from core import events

    events.publish(
        kind="unit.change",
        payload={"what": what, "county": county.name, "name": name, "count": count},
        groups=groups,
    )


def _deciders_group(county: Unit) -> list[str]:
    """The managers of the county's parent unit (those above see the page's list)."""
    from core import events

    parent = Unit.objects.get(pk=county.parent_id)
    return [events.tree_group(parent.code, parent.level, managers_only=True)]


def _county_managers_group(county: Unit) -> list[str]:
    from core import events

    return [events.tree_group(county.code, county.level, managers_only=True)]


# --- proposing ------------------------------------------------------------------------


@dataclass
class Proposal:
    """One proposal as typed or read from a row, before it is checked."""

    kind: str
    code: str = ""
    name: str = ""
    school_type: str = ""
    reason: str = ""
    unit: Unit | None = None


def _clean(text) -> str:
    return " ".join(str(text or "").split())


def _check(county: Unit, p: Proposal, *, taken_codes=(), taken_units=()) -> list[tuple[str, str]]:
    """What is wrong with proposal `p` of `county`, as (field, reason) pairs. `taken_*`
    are codes and units claimed by earlier rows of the same workbook."""
    errors: list[tuple[str, str]] = []
    reason = p.reason
    if len(reason) > MAX_REASON:
        errors.append(("reason", _("The reason is limited to 1,000 characters.")))
    if p.kind == UnitChangeKind.ADD:
        code = p.code
        if not code:
            errors.append(("code", _("Enter the school identifier code.")))
        elif not (code.isascii() and code.isdigit() and len(code) == SCHOOL_CODE_LENGTH):
            errors.append(
                ("code", _("The school identifier code must be 10 digits: %s") % code[:20])
            )
        elif code in taken_codes:
            errors.append(("code", _("The code %s appears twice in this workbook.") % code))
        else:
            other = Unit.objects.filter(code=code).first()
            if other is not None:
                errors.append(
                    (
                        "code",
                        _("The code %(code)s already belongs to %(unit)s.")
                        % {"code": code, "unit": other.name},
                    )
                )
            elif UnitChange.objects.filter(
                kind=UnitChangeKind.ADD, code=code, status=UnitChangeStatus.PENDING
            ).exists():
                errors.append(
                    ("code", _("A school with the code %s is already awaiting approval.") % code)
                )
        errors += _check_name(county, p.name)
        if p.school_type not in SCHOOL_TYPES:
            errors.append(
                (
                    "school_type",
                    _("Choose the school type from the list: %s") % "、".join(SCHOOL_TYPES),
                )
            )
        return errors
    if p.kind not in (UnitChangeKind.RENAME, UnitChangeKind.CLOSE):
        return [("kind", _("The change must be one of: add, rename, close."))]
    unit = p.unit
    if unit is None:
        errors.append(("code", _("Choose a school of your county.")))
        return errors
    if unit.level != Level.SCHOOL or unit.parent_id != county.pk:
        # Named by its code only: a unit outside the county is none of its business.
        errors.append(("code", _("No school of your county has the code %s.") % unit.code))
        return errors
    if unit.closed_at is not None:
        errors.append(("code", _("%s is already closed.") % unit.name))
        return errors
    if unit.pk in taken_units:
        errors.append(("code", _("%s appears twice in this workbook.") % unit.name))
    elif UnitChange.objects.filter(unit=unit, status=UnitChangeStatus.PENDING).exists():
        errors.append(("code", _("A change of %s is already awaiting approval.") % unit.name))
    if p.kind == UnitChangeKind.RENAME:
        name_errors = _check_name(county, p.name)
        if not name_errors and p.name == unit.name:
            name_errors.append(("name", _("The new name is the same as the current one.")))
        errors += name_errors
    elif not reason:
        errors.append(("reason", _("Say why the school closes.")))
    return errors


def _check_name(county: Unit, name: str) -> list[tuple[str, str]]:
    if not name:
        return [("name", _("Enter the school's name."))]
    if len(name) > 100:
        return [("name", _("The school name is longer than 100 characters."))]
    if open_schools(county).filter(name=name).exists():
        return [("name", _("Your county already has a school named %s.") % name)]
    return []


def _store(actor: Account, p: Proposal, *, batch=None, ip=None) -> UnitChange:
    from accounts.services import audit_event

    county = actor.unit
    change = UnitChange(
        kind=p.kind,
        proposer_unit=county,
        proposer_path=county.path,
        unit=p.unit,
        code=p.code if p.kind == UnitChangeKind.ADD else (p.unit.code if p.unit else ""),
        name=p.name if p.kind != UnitChangeKind.CLOSE else "",
        old_name=p.unit.name if p.unit is not None else "",
        school_type=p.school_type if p.kind == UnitChangeKind.ADD else "",
        reason=p.reason,
        proposed_by=actor,
        batch=batch,
    )
    change.save()
    audit_event(
        action=AuditAction.UNIT_CHANGE_PROPOSED,
        actor=actor,
        unit=p.unit or county,
        ip=ip,
        detail=_detail(change),
    )
    return change


def _detail(change: UnitChange) -> dict:
    detail = {"change": change.pk, "kind": change.kind, "code": change.code}
    if change.name:
        detail["name"] = change.name
    if change.old_name:
        detail["old_name"] = change.old_name
    if change.school_type:
        detail["school_type"] = change.school_type
    return detail


_RACE = _("Another proposal for this school or code was sent meanwhile; reload and try again.")


def propose(
    *,
    actor: Account,
    kind: str,
    code: str = "",
    name: str = "",
    school_type: str = "",
    reason: str = "",
    unit: Unit | None = None,
    ip: str | None = None,
) -> UnitChange:
    """A county manager proposes to add a school (code, name, type), rename one of its
    schools (new name) or close one (reason)."""
    if not can_propose(actor):
        raise PermissionDenied(_("Only a county's managers propose changes to its schools."))
    p = Proposal(
        kind=kind,
        code=_clean(code),
        name=_clean(name),
        school_type=_clean(school_type),
        reason=str(reason or "").strip(),
        unit=unit,
    )
    errors = _check(actor.unit, p)
    if errors:
        out: dict[str, list[str]] = {}
        for f, message in errors:
            out.setdefault(f, []).append(message)
        raise ValidationError(out)
    try:
        with transaction.atomic():
            change = _store(actor, p, ip=ip)
            _tell(
                "proposed",
                county=actor.unit,
                name=change.name or change.old_name,
                groups=_deciders_group(actor.unit),
            )
            return change
    except IntegrityError as exc:  # the partial unique constraints: a proposal raced us
        raise ValidationError(_RACE) from exc


def withdraw(*, actor: Account, change_id: int, ip: str | None = None) -> UnitChange:
    """The proposing county takes back a proposal still awaiting approval."""
    from accounts.services import audit_event

    with transaction.atomic():
        change = UnitChange.objects.select_for_update().filter(pk=change_id).first()
        if change is None or change.proposer_unit_id != getattr(actor, "unit_id", None):
            raise PermissionDenied(_("This proposal is not your county's."))
        if not can_withdraw(actor, change):
            raise ValidationError(_("Only a proposal awaiting approval can be withdrawn."))
        change.status = UnitChangeStatus.WITHDRAWN
        change.decided_by = actor
        change.decided_at = timezone.now()
        change.save(update_fields=["status", "decided_by", "decided_at"])
        audit_event(
            action=AuditAction.UNIT_CHANGE_WITHDRAWN,
            actor=actor,
            unit=change.unit or change.proposer_unit,
            ip=ip,
            detail=_detail(change),
        )
    return change


# --- deciding -------------------------------------------------------------------------


def decide(
    *, actor: Account, change_id: int, approve: bool, reason: str = "", ip: str | None = None
) -> UnitChange:
    """Approve (the tree changes, the apps follow) or refuse (with a reason) a pending
    proposal. The proposal row is locked: of two approvals at once, one applies it and
    the other finds it decided."""
    from accounts.services import audit_event

    reason = str(reason or "").strip()
    if not approve and not reason:
        raise ValidationError({"decision_reason": [_("Say why the proposal is refused.")]})
    if len(reason) > MAX_REASON:
        raise ValidationError(
            {"decision_reason": [_("The reason is limited to 1,000 characters.")]}
        )
    with transaction.atomic():
        change = (
            UnitChange.objects.select_for_update()
            .select_related("proposer_unit")
            .filter(pk=change_id)
            .first()
        )
        if change is None or not can_decide(actor, change):
            raise PermissionDenied(
                _("Only managers of the level above the proposing county decide this.")
            )
        if change.status != UnitChangeStatus.PENDING:
            raise ValidationError(_("This proposal was already %s.") % change.get_status_display())
        now = timezone.now()
        change.decided_by, change.decided_at, change.decision_reason = actor, now, reason
        if not approve:
            change.status = UnitChangeStatus.REFUSED
            change.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
            audit_event(
                action=AuditAction.UNIT_CHANGE_REFUSED,
                actor=actor,
                unit=change.unit or change.proposer_unit,
                ip=ip,
                detail=_detail(change) | {"reason": reason},
            )
            _tell(
                "refused",
                county=change.proposer_unit,
                name=change.name or change.old_name,
                groups=_county_managers_group(change.proposer_unit),
            )
            return change
        unit = _apply(actor=actor, change=change, now=now, ip=ip)
        change.status = UnitChangeStatus.APPROVED
        change.unit = unit
        change.save(
            update_fields=[
                "status",
                "unit",
                "old_name",
                "decided_by",
                "decided_at",
                "decision_reason",
            ]
        )
        audit_event(
            action=AuditAction.UNIT_CHANGE_APPROVED,
            actor=actor,
            unit=unit,
            ip=ip,
            detail=_detail(change),
        )
        from accounts.signals import unit_changed

        unit_changed.send(sender=UnitChange, change=change, unit=unit, actor=actor)
        _tell(
            "approved",
            county=change.proposer_unit,
            name=change.name or change.old_name,
            groups=_county_managers_group(change.proposer_unit),
        )
    return change


def _apply(*, actor: Account, change: UnitChange, now, ip) -> Unit:
    from accounts.services import account_set_active, audit_event, unit_build, unit_initials

    county = change.proposer_unit
    if change.kind == UnitChangeKind.ADD:
        if county.closed_at is not None:
            raise ValidationError(_("The proposing county is closed."))
        if Unit.objects.filter(code=change.code).exists():
            raise ValidationError(
                _("The code %s was given to another unit meanwhile; refuse this proposal.")
                % change.code
            )
        unit = unit_build(level=Level.SCHOOL, code=change.code, name=change.name, parent=county)
        unit.school_type = change.school_type
        unit.save()
        audit_event(
            action=AuditAction.UNIT_ADDED, actor=actor, unit=unit, ip=ip, detail=_detail(change)
        )
        return unit
    unit = Unit.objects.select_for_update().get(pk=change.unit_id)
    if unit.closed_at is not None:
        raise ValidationError(_("%s is already closed.") % unit.name)
    if change.kind == UnitChangeKind.RENAME:
        change.old_name = unit.name
        unit.name = change.name
        unit.initials = unit_initials(change.name)
        unit.save(update_fields=["name", "initials"])
        audit_event(
            action=AuditAction.UNIT_RENAMED, actor=actor, unit=unit, ip=ip, detail=_detail(change)
        )
        return unit
    unit.closed_at = now
    unit.save(update_fields=["closed_at"])
    disabled = 0
    # The ordinary disable path (audited, open sockets told to close), one account at a
    # time: a school has a handful.
    for account in Account.objects.filter(unit=unit, is_active=True).select_related("unit"):
        account_set_active(actor=actor, account=account, active=False, ip=ip)
        disabled += 1
    audit_event(
        action=AuditAction.UNIT_CLOSED,
        actor=actor,
        unit=unit,
        ip=ip,
        detail=_detail(change) | {"reason": change.reason, "accounts_disabled": disabled},
    )
    return unit


# --- Excel batch ----------------------------------------------------------------------

COLUMNS = ["变更类型", "学校标识码", "学校名称", "学校类型", "原因"]
KIND_WORDS = {
    "新增": UnitChangeKind.ADD,
    "增加": UnitChangeKind.ADD,
    "add": UnitChangeKind.ADD,
    "更名": UnitChangeKind.RENAME,
    "改名": UnitChangeKind.RENAME,
    "rename": UnitChangeKind.RENAME,
    "撤销": UnitChangeKind.CLOSE,
    "关闭": UnitChangeKind.CLOSE,
    "close": UnitChangeKind.CLOSE,
}


@dataclass
class BatchError:
    row: int
    column: str
    reason: str


@dataclass
class BatchResult:
    changes: list[UnitChange] = field(default_factory=list)
    errors: list[BatchError] = field(default_factory=list)


_FIELD_COLUMN = {
    "kind": "变更类型",
    "code": "学校标识码",
    "name": "学校名称",
    "school_type": "学校类型",
    "reason": "原因",
}


def template_workbook() -> bytes:
    """An empty workbook with the batch's columns and one example row of each kind."""
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = "学校变更"
    ws.append(COLUMNS)
    ws.append(["新增", "1234567890", "示例县第一小学", "小学", ""])
    ws.append(["更名", "1234567891", "示例县实验中学", "", "学校更名批复文号"])
    ws.append(["撤销", "1234567892", "", "", "撤并到示例县第二小学"])
    for col, width in zip("ABCDE", (10, 14, 28, 18, 36), strict=True):
        ws.column_dimensions[col].width = width
    kinds = DataValidation(type="list", formula1='"新增,更名,撤销"', allow_blank=True)
    types = DataValidation(type="list", formula1=f'"{",".join(SCHOOL_TYPES)}"', allow_blank=True)
    ws.add_data_validation(kinds)
    ws.add_data_validation(types)
    kinds.add("A2:A2000")
    types.add("D2:D2000")
    help_ws = wb.create_sheet("说明")
    for line in (
        "变更类型：新增、更名或撤销。",
        "学校标识码：10 位数字。新增时为新学校的标识码；更名、撤销时为本区县已有学校的标识码。",
        "学校名称：新增时为学校名称，更名时为新名称，撤销时留空。",
        "学校类型：新增时必填，从下拉列表中选择。",
        "原因：撤销时必填。",
        "示例行请删除后再上传。任何一行有误，整个文件都不会提交。",
    ):
        help_ws.append([line])
    help_ws.column_dimensions["A"].width = 90
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _clean(value)


def read_rows(content: bytes) -> list[tuple[int, list[str]]]:
    """(row number, the five cells as text) of each non-empty row below the header."""
    from io import BytesIO
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(BytesIO(content), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValidationError(_("The file is not an Excel workbook (.xlsx).")) from exc
    ws = wb.worksheets[0]
    rows: list[tuple[int, list[str]]] = []
    header = None
    for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
        cells = [_cell(v) for v in (list(values) + [None] * 5)[:5]]
        if header is None:
            header = cells
            if [h.replace(" ", "") for h in header] != COLUMNS:
                raise ValidationError(
                    _("The first row must be the column headings: %s") % "、".join(COLUMNS)
                )
            continue
        if not any(cells):
            continue
        rows.append((number, cells))
        if len(rows) > MAX_BATCH_ROWS:
            raise ValidationError(_("At most 2,000 rows at a time."))
    wb.close()
    if not rows:
        raise ValidationError(_("The workbook has no rows below the headings."))
    return rows


def propose_batch(*, actor: Account, content: bytes, ip: str | None = None) -> BatchResult:
    """Every row of an uploaded workbook as one proposal, all or nothing: every bad row is
    named with its number and reason, and then nothing is stored."""
    if not can_propose(actor):
        raise PermissionDenied(_("Only a county's managers propose changes to its schools."))
    county = actor.unit
    result = BatchResult()
    parsed: list[Proposal] = []
    rows = read_rows(content)
    units = {
        u.code: u
        for u in Unit.objects.filter(code__in={cells[1] for _n, cells in rows if cells[1]})
    }
    taken_codes: set[str] = set()
    taken_units: set[int] = set()
    for number, (kind_word, code, name, school_type, reason) in rows:
        kind = KIND_WORDS.get(kind_word.lower())
        if kind is None:
            result.errors.append(
                BatchError(number, "变更类型", _("Write 新增, 更名 or 撤销, not “%s”.") % kind_word)
            )
            continue
        p = Proposal(kind=kind, code=code, name=name, school_type=school_type, reason=reason)
        if kind != UnitChangeKind.ADD:
            p.unit = units.get(code)
            if p.unit is None:
                result.errors.append(
                    BatchError(
                        number,
                        "学校标识码",
                        _("No school of your county has the code %s.") % (code or "∅"),
                    )
                )
                continue
            p.code = ""
        errors = _check(county, p, taken_codes=taken_codes, taken_units=taken_units)
        if not errors and kind == UnitChangeKind.ADD:
            same_name = [q for q in parsed if q.name == name and q.kind != UnitChangeKind.CLOSE]
            if same_name:
                errors.append(("name", _("The name %s appears twice in this workbook.") % name))
        for f, message in errors:
            result.errors.append(BatchError(number, _FIELD_COLUMN.get(f, f), message))
        if kind == UnitChangeKind.ADD and code:
            taken_codes.add(code)
        if p.unit is not None:
            taken_units.add(p.unit.pk)
        if not errors:
            parsed.append(p)
    if result.errors:
        return result
    batch = uuid.uuid4()
    try:
        with transaction.atomic():
            result.changes = [_store(actor, p, batch=batch, ip=ip) for p in parsed]
            _tell(
                "proposed",
                county=county,
                name=result.changes[0].name or result.changes[0].old_name,
                count=len(result.changes),
                groups=_deciders_group(county),
            )
    except IntegrityError as exc:
        raise ValidationError(_RACE) from exc
    return result
