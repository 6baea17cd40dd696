"""The register of roll administrators (学籍管理员备案表), built from the accounts: who
holds the active accounts of a unit or of its subtree, their phone and role, since when,
and what changed since a date (from the audit log); on screen paged, and in the
province's Excel layout, streamed through a write-only workbook so a province's tens
of thousands of accounts are written in bounded memory.

Reads only; the export's audit event is the one write (REGISTER_EXPORTED)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from copy import copy
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts import scoping
from accounts.models import Account, AuditAction, AuditEvent, Role, Unit

# When the current person took the account: issued, handed over, or moved to this unit.
SINCE_ACTIONS = (
    AuditAction.ACCOUNT_ISSUED,
    AuditAction.ACCOUNT_HANDED_OVER,
    AuditAction.ACCOUNT_MOVED,
)
# What the register's "changes since" lists.
CHANGE_ACTIONS = (
    AuditAction.ACCOUNT_ISSUED,
    AuditAction.ACCOUNT_HANDED_OVER,
    AuditAction.ACCOUNT_DISABLED,
    AuditAction.ACCOUNT_ENABLED,
    AuditAction.PROFILE_CHANGED,
    AuditAction.ACCOUNT_MOVED,
    AuditAction.UNIT_CLOSED,
)
CHUNK = 2000


def can_view_register(actor, unit: Unit) -> bool:
    """Managers, for their own unit and below. Staff see no other person's account
    anywhere on the platform (scoping.visible_accounts), so not here either."""
    return scoping.can_manage_unit(actor, unit)


def _scope(field: str, unit: Unit, subtree: bool) -> Q:
    return scoping.under(field, unit.path) if subtree else Q(**{field: unit.path})


def register_accounts(*, actor, unit: Unit, subtree: bool = True) -> QuerySet[Account]:
    """The active accounts of `unit` (or of its subtree), in tree order, managers first."""
    if not can_view_register(actor, unit):
        return Account.objects.none()
    return (
        scoping.visible_accounts(actor)
        .filter(_scope("unit__path", unit, subtree), is_active=True)
        .select_related("unit")
        .order_by("unit__path", "role", "username")
    )


def since_for(accounts: Iterable) -> dict[int, datetime]:
    """When the current person took each account: its latest issue, hand-over or move,
    else when the account was created. One grouped query per call (callers chunk)."""
    accounts = list(accounts)
    found = dict(
        AuditEvent.objects.filter(target_id__in=[a.pk for a in accounts], action__in=SINCE_ACTIONS)
        .order_by()
        .values("target_id")
        .annotate(at=Max("created_at"))
        .values_list("target_id", "at")
    )
    return {a.pk: found.get(a.pk) or a.date_joined for a in accounts}


def role_text(role: str, engineer: bool) -> str:
    text = (
        pgettext("register role", "Manager")
        if role == Role.MANAGER
        else pgettext("register role", "Staff")
    )
    if engineer:
        text += pgettext("list separator", ", ") + pgettext("register role", "Technical support")
    return text


def status_text(account) -> str:
    return _("Not yet activated") if account.must_change_password else _("Active")


@dataclass
class RegisterRow:
    unit_name: str
    unit_code: str
    full_name: str
    role: str
    phone: str
    username: str
    since: datetime
    status: str


def register_rows(accounts: Iterable[Account]) -> Iterator[RegisterRow]:
    """Rows of the register for `accounts` (loaded with their unit), chunk by chunk."""
    chunk: list[Account] = []

    def flush():
        since = since_for(chunk)
        for a in chunk:
            yield RegisterRow(
                unit_name=a.unit.name,
                unit_code=a.unit.code,
                full_name=a.full_name,
                role=role_text(a.role, a.is_support_engineer),
                phone=a.phone,
                username=a.username,
                since=since[a.pk],
                status=status_text(a),
            )

    for account in accounts:
        chunk.append(account)
        if len(chunk) >= CHUNK:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def since_start(day: date) -> datetime:
    """The first instant of `day` in the platform's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def register_changes(
    *, actor, unit: Unit, since: date, subtree: bool = True
) -> QuerySet[AuditEvent]:
    """Changes of person, phone, status and place in `unit` (or its subtree) since the
    start of `since`, newest first: issued, handed over, disabled, enabled, profile
    changed, moved (in or out: a move's event sits at the new unit and names the old
    one's path) and units closed."""
    if not can_view_register(actor, unit):
        return AuditEvent.objects.none()
    moved_out = Q(action=AuditAction.ACCOUNT_MOVED) & (
        Q(detail__from_path__startswith=unit.path) if subtree else Q(detail__from_path=unit.path)
    )
    return (
        AuditEvent.objects.filter(action__in=CHANGE_ACTIONS, created_at__gte=since_start(since))
        .filter(_scope("unit_path", unit, subtree) | moved_out)
        .select_related("unit")
        .order_by("-created_at", "-id")
    )


