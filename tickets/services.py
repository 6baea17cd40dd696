"""Writes on tickets: raise, reply, note, the status machine, assignment, rating.

Routing, SLA clocks and escalation belong to `escalation`, which sits above tickets;
this module asks for them through `tickets.support.desk()`.
Each write locks the ticket row, checks permission and state through
`tickets.selectors`, changes the row, adds a timeline entry and announces it after
commit — all or nothing, files included.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import Account
from core.files import check_files, clean_file_name, undo_files
from core.markup import render_body
from tickets import selectors, support, timeline
from tickets.models import (
    HELD_STATUSES,
    OPEN_STATUSES,
    Category,
    EventKind,
    Priority,
    Status,
    Ticket,
    TicketFile,
)

MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_RATING_COMMENT = 500

# The status machine: action → (states it starts from, state it leads to, who may).
WORKER, REPORTER = "worker", "reporter"
TRANSITIONS = {
    "start": ((Status.ASSIGNED,), Status.IN_PROGRESS, WORKER),
    "wait": ((Status.ASSIGNED, Status.IN_PROGRESS), Status.WAITING, WORKER),
    "resolve": ((Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING), Status.RESOLVED, WORKER),
    "reopen": ((Status.RESOLVED,), Status.IN_PROGRESS, REPORTER),
    "close": ((*OPEN_STATUSES, Status.RESOLVED), Status.CLOSED, REPORTER),
}
# Actions that must say something: the question, the solution, why it is back.
NEEDS_TEXT = {"wait", "resolve", "reopen"}


def _clean_text(text: str, what: str, *, required: bool) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError(_("%s cannot be empty.") % what)
    if len(text) > MAX_TEXT:
        raise ValidationError(
            _("%(what)s is limited to %(n)s characters.") % {"what": what, "n": f"{MAX_TEXT:,}"}
        )
    return text


def _store_files(files, *, ticket, event, account, stored: list) -> None:
    for f in files:
        item = TicketFile(
            ticket=ticket,
            event=event,
            name=clean_file_name(f.name),
            size=f.size,
            uploaded_by=account,
        )
        # Stored under a random name, as notices and chat do: Django shortens a name
        # longer than the field only before its first dot, so a long name with an
        # early dot ("2026.11.20 …") failed the upload. People see `name`.
        ext = os.path.splitext(item.name)[1][:20]
        item.file.save(f"{uuid.uuid4().hex}{ext}", f, save=False)
        stored.append(item.file.name)
        item.save()


def _lock(pk: int) -> Ticket:
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("tier", "reporter_unit", "reporter", "assignee")
        .get(pk=pk)
    )


def ticket_create(
    *,
    actor: Account,
    title: str,
    description: str,
    category: str,
    priority: str = Priority.NORMAL,
    files=(),
    now: datetime | None = None,
) -> Ticket:
    """Raise a ticket: stored, placed at the first tier of the reporter's chain and
    routed to the next engineer on duty there (or left in the tier queue)."""
    if not scoping.is_active_account(actor):
        raise PermissionDenied
    now = now or timezone.now()
    errors = []
    title = (title or "").strip()
    if not title:
        errors.append(_("Give the ticket a title."))
    elif len(title) > MAX_TITLE:
        errors.append(_("The title is limited to %d characters.") % MAX_TITLE)
    try:
        description = _clean_text(description, _("The description"), required=True)
    except ValidationError as exc:
        errors.extend(exc.messages)
    if category not in Category.values:
        errors.append(_("Choose a category."))
    if priority not in Priority.values:
        errors.append(_("Choose a priority."))
    errors.extend(check_files(files))
    if errors:
        raise ValidationError(errors)
    description_html = render_body(description)
    # The engineer is chosen before the transaction: the tier's rotation row is then
    # locked only by the one statement that moves its pointer, not by the writes below.
    with (
        support.desk().raising(actor.unit, now, reporter_id=actor.pk) as place,
        undo_files() as stored,
        transaction.atomic(),
    ):
        ticket = Ticket(
            reporter=actor,
            reporter_unit=actor.unit,
            reporter_path=actor.unit.path,
            title=title,
            description=description,
            description_html=description_html,
            category=category,
            priority=priority,
            created_at=now,
            updated_at=now,
        )
        raised = timeline.entry(ticket, EventKind.CREATED, actor)
        # Saved once placed at its tier: one INSERT, with its engineer.
        place(ticket, actor=actor, entries=[raised])
        _store_files(files, ticket=ticket, event=raised, account=actor, stored=stored)
    return ticket


def ticket_reply(
    *,
    actor: Account,
    ticket: Ticket,
    body: str,
    internal: bool = False,
    files=(),
    now: datetime | None = None,
) -> Ticket:
    """A public reply (reporter or the current tier) or an internal note (support
    people who can see the ticket, never the reporter)."""
    now = now or timezone.now()
    what = _("The note") if internal else _("The reply")
    body = _clean_text(body, what, required=not files)
    errors = check_files(files)
    if errors:
        raise ValidationError(errors)
    with undo_files() as stored, transaction.atomic():
        ticket = _lock(ticket.pk)
        if not selectors.can_view(actor, ticket):
            raise PermissionDenied
        reporter = selectors.reporter_side(actor, ticket)
        if internal and not selectors.can_see_internal(actor, ticket):
            raise PermissionDenied
        if not internal and not (reporter or selectors.can_work(actor, ticket)):
            raise PermissionDenied
        if ticket.status == Status.CLOSED:
            raise ValidationError(
                _("This ticket is closed; raise a new one if the problem is back.")
            )
        ticket.updated_at = now
        entry = timeline.add(
            ticket,
            EventKind.NOTE if internal else EventKind.REPLY,
            actor,
            body_html=render_body(body) if body else "",
            internal=internal,
        )
        _store_files(files, ticket=ticket, event=entry, account=actor, stored=stored)
        desk = support.desk()
        if not internal and not reporter:
            desk.responded(ticket, now)
            if ticket.status == Status.ASSIGNED and ticket.assignee_id == actor.pk:
                _set_status(ticket, Status.IN_PROGRESS, actor)
        elif reporter and ticket.status == Status.WAITING:
            _set_status(ticket, Status.IN_PROGRESS, actor)
            desk.resumed(ticket, now)
        ticket.save()
        timeline.announce(ticket, "note" if internal else "reply", event=entry)
    return ticket


def _set_status(ticket: Ticket, status: str, actor, **data) -> None:
    old = ticket.status
    ticket.status = status
    timeline.add(ticket, EventKind.STATUS, actor, old=old, new=status, **data)


def ticket_transition(
    *,
    actor: Account,
    ticket: Ticket,
    action: str,
    text: str = "",
    rating: int | None = None,
    rating_comment: str = "",
    now: datetime | None = None,
) -> Ticket:
    """Move a ticket through the status machine (TRANSITIONS)."""
    if action not in TRANSITIONS:
        raise ValidationError(_("Unknown action."))
    now = now or timezone.now()
    sources, target, who = TRANSITIONS[action]
    text = _clean_text(text, _("The message"), required=action in NEEDS_TEXT)
    if rating is not None and not (1 <= rating <= 5):
        raise ValidationError(_("Rate from 1 to 5 stars."))
    with transaction.atomic():
        ticket = _lock(ticket.pk)
        if not selectors.can_view(actor, ticket):
            raise PermissionDenied
        if who == REPORTER and not selectors.reporter_side(actor, ticket):
            raise PermissionDenied
        if who == WORKER and not selectors.can_work(actor, ticket):
            raise PermissionDenied
        if ticket.status not in sources:
            raise ValidationError(
                _("A ticket that is “%(status)s” cannot be %(action)s.")
                % {"status": ticket.get_status_display(), "action": _action_label(action)}
            )
        if action in ("start", "wait", "resolve") and ticket.assignee_id is None:
            raise ValidationError(_("Take the ticket first."))
        old_tier_holder = ticket.assignee_id
        rerouted = False
        ticket.updated_at = now
        if text:
            timeline.add(ticket, EventKind.REPLY, actor, body_html=render_body(text))
        old_status = ticket.status
        ticket.status = target
        desk = support.desk()
        if action == "start":
            desk.responded(ticket, now)
        elif action == "wait":
            desk.responded(ticket, now)
            desk.paused(ticket, now)
        elif action == "resolve":
            ticket.resolved_at = now
            desk.stopped(ticket)
        elif action == "reopen":
            ticket.resolved_at = None
            rerouted = _reopen(ticket, now)
        elif action == "close":
            ticket.closed_at = now
            desk.stopped(ticket)
        timeline.add(ticket, EventKind.STATUS, actor, old=old_status, new=ticket.status)
        if action == "close" and rating is not None:
            _rate(ticket, actor, rating, rating_comment)
        ticket.save()
        timeline.announce(ticket, action, and_assigned=rerouted)
        if old_tier_holder and ticket.status not in HELD_STATUSES:
            desk.freed(ticket.tier_id)
    return ticket


def _reopen(ticket: Ticket, now: datetime) -> bool:
    """Back to whoever resolved it if they can still hold it; else back into rotation
    (True when that gave it to someone). The resolution clock re-arms with a full
    target (no instant breach)."""
    support.desk().resumed(ticket, now, reopened=True)
    return support.desk().reopened(ticket, now)


def _rate(ticket: Ticket, actor, rating: int, comment: str) -> None:
    ticket.rating = rating
    ticket.rating_comment = (comment or "").strip()[:MAX_RATING_COMMENT]
    timeline.add(ticket, EventKind.RATED, actor, rating=rating, comment=ticket.rating_comment)


def ticket_rate(*, actor: Account, ticket: Ticket, rating: int, comment: str = "") -> Ticket:
    """The reporter rates a closed ticket once (closing with a rating does it too)."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError(_("Rate from 1 to 5 stars."))
    with transaction.atomic():
        ticket = _lock(ticket.pk)
        if not selectors.reporter_side(actor, ticket):
            raise PermissionDenied
        if ticket.status != Status.CLOSED:
            raise ValidationError(_("Close the ticket to rate it."))
        if ticket.rating is not None:
            raise ValidationError(_("This ticket has already been rated."))
        ticket.updated_at = timezone.now()
        _rate(ticket, actor, rating, comment)
        ticket.save()
    return ticket


