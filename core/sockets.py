"""What the one socket (core/consumers.py) needs from the apps, and how it sends.

Guarantees kept here:

- Memory per socket is bounded. Every socket sends through its own `Outbox`, a
  send queue with two lanes. The *reply* lane (answers to the client's own frames,
  `hello`, events) always goes first, so a post's `chat.sent` and a notice never wait
  behind a chat backlog; the broadcast lanes of all sockets are written by one `Pump`
  per process in bounded turns, so the event loop keeps turning (acks, events, reads)
  however many frames wait. The *broadcast* lane (frames pushed to a group, such as
  `chat.message`) holds at most `BROADCAST_LIMIT` frames: a socket that falls that
  far behind has them dropped and gets one `{"type": "resync", "reason": "lagged"}`
  so it fetches what it missed (chat: `chat.sync`). Events are never dropped: past
  `EVENT_LIMIT` unsent events the socket is closed with 1013 and the client resumes
  from its last event id.
- A broadcast frame is decoded and encoded once per process, not once per socket:
  the `Hub` subscribes one channel per group and appends the same text to the
  outbox of every local socket in that group (the group already guarantees who
  may receive it, so no per-socket check runs).

Apps register, in their AppConfig.ready(), what core must not import them for:
who is refused at connect, the groups a socket joins, the frames they answer and
the events they follow.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable

from asgiref.sync import SyncToAsync

from core import metrics

log = logging.getLogger(__name__)

# --- the registry -----------------------------------------------------------------------

# Close codes a client can act on (docs/websocket.md).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_PASSWORD_CHANGE_REQUIRED = 4403

# check(account) -> a close code (4401, 4403, …) or None; runs on the event loop on an
# account the auth middleware already loaded, so it must not query the database.
_admission: list[Callable] = []
# provider(account) -> group names. Event group providers run on the event loop and must
# not query (see event_groups_of); broadcast ones run in the connect's database trip.
_groups: list[Callable] = []
_broadcast_groups: list[Callable] = []
# frame type -> async handler(account, content) -> a frame, a list of frames or None.
_frames: dict[str, Callable[..., Awaitable]] = {}
# event kind -> async hook(socket, frame), run before the frame is forwarded.
_event_hooks: dict[str, list[Callable[..., Awaitable]]] = {}


def register_admission(check: Callable) -> None:
    _admission.append(check)


def register_groups(provider: Callable, *, broadcast: bool = False) -> None:
    """`broadcast`: the groups' messages are frames forwarded as they are (the Hub)."""
    (_broadcast_groups if broadcast else _groups).append(provider)


def register_frames(handlers: dict[str, Callable[..., Awaitable]]) -> None:
    for kind in handlers:
        if kind in _frames:
            raise ValueError(f"socket frame type {kind!r} registered twice")
    _frames.update(handlers)


def register_event_hook(kind: str, hook: Callable[..., Awaitable]) -> None:
    _event_hooks.setdefault(kind, []).append(hook)


_session_admission: list[Callable] = []


def register_session_admission(check: Callable) -> None:
    """A check of (account, session) on connect: reads the session already loaded by the
    auth middleware, no query (e.g. an idle manager's session, accounts.scoping)."""
    _session_admission.append(check)


_session_deadlines: list[Callable] = []


def register_session_deadline(provider: Callable) -> None:
    """`provider(account, session)`: the time (epoch seconds) after which the session may
    no longer admit the account's open socket, or None; the socket re-checks then."""
    _session_deadlines.append(provider)


def session_deadline(account, session) -> float | None:
    times = [t for provider in _session_deadlines if (t := provider(account, session)) is not None]
    return min(times, default=None)


def refusal(account, session=None) -> int | None:
    for check in _admission:
        code = check(account)
        if code is not None:
            return code
    if session is not None:
        for check in _session_admission:
            code = check(account, session)
            if code is not None:
                return code
    return None


