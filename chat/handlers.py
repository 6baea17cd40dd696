"""Socket frames for chat, each turned into one service call. The consumer in
core/consumers.py dispatches `chat.*` and `presence.*` frames here."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from redis.exceptions import RedisError

from accounts.models import LEVEL_ORDER, Level
from chat import selectors, services
from chat.models import Room, RoomKind

SYNC_LIMIT = 200


def room_ids_for(account) -> list[int]:
    """The rooms a connecting socket follows (region rooms provisioned on the way).

    One query when the account's region rooms exist (every connect but the first on a
    path): provisioning costs two more, so it runs only when a region room the default
    policy puts the account in did not come back (also when a manager narrowed that
    room's levels: the ensure is then a no-op)."""
    rows = selectors.room_rows_of(account)
    have = {level for _, kind, level in rows if kind == RoomKind.REGION}
    if not _default_region_levels(account.unit) <= have:
        services.region_rooms_ensure(account)
        rows = selectors.room_rows_of(account)
    return [pk for pk, _, _ in rows]


def _default_region_levels(unit) -> set[str]:
    """The levels of the region rooms on `unit`'s path that take `unit`'s level by
    default (selectors.DEFAULT_POLICY), from the path alone: a path one segment
    shorter than its level's place in LEVEL_ORDER skips the prefecture."""
    levels = LEVEL_ORDER[: LEVEL_ORDER.index(unit.level) + 1]
    if len(levels) > len(unit.ancestor_codes) + 1:
        levels = [lv for lv in levels if lv != Level.PREFECTURE]
    return {
        lv.value for lv in levels if unit.level in selectors.DEFAULT_POLICY.get(lv, "").split(",")
    }


def _is_member(account, room_id: int) -> bool:
    room = Room.objects.select_related("unit").filter(pk=room_id).first()
    return room is not None and selectors.is_member(account, room)


is_member = database_sync_to_async(_is_member)


def _int(value) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
        else None
    )


def _send(account, content) -> dict:
    client_id = content.get("client_id")
    # Every answer names the client's id, so a browser with several posts in flight
    # matches a refusal or an ack to its post (only a short string is echoed back).
    echo = (
        {"client_id": client_id}
        if isinstance(client_id, str) and 0 < len(client_id) <= services.CLIENT_ID_MAX
        else {}
    )
    room_id = _int(content.get("room"))
    if room_id is None:
        return {"type": "error", "code": "malformed", "detail": "room must be a room id"} | echo
    room = Room.objects.select_related("unit").filter(pk=room_id).first()
    if room is None:
        return {"type": "error", "code": "not_a_member", "room": room_id} | echo
    try:
        # message_post checks membership itself: no second lookup here.
        message = services.message_post(
            account=account, room=room, body=content.get("body"), client_id=client_id
        )
    except services.NotAMember:
        return {"type": "error", "code": "not_a_member", "room": room_id} | echo
    except PermissionDenied as exc:
        return {"type": "error", "code": "forbidden", "room": room_id, "detail": str(exc)} | echo
    except ValidationError as exc:
        return {
            "type": "error",
            "code": "invalid",
            "room": room_id,
            "detail": " ".join(exc.messages),
        } | echo
    except services.RateLimited as exc:
        return {
            "type": "error",
            "code": "rate_limited",
            "room": room_id,
            "retry_after": exc.retry_after,
        } | echo
    return {
        "type": "chat.sent",
        "room": room_id,
        "seq": message.seq,
        "message_id": message.pk,
    } | echo


def _sync(account, content) -> list[dict]:
    rooms = content.get("rooms")
    if not isinstance(rooms, dict) or len(rooms) > 500:
        return [
            {
                "type": "error",
                "code": "malformed",
                "detail": "rooms must map room ids to sequence numbers",
            }
        ]
    frames = []
    for key, after in rooms.items():
        room_id = (
            int(key)
            if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 16
            else None
        )
        after = _int(after)
        if room_id is None or after is None:
            frames.append(
                {
                    "type": "error",
                    "code": "malformed",
                    "detail": "rooms must map room ids to sequence numbers",
                }
            )
            continue
        try:
            room = selectors.room_or_404(account=account, pk=room_id)
        except Http404:
            frames.append({"type": "error", "code": "not_a_member", "room": room_id})
            continue
        missed = selectors.messages_after(room=room, after=after, limit=SYNC_LIMIT + 1)
        if len(missed) > SYNC_LIMIT:
            frames.append({"type": "chat.resync", "room": room_id, "last_seq": room.last_seq})
            continue
        frames.extend(services.message_frame(m) for m in missed)
    frames.append({"type": "chat.synced"})
    return frames


def _read(account, content) -> dict | None:
    room_id, seq = _int(content.get("room")), _int(content.get("seq"))
    if room_id is None or seq is None:
        return {"type": "error", "code": "malformed", "detail": "room and seq must be numbers"}
    try:
        room = selectors.room_or_404(account=account, pk=room_id)
    except Http404:
        return {"type": "error", "code": "not_a_member", "room": room_id}
    services.mark_read(account=account, room=room, seq=seq)
    return None


def _presence(account, content) -> dict | None:
    state = content.get("state")
    if state not in ("online", "away"):
        # Was taken as "online": a client's typo went unanswered (found by tests/fuzz).
        return {"type": "error", "code": "malformed", "detail": "state must be online or away"}
    try:
        if state == "away":
            services.presence_away(account)
        else:
            services.presence_beat(account)
    except RedisError:  # Redis away: presence is ephemeral; keep the socket
        pass


HANDLERS = {
    "chat.send": database_sync_to_async(_send),
    "chat.sync": database_sync_to_async(_sync),
    "chat.read": database_sync_to_async(_read),
    "presence": database_sync_to_async(_presence),
}


def room_groups(account) -> list[str]:
    """The room groups a connecting socket follows (core.sockets broadcast groups)."""
    return [services.room_group(pk) for pk in room_ids_for(account)]


async def follow_room(socket, frame) -> None:
    """On chat.room_added / chat.room_removed: follow a room's group when the account
    became a member, stop when it no longer is."""
    room_id = (frame.get("room") or {}).get("id")
    if not isinstance(room_id, int):
        return
    if await is_member(socket.account, room_id):
        await socket.follow(services.room_group(room_id))
    else:
        await socket.unfollow(services.room_group(room_id))
