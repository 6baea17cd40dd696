"""Chat pages. Each view states its permission with an `accounts.scoping` decorator and
checks room membership through `chat.selectors`; writes go through `chat.services`."""

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from accounts import scoping
from accounts.models import Account
from chat import selectors, services
from chat.forms import DirectForm, PolicyForm, TopicRoomForm
from chat.models import MessageFile, RoomKind
from chat.schemas import (
    DIRECTORY_PRESENCE,
    DIRECTORY_PRESENCE_QUERY,
    HISTORY,
    HISTORY_QUERY,
    MEMBERS,
)
from core.http import private_download
from core.openapi import PAGE_REFUSALS, SESSION, declare


@scoping.login_and_unit_required
def index(request):
    services.region_rooms_ensure(request.user)
    rooms = selectors.room_list(request.user)
    if rooms:
        return redirect("chat_room", pk=rooms[0]["room"].pk)
    return render(request, "chat/room.html", {"rooms": rooms, "room": None})


@scoping.login_and_unit_required
def room(request, pk):
    services.region_rooms_ensure(request.user)
    current = selectors.room_or_404(account=request.user, pk=pk)
    history = selectors.history(room=current)
    if current.last_seq:
        services.mark_read(account=request.user, room=current, seq=current.last_seq)
    manage = selectors.can_manage_room(request.user, current)
    rooms = selectors.room_list(request.user)
    return render(
        request,
        "chat/room.html",
        {
            "rooms": rooms,
            "room": current,
            "room_name": next(
                (r["name"] for r in rooms if r["room"].pk == current.pk), current.name
            ),
            "history": [services.message_frame(m) | {"body": m.body} for m in history],
            "first_seq": history[0].seq if history else 0,
            "can_manage": manage,
            "can_post": selectors.can_post(request.user, current),
            "policy_form": PolicyForm(initial={"levels": current.level_list})
            if manage and current.kind == RoomKind.REGION
            else None,
            "max_length": services.MAX_MESSAGE,
            "client_id": uuid.uuid4().hex,
        },
    )


@declare(
    "GET",
    summary="A room's messages before `before` (50 at most), for scrolling back",
    security=SESSION,
    query=HISTORY_QUERY,
    responses={200: HISTORY, **PAGE_REFUSALS},
    tags=("pages",),
)
@scoping.login_and_unit_required
def history(request, pk):
    current = selectors.room_or_404(account=request.user, pk=pk)
    before = request.GET.get("before", "")
    before = int(before) if before.isascii() and before.isdigit() and len(before) < 16 else None
    items = selectors.history(room=current, before=before, limit=50)
    return JsonResponse({"messages": [services.message_frame(m) for m in items]})


@require_POST
@scoping.login_and_unit_required
def post(request, pk):
    """The form fallback of the socket's chat.send (and what a page without script uses)."""
    current = selectors.room_or_404(account=request.user, pk=pk)
    try:
        services.message_post(
            account=request.user,
            room=current,
            body=request.POST.get("body", ""),
            files=request.FILES.getlist("files"),
            # The form's id for this post: a second submit of the same form (a double
            # click, a resubmit after a lost answer) finds the stored message.
            client_id=request.POST.get("client_id") or None,
        )
    except (ValidationError, PermissionDenied) as exc:
        for message in getattr(exc, "messages", [str(exc)]):
            messages.error(request, message)
    except services.RateLimited as exc:
        messages.error(
            request, _("You are sending too fast; try again in %d seconds.") % exc.retry_after
        )
    return redirect("chat_room", pk=current.pk)


def _message_or_404(request, pk, seq):
    current = selectors.room_or_404(account=request.user, pk=pk)
    message = current.messages.filter(seq=seq).select_related("author__unit", "room__unit").first()
    if message is None:
        raise Http404
    return current, message


@require_POST
@scoping.login_and_unit_required
def edit(request, pk, seq):
    current, message = _message_or_404(request, pk, seq)
    try:
        services.message_edit(
            account=request.user, message=message, body=request.POST.get("body", "")
        )
    except (ValidationError, PermissionDenied) as exc:
        for text in getattr(exc, "messages", [str(exc)]):
            messages.error(request, text)
    return redirect("chat_room", pk=current.pk)


@require_POST
@scoping.login_and_unit_required
def delete(request, pk, seq):
    current, message = _message_or_404(request, pk, seq)
    try:
        services.message_delete(account=request.user, message=message)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    return redirect("chat_room", pk=current.pk)


@scoping.login_and_unit_required
def revisions(request, pk, seq):
    current, message = _message_or_404(request, pk, seq)
    if not selectors.can_manage_room(request.user, current):
        raise PermissionDenied
    return render(
        request,
        "chat/revisions.html",
        {
            "room": current,
            "message": message,
            "revisions": message.revisions.order_by("replaced_at"),
        },
    )