def event_groups_of(account) -> list[str]:
    """The event groups of a connecting account, on the event loop: their providers
    read only the account the auth middleware loaded (with its unit), never the
    database, so the socket joins them before its one trip to the database, which
    then reads the gap to replay (docs/websocket.md, Connecting)."""
    return [g for provider in _groups for g in provider(account)]


def broadcast_groups_of(account) -> list[str]:
    """The broadcast groups (chat rooms) of a connecting account. Call from a thread."""
    return [g for provider in _broadcast_groups for g in provider(account)]


def frame_handler(kind) -> Callable[..., Awaitable] | None:
    return _frames.get(kind) if isinstance(kind, str) else None


def event_hooks(kind: str) -> list[Callable[..., Awaitable]]:
    return _event_hooks.get(kind, [])


class _Slots:
    """Client frames of this process being handled at once. The apps' handlers run on
    asgiref's one database thread, in turn: past HANDLER_LIMIT waiting, a frame is
    refused with `busy` (retry after RETRY_AFTER s) instead of waiting seconds for its
    turn: posts shed instead of queueing, and the socket's events, which wait while its
    own frame is handled, stay prompt."""

    def __init__(self):
        self.busy = 0

    def take(self) -> bool:
        if self.busy >= HANDLER_LIMIT:
            return False
        self.busy += 1
        return True

    def give_back(self) -> None:
        self.busy -= 1


# A post costs 10-20 ms of the database thread under load: a wait of 0.2-0.3 s at most.
HANDLER_LIMIT = 16
RETRY_AFTER = 1
handler_slots = _Slots()


def busy(content: dict) -> dict:
    """The refusal of a client frame under load; it names the frame (and its client id),
    so the client knows which request to retry."""
    refusal = {"type": "error", "code": "busy", "retry_after": RETRY_AFTER, "for": content["type"]}
    for key in ("room", "client_id"):
        value = content.get(key)
        if isinstance(value, int | str) and len(str(value)) <= 64:
            refusal[key] = value
    return refusal


def encode(frame: dict) -> str:
    # Compact and UTF-8: Chinese text costs 3 bytes a character, not 6 (\\uXXXX).
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


# --- the send queue ---------------------------------------------------------------------

# Broadcast frames one socket may hold unsent (a chat.message is ~0.3-1 KiB).
BROADCAST_LIMIT = 256
# Events one socket may hold unsent before it is closed (1013) and resumes instead.
EVENT_LIMIT = 1000
# Broadcast frames the pump writes before it lets the rest of the event loop run (acks,
# events, reads, the database thread's results): it bounds how long any of them waits
# for a turn, whatever the number of sockets. Under overload the broadcast lanes fill
# and shed (resync) instead of the loop's turns growing.
PUMP_BUDGET = 64
RESYNC_LAGGED = encode({"type": "resync", "reason": "lagged"})
CLOSE_TOO_SLOW = 1013  # "try again later": the client reconnects and resumes
REPLY_WAIT = 30.0  # seconds a client may leave its own answers unread


