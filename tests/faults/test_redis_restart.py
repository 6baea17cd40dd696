"""Redis restarted under chat and notices: one web process (the ASGI server `make
serve` runs) on a redis-server of the test's own; SOCKETS accounts each hold a socket,
notices are published and chat messages sent before, during and after Redis is
killed (SIGKILL) and started again, empty, on the same port. Every notice and message
is stored once, every socket gets every notice's event exactly once (reconnecting with
`last_event_id` when its socket closed, docs/websocket.md), and the outage is logged
in a few lines, not a traceback per socket.

The chat's own ordering and catch-up across two processes is
tests/chat_resilience/test_no_message_lost.py; this test adds the many sockets, the
notices and the server's log. Waits are bounded; nothing asserts how fast.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections import Counter

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import Client
from websockets.asyncio.client import connect

from chat import services as chat_services
from chat.models import Message, Room, RoomKind
from notices.models import Notice
from tests import factories
from tests.faults.conftest import PREFIX, SCALE, WAIT
from tests.notices.helpers import send

pytestmark = pytest.mark.faults

SOCKETS = 30 * SCALE
NOTICES = 2  # per phase: before, during and after the outage
# The last line of a traceback: "redis.exceptions.ConnectionError: …".
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b")
OUTAGE = 5.0  # seconds Redis stays down (the "5 s outage"), not a bound checked


def _cookie(account) -> str:
    client = Client()
    client.force_login(account, backend="accounts.backends.PasswordBackend")
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def _publish(actor) -> int:
    """A notice to the province's counties from the test process (its push goes through
    the same Redis and channel prefix as the server's); its id."""
    try:
        return send(actor, to=["130000"], levels=["county"]).pk
    finally:
        connections.close_all()


def _stored(body: str) -> bool:
    try:
        return Message.objects.filter(body=body).exists()
    finally:
        connections.close_all()  # this worker thread's connection (the database is dropped)


class Socket:
    """One account's tab: reads frames, and on a close reconnects with the last event
    id it saw, as static/js/realtime.js does."""

    def __init__(self, name: str, url: str, origin: str, cookie: str):
        self.name, self.url, self.origin, self.cookie = name, url, origin, cookie
        self.last_id = 0
        self.notices: Counter = Counter()  # notice id -> times received
        self.event_ids: Counter = Counter()  # event id -> times received
        self.connects = 0
        self.ws = None

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            query = f"?last_event_id={self.last_id}" if self.last_id else ""
            try:
                async with connect(
                    self.url + query,
                    origin=self.origin,
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=WAIT,
                    ping_interval=None,
                    max_queue=None,
                ) as ws:
                    self.ws, attempt = ws, 0
                    self.connects += 1
                    stopping = asyncio.ensure_future(stop.wait())
                    while True:
                        reading = asyncio.ensure_future(ws.recv())
                        done, _ = await asyncio.wait(
                            {reading, stopping}, return_when=asyncio.FIRST_COMPLETED
                        )
                        if reading not in done:
                            reading.cancel()
                            return
                        self._on(json.loads(reading.result()))
            except (OSError, TimeoutError, websockets.WebSocketException):
                attempt += 1
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
            finally:
                self.ws = None

    def _on(self, frame: dict) -> None:
        if frame.get("type") == "notice.published":
            self.event_ids[frame["id"]] += 1
            self.notices[frame["notice"]["id"]] += 1
        if isinstance(frame.get("id"), int) and frame.get("type") not in ("hello",):
            self.last_id = max(self.last_id, frame["id"])


async def _chat(sock: Socket, room: int, body: str) -> None:
    """Send one chat message until acknowledged, with a client id so a resend is stored
    once (as the browser does); a socket closed before the answer is retried."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        ws = sock.ws
        if ws is not None:
            try:
                await ws.send(
                    json.dumps({"type": "chat.send", "room": room, "body": body, "client_id": body})
                )
            except websockets.ConnectionClosed:
                pass
        await asyncio.sleep(0.5)
        if await sync_to_async(_stored, thread_sensitive=False)(body):
            return
    raise AssertionError(f"{body!r} never stored")


@pytest.fixture
def layer_on_fault_redis(fault_redis, settings):
    """This process's channel layer on the test's Redis, with the server's prefix."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"][0]["address"] = fault_redis.url
    layers["default"]["CONFIG"]["prefix"] = f"{PREFIX}:ch"
    settings.CHANNEL_LAYERS = layers


