"""Open sockets catch up on events the channel layer lost, without reconnecting.

The guarantee: an event committed while this process's channel layer could not
deliver it (Redis down or restarting, its subscription lost) reaches every socket of
this process that stays open, once the layer works again, and no socket gets an id
twice from the server (each connection's `sent` memory).

How: one watcher per event loop (daphne runs one) checks the layer every
`PROBE_INTERVAL` seconds with a message to a channel of its own, through Redis and
back, and is told by redis-py when a subscription connection reconnects (a Redis
restarted between two probes fails none of them). The probe's channel lives on the
same subscription as every group of the process, and redis-py restores all of them
in one SUBSCRIBE when it reconnects, so the probe's echo after a failed probe or a
reconnect means every group is live again: the watcher then asks every open socket
to replay from the last id it holds (`core.events.replay` does the reading; the
socket drops ids it has already sent).

Why not the library's hooks: channels_redis 4.3's pub/sub layer still accepts
`on_disconnect` / `on_reconnect` but never calls them (its reconnection moved into
redis-py).

What this cannot see (a message the at-most-once layer drops while Redis stays up,
channels #1683) the browser's periodic `events.sync` catches (docs/websocket.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from core import metrics

log = logging.getLogger(__name__)

PROBE_INTERVAL = 2.0  # seconds between probes
PROBE_TIMEOUT = 3.0  # seconds for a probe's echo before the layer counts as down


class Watcher:
    """The sockets of one event loop and the probe that watches their layer."""

    def __init__(self, layer):
        self.layer = layer
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.healthy = True
        self.recoveries = 0
        self._sent = 0
        self._echoed = 0
        self._echo = asyncio.Event()
        self._task: asyncio.Task | None = None
        # Set by redis-py when a subscription connection reconnects (see _hook_reconnects).
        self._reconnected = False
        self._wake = asyncio.Event()
        self._hooked: weakref.WeakSet = weakref.WeakSet()

    def add(self, socket) -> None:
        """`socket` has `catch_up()` (async): called after the layer recovers."""
        self.sockets.add(socket)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def discard(self, socket) -> None:
        self.sockets.discard(socket)

    async def _watch(self) -> None:
        channel = None
        receiver = None
        try:
            while self.sockets:
                if channel is None:
                    with contextlib.suppress(Exception):
                        channel = await self.layer.new_channel("catchup.")
                        receiver = asyncio.get_running_loop().create_task(self._receive(channel))
                self._hook_reconnects()
                ok = channel is not None and await self._probe(channel)
                if ok and (not self.healthy or self._reconnected):
                    self._reconnected = False
                    self.recoveries += 1
                    metrics.socket_replay("catchup")
                    log.warning("channel layer back: %d sockets catch up", len(self.sockets))
                    await self._catch_up_all()
                elif not ok and self.healthy:
                    metrics.channel_layer_error("probe")
                    log.warning("channel layer down: sockets will catch up when it is back")
                self.healthy = ok
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PROBE_INTERVAL):
                        await self._wake.wait()
        finally:
            if receiver is not None:
                receiver.cancel()  # the layer unsubscribes the probe's channel

    def _hook_reconnects(self) -> None:
        """Be told when a subscription connection of the layer reconnects: a Redis that
        restarts between two probes fails none of them, yet drops what was published
        meanwhile. redis-py calls a connection's connect callbacks on every reconnect,
        after its PubSub's own callback has re-sent SUBSCRIBE. Reaching the connection
        takes channels_redis internals (pubsub.py 4.3: `_get_layer()._shards[i]._pubsub`);
        on any other layer this finds nothing and only failed probes count."""
        get_layer = getattr(self.layer, "_get_layer", None)
        for shard in getattr(get_layer(), "_shards", ()) if get_layer else ():
            connection = getattr(getattr(shard, "_pubsub", None), "connection", None)
            register = getattr(connection, "register_connect_callback", None)
            if register is not None and connection not in self._hooked:
                register(self._on_reconnect)
                self._hooked.add(connection)

    def _on_reconnect(self, connection) -> None:
        self._reconnected = True
        self._wake.set()

    async def _receive(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            self._echoed = max(self._echoed, message.get("n", 0))
            self._echo.set()

    async def _probe(self, channel: str) -> bool:
        self._sent += 1
        n = self._sent
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self.layer.send(channel, {"type": "catchup.probe", "n": n})
                while self._echoed < n:
                    self._echo.clear()
                    await self._echo.wait()
        except Exception:  # noqa: BLE001 (Redis down, refused, timed out: all mean "not yet")
            return False
        return True

    async def _catch_up_all(self) -> None:
        # One socket at a time: each replay is a trip to the database thread, and new
        # connects and posts take their turns in between.
        for socket in list(self.sockets):
            try:
                await socket.catch_up()
            except Exception:  # one socket's failure must not stop the others
                log.warning("catch-up failed for one socket", exc_info=True)


_watchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def watcher(layer) -> Watcher:
    """The watcher of the running event loop (tests run one loop per conversation)."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(loop)
    if found is None or found.layer is not layer:
        found = _watchers[loop] = Watcher(layer)
    return found