class Outbox:
    """One socket's bounded send queue (see the module docstring): replies are written
    by a task of the socket's own, at once; broadcasts by the loop's one `Pump`, only
    while no reply is waiting and no frame of the client is being handled. `close` is
    called (once) when the socket must go."""

    def __init__(self, send: Callable, *, close: Callable[[int], Awaitable]):
        send = _server_send(send)  # called after accept: frames only from here on
        self._send = send
        self._close = close
        self._replies: deque[str] = deque()
        self._events = 0  # events among the replies
        self._broadcast: deque[str] = deque()
        self._resync_queued = False
        self._holding = 0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        # Cleared while the server's write buffer for this socket is full.
        self._writable = asyncio.Event()
        self._writable.set()
        self._pump = pump()
        self.pumping = False  # in the pump's ready queue
        self.dropped = 0
        self.closed = False
        # Under daphne, send never blocks (see _watch_write_buffer) and the pump writes
        # broadcasts itself; where send waits for the client, this socket's task does.
        self._direct = _watch_write_buffer(send, self)
        self._task = asyncio.get_running_loop().create_task(self._write_replies())

    def reply(self, text: str, *, event: bool = False) -> None:
        if self.closed:
            return
        if event:
            if self._events >= EVENT_LIMIT:
                self._give_up()
                return
            self._events += 1
            text = _Event(text)
        self._replies.append(text)
        self._drained.clear()
        self._wake.set()

    def broadcast(self, text: str) -> None:
        if self.closed:
            return
        if len(self._broadcast) >= BROADCAST_LIMIT:
            # Fallen behind: what it holds is stale anyway; it syncs instead.
            self.dropped += len(self._broadcast) + 1
            self._broadcast.clear()
            if not self._resync_queued:
                self._resync_queued = True
                metrics.socket_resync("lagged")
                self.reply(RESYNC_LAGGED)
            return
        self._broadcast.append(text)
        self._pump.schedule(self)

    async def wait_replies_sent(self) -> None:
        """Wait until the reply lane is empty: a client that does not read its answers
        gets no further frame of its own handled (its requests cannot pile up here);
        one that reads nothing for REPLY_WAIT seconds is closed (1013)."""
        try:
            async with asyncio.timeout(REPLY_WAIT):
                while self._replies and not self.closed:
                    await self._drained.wait()
        except TimeoutError:
            self._give_up()

    def hold_broadcasts(self) -> None:
        """While the client's own frame is being handled, broadcasts wait: its answer
        (`chat.sent`) comes before its own message comes back, as a tab expects."""
        self._holding += 1

    def release_broadcasts(self) -> None:
        self._holding -= 1
        self._pump.schedule(self)

    def stop(self) -> None:
        self.closed = True
        self._replies.clear()
        self._broadcast.clear()
        self._drained.set()
        self._task.cancel()

    # Twisted's IPushProducer (daphne): the transport calls these as its buffer fills
    # and drains, which turns daphne's unbounded write buffer into backpressure here.
    def pauseProducing(self) -> None:  # noqa: N802
        self._writable.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self._writable.set()
        self._pump.schedule(self)

    def stopProducing(self) -> None:  # noqa: N802
        self.closed = True
        self._writable.set()
        self._drained.set()

    def _give_up(self) -> None:
        metrics.socket_send_failed("too_slow")
        self.stop()
        asyncio.get_running_loop().create_task(self._close(CLOSE_TOO_SLOW))

    async def _write_replies(self) -> None:
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            while self._replies and not self.closed:
                if not self._writable.is_set():
                    await self._writable.wait()
                    continue
                text = self._replies.popleft()
                if text is RESYNC_LAGGED:
                    self._resync_queued = False
                elif isinstance(text, _Event):
                    self._events -= 1
                await self._send({"type": "websocket.send", "text": str(text)})
            self._drained.set()
            if self._direct:
                if self._broadcast:
                    self._pump.schedule(self)
                continue
            while self._broadcast and not (self.closed or self._holding or self._replies):
                await self._send({"type": "websocket.send", "text": self._broadcast.popleft()})

    async def write_broadcasts(self) -> int:
        """The pump's turn: write what this socket may be sent now; how many frames."""
        if not self._direct:
            self._wake.set()  # its own task writes (send may wait for the client)
            return len(self._broadcast)
        sent = 0
        while (
            self._broadcast
            and not (self.closed or self._holding or self._replies)
            and self._writable.is_set()
        ):
            await self._send({"type": "websocket.send", "text": self._broadcast.popleft()})
            sent += 1
        return sent


class _Event(str):
    """An event frame's text in the reply lane (counted against EVENT_LIMIT)."""

    __slots__ = ()


class Pump:
    """Writes the broadcast lanes of one event loop's sockets, a socket at a time, in
    turns of PUMP_BUDGET frames (a socket's whole lane goes in one write burst: one
    poll registration for many frames)."""

    def __init__(self):
        self._ready: deque[Outbox] = deque()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def schedule(self, outbox: Outbox) -> None:
        if not outbox.pumping:
            outbox.pumping = True
            self._ready.append(outbox)
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            budget = PUMP_BUDGET
            while self._ready:
                outbox = self._ready.popleft()
                outbox.pumping = False
                try:
                    budget -= await outbox.write_broadcasts()
                except Exception:  # one broken socket must not stop everyone's frames
                    metrics.socket_send_failed("write_error")
                    log.warning("could not write to a socket", exc_info=True)
                if budget <= 0:
                    budget = PUMP_BUDGET
                    await asyncio.sleep(0)


