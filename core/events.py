"""The one publishing module: store an event, then push it after commit.

The guarantee it keeps: an event's `seq` (the id clients see, resume from and frames
carry) becomes visible in increasing order, so a client that has seen seq N never later
meets a committed event with a seq below N, and one resuming from N never misses an
event and never gets one twice (it drops the overlap's repeats). Writers do not share
a lock for it: each INSERTs its events with seq NULL; after commit `sequence_pending`
numbers every committed unnumbered row in one short transaction under an advisory
lock, which it holds only for that statement and its commit (see
docs/architecture.md, "Ordering events without a shared lock").

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
import sqlite3
from datetime import timedelta

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from core import metrics, sockets
from core.models import Event, EventTarget

log = logging.getLogger(__name__)

# How far before a client's last seq a replay looks. Seqs become visible in order
# (the sequencer's commits are serialised), but each writer pushes its own events after
# its own sequencing, so two processes' pushes can reach a socket out of order: seq 105
# live before 104. A client that disconnects in between resumes from 105; the overlap
# gives it 104 (it drops seqs it has already seen). Such a crossing lasts as long as a
# push takes, so the overlap holds only events stored in the last
# REPLAY_OVERLAP_SECONDS, at most REPLAY_OVERLAP of them: a resume does not resend a
# client its older events every time.
REPLAY_OVERLAP = 200
REPLAY_OVERLAP_SECONDS = 120
# Past this many missed events a client gets `resync` and reloads its state instead.
REPLAY_LIMIT = 500
# Any constant: the key of the PostgreSQL advisory lock that serialises the sequencer
# (only its numbering statement and commit, never a writer's transaction).
_SEQUENCER_LOCK = 7_241_001


def account_group(account_id: int) -> str:
    return f"acct.{account_id}"


def tree_group(code: str, level: str, managers_only: bool) -> str:
    return f"t.{code}.{level}.{'mgr' if managers_only else 'all'}"


# `unit` and `account` below are accounts' Unit and Account, taken by what they offer
# (code, ancestor_codes, ancestor_paths; pk, unit, role) so core imports no app.


def unit_codes_on_path(unit) -> list[str]:
    return unit.ancestor_codes + [unit.code]


def ancestor_paths(unit) -> list[str]:
    """The paths of `unit` and of every unit above it."""
    return unit.ancestor_paths


def groups_for(account) -> list[str]:
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
    """`publish` for several (kind, payload, groups) at once: one INSERT of the events
    and one of their targets, no lock; after commit, sequencing and one push. Seqs
    follow the order of `items`."""
    # No savepoint of its own: inside a transaction the events share its fate anyway.
    with transaction.atomic(savepoint=False):
        stored = Event.objects.bulk_create([Event(kind=k, payload=p) for k, p, _ in items])
        routed = [
            (event, list(dict.fromkeys(groups)))
            for event, (_, _, groups) in zip(stored, items, strict=True)
        ]
        EventTarget.objects.bulk_create(
            [EventTarget(event=event, group=g) for event, groups in routed for g in groups]
        )
        transaction.on_commit(lambda: _sequence_and_push(routed))
    return stored


def _sequence_and_push(routed: list[tuple[Event, list[str]]]) -> None:
    """After the writer's commit: number the committed events, then ring the doorbell
    with the seqs. If this never runs (the process died), the rows wait for the next
    sequencing (any writer's, a replay's, or the periodic task) and clients replay them."""
    try:
        numbered = sequence_pending()
        # Another writer's sequencer, which took the lock first, may have numbered ours.
        missing = [event.pk for event, _ in routed if event.pk not in numbered]
        if missing:
            numbered.update(Event.objects.filter(pk__in=missing).values_list("pk", "seq"))
    except Exception:  # the database went away: the periodic task numbers them later
        log.warning("could not sequence events; they will be numbered later", exc_info=True)
        return
    for event, _ in routed:
        event.seq = numbered.get(event.pk)
    push_many([(event, groups) for event, groups in routed if event.seq is not None])


def sequence_pending() -> dict[int, int]:
    """Number every committed event that has no seq yet, in id order, after the highest
    seq; return {event id: seq} of the rows this call numbered.

    One short transaction of its own (call it outside the writer's transaction, as
    the on-commit hook, replay and the periodic task do). On PostgreSQL it holds an
    advisory lock from before its one statement to its commit: sequencing transactions
    commit one after another, each numbering above everything committed before it, so
    seqs become visible in increasing order. Writers never take that lock."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The lock and the statement go in one message: in autocommit it runs as one
            # implicit transaction, so the lock is held lock → UPDATE → COMMIT inside the
            # server, never across a round trip to this process. The UPDATE gets its own
            # snapshot, taken after the lock is granted (READ COMMITTED): it sees every
            # row committed, and every seq given, before this sequencer's turn.
            cursor.execute(f"SELECT pg_advisory_xact_lock({_SEQUENCER_LOCK});{_NUMBER_PG}")
            cursor.nextset()
            return dict(cursor.fetchall())
    with transaction.atomic(), connection.cursor() as cursor:
        return _sequence_portable(cursor)


