"""Ticket pages. Each view states its permission with an `accounts.scoping` decorator
and checks the ticket through `tickets.selectors`; writes go through the services."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import scoping
from accounts.models import Account, Unit
from core.http import private_download
from core.openapi import PAGE_REFUSALS, SESSION, declare
from tickets import exports, selectors, services, support
from tickets import jobs as ticket_jobs
from tickets.forms import (
    ActionForm,
    CannedReplyForm,
    RateForm,
    ReasonForm,
    ReplyForm,
    TicketForm,
)
from tickets.models import Category, Status, Ticket, TicketFile

PAGE_SIZE = 30


def _visible(request, pk) -> Ticket:
    ticket = (
        Ticket.objects.select_related("reporter", "reporter_unit", "tier", "assignee")
        .filter(pk=pk)
        .first()
    )
    if ticket is None or not selectors.can_view(request.user, ticket):
        raise Http404
    return ticket


def _messages_from(request, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


def _list(request, qs, *, title, kind, empty):
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "tickets/_rows.html" if request.GET.get("partial") else "tickets/list.html"
    return render(
        request,
        template,
        {"page": page, "title": title, "kind": kind, "empty": empty, "now": timezone.now()},
    )


@scoping.login_and_unit_required
def mine(request):
    return _list(
        request,
        selectors.my_tickets(request.user),
        title=_("My tickets"),
        kind="mine",
        empty=_("You have not raised any ticket."),
    )


@scoping.login_and_unit_required
def queue(request):
    if not selectors.is_support_person(request.user):
        raise PermissionDenied
    return _list(
        request,
        selectors.my_queue(request.user),
        title=_("My queue"),
        kind="queue",
        empty=_("Nothing assigned to you."),
    )


@declare(
    "GET",
    summary="The header badge's figure: open tickets assigned to this account",
    security=SESSION,
    responses={
        200: {
            "type": "object",
            "required": ["count"],
            "properties": {"count": {"type": "integer", "minimum": 0}},
        },
        **PAGE_REFUSALS,
    },
    tags=("pages",),
)
@scoping.login_and_unit_required
def queue_count(request):
    """The header badge's figure: open tickets assigned to me (it follows tickets
    arriving, leaving and being resolved without counting them itself)."""
    return JsonResponse({"count": selectors.my_queue(request.user).count()})


@scoping.login_and_unit_required
def tier(request):
    if not selectors.is_support_person(request.user):
        raise PermissionDenied
    waiting = request.GET.get("waiting") == "1"
    return _list(
        request,
        selectors.tier_queue(request.user, waiting_only=waiting),
        title=_("Tier queue · %s") % request.user.unit.name,
        kind="tier",
        empty=_("No open ticket at this tier."),
    )


def _search_args(request):
    q = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    category = request.GET.get("category", "")
    if category not in Category.values:
        category = ""
    return q, status, category, _within(request)


def _within(request) -> Unit | None:
    """?unit=<code>: a unit in the actor's subtree, else no narrowing."""
    code = request.GET.get("unit", "").strip()[:10]
    unit = Unit.objects.filter(code=code).first() if code else None
    return unit if unit is not None and scoping.can_view_unit(request.user, unit) else None


@scoping.login_and_unit_required
def all_tickets(request):
    if not selectors.is_support_person(request.user):
        raise PermissionDenied
    q, status, category, unit = _search_args(request)
    page = Paginator(
        selectors.search(request.user, q=q, status=status, category=category, unit=unit),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "tickets/list.html",
        {
            "page": page,
            "title": _("Tickets in my area"),
            "kind": "all",
            "empty": _("No tickets."),
            "q": q,
            "status": status,
            "category": category,
            "within": unit,
            "statuses": Status.choices,
            "categories": Category.choices,
            "now": timezone.now(),
        },
    )


@scoping.manager_required
def export(request):
    q, status, category, unit = _search_args(request)
    found = selectors.search(request.user, q=q, status=status, category=category, unit=unit)
    if found.count() > ticket_jobs.inline_limit():
        # A large export is written by a worker, with a progress bar (core/jobs.py).
        job = ticket_jobs.start_export(
            owner=request.user, q=q, status=status, category=category, unit=unit
        )
        return redirect("job_detail", pk=job.pk)
    return exports.tickets_workbook(request.user, found)