_ACTIONS = frozenset(AuditAction.values)
_ROLES = frozenset(Role.values)


def change_label(event: AuditEvent) -> str:
    if event.action in _ACTIONS:
        return str(AuditAction(event.action).label)
    return event.action


def change_text(event: AuditEvent) -> str:
    """What changed, from what to what, where the event's detail says (else "")."""
    d = event.detail or {}
    parts = []
    if event.action == AuditAction.ACCOUNT_HANDED_OVER:
        parts.append(
            _("%(old)s → %(new)s") % {"old": d.get("from") or "—", "new": d.get("to") or "—"}
        )
    elif event.action == AuditAction.PROFILE_CHANGED:
        for key, title in (("full_name", pgettext("person", "Name")), ("phone", _("Phone"))):
            if isinstance(d.get(key), dict):
                parts.append(
                    _("%(field)s: %(old)s → %(new)s")
                    % {
                        "field": title,
                        "old": d[key].get("from") or "—",
                        "new": d[key].get("to") or "—",
                    }
                )
    elif event.action == AuditAction.ACCOUNT_MOVED:
        parts.append(
            _("%(old)s → %(new)s")
            % {
                "old": f"{d.get('from_name', '')} ({d.get('from_code', '')})",
                "new": f"{d.get('to_name', '')} ({d.get('to_code', '')})",
            }
        )
    elif event.action == AuditAction.ACCOUNT_ISSUED and d.get("role") in _ROLES:
        parts.append(str(Role(d["role"]).label))
    return pgettext("list separator", "; ").join(parts)


# --- the Excel workbook in the province's layout -----------------------------------------

REGISTER_WIDTHS = (6, 30, 13, 12, 18, 18, 18, 12, 12)
CHANGES_WIDTHS = (6, 17, 20, 28, 13, 18, 50, 16)


def _columns(ws, widths) -> None:
    from openpyxl.utils import get_column_letter

    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width


def _printable(ws, *, header_row: int, columns: int) -> None:
    """Landscape, fit to the page's width, the header repeated on every printed page,
    frozen below the header on screen, the title across the table."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.cell_range import MultiCellRange

    last = get_column_letter(columns)
    ws.merged_cells = MultiCellRange([f"A1:{last}1", f"A2:{last}2"])
    ws.freeze_panes = f"A{header_row + 1}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True


def _styled(ws, values, style) -> list:
    """Cells of `values` (core.xlsx.safe_row: formulas stay text) carrying `style`, a
    prepared style array per column or one for all: copying the array is what keeps a
    province's register fast (setting a font per cell hashes it, ~0.2 ms a cell)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import Cell

    from core.xlsx import safe_row

    out = []
    for i, value in enumerate(safe_row(ws, values)):
        cell = value if isinstance(value, Cell) else WriteOnlyCell(ws, value=value)
        cell._style = copy(style[i] if isinstance(style, list) else style)
        out.append(cell)
    return out


