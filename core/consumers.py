"""The one WebSocket per browser tab: it admits or refuses, joins the account's groups,
replays what the client missed, then forwards live events. No business rule lives here."""

import asyncio
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts import scoping
from chat import handlers as chat_handlers
from chat import services as chat_services
from core import events, filters

# Close codes a client can act on (documented in docs/websocket.md).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_PASSWORD_CHANGE_REQUIRED = 4403
# How many recently sent event ids a connection remembers to drop duplicates.
SENT_MEMORY = 2000
MAX_FRAME_BYTES = 16 * 1024


# Group messages whose handlers only forward an already-stored frame to the socket.
# They skip Channels' per-event aclose_old_connections() thread hop (channels #2090):
# a handler that does need the database goes through database_sync_to_async, which
# closes stale connections itself.
FORWARD_ONLY = {"chat.frame": "chat_frame", "platform.event": "platform_event"}


@database_sync_to_async
def _connect_state(user) -> tuple[list[str], int]:
    """The groups a new socket joins (tree and chat rooms) and the latest event id."""
    groups = events.groups_for(user)
    groups += [chat_services.room_group(pk) for pk in chat_handlers.room_ids_for(user)]
    return groups, events.latest_id()


class PlatformConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message):
        name = FORWARD_ONLY.get(message.get("type"))
        if name is not None:
            await getattr(self, name)(message)
            return
        await super().dispatch(message)

    async def connect(self):
        user = self.scope.get("user")
        refusal = None
        if user is None or not user.is_authenticated or not scoping.is_active_account(user):
            refusal = CLOSE_UNAUTHENTICATED
        elif user.must_change_password:
            refusal = CLOSE_PASSWORD_CHANGE_REQUIRED
        if refusal is not None:
            # Accept first: a close before the handshake is an HTTP 403 and the
            # browser would see 1006, not the code that tells it what to do.
            await self.accept()
            await self.close(code=refusal)
            return
        self.account = user
        self.sent: dict[int, None] = {}
        # One trip to the database thread for everything a connect needs: under a
        # reconnect wave each extra trip queues behind every other socket's.
        self.joined, latest = await _connect_state(user)
        await asyncio.gather(
            *(self.channel_layer.group_add(g, self.channel_name) for g in self.joined)
        )
        await self.accept()
        await self.send_json({"type": "hello", "account": user.username, "latest_id": latest})
        after = self._last_event_id()
        if after is not None:
            frames = await database_sync_to_async(events.replay)(user, after)
            if frames is None:
                await self.send_json({"type": "resync", "latest_id": latest})
            else:
                for frame in frames:
                    await self._send_once(frame)
                await self.send_json({"type": "resumed", "after": after, "count": len(frames)})

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

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
        if len(self.sent) > SENT_MEMORY:
            self.sent.pop(next(iter(self.sent)))
        await self.send_json(frame)

    async def platform_event(self, message):
        frame = message["frame"]
        if frame["type"] == "session.ended":
            # Disabled, re-issued or handed over: this session is no longer valid.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if frame["type"] in ("chat.room_added", "chat.room_removed"):
            await self._follow_room(frame)
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
        handler = chat_handlers.HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self.send_json({"type": "error", "code": "unknown_type"})
            return
        reply = await handler(self.account, content)
        for frame in reply if isinstance(reply, list) else [reply] if reply else []:
            await self.send_json(frame)

    async def chat_frame(self, message):
        """A message, edit or removal pushed to a room's group (chat.services._push)."""
        await self.send_json(message["frame"])

    async def _follow_room(self, frame):
        """Join a room's group when the account became a member, leave it when it no longer is."""
        room_id = (frame.get("room") or {}).get("id")
        if not isinstance(room_id, int):
            return
        group = chat_services.room_group(room_id)
        member = await chat_handlers.is_member(self.account, room_id)
        if member and group not in self.joined:
            self.joined.append(group)
            await self.channel_layer.group_add(group, self.channel_name)
        elif not member and group in self.joined:
            self.joined.remove(group)
            await self.channel_layer.group_discard(group, self.channel_name)
