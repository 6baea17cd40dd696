"""Writes for notices: drafts, publishing, receipts, acknowledgements, forwarding and
reminders. Each runs in one transaction and announces itself through core.events.

Guarantee: a notice's ReceiptTally rows equal a recount of its receipts in every
committed state (see _count_read)."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import LEVEL_ORDER, AuditAction, Level, Unit
from core import events
from core.files import check_files, clean_file_name, undo_files
from core.markup import render_body
from notices import selectors
from notices.models import (
    Attachment,
    AudienceTally,
    DocNumberCounter,
    DocNumberRule,
    Notice,
    NoticeTarget,
    Priority,
    Receipt,
    ReceiptTally,
    Reminder,
    Status,
)

# --- body and files -----------------------------------------------------------
# The Markdown and upload rules are shared with tickets and chat, so they live in core.

MAX_BODY = 50_000
MAX_TITLE = 200


def _store_files(files, *, account, stored: list, notice=None, receipt=None) -> None:
    """Write the files and their rows; `stored` collects the paths for `undo_files`."""
    for f in files:
        attachment = Attachment(
            notice=notice,
            receipt=receipt,
            name=clean_file_name(f.name),
            size=f.size,
            uploaded_by=account,
        )
        attachment.file.save(attachment.name, f, save=False)
        stored.append(attachment.file.name)
        attachment.save()


# --- audience -------------------------------------------------------------------


def resolve_audience(
    *, actor, codes: list[str], levels: list[str], managers_only: bool
) -> list[Unit]:
    """The target subtrees, checked against the actor's own subtree; overlapping ones merged."""
    errors = []
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if not codes:
        errors.append(_("Choose at least one unit to send to."))
    allowed_levels = {lv.value for lv in Level if lv != Level.MINISTRY}
    if not levels or any(lv not in allowed_levels for lv in levels):
        errors.append(_("Choose at least one level to send to."))
    elif scoping.is_active_account(actor):
        # A level above the author's own has no unit in its subtree: refused by name
        # rather than as "reaches nobody" (the forms offer only the levels below).
        own = LEVEL_ORDER.index(actor.unit.level)
        above = [lv for lv in LEVEL_ORDER[:own] if lv.value in levels]
        if above:
            errors.append(
                _("A %(own)s cannot send to the %(levels)s level: choose levels below your own.")
                % {
                    "own": Level(actor.unit.level).label,
                    "levels": "、".join(str(lv.label) for lv in above),
                }
            )
    units = {u.code: u for u in Unit.objects.filter(code__in=codes)}
    for code in codes:
        unit = units.get(code)
        if unit is None:
            errors.append(_("No unit has the code %s.") % code)
        elif not scoping.can_manage_unit(actor, unit):
            errors.append(_("%(unit)s is outside your jurisdiction.") % {"unit": unit})
    if errors:
        raise ValidationError(errors)
    roots = sorted(units.values(), key=lambda u: len(u.path))
    merged: list[Unit] = []
    for unit in roots:
        if not any(unit.path.startswith(m.path) for m in merged):
            merged.append(unit)
    return merged


def _set_targets(notice: Notice, roots: list[Unit]) -> None:
    notice.targets.all().delete()
    # A draft's audience may change with its targets, levels or managers-only flag.
    AudienceTally.objects.filter(notice=notice).delete()
    NoticeTarget.objects.bulk_create(
        [NoticeTarget(notice=notice, unit=u, path=u.path) for u in roots]
    )


def _check_reaches_someone(notice: Notice, roots: list[Unit]) -> None:
    if not selectors.reaches_someone(roots, notice.level_list):
        raise ValidationError(
            _(
                "No unit of the chosen levels lies under the chosen units: the notice would reach nobody."
            )
        )


# --- drafts and publishing --------------------------------------------------------