def _styles(ws) -> dict:
    """The sheet's styles, each built once on a prototype cell: its style array."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    middle = Alignment(vertical="center", wrap_text=True)
    specs = {
        "title": {"font": Font(bold=True, size=16), "alignment": Alignment(horizontal="center")},
        "line": {"alignment": Alignment(horizontal="left")},
        "head": {
            "font": Font(bold=True),
            "border": border,
            "alignment": Alignment(horizontal="center", vertical="center", wrap_text=True),
        },
        "cell": {"border": border, "alignment": middle},
        # codes, phones and usernames stay text (no 1.38E+10, no lost leading zeros)
        "text": {"border": border, "alignment": middle, "number_format": "@"},
    }
    styles = {}
    for name, attrs in specs.items():
        proto = WriteOnlyCell(ws)
        for attr, value in attrs.items():
            setattr(proto, attr, value)
        styles[name] = proto._style
    return styles


def _local(value: datetime, fmt: str) -> str:
    return timezone.localtime(value).strftime(fmt) if value else ""


def write_register(
    out, *, actor, unit: Unit, subtree: bool, since: date | None, today: date, progress=None
) -> int:
    """Write the register (and, when `since` is given, a second sheet of the changes since
    then) to the binary file `out`; the number of register rows."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Roll administrators' register"))
    st = _styles(ws)
    c, t = st["cell"], st["text"]
    row_style = [c, c, t, c, c, t, t, c, c]
    headers = [
        pgettext("row number", "No."),
        _("Unit"),
        _("Unit code"),
        pgettext("person", "Name"),
        _("Role"),
        _("Contact phone"),
        pgettext("register column", "Account"),
        _("Registered on"),
        _("Status"),
    ]
    _columns(ws, REGISTER_WIDTHS)
    _printable(ws, header_row=3, columns=len(headers))
    scope = _("this unit and every unit under it") if subtree else _("this unit only")
    ws.append(_styled(ws, [_("Roll administrators' register")], st["title"]))
    ws.append(
        _styled(
            ws,
            [
                _("Unit: %(name)s (%(code)s)    Scope: %(scope)s    Date: %(date)s")
                % {"name": unit.name, "code": unit.code, "scope": scope, "date": today.isoformat()}
            ],
            st["line"],
        )
    )
    ws.append(_styled(ws, headers, st["head"]))
    accounts = register_accounts(actor=actor, unit=unit, subtree=subtree)
    total = accounts.count() if progress is not None else 0
    count = 0
    for count, row in enumerate(register_rows(accounts.iterator(chunk_size=CHUNK)), start=1):
        if progress is not None:  # a long job's bar (core/jobs.py), throttled there
            progress(count, total)
        ws.append(
            _styled(
                ws,
                [
                    count,
                    row.unit_name,
                    row.unit_code,
                    row.full_name,
                    row.role,
                    row.phone,
                    row.username,
                    _local(row.since, "%Y-%m-%d"),
                    row.status,
                ],
                row_style,
            )
        )
    if since is not None:
        write_changes(wb, actor=actor, unit=unit, subtree=subtree, since=since, today=today)
    wb.save(out)
    return count


def write_changes(wb, *, actor, unit: Unit, subtree: bool, since: date, today: date) -> int:
    ws = wb.create_sheet(_("Changes"))
    st = _styles(ws)
    c, t = st["cell"], st["text"]
    row_style = [c, c, c, c, t, t, c, c]
    headers = [
        pgettext("row number", "No."),
        _("Time"),
        _("Change"),
        _("Unit"),
        _("Unit code"),
        _("Username"),
        _("Details"),
        _("By"),
    ]
    _columns(ws, CHANGES_WIDTHS)
    _printable(ws, header_row=3, columns=len(headers))
    ws.append(_styled(ws, [_("Changes of roll administrators")], st["title"]))
    ws.append(
        _styled(
            ws,
            [
                _("Unit: %(name)s (%(code)s)    From %(since)s to %(date)s")
                % {
                    "name": unit.name,
                    "code": unit.code,
                    "since": since.isoformat(),
                    "date": today.isoformat(),
                }
            ],
            st["line"],
        )
    )
    ws.append(_styled(ws, headers, st["head"]))
    events = register_changes(actor=actor, unit=unit, since=since, subtree=subtree)
    count = 0
    for count, e in enumerate(events.iterator(chunk_size=CHUNK), start=1):
        ws.append(
            _styled(
                ws,
                [
                    count,
                    _local(e.created_at, "%Y-%m-%d %H:%M"),
                    change_label(e),
                    e.unit.name if e.unit else "",
                    e.unit.code if e.unit else "",
                    e.target_username,
                    change_text(e),
                    e.actor_username,
                ],
                row_style,
            )
        )
    return count


def register_export(
    *,
    actor,
    unit: Unit,
    subtree: bool,
    since: date | None,
    ip: str | None = None,
    progress=None,
):
    """The register as an Excel file (a temporary file, positioned at its start) and its
    row count; every export of these names and phones is audited."""
    from django.core.exceptions import PermissionDenied

    from accounts import services

    if not can_view_register(actor, unit):
        raise PermissionDenied(_("This unit is outside your jurisdiction."))
    out = tempfile.TemporaryFile()
    rows = write_register(
        out,
        actor=actor,
        unit=unit,
        subtree=subtree,
        since=since,
        today=timezone.localdate(),
        progress=progress,
    )
    out.seek(0)
    services.audit_event(
        action=AuditAction.REGISTER_EXPORTED,
        actor=actor,
        unit=unit,
        ip=ip,
        detail={
            "rows": rows,
            "subtree": subtree,
            "since": since.isoformat() if since else None,
        },
    )
    return out, rows
