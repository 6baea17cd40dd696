"""A chat client over the platform's one WebSocket, written the way a browser tab must
behave to lose nothing: it keeps every message it received by sequence number, drops
a frame whose sequence number it already holds (checking the message id is the same),
asks for what it missed with `chat.sync` after every (re)connect, and resends a message
it got no `chat.sent` for.

Everything it saw is recorded for the test's assertions. One request (send or sync) at
a time per client: the server answers a socket's frames in order, so the next
`chat.sent`, `error` or `chat.synced` answers the request in flight.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection, connect

HANG = 20.0  # seconds: a bound on any single wait, never a performance threshold
CONNECT_ATTEMPTS = 60
SEND_ATTEMPTS = 8


class ClientError(AssertionError):
    pass


@dataclass
class SyncRecord:
    phase: str
    after: int  # the client's contiguous mark it asked from
    highest_held: int  # the highest seq it held when asking (a tab keeping only a max sends this)
    acked_before: int  # the highest seq any client had been acknowledged before this sync
    frames: list[int] = field(default_factory=list)  # chat.message seqs before chat.synced
    resync: bool = False
    contiguous_after: int = 0  # the client's contiguous mark once chat.synced arrived


@dataclass
class Close:
    phase: str
    code: int | None
    reason: str


class ChatClient:
    def __init__(self, *, name: str, server: str, ws_url: str, origin: str, cookie: str, room):
        self.name = name
        self.server = server  # "A" or "B"
        self.ws_url = ws_url
        self.origin = origin
        self.cookie = cookie
        self.room = room
        self.phase = "setup"
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._replies: asyncio.Queue = asyncio.Queue()
        self._hello: asyncio.Event = asyncio.Event()
        self._closed: asyncio.Event = asyncio.Event()
        self._sync: SyncRecord | None = None
        # What it holds and how it got there.
        self.held: dict[int, int] = {}  # seq -> message_id
        self.applied: list[int] = []  # seqs in the order they were first applied
        # (phase, "live"|"sync", seq, author) of every chat.message of the room, in order
        self.received: list[tuple[str, str, int, str]] = []
        self.duplicates = 0
        self.id_mismatches: list[tuple[int, int, int]] = []  # (seq, held id, frame id)
        self.other_rooms: Counter = Counter()
        self.syncs: list[SyncRecord] = []
        # Its connection history.
        self.connects: list[str] = []  # phase of each successful connect
        self.connect_failures: list[tuple[str, str]] = []
        self.closes: list[Close] = []
        # What it sent: every attempt, every acknowledgement, every error.
        self.attempts: Counter = Counter()  # body -> attempts
        self.unacked: Counter = Counter()  # body -> attempts that got no reply (socket closed)
        self.acks: dict[str, list[tuple[int, int]]] = defaultdict(list)  # body -> (seq, id)
        self.errors: list[tuple[str, str, dict]] = []  # (phase, body, error frame)
        self.pending: list[str] = []  # bodies still to (re)send
        # Send every post with a client id made from its body, as a browser tab does.
        self.client_ids = False
        self.other_frames: Counter = Counter()

    # --- connection ------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.ws is not None and not self._closed.is_set()

    def contiguous(self) -> int:
        """The highest k with 1..k all held: what a tab may safely sync from."""
        k = 0
        while k + 1 in self.held:
            k += 1
        return k

    async def connect(self, attempts: int = CONNECT_ATTEMPTS) -> bool:
        """Connect (retrying with jitter while the server refuses) and wait for hello;
        False when `attempts` attempts failed and attempts < CONNECT_ATTEMPTS."""
        for attempt in range(attempts):
            try:
                ws = await connect(
                    self.ws_url,
                    origin=self.origin,
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=HANG,
                    close_timeout=2,
                    ping_interval=None,
                    max_queue=None,
                )
            except websockets.InvalidStatus as e:
                self.connect_failures.append((self.phase, f"HTTP {e.response.status_code}"))
                await asyncio.sleep(_backoff(attempt))
                continue
            except (OSError, TimeoutError, websockets.InvalidHandshake) as e:
                self.connect_failures.append((self.phase, repr(e)))
                await asyncio.sleep(_backoff(attempt))
                continue
            self.ws = ws
            self._replies = asyncio.Queue()
            self._hello = asyncio.Event()
            self._closed = asyncio.Event()
            self._reader = asyncio.create_task(self._read(ws))
            await _first(self._hello.wait(), self._closed.wait())
            if self._hello.is_set():
                self.connects.append(self.phase)
                return True
            self.connect_failures.append((self.phase, f"closed before hello: {ws.close_code}"))
            await asyncio.sleep(_backoff(attempt))
        if attempts < CONNECT_ATTEMPTS:
            return False
        raise ClientError(f"{self.name}: no connection after {attempts} attempts")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, HANG)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._on_frame(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closes.append(Close(self.phase, ws.close_code, ws.close_reason or ""))
            self._closed.set()
            self._replies.put_nowait(None)

    def _on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "hello":
            self._hello.set()
        elif kind == "chat.message":
            if frame["room"] != self.room:
                self.other_rooms[frame["room"]] += 1
                return
            self._apply(frame["seq"], frame["message_id"], frame["author"])
        elif kind == "chat.resync" and self._sync is not None:
            self._sync.resync = True
        elif kind in ("chat.sent", "error", "chat.synced"):
            self._replies.put_nowait(frame)
        else:
            self.other_frames[kind] += 1

    def _apply(self, seq: int, message_id: int, author: str) -> None:
        how = "live"
        if self._sync is not None:
            how = "sync"
            self._sync.frames.append(seq)
        self.received.append((self.phase, how, seq, author))
        if seq in self.held:
            self.duplicates += 1
            if self.held[seq] != message_id:
                self.id_mismatches.append((seq, self.held[seq], message_id))
            return
        self.held[seq] = message_id
        self.applied.append(seq)

    async def _reply(self) -> dict | None:
        """The answer to the request in flight, or None when the socket closed first."""
        try:
            return await asyncio.wait_for(self._replies.get(), HANG)
        except TimeoutError:
            raise ClientError(f"{self.name}: no answer within {HANG}s in {self.phase}") from None

    # --- requests --------------------------------------------------------------------

    async def send(self, body: str, *, client_id: str | None = None) -> str:
        """One attempt: "sent", "closed" (no answer: unknown whether it was stored) or the
        error code. Rate limits are waited out and retried within the attempt. With a
        `client_id` (as the browser sends) a resend is stored once."""
        frame = {"type": "chat.send", "room": self.room, "body": body}
        if client_id is None and self.client_ids:
            client_id = body.replace(" ", "/")  # one id per body: the tests' bodies are unique
        if client_id is not None:
            frame["client_id"] = client_id
        for _ in range(SEND_ATTEMPTS):
            if not self.open:
                return "closed"
            self.attempts[body] += 1
            try:
                await self.ws.send(json.dumps(frame))
            except websockets.ConnectionClosed:
                pass
            reply = await self._reply()
            if reply is None:
                self.unacked[body] += 1
                return "closed"
            if reply["type"] == "chat.sent":
                if reply.get("room") != self.room:
                    raise ClientError(f"{self.name}: chat.sent for another room: {reply}")
                self.acks[body].append((reply["seq"], reply["message_id"]))
                return "sent"
            if reply["type"] == "error":
                self.errors.append((self.phase, body, reply))
                if reply.get("code") == "rate_limited":
                    await asyncio.sleep(min(float(reply.get("retry_after", 1)), 10.0))
                    continue
                return reply.get("code", "error")
            raise ClientError(f"{self.name}: unexpected answer to chat.send: {reply}")
        return "rate_limited"

    async def send_all(self, bodies: list[str], acked: list[int]) -> None:
        """Send each body until acknowledged, reconnecting (and syncing) when the socket
        closes. `acked` collects the sequence numbers acknowledged, across clients."""
        queue = list(bodies)
        for _ in range(SEND_ATTEMPTS * max(1, len(bodies))):
            if not queue:
                return
            if not self.open:
                await self.connect()
                await self.sync(acked)
            outcome = await self.send(queue[0])
            if outcome == "sent":
                acked.append(self.acks[queue[0]][-1][0])
                queue.pop(0)
            elif outcome != "closed":
                await asyncio.sleep(_backoff(2))  # an error frame: resend after a pause
        raise ClientError(f"{self.name}: could not send {queue} in {self.phase}")

    async def sync(self, acked: list[int]) -> SyncRecord:
        """chat.sync from the contiguous mark; returns what came back before chat.synced."""
        record = SyncRecord(
            phase=self.phase,
            after=self.contiguous(),
            highest_held=max(self.held, default=0),
            acked_before=max(acked, default=0),
        )
        if not self.open:
            raise ClientError(f"{self.name}: sync on a closed socket")
        self._sync = record
        try:
            await self.ws.send(
                json.dumps({"type": "chat.sync", "rooms": {str(self.room): record.after}})
            )
            reply = await self._reply()
        finally:
            self._sync = None
        if reply is None:
            raise ClientError(f"{self.name}: socket closed during chat.sync in {self.phase}")
        if reply["type"] != "chat.synced":
            raise ClientError(f"{self.name}: unexpected answer to chat.sync: {reply}")
        record.contiguous_after = self.contiguous()
        self.syncs.append(record)
        return record


def _backoff(attempt: int) -> float:
    """Jittered exponential backoff, as the browser client does, capped low for a test."""
    return min(0.05 * 2**attempt, 0.5) * random.uniform(0.5, 1.5)


async def _first(*awaitables) -> None:
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, _pending = await asyncio.wait(
            tasks, timeout=HANG, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            raise ClientError(f"nothing happened within {HANG}s")
    finally:
        for task in tasks:
            task.cancel()