@declare(
    "GET",
    summary="A room's members with their presence",
    security=SESSION,
    responses={200: MEMBERS, **PAGE_REFUSALS},
    tags=("pages",),
)
@scoping.login_and_unit_required
def members(request, pk):
    current = selectors.room_or_404(account=request.user, pk=pk)
    people = list(selectors.room_members(current).order_by("unit__path", "username")[:500])
    presence = services.presence_of([p.pk for p in people])
    states = {m.account_id: m for m in current.members.filter(account__in=people)}
    return JsonResponse(
        {
            "members": [
                {
                    "id": p.pk,
                    "username": p.username,
                    "name": p.full_name or p.username,
                    "unit": p.unit.name,
                    "presence": presence.get(p.pk, "offline"),
                    "muted": bool(states.get(p.pk) and states[p.pk].muted),
                }
                for p in people
            ],
            "can_manage": selectors.can_manage_room(request.user, current),
        }
    )


@require_POST
@scoping.login_and_unit_required
def member_action(request, pk, account_pk, action):
    current = selectors.room_or_404(account=request.user, pk=pk)
    account = Account.objects.filter(pk=account_pk).first()
    if account is None or action not in ("mute", "unmute", "remove"):
        raise Http404
    services.member_set(
        actor=request.user,
        room=current,
        account=account,
        muted={"mute": True, "unmute": False}.get(action),
        removed=True if action == "remove" else None,
    )
    return redirect("chat_room", pk=current.pk)


@require_POST
@scoping.manager_required
def policy(request, pk):
    current = selectors.room_or_404(account=request.user, pk=pk)
    form = PolicyForm(request.POST)
    if form.is_valid():
        try:
            services.room_set_policy(
                actor=request.user, room=current, levels=form.cleaned_data["levels"]
            )
            messages.success(request, _("The room's levels are saved."))
        except (ValidationError, PermissionDenied) as exc:
            for text in getattr(exc, "messages", [str(exc)]):
                messages.error(request, text)
    return redirect("chat_room", pk=current.pk)


@scoping.manager_required
def new_room(request):
    form = TopicRoomForm(
        request.POST or None, actor=request.user, initial={"rule_units": request.user.unit.code}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.topic_room_create(
                actor=request.user,
                name=data["name"],
                rules=[(code, data["rule_levels"]) for code in data["rule_units"]]
                if data["rule_levels"]
                else [],
                usernames=data["usernames"],
            )
            return redirect("chat_room", pk=created.pk)
        except ValidationError as exc:
            for text in exc.messages:
                form.add_error(None, text)
    return render(request, "chat/new_room.html", {"form": form})


def _page_number(value) -> int:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 7 else 1


@scoping.login_and_unit_required
def direct(request):
    """The contact directory (people I may message, by unit, with presence) and the
    username form as a fallback; both open the direct room through services.dm_open."""
    form = DirectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        other = (
            Account.objects.filter(username__iexact=form.cleaned_data["username"])
            .select_related("unit")
            .first()
        )
        if other is None:
            form.add_error("username", _("No account has this username."))
        else:
            try:
                return redirect(
                    "chat_room", pk=services.dm_open(actor=request.user, other=other).pk
                )
            except ValidationError as exc:
                form.add_error("username", exc.messages[0])
    q = request.GET.get("q", "").strip()[:50]
    page = _page_number(request.GET.get("page"))
    people, has_next = selectors.directory(request.user, q=q, page=page)
    try:
        presence = services.presence_of([p.pk for p in people])
    except RedisError:  # presence is ephemeral: everyone shows offline
        presence = {}
    labels = {
        selectors.OWN: _("My own unit"),
        selectors.ABOVE: _("The level above"),
        selectors.FURTHER_UP: _("Further up"),
        selectors.BELOW: _("Units below"),
        selectors.COUNTY: _("Elsewhere in my county"),
    }
    for person in people:
        person.presence = presence.get(person.pk, "offline")
        person.group_label = labels[person.group]
    return render(
        request,
        "chat/direct.html",
        {"form": form, "q": q, "people": people, "page": page, "has_next": has_next},
    )


@declare(
    "GET",
    summary="The presence (online, away, offline) of people in my contact directory",
    security=SESSION,
    query=DIRECTORY_PRESENCE_QUERY,
    responses={200: DIRECTORY_PRESENCE, **PAGE_REFUSALS},
    tags=("pages",),
)
@scoping.login_and_unit_required
def directory_presence(request):
    """The directory page's live dots: asked every 30 s for the people it shows."""
    raw = request.GET.get("ids", "")[:1200].split(",")
    ids = [int(x) for x in raw if x.isascii() and x.isdigit() and len(x) < 16][:100]
    allowed = selectors.directory_ids(request.user, ids)
    try:
        found = services.presence_of(allowed)
    except RedisError:
        found = {}
    return JsonResponse({"presence": {str(pk): found.get(pk, "offline") for pk in allowed}})


@scoping.login_and_unit_required
def file(request, pk, file_pk):
    """A message's file, for members of its room only."""
    current = selectors.room_or_404(account=request.user, pk=pk)
    item = MessageFile.objects.filter(
        pk=file_pk, message__room=current, message__deleted_at__isnull=True
    ).first()
    if item is None:
        raise Http404
    return private_download(item)


@scoping.login_and_unit_required
def search(request):
    q = request.GET.get("q", "").strip()[:100]
    results = selectors.search(account=request.user, q=q) if q else []
    return render(request, "chat/search.html", {"q": q, "results": results})