def test_redis_restarted_under_chat_and_notices(
    tree, web, fault_redis, layer_on_fault_redis, transactional_db
):
    people = [factories.staff(tree.county, username=f"county-{n}") for n in range(SOCKETS)]
    publisher = factories.manager(tree.province)
    for person in people[:2]:
        chat_services.region_rooms_ensure(person)
    room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county).pk
    sockets = [Socket(p.username, web.ws_url, web.url, _cookie(p)) for p in people]
    publish = sync_to_async(_publish, thread_sensitive=False)
    sent: list[int] = []
    bodies: list[str] = []

    async def scenario() -> tuple[int, int]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(stop)) for s in sockets]
        try:
            await _until(lambda: all(s.connects for s in sockets), "every socket connects")

            async def phase(name: str):
                for _ in range(NOTICES):
                    sent.append(await publish(publisher))
                for n, sock in enumerate(sockets[:2]):
                    bodies.append(f"{name}-{n}")
                    await _chat(sock, room, bodies[-1])

            await phase("before")
            log_at_kill = web.log.stat().st_size
            await asyncio.to_thread(fault_redis.kill)
            await phase("during")
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(fault_redis.start)
            log_at_back = web.log.stat().st_size
            await phase("after")
            await _until(
                lambda: all(set(s.notices) >= set(sent) for s in sockets),
                "every socket has every notice",
            )
            return log_at_kill, log_at_back
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)

    log_at_kill, log_at_back = asyncio.run(scenario())

    # Stored once each.
    assert Notice.objects.filter(pk__in=sent).count() == len(sent) == 3 * NOTICES
    stored = Counter(Message.objects.filter(body__in=bodies).values_list("body", flat=True))
    assert stored == Counter(bodies), "every chat message stored exactly once"
    # Every socket got every notice's event exactly once.
    for s in sockets:
        assert s.notices == Counter(sent), f"{s.name}: {dict(s.notices)} != {sent}"
        assert max(s.event_ids.values()) == 1, f"{s.name}: an event twice"

    # The outage in the server's log: a few records, each kind's traceback once — not a
    # traceback per socket or per reconnect attempt (core/lognoise.py).
    with open(web.log, "rb") as f:
        f.seek(log_at_kill)
        outage = f.read(log_at_back - log_at_kill).decode(errors="replace").splitlines()
    records = log_records(outage)
    with_traceback = Counter(message for message, traceback in records if traceback)
    print(
        f"redis restart: {SOCKETS} sockets, {len(sent)} notices, {len(bodies)} messages, "
        f"0 lost, 0 doubled; server log during the {OUTAGE:.0f} s outage: {len(outage)} lines, "
        f"{len(records)} records, {sum(with_traceback.values())} with a traceback"
    )
    shown = "\n".join(outage[:120])
    assert len(records) < SOCKETS, shown
    assert max(with_traceback.values(), default=1) == 1, f"a traceback repeated:\n{shown}"


def log_records(lines: list[str]) -> list[tuple[str, bool]]:
    """(first line, has a traceback) of each record a server wrote: a traceback (with its
    chained causes) belongs to the record before it."""
    records: list[tuple[str, bool]] = []
    inside = False
    for line in lines:
        if line.startswith("Traceback (most recent call last)"):
            if records:
                records[-1] = (records[-1][0], True)
            inside = True
            continue
        if inside and (
            not line.strip()
            or line.startswith((" ", "During handling", "The above exception"))
            or EXCEPTION_LINE.match(line)
        ):
            continue
        inside = False
        if line.strip():
            records.append((line, False))
    return records


async def _until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"within {WAIT}s: {what}")
