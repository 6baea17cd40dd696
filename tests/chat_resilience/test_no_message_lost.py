"""No message lost: two daphne processes share one Redis; clients on both send and
receive; that Redis is killed mid-conversation and a fresh one started on the same
port; after reconnecting, every client holds every stored message exactly once, in
order.

The Redis here is the test's own redis-server on a free port (the machine's shared
Redis is never touched). The database is pytest-django's test database, which the
daphne subprocesses open too (transaction=True, so what the test creates is committed).

Phases:
1. clients on both servers send concurrently while Redis is up; every client gets
   every message live;
2. Redis is killed (SIGKILL); clients keep sending through their sockets (each message
   must be stored and acknowledged, and no socket may close; a message that got no
   `chat.sent` would be kept and resent); one tab per server reloads and tries to
   connect while Redis is down; then a fresh, empty Redis starts on the same port;
3. the test watches the room's pub/sub channel until both daphnes have subscribed
   again (by themselves), reconnects the closed clients with jittered retries, every
   client sends `chat.sync` and resends what is pending; more messages are sent and
   must arrive live on every socket, old or new; a last `chat.sync` from everyone.

Then the database must hold seq 1..N without gap or repeat, every body sent exactly
once (each post carries a client id, as the browser's do, so an attempt that got no
answer and was resent is stored once), and every client exactly {seq: message id} of the
database, applied in increasing order, with one exception the design allows: each
daphne pushes after its own commit, so a message from one daphne can overtake the
message the other daphne committed just before it (the client keeps messages by seq);
each daphne's own frames, and every sync answer, come strictly in order.

Waits are bounded (client.HANG) so a failure cannot hang the run; no assertion is
about how fast anything happened.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import redis.asyncio as aioredis
from django.conf import settings
from django.test import Client

from accounts import services as accounts_services
from accounts.models import Level
from chat import selectors
from chat import services as chat_services
from chat.models import Message, Room, RoomKind
from tests import factories, processes
from tests.chat_resilience.client import HANG, ChatClient, ClientError

PHASE1 = 12  # messages per client while Redis is up
PHASE2 = 3  # per client while Redis is down
PHASE3 = 4  # per client after Redis is back
# 12 + 4 stays under the rate limit (20 per 10 s per account) even within one window;
# the outage's messages are not counted (the counter lived in the Redis that died).
assert PHASE1 + PHASE3 < chat_services.RATE_LIMIT
POLL = 0.02  # seconds between looks at a condition, at most HANG / POLL looks


def _people(tree):
    """Six accounts that share the county room of 长安区: its manager and a staff member,
    and staff or managers of three of its schools (two made here)."""
    second = accounts_services.unit_create(
        level=Level.SCHOOL, code="1301020002", name="长安区第二中学", parent=tree.county
    )
    third = accounts_services.unit_create(
        level=Level.SCHOOL, code="1301020003", name="长安区第三中学", parent=tree.county
    )
    return [
        factories.manager(tree.county, username="county_mgr"),
        factories.staff(tree.county, username="county_staff"),
        factories.staff(tree.school, username="school1_staff"),
        factories.manager(second, username="school2_mgr"),
        factories.staff(second, username="school2_staff"),
        factories.staff(third, username="school3_staff"),
    ]


def _county_room(tree, people) -> Room:
    for person in people:
        chat_services.region_rooms_ensure(person)
    room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county)
    for person in people:
        assert selectors.rooms_of(person).filter(pk=room.pk).exists(), person.username
    return room


def _session_cookie(account) -> str:
    client = Client()
    client.force_login(account, backend="accounts.backends.PasswordBackend")
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


async def _until(condition) -> bool:
    """Look at `condition` until it holds, at most HANG / POLL times; False if it never did."""
    for _ in range(int(HANG / POLL)):
        if condition():
            return True
        await asyncio.sleep(POLL)
    return condition()


async def _numsub(url: str, channel: str) -> int | None:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        [(_name, count)] = await client.pubsub_numsub(channel)
        return count
    except aioredis.RedisError:
        return None
    finally:
        await client.aclose()


async def _conversation(clients: list[ChatClient], redis_server, room: Room) -> dict:
    """The three phases; returns what was observed for the assertions and the report."""
    seen: dict = {}
    acked: list[int] = []  # every seq acknowledged with chat.sent, across clients
    room_channel = processes.group_channel(chat_services.room_group(room.pk))

    def set_phase(name: str) -> None:
        for client in clients:
            client.phase = name

    def everyone_holds(upto: int) -> bool:
        return all(client.contiguous() >= upto for client in clients)

    try:
        # --- connect: half on A, half on B ------------------------------------------
        set_phase("connect")
        await asyncio.gather(*(c.connect() for c in clients))
        await asyncio.gather(*(c.sync(acked) for c in clients))
        seen["numsub_before"] = await _numsub(redis_server.url, room_channel)

        # --- phase 1: everyone sends, interleaved, while Redis is up -------------------
        set_phase("live")
        await asyncio.gather(
            *(c.send_all([f"{c.name} live {i}" for i in range(PHASE1)], acked) for c in clients)
        )
        seen["phase1_all_live"] = await _until(lambda: everyone_holds(max(acked)))

        # --- phase 2: Redis dies; sockets keep sending ---------------------------------
        set_phase("outage")
        seen["redis_kill_exit"] = await asyncio.to_thread(redis_server.kill)
        outcomes: Counter = Counter()

        async def send_during_outage(client: ChatClient) -> None:
            for i in range(PHASE2):
                body = f"{client.name} outage {i}"
                outcome = await client.send(body)
                outcomes[outcome] += 1
                if outcome == "sent":
                    acked.append(client.acks[body][-1][0])
                else:
                    client.pending.append(body)

        await asyncio.gather(*(send_during_outage(c) for c in clients))
        seen["outage_outcomes"] = dict(outcomes)
        seen["open_after_outage"] = [c.name for c in clients if c.open]
        seen["closes_in_outage"] = [
            (c.name, close.code, close.reason)
            for c in clients
            for close in c.closes
            if close.phase == "outage"
        ]
        # A tab on each server reloads during the outage: its socket closes and it tries
        # to connect again before Redis is back.
        set_phase("reload")
        reloaders = [clients[0], clients[1]]
        assert {c.server for c in reloaders} == {"A", "B"}
        await asyncio.gather(*(c.close() for c in reloaders))
        seen["connect_during_outage"] = {
            c.name: "connected" if await c.connect(attempts=1) else c.connect_failures[-1][1]
            for c in reloaders
        }

        # --- Redis back: a fresh, empty one on the same port ---------------------------
        set_phase("restart")
        await asyncio.to_thread(redis_server.start)
        survivors = [c for c in clients if c.open]
        seen["survivors"] = [c.name for c in survivors]
        servers_with_sockets = {c.server for c in survivors}
        # Each daphne with a socket in the room must subscribe to the room's channel on
        # the fresh Redis by itself: nothing in the project asks it to.
        started = time.monotonic()
        resubscribed = await _wait_numsub(redis_server.url, room_channel, len(servers_with_sockets))
        seen["resubscribed"] = resubscribed if servers_with_sockets else None
        seen["resubscribe_seconds"] = round(time.monotonic() - started, 2)  # for the report
        seen["numsub_after_restart"] = await _numsub(redis_server.url, room_channel)
        if not resubscribed:
            # A tab that hears nothing for long reconnects: do that, having recorded why.
            await asyncio.gather(*(c.close() for c in survivors))

        # --- phase 3: reconnect, sync, resend, send more ------------------------------
        set_phase("recover")
        await asyncio.gather(*(c.connect() for c in clients if not c.open))
        await asyncio.gather(*(c.sync(acked) for c in clients))
        await asyncio.gather(*(c.send_all(c.pending, acked) for c in clients))
        for client in clients:
            client.pending = []
        set_phase("after")
        await asyncio.gather(
            *(c.send_all([f"{c.name} after {i}" for i in range(PHASE3)], acked) for c in clients)
        )
        seen["phase3_all_live"] = await _until(lambda: everyone_holds(max(acked)))
        set_phase("final")
        await asyncio.gather(*(c.sync(acked) for c in clients))
        seen["acked"] = sorted(acked)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return seen


async def _wait_numsub(url: str, channel: str, expected: int) -> bool:
    """Whether the room's channel gets `expected` subscribers (one per daphne that has a
    socket in the room) on the fresh Redis, looked at HANG / POLL times at most."""
    for _ in range(int(HANG / POLL)):
        count = await _numsub(url, channel)
        if count is not None and count >= expected:
            return True
        await asyncio.sleep(POLL)
    return False


def _reply_run(record) -> list[int] | None:
    """The sync's answer: the contiguous run after+1.. that ends the frames received
    before chat.synced (a live frame already in flight may come just before it)."""
    frames = record.frames
    for start in range(len(frames) + 1):
        tail = frames[start:]
        if tail == list(range(record.after + 1, record.after + 1 + len(tail))):
            return tail
    return None


def _order(client: ChatClient, server_of: dict[str, str]) -> tuple[list, list]:
    """How the client's frames came, in the order it received them.

    Returns (overtakes, violations). An overtake is a message applied after one with a
    higher seq: that happens when two daphnes publish right after each other's commits
    (each pushes after its own commit), and is allowed only between live frames
    published by different daphnes. Violations: live frames of one daphne out of order
    (one process posts and publishes one message at a time), or any other overtake."""
    violations = []
    last_live: dict[str, int] = {}
    for phase, how, seq, author in client.received:
        if how == "live":
            publisher = server_of[author]
            if seq <= last_live.get(publisher, 0):
                violations.append(("live out of order", phase, publisher, seq))
            last_live[publisher] = seq
    applied, held = [], set()
    for frame in client.received:
        if frame[2] not in held:
            held.add(frame[2])
            applied.append(frame)
    overtakes = []
    for i, (phase, how, seq, author) in enumerate(applied):
        ahead = [f for f in applied[:i] if f[2] > seq]
        if not ahead:
            continue
        overtakes.append((seq, [f[2] for f in ahead]))
        if how != "live" or any(
            f[1] != "live" or server_of[f[3]] == server_of[author] for f in ahead
        ):
            violations.append(("applied late", phase, how, seq, [f[:3] for f in ahead]))
    return overtakes, violations


def _report(seen: dict, clients: list[ChatClient], stored: list, daphnes, server_of) -> str:
    lines = [f"{k}: {v}" for k, v in seen.items() if k != "acked"]
    lines.append(f"stored: {len(stored)} messages")
    for c in clients:
        live = sum(1 for _p, how, _s, _a in c.received if how == "live")
        overtakes, _violations = _order(c, server_of)
        lines.append(
            f"{c.name}@{c.server}: held {len(c.held)}, live {live}, overtaken {overtakes[:4]}, "
            f"by sync {sum(len(r.frames) for r in c.syncs)}, duplicates dropped {c.duplicates}, "
            f"connects {c.connects}, closes {[(x.phase, x.code) for x in c.closes]}, "
            f"connect failures {len(c.connect_failures)}, errors "
            f"{[(p, e.get('code')) for p, _b, e in c.errors]}, unacked {sum(c.unacked.values())}"
        )
    for server in daphnes:
        log = server.log.read_text(errors="replace")
        lines.append(
            f"daphne {server.name}: 'could not push chat frame' x{log.count('could not push chat frame')}, "
            f"tracebacks x{log.count('Traceback')}"
        )
    return "\n".join(lines)


@pytest.mark.django_db(transaction=True)
def test_no_message_lost_across_a_redis_restart(settings, chat_redis, two_daphnes):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tree = factories.small_tree()
    people = _people(tree)
    room = _county_room(tree, people)
    daphne_a, daphne_b = two_daphnes
    clients = []
    for i, person in enumerate(people):
        server = (daphne_a, daphne_b)[i % 2]
        clients.append(
            ChatClient(
                name=person.username,
                server=server.name,
                ws_url=server.ws_url,
                origin=server.url,
                cookie=_session_cookie(person),
                room=room.pk,
            )
        )
    for client in clients:
        client.client_ids = True  # as browser tabs send their posts

    try:
        seen = asyncio.run(_conversation(clients, chat_redis, room))
    except ClientError as e:
        logs = "\n".join(f"--- daphne {d.name} ---\n{processes.tail(d.log)}" for d in two_daphnes)
        pytest.fail(f"{e}\n{logs}", pytrace=False)

    stored = list(
        Message.objects.filter(room=room).order_by("seq").values_list("seq", "pk", "body")
    )
    server_of = {c.name: c.server for c in clients}
    report = _report(seen, clients, stored, two_daphnes, server_of)
    print(report)
    n = len(stored)

    # The database: seq 1..N, no gap, no repeat; the room's counter agrees.
    assert [seq for seq, _pk, _body in stored] == list(range(1, n + 1)), report
    room.refresh_from_db()
    assert room.last_seq == n, report
    by_seq = {seq: (pk, body) for seq, pk, body in stored}

    # Every body meant was stored once, resent or not (the client ids).
    meant = {
        f"{c.name} {phase} {i}"
        for c in clients
        for phase, count in (("live", PHASE1), ("outage", PHASE2), ("after", PHASE3))
        for i in range(count)
    }
    copies = Counter(body for _seq, _pk, body in stored)
    assert set(copies) == meant, report
    assert set(copies.values()) == {1}, report
    # Every acknowledgement names the row that holds that body.
    for c in clients:
        for body, acks in c.acks.items():
            for seq, pk in acks:
                assert by_seq[seq] == (pk, body), (c.name, body, seq, report)
    assert seen["acked"] == sorted(set(seen["acked"])), report

    # Phase 1 arrived live everywhere; the room had one subscription per daphne.
    assert seen["numsub_before"] == 2, report
    assert seen["phase1_all_live"], report

    # Redis down: every message sent was stored and acknowledged, no socket closed.
    assert seen["outage_outcomes"] == {"sent": PHASE2 * len(clients)}, report
    assert not seen["closes_in_outage"], report
    assert seen["open_after_outage"] == [c.name for c in clients], report
    # After the restart both daphnes subscribed to the room again by themselves, and the
    # messages sent afterwards arrived live on every socket.
    assert seen["resubscribed"] is True, report
    assert seen["numsub_after_restart"] == 2, report
    assert seen["phase3_all_live"], report

    expected = {seq: pk for seq, (pk, _body) in by_seq.items()}
    for c in clients:
        # Exactly the stored messages, each once, with the stored ids.
        assert c.held == expected, (c.name, report)
        assert not c.id_mismatches, (c.name, c.id_mismatches, report)
        # Applied in increasing order, but for live frames of one daphne overtaking those
        # of the other (see _order); each daphne's own frames always in order.
        _overtakes, violations = _order(c, server_of)
        assert not violations, (c.name, violations, report)
        for record in c.syncs:
            assert not record.resync, (c.name, record, report)
            assert _reply_run(record) is not None, (c.name, record, report)
            # It had no gap when it asked: syncing from the highest seq it held (all a tab
            # that keeps one number per room can send) would have asked the same.
            assert record.highest_held == record.after, (c.name, record, report)
            # A sync brings at least everything acknowledged before it was asked.
            assert record.contiguous_after >= record.acked_before, (c.name, record, report)