# One statement: number the pending rows after max(seq), and copy each seq to the
# event's targets (a data-modifying CTE).
_NUMBER_PG = """
WITH pending AS (
    SELECT id, (SELECT coalesce(max(seq), 0) FROM core_event)
               + row_number() OVER (ORDER BY id) AS seq
    FROM core_event WHERE seq IS NULL
), numbered AS (
    UPDATE core_event e SET seq = pending.seq FROM pending
    WHERE e.id = pending.id RETURNING e.id, e.seq
), targets AS (
    UPDATE core_eventtarget t SET seq = numbered.seq FROM numbered
    WHERE t.event_id = numbered.id
)
SELECT id, seq FROM numbered
"""


def _sequence_portable(cursor) -> dict[int, int]:
    """SQLite (which serialises writes, so needs no lock): the same numbering as one
    UPDATE … FROM … RETURNING (SQLite ≥ 3.35), or row by row on an older library."""
    if sqlite3.sqlite_version_info >= (3, 35):
        cursor.execute(
            "UPDATE core_event SET seq = pending.seq FROM ("
            " SELECT id, (SELECT coalesce(max(seq), 0) FROM core_event)"
            "  + row_number() OVER (ORDER BY id) AS seq"
            " FROM core_event WHERE seq IS NULL) AS pending"
            " WHERE core_event.id = pending.id RETURNING core_event.id, core_event.seq"
        )
        numbered = dict(cursor.fetchall())
    else:
        cursor.execute("SELECT coalesce(max(seq), 0) FROM core_event")
        (top,) = cursor.fetchone()
        cursor.execute("SELECT id FROM core_event WHERE seq IS NULL ORDER BY id")
        numbered = {pk: top + n for n, (pk,) in enumerate(cursor.fetchall(), start=1)}
        cursor.executemany(
            "UPDATE core_event SET seq = %s WHERE id = %s",
            [(seq, pk) for pk, seq in numbered.items()],
        )
    if numbered:
        cursor.execute(
            "UPDATE core_eventtarget SET seq ="
            " (SELECT seq FROM core_event WHERE core_event.id = core_eventtarget.event_id)"
            " WHERE event_id IN (SELECT id FROM core_event WHERE seq >= %s)",
            [min(numbered.values())],
        )
    return numbered


def frame(event: Event) -> dict:
    return {
        "type": event.kind,
        "id": event.seq,
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
        # In the server: queued for its event loop, in order, without waiting; elsewhere:
        # on the process's long-lived push loop (core.sockets.group_sends_soon).
        sockets.group_sends_soon(layer, sends)
    except Exception:  # Redis down or restarting: clients catch up when they resume
        metrics.channel_layer_error("group_send")
        ids = ", ".join(str(event.seq) for event, _ in routed)
        log.warning("could not push event %s; clients will replay it", ids, exc_info=True)


def latest_id() -> int:
    """The highest seq given so far (what a page or a socket's hello resumes from)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM core_event")
        return cursor.fetchone()[0] or 0


# Written out rather than built by the ORM: every page and every socket connect runs
# these, and building the query cost more CPU than running it (profiled in a reconnect
# wave: replay was a third of a resume's samples).
_UNSEQUENCED = "SELECT EXISTS (SELECT 1 FROM core_event WHERE seq IS NULL)"
_REPLAY = """
SELECT id, kind, payload, created_at, seq FROM core_event
WHERE seq IN (SELECT seq FROM core_eventtarget WHERE "group" IN ({groups}) AND seq > %s)
  AND (seq > %s OR created_at >= %s)
ORDER BY seq
LIMIT %s
"""


def replay(account, after_id: int) -> list[dict] | None:
    """The frames of `account`'s events after seq `after_id` (with a small overlap),
    oldest first, or None when there are too many to replay and the client should resync."""
    from core import filters

    # A writer that died between its commit and its sequencing left rows unnumbered:
    # number them now rather than at the periodic task. The check is one look at the
    # partial index; the lock is taken only when there is something to number.
    with connection.cursor() as cursor:
        cursor.execute(_UNSEQUENCED)
        if cursor.fetchone()[0]:
            sequence_pending()
    start = max(0, after_id - REPLAY_OVERLAP)
    recent = timezone.now() - timedelta(seconds=REPLAY_OVERLAP_SECONDS)
    # The account's groups' targets (index on group, seq) pick the events; the overlap
    # below `after_id` keeps only recent ones.
    groups = groups_for(account)
    found = list(
        Event.objects.raw(
            _REPLAY.format(groups=", ".join(["%s"] * len(groups))),
            [*groups, start, after_id, recent, REPLAY_LIMIT + REPLAY_OVERLAP + 1],
        )
    )
    if sum(1 for e in found if e.seq > after_id) > REPLAY_LIMIT:
        return None
    return [frame(e) for e in found if filters.wants(account, e.kind, e.payload)]
