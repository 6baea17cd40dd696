"""The socket's bounded send queue (core.sockets.Outbox), end to end: a tab that reads
slowly is served by a server whose `send` waits for it (as uvicorn's does, and daphne's
once its 64 KiB buffer is full). Such a tab holds a bounded backlog, gets
`resync` (reason `lagged`) when it falls behind, and gets every stored message back by
`chat.sync`; its own `chat.sent` and its events come ahead of its chat backlog.

The limits are lowered for the test (module constants, read at each use)."""

import ast
import asyncio
import json
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from chat.models import Message
from config.asgi import application
from core import sockets
from tests.core.sockets import WAIT, headers_for, next_frame, open_socket, publish

pytestmark = pytest.mark.django_db(transaction=True)

QUIET = 0.5  # seconds without a frame: the server has sent all it had (not a speed bound)
FEATURE_APPS = {"chat", "notices", "tickets", "escalation", "roll"}


async def send(socket, frame):
    await socket.send_to(text_data=json.dumps(frame, ensure_ascii=False))


@sync_to_async
def stored(body: str) -> bool:
    return Message.objects.filter(body=body).exists()


async def post_and_ack(socket, room, body):
    """Post and return the ack, skipping the live frames of one's own posts."""
    await send(socket, {"type": "chat.send", "room": room, "body": body})
    while True:
        frame = await next_frame(socket)
        if frame["type"] in ("chat.sent", "error"):
            return frame


async def open_slow_socket(headers, *, holds: int):
    """A tab whose server buffers only `holds` frames: past them, `send` waits until
    the tab reads (a full TCP window)."""
    socket = WebsocketCommunicator(application, "/ws/", headers=headers)
    socket._output_queue = asyncio.Queue(maxsize=holds)
    connected, detail = await socket.connect(timeout=WAIT)
    assert connected, detail
    assert (await next_frame(socket))["type"] == "hello"
    return socket


async def drain(socket) -> list[dict]:
    """Every frame the tab has been sent so far (it reads until the server is quiet)."""
    frames = []
    while True:
        try:
            # Not receive_output(timeout=…): its timeout cancels the application.
            output = await asyncio.wait_for(socket.output_queue.get(), QUIET)
        except TimeoutError:
            return frames
        frames.append(json.loads(output["text"]))


def test_a_tab_that_falls_behind_gets_resync_and_every_message_by_sync(people, rooms, monkeypatch):
    monkeypatch.setattr(sockets, "BROADCAST_LIMIT", 4)
    school, county = headers_for(people.school_staff), headers_for(people.county_staff)

    async def conversation():
        slow = await open_slow_socket(county, holds=2)
        sender, _ = await open_socket(school)
        acks = [await post_and_ack(sender, rooms.county.pk, f"第{i}条") for i in range(12)]
        live = await drain(slow)
        # As a tab does: on resync it asks from the highest seq it held then (frames
        # after the resync are newer than the ones dropped).
        before = live[: live.index({"type": "resync", "reason": "lagged"})]
        held = max((f["seq"] for f in before if f["type"] == "chat.message"), default=0)
        await send(slow, {"type": "chat.sync", "rooms": {str(rooms.county.pk): held}})
        synced = await drain(slow)
        await slow.disconnect()
        await sender.disconnect()
        return acks, live, synced

    acks, live, synced = async_to_sync(conversation)()
    assert [a["type"] for a in acks] == ["chat.sent"] * 12
    messages = [f for f in live if f["type"] == "chat.message"]
    # Bounded: what the server buffers (2), what the writer holds (1) and the queue (4).
    assert len(messages) <= 2 + 1 + 4
    assert {"type": "resync", "reason": "lagged"} in live
    got = {f["seq"] for f in messages + synced if f["type"] == "chat.message"}
    assert got == {a["seq"] for a in acks}


def test_a_post_is_acknowledged_ahead_of_the_posters_own_chat_backlog(people, rooms):
    school, county = headers_for(people.school_staff), headers_for(people.county_staff)

    async def conversation():
        slow = await open_slow_socket(county, holds=2)
        sender, _ = await open_socket(school)
        for i in range(10):
            await post_and_ack(sender, rooms.county.pk, f"积压{i}")
        # The slow tab has ~7 messages still queued for it; it posts itself.
        await send(slow, {"type": "chat.send", "room": rooms.county.pk, "body": "我的"})
        # Sync calls share the one database thread with the socket's handlers: once this
        # finds the message, the handler has returned and its ack is queued.
        while not await stored("我的"):
            pass
        frames = []
        while not any(f["type"] == "chat.sent" for f in frames):
            frames.append(await next_frame(slow))
        rest = await drain(slow)
        await slow.disconnect()
        await sender.disconnect()
        return frames, rest

    frames, rest = async_to_sync(conversation)()
    # Only what the server had already buffered (2) and the frame in the writer's hand
    # came first; the rest of the backlog follows the ack.
    assert len(frames) <= 4
    assert sum(f["type"] == "chat.message" for f in rest) >= 10 + 1 - 3


def test_an_event_is_sent_ahead_of_a_chat_backlog(people, rooms):
    school, county = headers_for(people.school_staff), headers_for(people.county_staff)

    async def conversation():
        slow = await open_slow_socket(county, holds=2)
        fast, _ = await open_socket(county)  # a second tab of the same account
        sender, _ = await open_socket(school)
        for i in range(10):
            await post_and_ack(sender, rooms.county.pk, f"积压{i}")
        for _ in range(10):
            assert (await next_frame(fast))["type"] == "chat.message"
        notice = await publish(people.province_manager, to=["130000"], levels=["county"])
        # Both tabs got the event from the same Redis message; once the fast tab has it,
        # the slow tab's consumer has queued it too.
        assert (await next_frame(fast))["type"] == "notice.published"
        frames = []
        while not any(f["type"] == "notice.published" for f in frames):
            frames.append(await next_frame(slow))
        for socket in (slow, fast, sender):
            await socket.disconnect()
        return notice, frames

    notice, frames = async_to_sync(conversation)()
    assert frames[-1]["notice"]["id"] == notice.pk
    assert len(frames) <= 4


def test_a_tab_that_reads_no_events_at_all_is_closed_to_resume(people, monkeypatch):
    monkeypatch.setattr(sockets, "EVENT_LIMIT", 3)
    county = headers_for(people.county_staff)

    async def conversation():
        slow = await open_slow_socket(county, holds=1)
        fast, _ = await open_socket(county)  # a second tab of the same account
        for _ in range(10):
            await publish(people.province_manager, to=["130000"], levels=["county"])
        # Once the fast tab has all ten, the slow tab's consumer has queued them too.
        for _ in range(10):
            assert (await next_frame(fast))["type"] == "notice.published"
        await fast.disconnect()
        frames = []
        while True:
            output = await slow.receive_output(timeout=WAIT)
            if output["type"] == "websocket.close":
                return frames, output
            frames.append(json.loads(output["text"]))

    frames, close = async_to_sync(conversation)()
    assert close["code"] == sockets.CLOSE_TOO_SLOW
    # Never dropped silently: the tab resumes from the last id it saw.
    assert len(frames) < 10


def test_core_imports_no_feature_app():
    """core/ sits below the apps: they register with it (core.sockets, ...)."""
    found = []
    for path in Path(sockets.__file__).parent.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FEATURE_APPS]
    assert found == []


def test_every_chat_frame_type_is_registered_with_the_socket():
    assert {"chat.send", "chat.sync", "chat.read", "presence"} <= set(sockets._frames)
    assert sockets.event_hooks("chat.room_added") and sockets.event_hooks("chat.room_removed")
