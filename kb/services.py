"""Writing the knowledge base: articles (from a solved ticket or from scratch, edited,
published and withdrawn at a tier) and the ticket form's suggestion sessions."""

from __future__ import annotations

import re
from datetime import timedelta

import bleach
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.markup import render_body
from kb import search, selectors
from kb.models import Article, SuggestSession
from tickets import selectors as ticket_selectors
from tickets.models import EventKind, Status, Ticket

MAX_TITLE = 200
MAX_QUESTION = 4000
MAX_ANSWER = 20000

# Personal data a ticket often carries, masked in the draft made from it (the engineer
# still reads and edits the whole draft before publishing).
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[GLgl]?\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def mask_personal(text: str) -> str:
    text = _ID_NUMBER.sub(_("[ID number]"), text or "")
    return _PHONE.sub(_("[phone]"), text)


def draft_from_ticket(actor, ticket: Ticket) -> dict:
    """Title, question and answer prefilled from a solved ticket: its title, its
    description and the support side's public replies, personal numbers masked."""
    if not selectors.is_editor(actor) or not ticket_selectors.can_view(actor, ticket):
        raise PermissionDenied
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        raise ValidationError(_("Only a solved ticket can become an article."))
    replies = ticket.events.filter(kind=EventKind.REPLY, internal=False).exclude(
        actor_id=ticket.reporter_id
    )
    answer = "\n\n".join(
        bleach.clean(e.body_html, tags=[], strip=True).strip() for e in replies.order_by("id")
    )
    return {
        "title": mask_personal(ticket.title),
        "question": mask_personal(ticket.description),
        "answer": mask_personal(answer),
        "ticket": ticket.pk,
    }


def _clean(title: str, question: str, answer: str) -> tuple[str, str, str]:
    title, question, answer = (
        (title or "").strip(),
        (question or "").strip(),
        (answer or "").strip(),
    )
    errors = []
    if not title:
        errors.append(_("Give the article a title."))
    elif len(title) > MAX_TITLE:
        errors.append(_("The title is limited to %d characters.") % MAX_TITLE)
    if not question:
        errors.append(_("Write the question the article answers."))
    elif len(question) > MAX_QUESTION:
        errors.append(_("The question is limited to %d characters.") % MAX_QUESTION)
    if not answer:
        errors.append(_("Write the answer."))
    elif len(answer) > MAX_ANSWER:
        errors.append(_("The answer is limited to %d characters.") % MAX_ANSWER)
    if errors:
        raise ValidationError(errors)
    return title, question, answer


def _fill(article: Article, title: str, question: str, answer: str) -> None:
    article.title, article.question, article.answer = title, question, answer
    # Cleaned as notices are: Markdown, then bleach's allowlist (core.markup).
    article.answer_html = render_body(answer)
    article.search_title = search.index_text(title)
    answer_text = bleach.clean(article.answer_html, tags=[], strip=True)
    article.search_body = search.index_text(f"{question}\n{answer_text}")


def article_create(
    *, actor, title: str, question: str, answer: str, ticket: Ticket | None = None
) -> Article:
    """A draft at the actor's unit (its tier)."""
    if not selectors.is_editor(actor):
        raise PermissionDenied
    if ticket is not None and not ticket_selectors.can_view(actor, ticket):
        raise PermissionDenied
    title, question, answer = _clean(title, question, answer)
    now = timezone.now()
    article = Article(
        unit=actor.unit,
        unit_path=actor.unit.path,
        source_ticket_id=ticket.pk if ticket is not None else None,
        created_by=actor,
        updated_by=actor,
        created_at=now,
        updated_at=now,
    )
    _fill(article, title, question, answer)
    article.save()
    return article


def article_update(*, actor, article: Article, title: str, question: str, answer: str) -> Article:
    if not selectors.can_edit(actor, article):
        raise PermissionDenied
    title, question, answer = _clean(title, question, answer)
    with transaction.atomic():
        article = Article.objects.select_for_update().get(pk=article.pk)
        _fill(article, title, question, answer)
        article.updated_by, article.updated_at = actor, timezone.now()
        article.save()
    return article


def article_publish(*, actor, article: Article, publish: bool) -> Article:
    """Publish (read by the subtree of the article's unit) or withdraw to a draft."""
    if not selectors.can_edit(actor, article):
        raise PermissionDenied
    with transaction.atomic():
        article = Article.objects.select_for_update().get(pk=article.pk)
        now = timezone.now()
        article.published = publish
        article.published_at = now if publish else None
        article.updated_by, article.updated_at = actor, now
        article.save(update_fields=["published", "published_at", "updated_by", "updated_at"])
    return article


# --- suggestions while a ticket is typed, and deflection ------------------------------------


def suggest(*, actor, text: str, token: str | None = None, limit: int = 5):
    """The published articles the actor reads that best match what it types, and the
    suggestion session (created once something is shown; None while nothing was)."""
    text = (text or "").strip()[:500]
    found = (
        search.search(selectors.published_for(actor).select_related("unit"), text, limit=limit)
        if text
        else []
    )
    session = _session(actor, token)
    if found:
        now = timezone.now()
        if session is None:
            session = SuggestSession.objects.create(
                account=actor, unit_path=actor.unit.path, shown_at=now, shown_count=len(found)
            )
        else:
            SuggestSession.objects.filter(pk=session.pk, shown_at__isnull=True).update(shown_at=now)
            SuggestSession.objects.filter(pk=session.pk).update(
                shown_count=session.shown_count + len(found)
            )
    return found, session


def _session(actor, token: str | None) -> SuggestSession | None:
    if not token:
        return None
    try:
        return SuggestSession.objects.filter(token=token, account=actor).first()
    except ValidationError:  # not a UUID
        return None


def note_read(*, actor, article: Article, token: str | None) -> None:
    """An article read: its count of readers' views (not its editors'), and — opened
    from the suggestions of the actor's own session (`token`) — the session's opening."""
    if not selectors.can_edit(actor, article):
        Article.objects.filter(pk=article.pk).update(views=F("views") + 1)
    session = _session(actor, token)
    if session is not None and session.opened_at is None:
        SuggestSession.objects.filter(pk=session.pk, opened_at__isnull=True).update(
            opened_at=timezone.now(), opened_article=article
        )


def ticket_saved(sender, instance: Ticket, created: bool, **kwargs) -> None:
    """A ticket raised settles its reporter's open suggestion sessions of the last
    DEFLECT_MINUTES: not deflected (post_save of tickets.Ticket, kb/apps.py)."""
    if not created:
        return
    since = instance.created_at - timedelta(minutes=selectors.DEFLECT_MINUTES)
    SuggestSession.objects.filter(
        account_id=instance.reporter_id,
        ticket_id__isnull=True,
        created_at__gte=since,
        created_at__lte=instance.created_at + timedelta(minutes=1),
    ).update(submitted_at=instance.created_at, ticket_id=instance.pk)