def ticket_assign(
    *, actor: Account, ticket: Ticket, engineer: Account, now: datetime | None = None
) -> Ticket:
    """Take a ticket (engineer = actor) or hand it to another engineer of the tier
    (managers of the tier). Capacity is the rotation's business, not a person's."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket.pk)
        if not selectors.can_work(actor, ticket):
            raise PermissionDenied
        if engineer.pk != actor.pk and not scoping.can_manage_unit(actor, ticket.tier):
            raise PermissionDenied
        if not (
            engineer.is_active
            and engineer.is_support_engineer
            and engineer.unit_id == ticket.tier_id
            and engineer.pk != ticket.reporter_id
        ):
            raise ValidationError(_("Only an engineer of this tier can hold the ticket."))
        if not ticket.is_open:
            raise ValidationError(_("Only an open ticket can be assigned."))
        if ticket.assignee_id == engineer.pk:
            return ticket
        ticket.assignee = engineer
        if ticket.status == Status.NEW:
            ticket.status = Status.ASSIGNED
        ticket.updated_at = now
        entry = timeline.add(ticket, EventKind.ASSIGNED, actor, assignee=engineer.username)
        ticket.save()
        timeline.announce(ticket, "assigned", event=entry, and_assigned=engineer.pk != actor.pk)
    return ticket


def auto_close(pk: int, now: datetime) -> bool:
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("tier")
            .filter(pk=pk, status=Status.RESOLVED)
            .first()
        )
        if ticket is None:
            return False
        ticket.updated_at = now
        ticket.closed_at = now
        _set_status(ticket, Status.CLOSED, None, automatic=True)
        ticket.save()
        timeline.announce(ticket, "close")
    return True


def _action_label(action: str) -> str:
    return {
        "start": _("started"),
        "wait": _("put on hold for the reporter"),
        "resolve": _("resolved"),
        "reopen": _("reopened"),
        "close": _("closed"),
    }[action]


# --- problem-record tickets (raised by the platform for the roll system's alerts) ----


def problem_ticket_sync(
    *, school, open_records: int, graduating: int, summary: str, now: datetime | None = None
) -> Ticket | None:
    """Keep one open problem-record ticket per school while it has open records:
    raised by the platform when the first arrive (routed like any other ticket),
    high priority while graduating-grade records are open, resolved by itself when
    the last one is resolved."""
    from accounts.services import system_account

    now = now or timezone.now()
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update()
            .select_related("tier", "reporter_unit")
            .filter(raised_by_platform=True, reporter_unit=school, status__in=OPEN_STATUSES)
            .first()
        )
        priority = Priority.HIGH if graduating else Priority.NORMAL
        if ticket is None and open_records:
            ticket = Ticket(
                reporter=system_account(),
                reporter_unit=school,
                reporter_path=school.path,
                title=_("Problem records of %s") % school.name,
                description=summary,
                description_html=render_body(summary),
                category=Category.PROBLEM_RECORDS,
                priority=priority,
                raised_by_platform=True,
                created_at=now,
                updated_at=now,
            )
            with support.desk().raising(school, now, reporter_id=None) as place:
                place(ticket, entries=[timeline.entry(ticket, EventKind.CREATED, None)])
            return ticket
        if ticket is None:
            return None
        ticket.updated_at = now
        if not open_records:
            old = ticket.status
            ticket.status = Status.RESOLVED
            ticket.resolved_at = now
            support.desk().stopped(ticket)
            timeline.add(ticket, EventKind.STATUS, None, old=old, new=ticket.status, automatic=True)
            ticket.save()
            timeline.announce(ticket, "resolve")
            if ticket.assignee_id:
                support.desk().freed(ticket.tier_id)
            return ticket
        changed = ticket.priority != priority or ticket.description != summary
        if changed:
            ticket.priority = priority
            ticket.description = summary
            ticket.description_html = render_body(summary)
            ticket.save()
            timeline.announce(ticket, "priority")
        return ticket


# --- canned replies (常用回复, issue 16) ----------------------------------------------

MAX_CANNED_TITLE = 100
MAX_CANNED_BODY = 4_000
SHORTCUT = re.compile(r"^/[a-z0-9_-]{1,30}$")


def _canned_fields(title: str, body: str, shortcut: str) -> tuple[str, str, str]:
    """Cleaned as ticket replies are (plain text, trimmed, bounded; escaped when shown)."""
    title = _clean_text(title, _("The title"), required=True)
    if len(title) > MAX_CANNED_TITLE:
        raise ValidationError(_("The title is limited to %d characters.") % MAX_CANNED_TITLE)
    body = _clean_text(body, _("The text"), required=True)
    if len(body) > MAX_CANNED_BODY:
        raise ValidationError(
            _("%(what)s is limited to %(n)s characters.")
            % {"what": _("The text"), "n": f"{MAX_CANNED_BODY:,}"}
        )
    shortcut = (shortcut or "").strip().lower()
    if shortcut and not shortcut.startswith("/"):
        shortcut = "/" + shortcut
    if not SHORTCUT.match(shortcut):
        raise ValidationError(
            _(
                "The shortcut is a slash and 1 to 30 letters, digits, - or _ (for example /zhuanxue)."
            )
        )
    return title, body, shortcut


def canned_save(*, actor: Account, title: str, body: str, shortcut: str, pk: int | None = None):
    """Add a canned reply to the actor's own tier, or change one of it (`pk`)."""
    from django.db import IntegrityError

    from tickets.models import CannedReply

    if not selectors.can_keep_canned(actor):
        raise PermissionDenied(
            _("Only engineers and managers of a support tier keep canned replies.")
        )
    title, body, shortcut = _canned_fields(title, body, shortcut)
    try:
        with transaction.atomic():
            if pk is None:
                return CannedReply.objects.create(
                    tier_id=actor.unit_id,
                    title=title,
                    body=body,
                    shortcut=shortcut,
                    created_by=actor,
                )
            reply = selectors.canned_kept(actor).select_for_update().filter(pk=pk).first()
            if reply is None:
                raise PermissionDenied(_("This canned reply is not your tier's."))
            reply.title, reply.body, reply.shortcut = title, body, shortcut
            reply.updated_at = timezone.now()
            reply.save(update_fields=["title", "body", "shortcut", "updated_at"])
            return reply
    except IntegrityError as exc:
        raise ValidationError(
            _("Your tier already has a canned reply with the shortcut %s.") % shortcut
        ) from exc


def canned_delete(*, actor: Account, pk: int) -> None:
    deleted, _rows = selectors.canned_kept(actor).filter(pk=pk).delete()
    if not deleted:
        raise PermissionDenied(_("This canned reply is not your tier's."))