def notice_save(
    *,
    actor,
    title: str,
    body: str,
    priority: str,
    requires_ack: bool,
    ack_deadline,
    publish_at,
    target_codes: list[str],
    levels: list[str],
    managers_only: bool,
    files=(),
    notice: Notice | None = None,
    main_recipients: str = "",
    issuer_line: str = "",
    signed_on: date | None = None,
) -> Notice:
    """Create or update a draft with its audience and new attachments. The formal
    lines (主送, 落款, 成文日期) left empty are filled when it is published
    (see _formalize)."""
    if not scoping.is_manager(actor):
        raise PermissionDenied(_("Only managers publish notices."))
    if notice is not None and not selectors.can_edit(actor, notice):
        raise PermissionDenied(_("Only the author edits an unpublished notice."))
    errors = []
    title = title.strip()
    if not title:
        errors.append(_("The title is empty."))
    if len(title) > MAX_TITLE or len(body) > MAX_BODY:
        errors.append(_("The title or body is too long."))
    if priority not in Priority.values:
        errors.append(_("Unknown priority."))
    if requires_ack and ack_deadline is not None and ack_deadline <= timezone.now():
        errors.append(_("The acknowledgement deadline is in the past."))
    errors += check_files(list(files))
    main_recipients, issuer_line = main_recipients.strip(), issuer_line.strip()
    errors += _formal_errors(main_recipients=main_recipients, issuer_line=issuer_line)
    if errors:
        raise ValidationError(errors)
    roots = resolve_audience(
        actor=actor, codes=target_codes, levels=levels, managers_only=managers_only
    )
    with undo_files() as stored, transaction.atomic():
        notice = notice or Notice(author=actor, author_unit=actor.unit)
        notice.title, notice.body, notice.body_html = title, body, render_body(body)
        notice.main_recipients, notice.issuer_line = main_recipients, issuer_line
        notice.signed_on = signed_on
        notice.priority, notice.requires_ack = priority, requires_ack
        notice.ack_deadline = ack_deadline if requires_ack else None
        notice.publish_at = publish_at
        notice.levels = ",".join(lv for lv in (x.value for x in Level) if lv in levels)
        notice.managers_only = managers_only
        notice.status = Status.DRAFT
        notice.save()
        _set_targets(notice, roots)
        _check_reaches_someone(notice, roots)
        _store_files(files, account=actor, stored=stored, notice=notice)
    return notice


def attachment_delete(*, actor, attachment: Attachment) -> None:
    notice = attachment.notice
    if notice is None or not selectors.can_edit(actor, notice):
        raise PermissionDenied
    attachment.file.delete(save=False)
    attachment.delete()


def _announce(notice: Notice) -> None:
    notice.refresh_from_db()
    roots = [t.unit for t in notice.targets.select_related("unit")]
    events.publish(
        kind="notice.published",
        payload={"notice": notice_summary(notice)},
        groups=events.audience_groups(
            roots=roots, levels=notice.level_list, managers_only=notice.managers_only
        )
        + [events.account_group(notice.author_id)],
    )


def notice_summary(notice: Notice) -> dict:
    return {
        "id": notice.pk,
        "title": notice.title,
        "priority": notice.priority,
        "author_unit": notice.author_unit.name,
        "author_id": notice.author_id,
        "published_at": notice.published_at.isoformat() if notice.published_at else None,
        # Shown as is by the browser client: the platform's time zone, as on the pages.
        "published_local": timezone.localtime(notice.published_at).strftime("%Y-%m-%d %H:%M")
        if notice.published_at
        else "",
        "requires_ack": notice.requires_ack,
        "ack_deadline": notice.ack_deadline.isoformat() if notice.ack_deadline else None,
        "forwarded": notice.forwarded_from_id is not None,
        "url": reverse("notice_detail", args=[notice.pk]),
    }


def notice_publish(*, actor, notice: Notice) -> Notice:
    """Publish now, or schedule for `publish_at`. One row and a few events, whatever the audience."""
    if not selectors.can_edit(actor, notice):
        raise PermissionDenied(_("Only the author publishes a draft."))
    now = timezone.now()
    with transaction.atomic():
        if notice.publish_at and notice.publish_at > now:
            Notice.objects.filter(pk=notice.pk, status=Status.DRAFT).update(status=Status.SCHEDULED)
        else:
            _publish_now(notice.pk, now, from_status=(Status.DRAFT, Status.SCHEDULED))
    notice.refresh_from_db()
    return notice


def _publish_now(pk: int, now, *, from_status, number: bool = True) -> bool:
    """Conditional update: a notice is published (numbered and announced) once."""
    done = Notice.objects.filter(pk=pk, status__in=from_status).update(
        status=Status.PUBLISHED, published_at=now
    )
    if done:
        _formalize(pk, now, number=number)
        _announce(Notice.objects.select_related("author_unit").get(pk=pk))
    return bool(done)