@scoping.login_and_unit_required
def new(request):
    form = TicketForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.ticket_create(
                actor=request.user,
                title=data["title"],
                description=data["description"],
                category=data["category"],
                priority=data["priority"],
                files=data["files"],
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            messages.success(request, _("Ticket #%d raised.") % ticket.pk)
            return redirect("ticket_detail", pk=ticket.pk)
    return render(request, "tickets/new.html", {"form": form})


def _detail_context(request, ticket):
    user = request.user
    worker = selectors.can_work(user, ticket)
    engineers = []
    if worker and scoping.can_manage_unit(user, ticket.tier):
        engineers = list(selectors.engineers_of(ticket.tier_id).order_by("pk"))
    stints = list(selectors.stints(ticket))
    current = stints[-1] if stints else None
    reporter = selectors.reporter_side(user, ticket)
    return {
        "ticket": ticket,
        "entries": selectors.timeline(user, ticket),
        "stints": stints,
        "internal": selectors.can_see_internal(user, ticket),
        "is_reporter": reporter,
        "worker": worker,
        "can_reply": ticket.status != Status.CLOSED and (reporter or worker),
        "can_note": ticket.status != Status.CLOSED and selectors.can_see_internal(user, ticket),
        "can_take": worker
        and user.is_support_engineer
        and ticket.assignee_id != user.pk
        and ticket.is_open,
        "engineers": engineers,
        "can_escalate": worker and ticket.is_open and support.desk().can_climb(ticket),
        "can_send_back": worker
        and ticket.is_open
        and current is not None
        and current.from_tier is not None
        and current.from_tier.depth > ticket.tier.depth,
        "reasons": support.desk().reason_labels(),
        "reply_form": ReplyForm(),
        # Canned replies for the reply box (static/js/canned.js): the support side only.
        "canned": [
            {"shortcut": c.shortcut, "title": c.title, "body": c.body, "tier": c.tier.name}
            for c in (
                selectors.canned_for(user)[:CANNED_IN_BOX]
                if not reporter or selectors.handed_over(user, ticket)
                else []
            )
        ],
        "action_form": ActionForm(),
        "rate_form": RateForm(),
        "reason_form": ReasonForm(),
        "now": timezone.now(),
    }


@scoping.login_and_unit_required
def detail(request, pk):
    ticket = _visible(request, pk)
    template = "tickets/_live.html" if request.GET.get("partial") else "tickets/detail.html"
    return render(request, template, _detail_context(request, ticket))


def _act(request, pk, call):
    ticket = _visible(request, pk)
    try:
        call(ticket)
    except ValidationError as exc:
        _messages_from(request, exc)
    except PermissionDenied:
        messages.error(request, _("You cannot do that on this ticket."))
    return redirect("ticket_detail", pk=ticket.pk)


@require_POST
@scoping.login_and_unit_required
def reply(request, pk):
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _form_refused(request, pk, form)

    def call(ticket):
        services.ticket_reply(
            actor=request.user,
            ticket=ticket,
            body=form.cleaned_data["body"],
            internal=form.cleaned_data["internal"],
            files=form.cleaned_data["files"],
        )

    return _act(request, pk, call)


@require_POST
@scoping.login_and_unit_required
def act(request, pk):
    form = ActionForm(request.POST)
    if not form.is_valid():
        return _form_refused(request, pk, form)
    data = form.cleaned_data
    return _act(
        request,
        pk,
        lambda ticket: services.ticket_transition(
            actor=request.user,
            ticket=ticket,
            action=data["action"],
            text=data["text"],
            rating=data["rating"],
            rating_comment=data["rating_comment"],
        ),
    )


@require_POST
@scoping.login_and_unit_required
def rate(request, pk):
    form = RateForm(request.POST)
    if not form.is_valid():
        return _form_refused(request, pk, form)
    data = form.cleaned_data
    return _act(
        request,
        pk,
        lambda ticket: services.ticket_rate(
            actor=request.user, ticket=ticket, rating=data["rating"], comment=data["rating_comment"]
        ),
    )


@require_POST
@scoping.login_and_unit_required
def assign(request, pk):
    engineer_id = request.POST.get("engineer") or str(request.user.pk)
    engineer = (
        Account.objects.filter(pk=engineer_id).first()
        if engineer_id.isascii() and engineer_id.isdigit() and len(engineer_id) <= 18
        else None
    )
    if engineer is None:
        messages.error(request, _("Choose an engineer of this tier."))
        return redirect("ticket_detail", pk=pk)
    return _act(
        request,
        pk,
        lambda ticket: services.ticket_assign(actor=request.user, ticket=ticket, engineer=engineer),
    )


@require_POST
@scoping.login_and_unit_required
def escalate(request, pk):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _form_refused(request, pk, form)
    return _act(
        request,
        pk,
        lambda ticket: support.desk().escalate(
            actor=request.user, ticket=ticket, reason=form.cleaned_data["reason"]
        ),
    )


@require_POST
@scoping.login_and_unit_required
def send_back(request, pk):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _form_refused(request, pk, form)
    return _act(
        request,
        pk,
        lambda ticket: support.desk().send_back(
            actor=request.user, ticket=ticket, guidance=form.cleaned_data["reason"]
        ),
    )


def _form_refused(request, pk, form):
    _visible(request, pk)
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)
    return redirect("ticket_detail", pk=pk)