_pumps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pump() -> Pump:
    loop = asyncio.get_running_loop()
    found = _pumps.get(loop)
    if found is None:
        found = _pumps[loop] = Pump()
    return found


def _server_send(send: Callable) -> Callable:
    """The server's own send under Channels' session middleware, whose wrapper only acts
    on accept (it saves the session) and passes every websocket.send through."""
    return getattr(getattr(send, "__self__", None), "real_send", send)


def _watch_write_buffer(send: Callable, outbox: Outbox) -> bool:
    """Under daphne, `send` is partial(server.handle_reply, protocol) and writes into
    Twisted's unbounded buffer without ever blocking: register the outbox as the
    transport's streaming producer, so a full buffer (64 KiB) pauses the writer.
    Servers whose `send` waits for the client (uvicorn) need nothing."""
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    transport = getattr(protocol, "transport", None)
    register = getattr(transport, "registerProducer", None)
    if register is None:
        return False
    stale = getattr(transport, "producer", None)
    if stale is not None:
        # Twisted's HTTPChannel registers itself on connect, and daphne hands the
        # transport to the WebSocket protocol on upgrade without unregistering it: the
        # channel no longer reads from it, so its registration is dropped for ours.
        if not hasattr(stale, "requests"):  # not twisted.web.http.HTTPChannel
            return False
        transport.unregisterProducer()
    register(outbox, True)
    return True


# --- the hub: broadcast groups, one subscription per process ------------------------------