def notices_publish_due() -> int:
    """Publish the scheduled notices whose time has come (Celery beat, every minute)."""
    now = timezone.now()
    count = 0
    for pk in Notice.objects.filter(status=Status.SCHEDULED, publish_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            count += _publish_now(pk, now, from_status=(Status.SCHEDULED,))
    return count


# --- the formal shape: document numbers (文号), 主送, 落款, 成文日期 ------------------------
# A unit with a DocNumberRule numbers its circulars when they are published (at once,
# when their time comes, or forwarded), from 1 in each year of the publish date in
# Asia/Shanghai. The year's DocNumberCounter row is locked for the rest of the
# publishing transaction, so two circulars of one unit never take one number (the
# unique constraint on author_unit, doc_year, doc_seq would refuse it anyway), and
# other units' circulars never wait. Drafts and scheduled notices have no number; a
# correction (`corrects` set) keeps the number of the notice it corrects.

DOC_PREFIX_MAX = 30
DOC_PATTERN_MAX = 60
DOC_NUMBER_MAX = 60
ISSUER_LINE_MAX = 100


def _formal_errors(*, main_recipients: str, issuer_line: str) -> list[str]:
    errors = []
    if len(main_recipients) > selectors.MAIN_RECIPIENTS_MAX:
        errors.append(
            _("The main recipients line is longer than %d characters.")
            % selectors.MAIN_RECIPIENTS_MAX
        )
    if len(issuer_line) > ISSUER_LINE_MAX:
        errors.append(_("The issuing authority is longer than %d characters.") % ISSUER_LINE_MAX)
    if any(not ch.isprintable() for ch in main_recipients + issuer_line):
        errors.append(_("The main recipients and the issuing authority are one line each."))
    return errors


def _next_doc_seq(unit_id: int, year: int) -> int:
    """The next number of the unit's year, its counter row locked until commit. The row
    is created race-free (INSERT … ON CONFLICT DO NOTHING: a second creator waits for
    the first one's commit, then finds the row) before it is locked."""
    DocNumberCounter.objects.bulk_create(
        [DocNumberCounter(unit_id=unit_id, year=year, last=0)], ignore_conflicts=True
    )
    counter = DocNumberCounter.objects.select_for_update().get(unit_id=unit_id, year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return counter.last


def _formalize(pk: int, now, *, number: bool) -> None:
    """At publishing, in its transaction: the document number (the author unit's rule,
    if any) and the defaults of the formal lines left empty: 主送 the target units'
    names, 落款 the rule's issuing authority or the unit's name, 成文日期 the day."""
    notice = Notice.objects.select_related("author_unit").get(pk=pk)
    rule = selectors.numbering_rule(notice.author_unit)
    if number and rule is not None and notice.corrects_id is None and notice.doc_seq is None:
        notice.doc_year = selectors.doc_year(now)
        notice.doc_seq = _next_doc_seq(notice.author_unit_id, notice.doc_year)
        notice.doc_number = selectors.format_doc_number(
            rule.pattern, prefix=rule.prefix, year=notice.doc_year, n=notice.doc_seq
        )[:DOC_NUMBER_MAX]
    if not notice.main_recipients:
        notice.main_recipients = selectors.default_main_recipients(
            [t.unit for t in notice.targets.select_related("unit")]
        )
    if not notice.issuer_line:
        notice.issuer_line = selectors.default_issuer_line(notice.author_unit, rule)
    if notice.signed_on is None:
        notice.signed_on = selectors.doc_date(now)
    notice.save(
        update_fields=[
            "doc_number",
            "doc_year",
            "doc_seq",
            "main_recipients",
            "issuer_line",
            "signed_on",
        ]
    )


def numbering_rule_errors(*, prefix: str, pattern: str, issuer_line: str) -> list[str]:
    """Every reason the rule cannot be stored; empty when it can."""
    errors = []
    if not prefix:
        errors.append(_("Give the issuing authority's abbreviation (机关代字), e.g. 冀教学籍."))
    elif len(prefix) > DOC_PREFIX_MAX:
        errors.append(_("The abbreviation is longer than %d characters.") % DOC_PREFIX_MAX)
    if any(not ch.isprintable() or ch in "{}" for ch in prefix):
        errors.append(_("The abbreviation may not contain braces or line breaks."))
    if len(pattern) > DOC_PATTERN_MAX:
        errors.append(_("The pattern is longer than %d characters.") % DOC_PATTERN_MAX)
    names = selectors.DOC_PLACEHOLDER.findall(pattern)
    unknown = sorted({f"{{{n}}}" for n in names if n not in selectors.DOC_FIELDS})
    stray = selectors.DOC_PLACEHOLDER.sub("", pattern)
    if names.count("n") != 1:
        errors.append(_("The pattern must contain {n}, the number, exactly once."))
    if unknown:
        errors.append(
            _("The pattern may use only {prefix}, {year} and {n}, not %s.") % "、".join(unknown)
        )
    if "{" in stray or "}" in stray or any(not ch.isprintable() for ch in pattern):
        errors.append(_("The pattern has a brace without its pair or a line break."))
    if not errors:
        longest = selectors.format_doc_number(pattern, prefix=prefix, year=2099, n=99999)
        if len(longest) > DOC_NUMBER_MAX:
            errors.append(
                _("With this abbreviation the numbers would be longer than %d characters.")
                % DOC_NUMBER_MAX
            )
    if len(issuer_line) > ISSUER_LINE_MAX:
        errors.append(_("The issuing authority is longer than %d characters.") % ISSUER_LINE_MAX)
    if any(not ch.isprintable() for ch in issuer_line):
        errors.append(_("The issuing authority is one line."))
    return errors


def _rule_fields(rule: DocNumberRule | None) -> dict | None:
    if rule is None:
        return None
    return {"prefix": rule.prefix, "pattern": rule.pattern, "issuer_line": rule.issuer_line}


def numbering_rule_save(
    *, actor, prefix: str, pattern: str, issuer_line: str, ip: str | None = None
) -> DocNumberRule:
    """Set the numbering rule of the actor's own unit (its managers); audited. Numbers
    already given stay; the year's count goes on under the new rule."""
    from accounts.services import audit_event

    if not scoping.is_manager(actor):
        raise PermissionDenied(_("Only managers set the document numbering."))
    prefix, pattern, issuer_line = prefix.strip(), pattern.strip(), issuer_line.strip()
    pattern = pattern or selectors.DEFAULT_DOC_PATTERN
    errors = numbering_rule_errors(prefix=prefix, pattern=pattern, issuer_line=issuer_line)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # The unit row serialises its managers' saves (the rule row may not exist yet).
        Unit.objects.select_for_update().get(pk=actor.unit_id)
        rule = DocNumberRule.objects.filter(unit_id=actor.unit_id).first()
        before = _rule_fields(rule)
        rule = rule or DocNumberRule(unit_id=actor.unit_id)
        rule.prefix, rule.pattern, rule.issuer_line = prefix, pattern, issuer_line
        after = _rule_fields(rule)
        if before == after:
            return rule
        rule.updated_at = timezone.now()
        rule.save()
        audit_event(
            action=AuditAction.NOTICE_NUMBERING_CHANGED,
            actor=actor,
            unit=actor.unit,
            ip=ip,
            detail={"before": before, "after": after},
        )
    return rule


def numbering_rule_delete(*, actor, ip: str | None = None) -> bool:
    """Stop numbering the actor's unit's circulars (numbers given stay); audited.
    False when there was no rule."""
    from accounts.services import audit_event

    if not scoping.is_manager(actor):
        raise PermissionDenied(_("Only managers set the document numbering."))
    with transaction.atomic():
        Unit.objects.select_for_update().get(pk=actor.unit_id)
        rule = DocNumberRule.objects.filter(unit_id=actor.unit_id).first()
        if rule is None:
            return False
        before = _rule_fields(rule)
        rule.delete()
        audit_event(
            action=AuditAction.NOTICE_NUMBERING_CHANGED,
            actor=actor,
            unit=actor.unit,
            ip=ip,
            detail={"before": before, "after": None},
        )
    return True


# --- receipts -------------------------------------------------------------------------


def notice_mark_read(*, account, notice: Notice) -> Receipt | None:
    """Opening a notice marks it read for a recipient (others leave no receipt)."""
    if not selectors.reaches(notice, account):
        return None
    existing = selectors.receipt_of(account=account, notice=notice)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            receipt = Receipt.objects.create(
                notice=notice, account=account, unit=account.unit, unit_path=account.unit.path
            )
            _count_read(receipt, unit=account.unit)
            return receipt
    except IntegrityError:  # the same person opened it in two tabs at once
        return selectors.receipt_of(account=account, notice=notice)


# The counters behind the statistics (models.ReceiptTally). Guarantee: in every
# committed state, a notice's tally rows equal a recount of its receipts (read,
# acknowledged, units with a reader, per bucket). Each change of a receipt adds to
# its bucket's row in the receipt's own transaction, so a rolled-back receipt leaves
# no count, and a receipt is created once (unique constraint) and acknowledged once
# (row lock), so nothing counts twice.


def _bump_tally(*, notice_id: int, path: str, read: int, acked: int) -> None:
    """Add to a bucket's counters, creating its row on first use.

    One INSERT … ON CONFLICT DO UPDATE, on PostgreSQL and SQLite alike: the ORM has
    no increment-or-create (update_or_create reads first and races, and
    bulk_create(update_conflicts=…) cannot add to the stored value). The statement
    leaves the row locked until commit, which _count_read relies on."""
    with connection.cursor() as cursor:
        cursor.execute(_BUMP_TALLY, [notice_id, path, read, acked])


_BUMP_TALLY = (
    "INSERT INTO notices_receipttally AS t (notice_id, path, read, acked, units_read) "
    "VALUES (%s, %s, %s, %s, 0) ON CONFLICT (notice_id, path) DO UPDATE SET "
    "read = t.read + excluded.read, acked = t.acked + excluded.acked"
)


def _count_read(receipt: Receipt, *, unit: Unit) -> None:
    path = selectors.tally_path(level=unit.level, path=receipt.unit_path)
    _bump_tally(notice_id=receipt.notice_id, path=path, read=1, acked=0)
    # Is this the unit's first reader? Asked only now, holding the bucket's row lock,
    # and all receipts of a unit share one bucket: a concurrent reader of the same
    # unit either committed before we got the lock (and READ COMMITTED's next
    # statement sees its receipt) or waits for our commit and then sees ours.
    # Exactly one of them counts the unit.
    others = Receipt.objects.filter(notice_id=receipt.notice_id, unit_id=receipt.unit_id)
    if not others.exclude(pk=receipt.pk).exists():
        ReceiptTally.objects.filter(notice_id=receipt.notice_id, path=path).update(
            units_read=F("units_read") + 1
        )


def notice_acknowledge(*, account, notice: Notice, reply: str = "", files=()) -> Receipt:
    """回执: the recipient confirms, optionally with a reply and files (e.g. a weekly report)."""
    if not selectors.reaches(notice, account):
        raise PermissionDenied(_("This notice is not addressed to you."))
    if not notice.requires_ack:
        raise ValidationError(_("This notice does not ask for an acknowledgement."))
    if (refusal := selectors.withdraw_refusal(notice)) is not None:
        raise ValidationError(refusal, code="not_current")
    reply = reply.strip()
    errors = check_files(list(files))
    if len(reply) > 2000:
        errors.append(_("The reply is longer than 2,000 characters."))
    if errors:
        raise ValidationError(errors)
    with undo_files() as stored, transaction.atomic():
        receipt = notice_mark_read(account=account, notice=notice)
        receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
        # Read again: withdrawn or corrected since the page was opened?
        current = Notice.objects.filter(selectors.CURRENT, pk=notice.pk).exists()
        if not current:
            notice.refresh_from_db()
            raise ValidationError(selectors.withdraw_refusal(notice), code="not_current")
        if receipt.acked_at is not None:
            raise ValidationError(_("You have already acknowledged this notice."))
        receipt.acked_at, receipt.reply = timezone.now(), reply
        receipt.save(update_fields=["acked_at", "reply"])
        _bump_tally(
            notice_id=notice.pk,
            path=selectors.tally_path(level=receipt.unit.level, path=receipt.unit_path),
            read=0,
            acked=1,
        )
        _store_files(files, account=account, stored=stored, receipt=receipt)
        events.publish(
            kind="notice.acknowledged",
            payload={"notice": {"id": notice.pk}, "unit": account.unit.name},
            groups=[events.account_group(notice.author_id)],
        )
    return receipt


# --- forwarding and reminders -----------------------------------------------------------


def notice_forward(
    *,
    actor,
    notice: Notice,
    target_codes: list[str],
    levels: list[str],
    managers_only: bool,
    note: str,
    main_recipients: str = "",
    issuer_line: str = "",
    signed_on: date | None = None,
) -> Notice:
    """转发: pass a received notice down into (part of) the actor's own subtree with a
    note; numbered by the forwarding unit's rule, with its own 主送, 落款 and 成文日期."""
    if not selectors.can_forward(actor, notice):
        raise PermissionDenied(_("You may not forward this notice."))
    note = note.strip()
    if len(note) > 5000:
        raise ValidationError(_("The note is longer than 5,000 characters."))
    main_recipients, issuer_line = main_recipients.strip(), issuer_line.strip()
    errors = _formal_errors(main_recipients=main_recipients, issuer_line=issuer_line)
    if errors:
        raise ValidationError(errors)
    roots = resolve_audience(
        actor=actor, codes=target_codes, levels=levels, managers_only=managers_only
    )
    now = timezone.now()
    with transaction.atomic():
        forward = Notice.objects.create(
            author=actor,
            author_unit=actor.unit,
            title=notice.title,
            body=notice.body,
            body_html=notice.body_html,
            priority=notice.priority,
            requires_ack=notice.requires_ack,
            ack_deadline=notice.ack_deadline,
            levels=",".join(lv for lv in (x.value for x in Level) if lv in levels),
            managers_only=managers_only,
            forwarded_from=notice,
            origin=notice.source,
            forward_note=note,
            main_recipients=main_recipients,
            issuer_line=issuer_line,
            signed_on=signed_on,
            status=Status.DRAFT,
        )
        _set_targets(forward, roots)
        _check_reaches_someone(forward, roots)
        _publish_now(forward.pk, now, from_status=(Status.DRAFT,))
    forward.refresh_from_db()
    return forward


REMINDER_INTERVAL = timedelta(hours=1)


def notice_remind(*, actor, notice: Notice, mode: str) -> Reminder:
    """催办: an urgent real-time reminder to those who have not read (or acknowledged);
    at most once an hour per notice."""
    if not selectors.can_view_stats(actor, notice) or notice.status != Status.PUBLISHED:
        raise PermissionDenied(_("You may not send reminders for this notice."))
    if (refusal := selectors.withdraw_refusal(notice)) is not None:
        raise ValidationError(refusal, code="not_current")
    if mode not in Reminder.Mode.values or (
        mode == Reminder.Mode.UNACKED and not notice.requires_ack
    ):
        raise ValidationError(_("Unknown reminder."))
    now = timezone.now()
    with transaction.atomic():
        due = Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lte=now - REMINDER_INTERVAL)
        claimed = Notice.objects.filter(due, pk=notice.pk).update(last_reminded_at=now)
        if not claimed:
            notice.refresh_from_db()
            wait = notice.last_reminded_at + REMINDER_INTERVAL - now
            minutes = max(1, int(wait.total_seconds() // 60) + 1)
            raise ValidationError(
                _("A reminder was sent less than an hour ago; try again in %d minutes.") % minutes,
                code="too_soon",
            )
        reminder = Reminder.objects.create(notice=notice, sent_by=actor, mode=mode)
        roots = [t.unit for t in notice.targets.select_related("unit")]
        if notice.author_id != actor.pk:
            # A manager along the audience reminds only its own part of it.
            roots = [actor.unit if actor.unit.path.startswith(r.path) else r for r in roots]
            roots = [r for r in roots if r.path.startswith(actor.unit.path)]
        events.publish(
            kind="notice.reminder",
            payload={"notice": notice_summary(notice), "mode": mode, "by": actor.unit.name},
            groups=events.audience_groups(
                roots=roots, levels=notice.level_list, managers_only=notice.managers_only
            ),
        )
    return reminder


def notice_publish_system(
    *,
    author_unit: Unit,
    title: str,
    body: str,
    targets: list[Unit],
    levels: list[str],
    managers_only: bool = False,
    files=(),
) -> Notice:
    """A notice the platform sends by itself (e.g. problem-record reminders, the weekly
    report with its workbook in `files`) in the name of `author_unit`, published at
    once to `targets` × `levels`."""
    from accounts.services import system_account

    now = timezone.now()
    author = system_account()
    with undo_files() as stored, transaction.atomic():
        notice = Notice.objects.create(
            author=author,
            author_unit=author_unit,
            title=title[:MAX_TITLE],
            body=body,
            body_html=render_body(body),
            priority=Priority.URGENT,
            levels=",".join(levels),
            managers_only=managers_only,
            status=Status.DRAFT,
        )
        _set_targets(notice, targets)
        _store_files(files, account=author, stored=stored, notice=notice)
        # The platform's own reminders are no circulars of the unit: no document number.
        _publish_now(notice.pk, now, from_status=(Status.DRAFT,), number=False)
    return notice


# --- withdrawing (撤回) and correcting (更正) ---------------------------------------------
# Both keep what recipients did: receipts, acknowledgements and replies stay on the
# notice they were given for. Each is one conditional update of the notice (a second
# withdrawal, or a correction racing a withdrawal, finds nothing to update) in the
# transaction that audits it and stores its event.

REASON_MIN, REASON_MAX = 4, 500
NOTE_MIN, NOTE_MAX = 4, 2000


def _audience_groups(notice: Notice) -> list[str]:
    """Whom a notice's events reach: its audience, as when it was published, and its author."""
    roots = [t.unit for t in notice.targets.select_related("unit")]
    return events.audience_groups(
        roots=roots, levels=notice.level_list, managers_only=notice.managers_only
    ) + [events.account_group(notice.author_id)]


def _check_reason(text: str, *, what: str, low: int, high: int) -> str:
    text = (text or "").strip()
    if len(text) < low:
        raise ValidationError(
            _("Give the %(what)s (at least %(n)d characters).") % {"what": what, "n": low},
            code="required",
        )
    if len(text) > high:
        raise ValidationError(
            _("The %(what)s is longer than %(n)d characters.") % {"what": what, "n": high},
            code="too_long",
        )
    return text


def _not_current_error(notice: Notice) -> ValidationError:
    if notice.withdrawn_at is not None:
        return ValidationError(_("This notice is already withdrawn."), code="withdrawn")
    if notice.superseded_at is not None:
        return ValidationError(
            _("This notice was already corrected: correct its latest version."),
            code="superseded",
        )
    return ValidationError(_("Only a published notice can be changed so."), code="unpublished")


def notice_withdraw(*, actor, notice: Notice, reason: str) -> Notice:
    """撤回: the notice stays visible to its recipients, marked withdrawn with the reason;
    their receipts and acknowledgements are kept, new acknowledgements and reminders are
    refused (selectors.withdraw_refusal) and it no longer counts as unread anywhere."""
    if notice.status != Status.PUBLISHED or not selectors.is_issuer(actor, notice):
        raise PermissionDenied(_("Only the issuing unit withdraws a notice."))
    if not selectors.is_current(notice):
        raise _not_current_error(notice)
    reason = _check_reason(reason, what=_("reason"), low=REASON_MIN, high=REASON_MAX)
    from accounts.services import audit_event

    now = timezone.now()
    with transaction.atomic():
        done = Notice.objects.filter(
            selectors.CURRENT, pk=notice.pk, status=Status.PUBLISHED
        ).update(withdrawn_at=now, withdrawn_by=actor, withdraw_reason=reason)
        notice.refresh_from_db()
        if not done:
            raise _not_current_error(notice)
        audit_event(
            action=AuditAction.NOTICE_WITHDRAWN,
            actor=actor,
            unit=notice.author_unit,
            detail={"notice": notice.pk, "title": notice.title, "reason": reason},
        )
        events.publish(
            kind="notice.withdrawn",
            payload={
                "notice": {
                    "id": notice.pk,
                    "title": notice.title,
                    "author_unit": notice.author_unit.name,
                    "author_id": notice.author_id,
                    "url": reverse("notice_detail", args=[notice.pk]),
                },
                "reason": reason,
                "by": actor.unit.name,
                "withdrawn_local": timezone.localtime(now).strftime("%Y-%m-%d %H:%M"),
            },
            groups=_audience_groups(notice),
        )
    return notice


def notice_correct(
    *,
    actor,
    notice: Notice,
    title: str,
    body: str,
    note: str,
    requires_ack: bool | None = None,
    ack_deadline=None,
    files=(),
    replace_files: bool = False,
) -> Notice:
    """更正: publish version n + 1 of the notice at once, to the same audience (targets,
    levels, managers-only), from the same unit, carrying its attachments over unless
    `replace_files` (then `files` are the attachments; otherwise they are added). The
    old version is superseded and keeps its receipts; the new one is read and
    acknowledged afresh. Its document number (文号) text is the old one's; the number's
    year and sequence stay with the old notice (they are unique per unit)."""
    if notice.status != Status.PUBLISHED or not selectors.is_issuer(actor, notice):
        raise PermissionDenied(_("Only the issuing unit corrects a notice."))
    if not selectors.is_current(notice):
        raise _not_current_error(notice)
    if notice.forwarded_from_id is not None:
        raise ValidationError(
            _(
                "A forwarding carries the original's text: the original's issuer corrects it; withdraw this forwarding and forward the corrected version."
            ),
            code="forwarded",
        )
    if requires_ack is None:  # not asked: the acknowledgement request as it was
        requires_ack, ack_deadline = notice.requires_ack, notice.ack_deadline
    errors = []
    title = (title or "").strip()
    body = body or ""
    if not title:
        errors.append(_("The title is empty."))
    if len(title) > MAX_TITLE or len(body) > MAX_BODY:
        errors.append(_("The title or body is too long."))
    try:
        note = _check_reason(note, what=_("note on the correction"), low=NOTE_MIN, high=NOTE_MAX)
    except ValidationError as exc:
        errors += exc.messages
    if requires_ack and ack_deadline is not None and ack_deadline <= timezone.now():
        errors.append(_("The acknowledgement deadline is in the past."))
    files = list(files)
    if replace_files and not files and not notice.attachments.exists():
        replace_files = False
    errors += check_files(files)
    unchanged = (
        title == notice.title
        and body == notice.body
        and bool(requires_ack) == notice.requires_ack
        and (ack_deadline if requires_ack else None) == notice.ack_deadline
        and not files
        and not replace_files
    )
    if unchanged and not errors:
        errors.append(_("Nothing was changed: edit the title, the text or the attachments."))
    if errors:
        raise ValidationError(errors)
    from accounts.services import audit_event

    now = timezone.now()
    with undo_files() as stored, transaction.atomic():
        old = Notice.objects.select_for_update().get(pk=notice.pk)
        if old.status != Status.PUBLISHED or not selectors.is_current(old):
            raise _not_current_error(old)
        new = Notice.objects.create(
            author=actor,
            author_unit=old.author_unit,
            title=title,
            body=body,
            body_html=render_body(body),
            priority=old.priority,
            requires_ack=requires_ack,
            ack_deadline=ack_deadline if requires_ack else None,
            levels=old.levels,
            managers_only=old.managers_only,
            status=Status.PUBLISHED,
            published_at=now,
            doc_number=old.doc_number,
            main_recipients=old.main_recipients,
            issuer_line=old.issuer_line,
            signed_on=old.signed_on,
            corrects=old,
            version=old.version + 1,
            correction_note=note,
        )
        NoticeTarget.objects.bulk_create(
            [NoticeTarget(notice=new, unit_id=t.unit_id, path=t.path) for t in old.targets.all()]
        )
        if not replace_files:
            Attachment.objects.bulk_create(
                [
                    Attachment(
                        notice=new,
                        file=a.file.name,
                        name=a.name,
                        size=a.size,
                        uploaded_by=a.uploaded_by,
                        created_at=a.created_at,
                    )
                    for a in old.attachments.order_by("pk")
                ]
            )
        _store_files(files, account=actor, stored=stored, notice=new)
        old.superseded_at = now
        old.save(update_fields=["superseded_at"])
        audit_event(
            action=AuditAction.NOTICE_CORRECTED,
            actor=actor,
            unit=old.author_unit,
            detail={"notice": new.pk, "corrects": old.pk, "version": new.version, "note": note},
        )
        summary = notice_summary(Notice.objects.select_related("author_unit").get(pk=new.pk))
        summary["version"] = new.version
        events.publish(
            kind="notice.corrected",
            payload={
                "notice": summary,
                "corrects": {"id": old.pk, "version": old.version},
                "note": note,
            },
            groups=_audience_groups(old),
        )
    notice.refresh_from_db()
    return new
