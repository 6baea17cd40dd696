"""Writes for chat: rooms, membership, messages with per-room sequence numbers,
edits and removals, read positions and presence. Messages are stored first and
pushed to the room's group after commit.

Guarantees: a room's sequence numbers never repeat or skip (its row lock orders the
posts), and a post carrying a client id is stored once per author however often it is
resent, concurrently or not (looked up under that lock; a unique constraint behind it)."""

from __future__ import annotations

import logging
import re
import time

import bleach
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from accounts import scoping
from accounts import services as accounts_services
from accounts.models import LEVEL_ORDER, Account, AuditAction, Unit
from chat import selectors
from chat.models import (
    Message,
    MessageFile,
    MessageRevision,
    Room,
    RoomKind,
    RoomMember,
    RoomRule,
)
from core import events, sockets
from core import files as uploads
from core.text import storable

MAX_MESSAGE = 4000
RATE_LIMIT = 20  # messages
RATE_WINDOW = 10  # seconds
PRESENCE_TTL = 70  # seconds: two missed 30 s heartbeats and a little slack
MENTION = re.compile(r"@([\w.\-]{2,40})")
# A browser's message id (a UUID, or any id of its own): printable ASCII, no spaces.
CLIENT_ID_MAX = 64
CLIENT_ID = re.compile(rf"[\x21-\x7e]{{1,{CLIENT_ID_MAX}}}")


class NotAMember(PermissionDenied):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


# --- rooms ------------------------------------------------------------------------


def region_rooms_ensure(account) -> None:
    """Region rooms are provisioned from the tree the first time someone on the path needs them."""
    units = selectors.region_units(account)
    have = set(
        Room.objects.filter(kind=RoomKind.REGION, unit__in=units).values_list("unit_id", flat=True)
    )
    for unit in units:
        if unit.pk in have:
            continue
        try:
            with transaction.atomic():
                Room.objects.create(
                    kind=RoomKind.REGION,
                    unit=unit,
                    name=unit.name,
                    levels=selectors.DEFAULT_POLICY[unit.level],
                )
        except IntegrityError:  # created meanwhile by someone else
            pass


def _levels_under(unit: Unit, levels: list[str]) -> str:
    allowed = LEVEL_ORDER[LEVEL_ORDER.index(unit.level) :]
    chosen = [lv.value for lv in allowed if lv.value in levels]
    if not chosen:
        raise ValidationError(_("Choose at least one level at or below the unit."))
    return ",".join(chosen)


def room_set_policy(*, actor, room: Room, levels: list[str]) -> Room:
    """Managers of a unit decide which levels its region room takes."""
    if room.kind != RoomKind.REGION or not selectors.can_manage_room(actor, room):
        raise PermissionDenied(_("Only managers of this unit change its room."))
    before = set(room.level_list)
    with transaction.atomic():
        room.levels = _levels_under(room.unit, levels)
        room.save(update_fields=["levels"])
        after = set(room.level_list)
        # Connected sockets of the levels that left or joined follow without reconnecting.
        for kind, changed in (
            ("chat.room_removed", before - after),
            ("chat.room_added", after - before),
        ):
            if changed:
                events.publish(
                    kind=kind,
                    payload={"room": {"id": room.pk, "name": room.name}},
                    groups=[events.tree_group(room.unit.code, lv, False) for lv in sorted(changed)],
                )
    return room


