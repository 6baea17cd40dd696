"""The one WebSocket per browser tab: it admits or refuses, joins the account's groups,
replays what the client missed, then forwards live events. No business rule lives here."""

import asyncio
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core import catchup, events, filters, metrics, socket_quota, sockets

logger = logging.getLogger(__name__)

# Close codes a client can act on (documented in docs/websocket.md).
CLOSE_UNAUTHENTICATED = sockets.CLOSE_UNAUTHENTICATED
CLOSE_PASSWORD_CHANGE_REQUIRED = sockets.CLOSE_PASSWORD_CHANGE_REQUIRED
# How many recently sent event ids a connection remembers to drop duplicates.
SENT_MEMORY = 2000
MAX_FRAME_BYTES = 16 * 1024
# A client's `events.sync` (every 60 s in the browser) is answered at most this often
# per socket: each is a replay read on the database thread.
SYNC_MIN_INTERVAL = 10.0


def _live_session(key: str | None, account_pk: int):
    """The session `key` as stored now, if it still logs `account_pk` in."""
    from importlib import import_module

    from django.conf import settings

    if key is None:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    return session if session.get("_auth_user_id") == str(account_pk) else None


@database_sync_to_async
def _connect_state(user, after: int | None) -> tuple[list[str], int, list[dict] | None]:
    """Everything a connect reads, in one trip to the database thread (under a reconnect
    wave each extra trip queues behind every other socket's): the broadcast groups
    (chat rooms: whatever the apps registered), the latest event id, and with
    `after` the frames to replay (None: too many, resync)."""
    broadcast = sockets.broadcast_groups_of(user)
    latest = events.latest_id()
    return broadcast, latest, None if after is None else events.replay(user, after)


class PlatformConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message):
        """Channels' dispatch without its aclose_old_connections() before every message:
        that is a thread-pool round trip each time (channels #2090; 9 % of a connect's
        CPU, profiled), and every handler here reaches the database only through
        database_sync_to_async, which closes stale connections itself. (Broadcast
        frames such as chat messages do not come here at all: core.sockets.Hub hands
        them to the socket's outbox.)"""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            refusal = CLOSE_UNAUTHENTICATED
        else:
            # accounts: disabled, no unit, first password, an idle manager's session
            refusal = sockets.refusal(user, self.scope.get("session"))
        if refusal is not None:
            # Accept first: a close before the handshake is an HTTP 403 and the
            # browser would see 1006, not the code that tells it what to do.
            await self.accept()
            await self.close(code=refusal)
            return
        # At most SOCKETS_PER_ACCOUNT live sockets per account, across processes.
        if not await socket_quota.take(user.pk, self.channel_name):
            await self.accept()
            frame = {"type": "error", "code": "too_many_sockets", "limit": socket_quota.limit()}
            await super().send(text_data=sockets.encode(frame))  # before the close
            await self.close(code=socket_quota.CLOSE_TOO_MANY_SOCKETS)
            return
        self.counted = True
        self.account = user
        self.sent: dict[int, None] = {}
        # The event groups first, then the database: an event committed while the gap
        # is read arrives live (and is sent once), so none falls in between.
        self.joined = sockets.event_groups_of(user)
        await asyncio.gather(
            *(self.channel_layer.group_add(g, self.channel_name) for g in self.joined)
        )
        after = self._last_event_id()
        broadcast, latest, frames = await _connect_state(user, after)
        await self.accept()
        await asyncio.gather(*(self.follow(g) for g in broadcast))
        await self.send_json({"type": "hello", "account": user.username, "latest_id": latest})
        # What the client holds: ids up to `floor` are on its page or were replayed now;
        # `last_id` follows what this socket sends. A catch-up replays after `last_id`
        # and never sends an id at or below `floor`.
        self.floor = self.last_id = latest if after is None else after
        self.synced_at = 0.0
        if after is not None:
            metrics.socket_replay("resume")
            if frames is None:
                metrics.socket_resync("gap")
                await self.send_json({"type": "resync", "latest_id": latest})
                self.floor = self.last_id = latest
            else:
                for frame in frames:
                    await self._send_once(frame)
                await self.send_json({"type": "resumed", "after": after, "count": len(frames)})
        # From now on, when the channel layer recovers from an outage this socket
        # replays what it missed meanwhile (core/catchup.py).
        catchup.watcher(self.channel_layer).add(self)
        # A session that may lapse (an idle manager's): re-read it then, close if it did.
        deadline = sockets.session_deadline(user, self.scope.get("session"))
        if deadline is not None:
            self.session_watch = asyncio.ensure_future(self._watch_session(deadline))

    async def _watch_session(self, deadline: float) -> None:
        """Sleeps until the session may have lapsed, re-reads it (one query) and closes
        the socket with 4401 when it has, or when it was logged out meanwhile."""
        key = getattr(self.scope.get("session"), "session_key", None)
        while True:
            await asyncio.sleep(max(0.0, deadline - time.time()) + 1)
            try:
                session = await database_sync_to_async(_live_session)(key, self.account.pk)
            except Exception:  # the database is down: try again in a minute
                logger.warning("socket session re-check failed", exc_info=True)
                deadline = time.time() + 60
                continue
            code = (
                CLOSE_UNAUTHENTICATED if session is None else sockets.refusal(self.account, session)
            )
            if code is not None:
                await self.close(code=code)
                return
            deadline = sockets.session_deadline(self.account, session)
            if deadline is None:
                return

    async def catch_up(self) -> None:
        """Replay what this socket may have missed while the channel layer was down."""
        frames = await database_sync_to_async(events.replay)(self.account, self.last_id)
        if frames is None:
            metrics.socket_resync("gap")
            latest = await database_sync_to_async(events.latest_id)()
            await self.send_json({"type": "resync", "latest_id": latest})
            self.floor = self.last_id = max(self.last_id, latest)
            return
        for frame in frames:
            if frame["id"] > self.floor:
                await self._send_once(frame)

    async def _events_sync(self, content: dict) -> None:
        """The client's periodic check: every event after its last id that this socket
        has not sent, then `events.synced` (or `resync` when too many were missed)."""
        after = content.get("after")
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
            await self.send_json(
                {"type": "error", "code": "malformed", "detail": "after must be an event id"}
            )
            return
        wait = self.synced_at + SYNC_MIN_INTERVAL - time.monotonic()
        if wait > 0:
            await self.send_json(
                {"type": "error", "code": "rate_limited", "retry_after": round(wait, 1)}
            )
            return
        self.synced_at = time.monotonic()
        metrics.socket_replay("sync")
        frames = await database_sync_to_async(events.replay)(self.account, after)
        if frames is None:
            metrics.socket_resync("gap")
            latest = await database_sync_to_async(events.latest_id)()
            await self.send_json({"type": "resync", "latest_id": latest})
            return
        # Below `after` too: the replay's overlap holds any event that overtook another
        # (docs/websocket.md, Replay); ids this socket sent or that its page had are not.
        count = 0
        for frame in frames:
            if frame["id"] > min(after, self.floor) and frame["id"] not in self.sent:
                count += 1
                await self._send_once(frame)
        await self.send_json({"type": "events.synced", "after": after, "count": count})

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        metrics.socket_opened()
        self.metered = True
        # From here every frame goes through the socket's bounded send queue.
        self.outbox = sockets.Outbox(self.base_send, close=self._close_slow)
        self.following: set[str] = set()

    async def send(self, text_data=None, bytes_data=None, close=False):
        outbox = getattr(self, "outbox", None)
        if outbox is None or text_data is None or close:
            await super().send(text_data, bytes_data, close)
        else:
            outbox.reply(text_data)

    async def send_json(self, content, close=False):
        # AsyncJsonWebsocketConsumer.send_json calls super().send(), which skips send()
        # above: `hello`, `resumed` and answers would overtake the events queued before.
        await self.send(text_data=await self.encode_json(content), close=close)

    @classmethod
    async def encode_json(cls, content):
        return sockets.encode(content)

    async def _close_slow(self, code):
        await self.close(code=code)

    async def follow(self, group: str) -> None:
        """Receive a broadcast group's frames (through the process's hub)."""
        if group not in self.following:
            self.following.add(group)
            await sockets.hub(self.channel_layer).join(group, self.outbox)

    async def unfollow(self, group: str) -> None:
        if group in self.following:
            self.following.discard(group)
            await sockets.hub(self.channel_layer).leave(group, self.outbox)

    async def disconnect(self, code):
        if getattr(self, "metered", False):
            self.metered = False
            metrics.socket_closed()
        watch = getattr(self, "session_watch", None)
        if watch is not None:
            watch.cancel()
        if getattr(self, "counted", False):
            await socket_quota.give_back(self.account.pk, self.channel_name)
        if hasattr(self, "last_id"):
            catchup.watcher(self.channel_layer).discard(self)
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        outbox = getattr(self, "outbox", None)
        if outbox is not None:
            outbox.stop()
            for group in list(self.following):
                await self.unfollow(group)

    def _last_event_id(self) -> int | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("ascii", "replace"))
        value = (query.get("last_event_id") or [""])[0]
        # isdigit() alone admits "²", which int() refuses.
        return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None

    async def _send_once(self, frame: dict) -> None:
        event_id = frame["id"]
        if event_id in self.sent:
            return
        self.sent[event_id] = None
        if event_id > self.last_id:
            self.last_id = event_id
        if len(self.sent) > SENT_MEMORY:
            self.sent.pop(next(iter(self.sent)))
        # Events share the reply lane (never behind broadcasts) and are never dropped.
        self.outbox.reply(sockets.encode(frame), event=True)

    async def platform_event(self, message):
        frame = message["frame"]
        if frame["type"] == "session.ended":
            # Disabled, re-issued or handed over: this session is no longer valid.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        for hook in sockets.event_hooks(frame["type"]):
            await hook(self, frame)  # e.g. chat follows a room the account just joined
        if filters.needs_check(frame["type"]):
            wanted = await database_sync_to_async(filters.wants)(self.account, frame["type"], frame)
            if not wanted:
                return
        await self._send_once(frame)

    async def websocket_receive(self, message):
        text = message.get("text")
        if (
            text is None
            or len(text) > MAX_FRAME_BYTES
            or len(text.encode("utf-8", "replace")) > MAX_FRAME_BYTES  # CJK: 3 bytes a character
        ):
            await self.send_json({"type": "error", "code": "frame_too_large_or_binary"})
            return
        if not text:  # Channels raises on an empty text frame
            await self.receive_json(None)
            return
        await super().websocket_receive(message)

    @classmethod
    async def decode_json(cls, text_data):
        import json

        try:
            return json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: nesting too deep
            return None

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self.send_json(
                {"type": "error", "code": "malformed", "detail": "send a JSON object"}
            )
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
            return
        if kind == "events.sync":
            await self._events_sync(content)
            return
        handler = sockets.frame_handler(kind)  # registered by the apps (chat: chat.*, presence)
        if handler is None:
            await self.send_json({"type": "error", "code": "unknown_type"})
            return
        # A client that does not read its answers gets no more requests handled, so its
        # replies cannot pile up; the wait is bounded by the server's write buffer.
        await self.outbox.wait_replies_sent()
        if not sockets.handler_slots.take():
            # The database thread already has a queue: refuse now rather than answer late.
            await self.send_json(sockets.busy(content))
            return
        self.outbox.hold_broadcasts()
        try:
            reply = await handler(self.account, content)
            for frame in reply if isinstance(reply, list) else [reply] if reply else []:
                await self.send_json(frame)
        finally:
            sockets.handler_slots.give_back()
            self.outbox.release_broadcasts()
