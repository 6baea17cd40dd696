"""Driving /ws/ from sync tests: a session cookie per account, and a tab's socket."""

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from tests.notices.helpers import send

# Generous: a bound on a hang, not on speed.
WAIT = 5
SAME_ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


def headers_for(account) -> list[tuple[bytes, bytes]]:
    """The headers of a logged-in tab of `account` (call outside the event loop)."""
    client = Client()
    client.force_login(account)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [*SAME_ORIGIN, (b"cookie", cookie)]


async def open_socket(headers, *, query: str = ""):
    """A connected socket and its hello frame."""
    path = f"/ws/?{query}" if query else "/ws/"
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, detail = await socket.connect(timeout=WAIT)
    assert connected, detail
    hello = await socket.receive_json_from(timeout=WAIT)
    assert hello["type"] == "hello", hello
    return socket, hello


async def next_frame(socket) -> dict:
    return await socket.receive_json_from(timeout=WAIT)


async def frames_until(socket, kind: str) -> tuple[list[dict], dict]:
    """The frames before the first of type `kind`, and that frame."""
    before = []
    while True:
        frame = await next_frame(socket)
        if frame["type"] == kind:
            return before, frame
        before.append(frame)


async def ping_pong(socket) -> None:
    """The socket is open and answering (and every frame sent before was handled)."""
    await socket.send_json_to({"type": "ping"})
    assert await next_frame(socket) == {"type": "pong"}


# A notice published from inside the event loop: the service runs in the test's own
# thread, and its after-commit push goes through the real channel layer.
publish = sync_to_async(send)