def topic_room_create(
    *, actor, name: str, rules: list[tuple[str, list[str]]], usernames: list[str]
) -> Room:
    """A manager's room within its subtree, with members by unit and level, or by person."""
    if not scoping.is_manager(actor):
        raise PermissionDenied(_("Only managers create rooms."))
    name = name.strip()
    errors = []
    if not name or len(name) > 100:
        errors.append(_("Give the room a name of at most 100 characters."))
    units = {u.code: u for u in Unit.objects.filter(code__in=[c for c, _l in rules])}
    parsed = []
    for code, levels in rules:
        unit = units.get(code)
        if unit is None or not scoping.can_manage_unit(actor, unit):
            errors.append(_("No unit with the code %s in your jurisdiction.") % code)
            continue
        try:
            parsed.append((unit, _levels_under(unit, levels)))
        except ValidationError as exc:
            errors.extend(exc.messages)
    people = list(
        Account.objects.filter(username__in=usernames, is_active=True).select_related("unit")
    )
    found = {p.username for p in people}
    for username in usernames:
        if username not in found:
            errors.append(_("No account named %s.") % username)
    for person in people:
        if not scoping.is_within(person.unit, actor.unit):
            errors.append(_("%s is outside your jurisdiction.") % person.username)
    if not parsed and not people:
        errors.append(_("Add members by unit or by person."))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        room = Room.objects.create(
            kind=RoomKind.TOPIC, unit=actor.unit, name=name, created_by=actor
        )
        RoomRule.objects.bulk_create(
            [RoomRule(room=room, unit=u, path=u.path, levels=lv) for u, lv in parsed]
        )
        members = {p.pk for p in people} | {actor.pk}
        RoomMember.objects.bulk_create(
            [RoomMember(room=room, account_id=pk, picked=True) for pk in members]
        )
        _announce_room(
            room,
            [events.tree_group(u.code, lv, False) for u, lv_s in parsed for lv in lv_s.split(",")]
            + [events.account_group(pk) for pk in members],
        )
    return room


def _announce_room(room: Room, groups: list[str]) -> None:
    """Connected members join the new room's group without reconnecting."""
    events.publish(
        kind="chat.room_added", payload={"room": {"id": room.pk, "name": room.name}}, groups=groups
    )


def dm_open(*, actor, other: Account) -> Room:
    refusal = selectors.dm_refusal(actor, other)
    if refusal:
        raise ValidationError(refusal)
    low, high = sorted((actor.pk, other.pk))
    key = f"{low}:{high}"
    room = Room.objects.filter(dm_key=key).first()
    if room is not None:
        return room
    try:
        with transaction.atomic():
            room = Room.objects.create(kind=RoomKind.DIRECT, name=key, dm_key=key, created_by=actor)
            RoomMember.objects.bulk_create(
                [
                    RoomMember(room=room, account_id=low, picked=True),
                    RoomMember(room=room, account_id=high, picked=True),
                ]
            )
            _announce_room(room, [events.account_group(low), events.account_group(high)])
    except IntegrityError:
        room = Room.objects.get(dm_key=key)
    return room


def member_set(
    *, actor, room: Room, account: Account, muted: bool | None = None, removed: bool | None = None
) -> RoomMember:
    """Mute or remove a member of a topic room (or a region room: removal overrides the policy)."""
    if not selectors.can_manage_room(actor, room):
        raise PermissionDenied(_("Only the room's managers do this."))
    with transaction.atomic():
        row, _created = RoomMember.objects.get_or_create(room=room, account=account)
        if muted is not None:
            row.muted = muted
        if removed is not None:
            row.removed = removed
        row.save(update_fields=["muted", "removed"])
        if removed:
            events.publish(
                kind="chat.room_removed",
                payload={"room": {"id": room.pk}},
                groups=[events.account_group(account.pk)],
            )
    return row


# --- messages ----------------------------------------------------------------------


def render(body: str) -> str:
    """Plain text with line breaks and @mentions; every character of the sender's escaped."""
    html = escape(body).replace("\n", "<br>")
    html = MENTION.sub(lambda m: f'<span class="mention">@{m.group(1)}</span>', html)
    return bleach.clean(html, tags=["br", "span"], attributes={"span": ["class"]}, strip=True)


def _rate_check(account) -> None:
    window = int(time.time()) // RATE_WINDOW
    key = f"chat-rate:{account.pk}:{window}"
    try:
        cache.add(key, 0, timeout=RATE_WINDOW * 2)
        count = cache.incr(key)
    except RedisError:
        # Redis away: the counter is gone with it, but the message is stored all the same
        # (the database is the truth). Refusing here lost it: the socket closed mid-send.
        logging.getLogger(__name__).warning("chat rate limit unavailable", exc_info=True)
        return
    if count > RATE_LIMIT:
        raise RateLimited(retry_after=RATE_WINDOW - int(time.time()) % RATE_WINDOW or 1)