class Hub:
    """Broadcast groups of one event loop: one channel-layer subscription per group,
    whatever the number of local sockets in it; each message is decoded once and its
    frame encoded once, then appended to every member's outbox."""

    def __init__(self, layer):
        self.layer = layer
        self.members: dict[str, set[Outbox]] = {}
        self._ready: dict[str, asyncio.Future] = {}
        self._relays: dict[str, asyncio.Task] = {}

    async def join(self, group: str, outbox: Outbox) -> None:
        members = self.members.setdefault(group, set())
        members.add(outbox)
        ready = self._ready.get(group)
        if ready is None:
            ready = self._ready[group] = asyncio.get_running_loop().create_future()
            try:
                channel = await self.layer.new_channel("hub.")
                await self.layer.group_add(group, channel)
            except BaseException as exc:
                del self._ready[group]
                ready.set_exception(exc)
                ready.exception()  # retrieved: the joiner below raises it
                members.discard(outbox)
                raise
            self._relays[group] = asyncio.get_running_loop().create_task(
                self._relay(group, channel)
            )
            ready.set_result(channel)
        # Joined only once the subscription is live: a sync after this sees the rest live.
        await asyncio.shield(ready)

    async def leave(self, group: str, outbox: Outbox) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(outbox)
        if members or group not in self._relays:
            return
        del self.members[group]
        channel = self._ready.pop(group).result()
        self._relays.pop(group).cancel()  # the layer unsubscribes the channel
        await self.layer.group_discard(group, channel)

    async def _relay(self, group: str, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            frame = message.get("frame")
            if not isinstance(frame, dict):
                continue
            text = encode(frame)
            for outbox in tuple(self.members.get(group, ())):
                outbox.broadcast(text)


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hub(layer) -> Hub:
    """The hub of the running event loop (tests run one loop per conversation)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub(layer)
    return found


# --- group sends from a service, without waiting ----------------------------------------

# Group sends one process may have queued for Redis before it drops (and logs) the rest;
# the database holds every message, so a member that missed one gets it when it syncs.
SEND_QUEUE_LIMIT = 10_000


def group_send_soon(layer, group: str, message: dict) -> None:
    """Send to a group from a sync service (an after-commit push) without waiting for it.

    In the server, a service runs in the database thread of sync_to_async: waiting there
    for the event loop to publish held every other socket's handler behind one loop turn
    per post (under load, seconds). The send goes to one queue per loop instead, written
    in order by one task (a room's frames reach Redis in seq order). Outside the server
    (a Celery task, a command) it is sent at once, as before."""
    group_sends_soon(layer, [(group, message)])


def group_sends_soon(layer, sends: list[tuple[str, dict]]) -> None:
    """`group_send_soon` for several sends, kept in their order.

    Outside the server (a Celery task, a command, a benchmark) there is no event loop
    to hand them to, and `async_to_sync` would build a new loop, and so a new Redis
    connection, for every call: 1.1–2 ms of CPU per push, measured, against 0.06 ms on
    a loop this thread keeps for the next push (run here, in the caller's thread: no
    hand-off to another thread, which under load waits for a CPU each way)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        # Bounded: a Redis that accepts but never answers must not hold the writer.
        _thread_loop().run_until_complete(asyncio.wait_for(_send_all(layer, sends), PUSH_WAIT))
        return
    for group, message in sends:
        loop.call_soon_threadsafe(_enqueue, layer, group, message)


# Seconds a service outside the server waits for its pushes; past that it gives up and
# the clients catch up from the database (replay, events.sync, chat.sync).
PUSH_WAIT = 10
# Keyed by (process, thread) rather than kept in a threading.local: a loop dropped with
# its thread would be collected, and channels_redis's close hook then tries to run it
# from whatever thread collects it. A thread id that is reused reuses its loop.
_kept: dict[tuple[int, int], asyncio.AbstractEventLoop] = {}
_kept_lock = threading.Lock()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's push loop, kept between pushes so the channel layer keeps its Redis
    connection (a new one after a fork: a Celery worker's children each make their own)."""
    key = (os.getpid(), threading.get_ident())
    with _kept_lock:
        loop = _kept.get(key)
        if loop is None or loop.is_closed():
            loop = _kept[key] = asyncio.new_event_loop()
        return loop


async def _send_all(layer, sends: list[tuple[str, dict]]) -> None:
    """On the Redis pub/sub layer: one pipelined round trip per shard for all the sends,
    in their order, each frame serialized once (a national notice's 31 group sends cost
    31 round trips, 3.4 ms of its publish, one by one). Other layers: one by one."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if not isinstance(layer, RedisPubSubChannelLayer):
        for group, message in sends:
            await layer.group_send(group, message)
        return
    loop_layer = layer._get_layer()
    encoded: dict[int, bytes] = {}
    by_shard: dict = {}
    for group, message in sends:
        data = encoded.get(id(message))
        if data is None:
            data = encoded[id(message)] = layer.serialize(message)
        channel = loop_layer._get_group_channel_name(group)
        by_shard.setdefault(loop_layer._get_shard(channel), []).append((channel, data))
    for shard, items in by_shard.items():
        async with shard._lock:  # as the layer's own publish does
            shard._ensure_redis()
            pipe = shard._redis.pipeline(transaction=False)
            for channel, data in items:
                pipe.publish(channel, data)
            await pipe.execute()


_senders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _enqueue(layer, group: str, message: dict) -> None:
    loop = asyncio.get_running_loop()
    queue = _senders.get(loop)
    if queue is None:
        queue = _senders[loop] = asyncio.Queue()
        loop.create_task(_send_queued(layer, queue))
    if queue.qsize() >= SEND_QUEUE_LIMIT:
        metrics.channel_layer_error("queue_full")
        log.warning("group send queue full; %s will be synced, not pushed", group)
        return
    queue.put_nowait((group, message))


async def _send_queued(layer, queue: asyncio.Queue) -> None:
    while True:
        group, message = await queue.get()
        try:
            await layer.group_send(group, message)
        except Exception:  # Redis away: members get it from the database when they sync
            metrics.channel_layer_error("group_send")
            log.warning("could not push to %s", group, exc_info=True)
