"""Knowledge-base pages and the ticket form's suggestions (JSON). Permissions through
`accounts.scoping` and `kb.selectors`; writes through `kb.services`."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import scoping
from core.openapi import PAGE_REFUSALS, SESSION, declare
from kb import search, selectors, services
from kb.forms import ArticleForm
from kb.models import Article
from tickets import selectors as ticket_selectors
from tickets.models import Ticket

PAGE_SIZE = 30


def _readable(request, pk) -> Article:
    article = Article.objects.select_related("unit", "updated_by").filter(pk=pk).first()
    if article is None or not selectors.can_read(request.user, article):
        raise Http404
    return article


def _editable(request, pk) -> Article:
    article = _readable(request, pk)
    if not selectors.can_edit(request.user, article):
        raise PermissionDenied
    return article


@scoping.login_and_unit_required
def article_list(request):
    user = request.user
    q = (request.GET.get("q") or "").strip()[:200]
    editor = selectors.is_editor(user)
    if q:
        results = search.search(selectors.readable(user), q, limit=20)
        page = None
    else:
        results = None
        qs = selectors.published_for(user).select_related("unit").order_by("-published_at", "-id")
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"q": q, "results": results, "page": page, "editor": editor}
    if editor:
        context["drafts"] = selectors.drafts_for(user).select_related("unit")[:50]
        context["deflection"] = selectors.deflection(user)
    return render(request, "kb/list.html", context)


@scoping.login_and_unit_required
def article_detail(request, pk):
    article = _readable(request, pk)
    services.note_read(actor=request.user, article=article, token=request.GET.get("s"))
    return render(
        request,
        "kb/article.html",
        {"article": article, "can_edit": selectors.can_edit(request.user, article)},
    )


def _form_errors(form, exc: ValidationError) -> None:
    for message in exc.messages:
        form.add_error(None, message)


@scoping.login_and_unit_required
def article_new(request):
    user = request.user
    if not selectors.is_editor(user):
        raise PermissionDenied
    ticket = None
    ticket_pk = request.POST.get("ticket") or request.GET.get("ticket")
    if ticket_pk:
        if not str(ticket_pk).isdigit():
            raise Http404
        ticket = get_object_or_404(Ticket.objects.select_related("reporter_unit"), pk=ticket_pk)

        if not ticket_selectors.can_view(user, ticket):
            raise Http404
    if request.method == "POST":
        form = ArticleForm(request.POST)
        if form.is_valid():
            try:
                article = services.article_create(actor=user, ticket=ticket, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Draft saved. Read it once more, then publish it."))
                return redirect("kb_article", pk=article.pk)
    else:
        initial = {}
        if ticket is not None:
            try:
                initial = services.draft_from_ticket(user, ticket)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                return redirect("ticket_detail", pk=ticket.pk)
        form = ArticleForm(initial=initial)
    return render(request, "kb/edit.html", {"form": form, "ticket": ticket, "article": None})


@scoping.login_and_unit_required
def article_edit(request, pk):
    article = _editable(request, pk)
    if request.method == "POST":
        form = ArticleForm(request.POST)
        if form.is_valid():
            try:
                services.article_update(actor=request.user, article=article, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Article saved."))
                return redirect("kb_article", pk=article.pk)
    else:
        form = ArticleForm(
            initial={"title": article.title, "question": article.question, "answer": article.answer}
        )
    return render(request, "kb/edit.html", {"form": form, "ticket": None, "article": article})


@require_POST
@scoping.login_and_unit_required
def article_publish(request, pk):
    article = _editable(request, pk)
    publish = request.POST.get("action") != "unpublish"
    services.article_publish(actor=request.user, article=article, publish=publish)
    if publish:
        messages.success(
            request, _("Published: %s and the units under it read it.") % article.unit.name
        )
    else:
        messages.success(request, _("Withdrawn to a draft."))
    return redirect("kb_article", pk=article.pk)


SUGGESTION = {
    "type": "object",
    "required": ["id", "title", "url"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "url": {"type": "string"},
        "unit": {"type": "string"},
    },
}


@declare(
    "GET",
    summary="Knowledge-base articles matching a ticket being typed (the ticket form)",
    security=SESSION,
    query={
        "q": {"type": "string", "maxLength": 500},
        "s": {"type": "string", "maxLength": 64},
    },
    responses={
        200: {
            "type": "object",
            "required": ["session", "results"],
            "properties": {
                "session": {"type": ["string", "null"]},
                "results": {"type": "array", "items": SUGGESTION},
            },
        },
        **PAGE_REFUSALS,
    },
    tags=("pages",),
)
@scoping.login_and_unit_required
def suggest(request):
    """At most 5 published articles the account reads, best first; `session` names the
    suggestion session (created when something is first shown) that the next calls and
    the opened article's link carry (?s=), for the deflection figure."""
    found, session = services.suggest(
        actor=request.user, text=request.GET.get("q", ""), token=request.GET.get("s")
    )
    token = str(session.token) if session is not None else None
    results = []
    for article in found:
        url = reverse("kb_article", args=[article.pk])
        results.append(
            {
                "id": article.pk,
                "title": article.title,
                "url": f"{url}?s={token}" if token else url,
                "unit": article.unit.name,
            }
        )
    return JsonResponse({"session": token, "results": results})