def _validate_body(body) -> str:
    if not isinstance(body, str):
        raise ValidationError(_("The message must be text."))
    body = body.strip()
    if not body:
        raise ValidationError(_("The message is empty."))
    if len(body) > MAX_MESSAGE:
        raise ValidationError(_("The message is longer than %d characters.") % MAX_MESSAGE)
    if not storable(body):
        raise ValidationError(
            _("The message holds a character that cannot be stored (NUL or half a pair).")
        )
    return body


def message_frame(message: Message) -> dict:
    author = message.author
    deleted = message.deleted_at is not None
    files = (
        []
        if deleted
        else [
            {
                "name": f.name,
                "size": f.size,
                "url": reverse("chat_file", args=[message.room_id, f.pk]),
            }
            for f in message.files.all()
        ]
    )
    return {
        "files": files,
        "type": "chat.message",
        "room": message.room_id,
        "seq": message.seq,
        "message_id": message.pk,
        "author": author.username,
        "author_name": author.full_name or author.username,
        "unit": author.unit.name if author.unit_id else "",
        "html": "" if deleted else message.body_html,
        "at": timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        "edited": message.edited_at is not None,
        "deleted": deleted,
    }


def _push(room_id: int, frame: dict) -> None:
    layer = get_channel_layer()
    try:
        # Not waited for: the post's ack must not wait behind the event loop's fan-out.
        sockets.group_send_soon(layer, room_group(room_id), {"type": "chat.frame", "frame": frame})
    except Exception:  # Redis away: members get it from the database when they sync
        import logging

        logging.getLogger(__name__).warning("could not push chat frame", exc_info=True)


def _validate_client_id(client_id) -> str | None:
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise ValidationError(
            _("The client id must be 1 to 64 printable ASCII characters without spaces.")
        )
    return client_id


def _posted(account, room: Room, client_id: str) -> Message | None:
    """The message this author already stored under `client_id`; refused if it went to
    another room (the id names one post, not one per room)."""
    message = Message.objects.filter(author=account, client_id=client_id).first()
    if message is not None and message.room_id != room.pk:
        raise ValidationError(_("This client id was already used for a message in another room."))
    return message


def message_post(*, account, room: Room, body, files=(), client_id=None) -> Message:
    """Store the message (and its files) with the room's next sequence number, then push it.

    With `client_id`, a post is stored once per author: a resend of an id already stored
    returns that message (same seq, same id) and pushes nothing again. A resend that
    overtakes its first copy waits on the room's row lock and finds it there, so it burns
    no sequence number; the unique constraint settles a race the lock does not order (two
    rooms, or a database without row locks)."""
    client_id = _validate_client_id(client_id)
    if client_id is not None:
        # A resend after a lost chat.sent: answered before the rate limit or any check
        # that may have changed since the first copy was stored.
        existing = _posted(account, room, client_id)
        if existing is not None:
            return existing
    refusal = selectors.post_refusal(account, room)
    if refusal == "not_a_member":
        raise NotAMember(_("You are not a member of this room."))
    if refusal == "muted":
        raise PermissionDenied(_("You are muted in this room."))
    files = list(files)
    if files and isinstance(body, str) and not body.strip():
        body = "📎"
    body = _validate_body(body)
    errors = uploads.check_files(files)
    if errors:
        raise ValidationError(errors)
    _rate_check(account)
    mentioned = _mentioned(room, body)
    try:
        return _store(
            account=account,
            room=room,
            body=body,
            files=files,
            client_id=client_id,
            mentioned=mentioned,
        )
    except IntegrityError:
        existing = _posted(account, room, client_id) if client_id is not None else None
        if existing is None:
            raise
        return existing


