"""The one publishing module: store an event, then push it after commit.

A connected account joins a handful of groups derived from its place in the tree:

- `acct.<id>`                      — events for this account alone;
- `t.<code>.<level>.all`           — for each unit on its path (its own and every
                                     ancestor), events for the `<level>` accounts
                                     under `<code>`;
- `t.<code>.<level>.mgr`           — the same, managers only (joined by managers).

So a notice to a whole province's counties and schools is two group sends
(`t.130000.county.all`, `t.130000.school.all`) whatever the number of people, and
with the pub/sub channel layer each group send is one Redis PUBLISH.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from accounts.models import SEGMENT, Account, Unit
from core.models import Event, EventTarget

log = logging.getLogger(__name__)

# How far before a client's last id a replay starts: a live event can reach a client
# a moment before an earlier one published by another process; the client drops ids
# it has already seen, so the overlap costs nothing but closes that gap.
REPLAY_OVERLAP = 200
# Past this many missed events a client gets `resync` and reloads its state instead.
REPLAY_LIMIT = 500
# Any constant: the key of the PostgreSQL advisory lock that orders event ids.
_EVENT_LOCK = 7_241_001


def account_group(account_id: int) -> str:
    return f"acct.{account_id}"


def tree_group(code: str, level: str, managers_only: bool) -> str:
    return f"t.{code}.{level}.{'mgr' if managers_only else 'all'}"


def unit_codes_on_path(unit: Unit) -> list[str]:
    return unit.ancestor_codes + [unit.code]


def ancestor_paths(unit: Unit) -> list[str]:
    """The paths of `unit` and of every unit above it."""
    return [unit.path[:i] for i in range(SEGMENT, len(unit.path) + 1, SEGMENT)]


def groups_for(account: Account) -> list[str]:
    """The groups a connected account joins (about ten at the deepest level)."""
    unit = account.unit
    manager = account.role == "manager"
    groups = [account_group(account.pk)]
    for code in unit_codes_on_path(unit):
        groups.append(tree_group(code, unit.level, managers_only=False))
        if manager:
            groups.append(tree_group(code, unit.level, managers_only=True))
    return groups


def audience_groups(*, roots, levels, managers_only: bool) -> list[str]:
    return [tree_group(root.code, level, managers_only) for root in roots for level in levels]


def publish(*, kind: str, payload: dict, groups: list[str]) -> Event:
    """Store an event addressed to `groups` and push it once the transaction commits.

    Call it inside the transaction that wrote what the event announces: nobody
    hears of a change that rolled back, and a client that missed the push finds
    the event when it resumes.
    """
    return publish_many([(kind, payload, groups)])[0]


def publish_many(items: list[tuple[str, dict, list[str]]]) -> list[Event]:
    """`publish` for several (kind, payload, groups) at once: one lock, one INSERT of
    the events and one of their targets, one push after commit. Ids follow the order
    of `items`."""
    # No savepoint of its own: inside a transaction the events share its fate anyway.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            # Serialise event inserts until commit so ids become visible in order:
            # a client that has seen id N can never later miss an id below N.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENT_LOCK])
        stored = Event.objects.bulk_create([Event(kind=k, payload=p) for k, p, _ in items])
        routed = [
            (event, list(dict.fromkeys(groups)))
            for event, (_, _, groups) in zip(stored, items, strict=True)
        ]
        EventTarget.objects.bulk_create(
            [EventTarget(event=event, group=g) for event, groups in routed for g in groups]
        )
        transaction.on_commit(lambda: push_many(routed))
    return stored


def frame(event: Event) -> dict:
    return {
        "type": event.kind,
        "id": event.pk,
        "at": event.created_at.isoformat(),
        **event.payload,
    }


def push_many(routed: list[tuple[Event, list[str]]]) -> None:
    """Ring the doorbell. A failure here loses nothing: the events are stored."""
    layer = get_channel_layer()
    if layer is None:
        return
    sends = [
        (group, {"type": "platform.event", "frame": frame(event)})
        for event, groups in routed
        for group in groups
    ]
    try:
        # One event loop and one Redis connection for all the groups: a separate
        # async_to_sync per group costs a loop and a connection each (~4 ms).
        async_to_sync(_send_all)(layer, sends)
    except Exception:  # Redis down or restarting: clients catch up when they resume
        ids = ", ".join(str(event.pk) for event, _ in routed)
        log.warning("could not push event %s; clients will replay it", ids, exc_info=True)


async def _send_all(layer, sends: list[tuple[str, dict]]) -> None:
    for group, message in sends:
        await layer.group_send(group, message)


def latest_id() -> int:
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def replay(account: Account, after_id: int) -> list[dict] | None:
    """The frames of `account`'s events after `after_id` (with a small overlap), oldest
    first, or None when there are too many to replay and the client should resync."""
    from core import filters

    start = max(0, after_id - REPLAY_OVERLAP)
    ids = list(
        EventTarget.objects.filter(group__in=groups_for(account), event_id__gt=start)
        .order_by("event_id")
        .values_list("event_id", flat=True)
        .distinct()[: REPLAY_LIMIT + REPLAY_OVERLAP + 1]
    )
    if len([i for i in ids if i > after_id]) > REPLAY_LIMIT:
        return None
    events = Event.objects.filter(pk__in=ids).order_by("pk")
    return [frame(e) for e in events if filters.wants(account, e.kind, e.payload)]