@scoping.login_and_unit_required
def attachment(request, pk, file_pk):
    ticket = _visible(request, pk)
    item = get_object_or_404(TicketFile, pk=file_pk, ticket=ticket)
    if item.event.internal and not selectors.can_see_internal(request.user, ticket):
        raise Http404
    return private_download(item)


@scoping.manager_required
def dashboard(request):
    # A school's own managers use support; the dashboard is for those who give it.
    if not selectors.is_support_person(request.user):
        raise PermissionDenied
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in (7, 30, 90) else 30
    data = selectors.dashboard(request.user, days=days, now=timezone.now())
    return render(request, "tickets/dashboard.html", {"d": data, "day_choices": (7, 30, 90)})


# --- canned replies (常用回复, issue 16) ----------------------------------------------

CANNED_IN_BOX = 300  # at most this many offered in one reply box


@scoping.login_and_unit_required
def canned(request):
    """The canned replies of the actor's tier: listed, added, changed and deleted here
    (the reply's id travels in the POST body; the service checks it is the tier's)."""
    user = request.user
    if not selectors.can_keep_canned(user):
        raise PermissionDenied
    form = CannedReplyForm()
    editing = None
    if request.method == "POST":
        action = request.POST.get("action", "save")
        pk = request.POST.get("id") or None
        try:
            pk = int(pk) if pk else None
        except ValueError:
            pk = None
        if action == "delete" and pk:
            try:
                services.canned_delete(actor=user, pk=pk)
            except PermissionDenied as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("The canned reply is deleted."))
            return redirect("ticket_canned")
        form = CannedReplyForm(request.POST)
        if form.is_valid():
            try:
                services.canned_save(actor=user, pk=pk, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            except PermissionDenied as exc:
                messages.error(request, str(exc))
                return redirect("ticket_canned")
            else:
                messages.success(request, _("The canned reply is saved."))
                return redirect("ticket_canned")
        editing = pk
    elif request.GET.get("edit"):
        reply = selectors.canned_kept(user).filter(pk=request.GET["edit"][:12]).first()
        if reply is not None:
            editing = reply.pk
            form = CannedReplyForm(
                initial={"title": reply.title, "body": reply.body, "shortcut": reply.shortcut}
            )
    return render(
        request,
        "tickets/canned.html",
        {
            "form": form,
            "editing": editing,
            "kept": selectors.canned_kept(user),
            "inherited": selectors.canned_for(user).exclude(tier_id=user.unit_id),
        },
    )
