"""Chat's part of the home page's to-dos (core.todo, registered in apps.py): my rooms
with unread messages (the most unread first) and the unread messages that mention me.
A few queries whatever the number of rooms and messages."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Q

from accounts import scoping
from chat.models import Message
from chat.selectors import display_name, room_list

LIMIT = 5
# Rooms searched for unread mentions (those with the most unread), and the unread
# messages looked through where the database cannot search JSON (SQLite).
MENTION_ROOMS = 50
MENTION_SCAN = 500


def unread(account, *, limit: int = LIMIT) -> dict | None:
    if not scoping.is_active_account(account):
        return None
    rooms = sorted(
        (r for r in room_list(account) if r["unread"] > 0),
        key=lambda r: (-r["unread"], r["name"]),
    )
    names = {r["room"].pk: r["name"] for r in rooms}
    mentions = _unread_mentions(account, rooms[:MENTION_ROOMS], limit)
    for message in mentions:
        message.room_name = names.get(message.room_id) or display_name(message.room)
    return {
        "rooms": rooms[:limit],
        "messages": sum(r["unread"] for r in rooms),
        "mentions": mentions,
        "count": len(rooms),
        "more": len(rooms) - min(len(rooms), limit),
    }


def _unread_mentions(account, rooms: list[dict], limit: int) -> list[Message]:
    if not rooms:
        return []
    after = reduce(
        or_,
        (Q(room_id=r["room"].pk, seq__gt=r["room"].last_seq - r["unread"]) for r in rooms),
    )
    qs = (
        Message.objects.filter(after, deleted_at__isnull=True)
        .exclude(author=account)
        .select_related("room", "author")
        .order_by("-created_at", "-id")
    )
    if connection.features.supports_json_field_contains:
        return list(qs.filter(mentions__contains=[account.pk])[:limit])
    return [m for m in qs[:MENTION_SCAN] if account.pk in m.mentions][:limit]