def _store(*, account, room: Room, body: str, files, client_id, mentioned) -> Message:
    with uploads.undo_files() as stored, transaction.atomic():
        # The row lock orders concurrent posts: sequence numbers never repeat or skip.
        locked = Room.objects.select_for_update().get(pk=room.pk)
        if client_id is not None:
            # Looked up again under the lock: a copy committed meanwhile is now visible.
            existing = _posted(account, room, client_id)
            if existing is not None:
                return existing
        locked.last_seq += 1
        locked.save(update_fields=["last_seq"])
        message = Message.objects.create(
            room=locked,
            seq=locked.last_seq,
            author=account,
            body=body,
            body_html=render(body),
            mentions=[a.pk for a in mentioned],
            client_id=client_id,
        )
        for f in files:
            item = MessageFile(message=message, name=uploads.clean_file_name(f.name), size=f.size)
            item.file.save(item.name, f, save=False)
            stored.append(item.file.name)
            item.save()
        # The poster has read its own message: one UPDATE, an INSERT the first time only.
        if not RoomMember.objects.filter(room=locked, account=account).update(
            last_read_seq=locked.last_seq
        ):
            RoomMember.objects.create(room=locked, account=account, last_read_seq=locked.last_seq)
        frame = message_frame(message)
        transaction.on_commit(lambda: _push(locked.pk, frame))
        if mentioned:
            events.publish(
                kind="chat.mention",
                payload={
                    "room": {"id": room.pk, "name": room.name},
                    "seq": message.seq,
                    "by": account.full_name or account.username,
                },
                groups=[events.account_group(a.pk) for a in mentioned],
            )
    room.last_seq = locked.last_seq
    return message


def _mentioned(room: Room, body: str) -> list[Account]:
    names = set(MENTION.findall(body))
    if not names:
        return []
    candidates = Account.objects.filter(username__in=names, is_active=True).select_related("unit")
    return [a for a in candidates if selectors.is_member(a, room)]


def message_edit(*, account, message: Message, body) -> Message:
    if not selectors.can_edit_message(account, message):
        raise PermissionDenied(_("Messages can be edited by their author within 10 minutes."))
    body = _validate_body(body)
    with transaction.atomic():
        MessageRevision.objects.create(message=message, body=message.body)
        message.body, message.body_html, message.edited_at = body, render(body), timezone.now()
        message.save(update_fields=["body", "body_html", "edited_at"])
        frame = message_frame(message)
        transaction.on_commit(lambda: _push(message.room_id, frame))
    return message


def message_delete(*, account, message: Message) -> Message:
    """The author within 10 minutes, or a room manager (audited); the text stays in the history."""
    room = message.room
    by_manager = not selectors.can_edit_message(account, message)
    if by_manager and not selectors.can_manage_room(account, room):
        raise PermissionDenied(
            _(
                "Messages can be deleted by their author within 10 minutes, or by the room's managers."
            )
        )
    with transaction.atomic():
        MessageRevision.objects.create(message=message, body=message.body)
        message.deleted_at = timezone.now()
        if by_manager:
            message.removed_by = account
            accounts_services.audit_event(
                action=AuditAction.CHAT_MESSAGE_REMOVED,
                actor=account,
                target=message.author,
                unit=room.unit,
                detail={"room": room.pk, "seq": message.seq},
            )
        message.save(update_fields=["deleted_at", "removed_by"])
        frame = message_frame(message)
        transaction.on_commit(lambda: _push(message.room_id, frame))
    return message


def mark_read(*, account, room: Room, seq: int) -> int:
    """Move the read position forward (never back, never past the last message)."""
    if not selectors.is_member(account, room):
        raise PermissionDenied
    seq = max(0, min(int(seq), room.last_seq))
    row, _created = RoomMember.objects.get_or_create(room=room, account=account)
    if seq > row.last_read_seq:
        RoomMember.objects.filter(pk=row.pk, last_read_seq__lt=seq).update(last_read_seq=seq)
    return seq


# --- presence ------------------------------------------------------------------------


def presence_beat(account) -> None:
    """Kept in Redis with an expiry: a crashed process leaves no ghost behind."""
    cache.set(f"presence:{account.pk}", "online", timeout=PRESENCE_TTL)


def presence_away(account) -> None:
    cache.set(f"presence:{account.pk}", "away", timeout=PRESENCE_TTL)


def presence_of(account_ids: list[int]) -> dict[int, str]:
    keys = {f"presence:{pk}": pk for pk in account_ids}
    found = cache.get_many(list(keys))
    return {keys[k]: v for k, v in found.items()}
