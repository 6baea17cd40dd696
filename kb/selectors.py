"""Who reads and who edits the knowledge base, and the figures built on it.

- Editors are the support people (tickets.selectors.is_support_person: support
  engineers, and managers above school level). An editor writes at its own unit (the
  tier) and edits and publishes the articles of its unit and of the units below it.
- A published article is read by the subtree of the unit it was published at: an
  article of a county is read by its schools, one of the province by the whole
  province. Drafts are read only by their editors.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts import scoping
from kb.models import Article, SuggestSession
from tickets import selectors as ticket_selectors

# A session whose suggestions were shown and that raised no ticket within this many
# minutes counts as deflected (the school found its answer, or gave up).
DEFLECT_MINUTES = 30
# The deflection figure looks back this many days.
DEFLECT_DAYS = 30


def is_editor(actor) -> bool:
    return ticket_selectors.is_support_person(actor)


def can_edit(actor, article: Article) -> bool:
    return is_editor(actor) and article.unit_path.startswith(actor.unit.path)


def can_read(actor, article: Article) -> bool:
    if not scoping.is_active_account(actor):
        return False
    if article.published and actor.unit.path.startswith(article.unit_path):
        return True
    return can_edit(actor, article)


def published_for(actor) -> QuerySet[Article]:
    """The published articles `actor` reads: those of its own unit and the units above."""
    if not scoping.is_active_account(actor):
        return Article.objects.none()
    return Article.objects.filter(published=True, unit_path__in=actor.unit.ancestor_paths)


def readable(actor) -> QuerySet[Article]:
    """published_for, and for editors every article (drafts too) at or under its unit."""
    if not scoping.is_active_account(actor):
        return Article.objects.none()
    match = Q(published=True, unit_path__in=actor.unit.ancestor_paths)
    if is_editor(actor):
        match |= scoping.under("unit_path", actor.unit.path)
    return Article.objects.filter(match)


def drafts_for(actor) -> QuerySet[Article]:
    if not is_editor(actor):
        return Article.objects.none()
    return Article.objects.filter(scoping.under("unit_path", actor.unit.path), published=False)


def deflection(actor, *, now=None) -> dict:
    """Ticket forms of the actor's subtree in the last DEFLECT_DAYS whose suggestions
    were shown and that are settled (a ticket raised, or DEFLECT_MINUTES passed): how
    many, how many opened an article, how many raised no ticket (deflected), the rate."""
    now = now or timezone.now()
    settled = SuggestSession.objects.filter(
        scoping.under("unit_path", actor.unit.path),
        shown_at__isnull=False,
        created_at__gte=now - timedelta(days=DEFLECT_DAYS),
    ).filter(
        Q(ticket_id__isnull=False) | Q(created_at__lte=now - timedelta(minutes=DEFLECT_MINUTES))
    )
    shown = settled.count()
    submitted = settled.filter(ticket_id__isnull=False).count()
    opened = settled.filter(opened_at__isnull=False).count()
    deflected = shown - submitted
    return {
        "shown": shown,
        "opened": opened,
        "submitted": submitted,
        "deflected": deflected,
        "rate": (deflected / shown) if shown else None,
        "days": DEFLECT_DAYS,
        "minutes": DEFLECT_MINUTES,
    }
