"""A socket whose client stops reading is closed once it holds EVENT_LIMIT unsent
events, under each ASGI server `make serve` may run (scripts/asgi_servers.PRODUCTION),
so the tab reconnects and resumes instead of hanging open with nothing more arriving.

daphne is not among them: its WebSocket library (autobahn) refuses the close code 1013
and the socket stays open and silent (bench/servers.py's slow-reader check; this test
fails under daphne), one of the reasons uvicorn replaced it.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

import pytest
from django.conf import settings

from core import events, sockets
from tests import factories, processes
from tests.chat_resilience.test_no_message_lost import _session_cookie
from tests.shape.conftest import shape

pytestmark = pytest.mark.django_db(transaction=True)
PAD = "x" * 8192  # 8 KiB per event: the kernel's and the server's buffers fill quickly
EVENTS = sockets.EVENT_LIMIT * 4


class RawSocket:
    """A WebSocket client that reads only when told to (a tab whose page is frozen)."""

    def __init__(self, port: int, cookie: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\nOrigin: http://127.0.0.1\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head[:200]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        return chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def frame(self) -> tuple[int, bytes]:
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._take(8))
        return first & 0x0F, self._take(length)


# granian passes it too (checked when it was measured), but is not run in production.
@pytest.mark.parametrize("server", shape.asgi_servers.PRODUCTION)
def test_a_socket_that_stops_reading_is_closed_to_resume(server, transactional_db, tmp_path):
    tree = factories.small_tree()
    account = factories.staff(tree.school, username="frozen_tab")
    env = processes.daphne_env(
        processes.database_url(),
        settings.REDIS_URL,
        cache_key_prefix=settings.CACHES["default"]["KEY_PREFIX"],
    )
    with shape.Shape(1, server=server, env=env, log_dir=tmp_path, out=lambda line: None) as s:
        tab = RawSocket(s.web[0].port, _session_cookie(account))
        opcode, payload = tab.frame()
        assert opcode == 1 and b'"hello"' in payload
        group = events.account_group(account.pk)
        for start in range(0, EVENTS, 100):
            events.publish_many(
                [("test.slow", {"pad": PAD, "i": i}, [group]) for i in range(start, start + 100)]
            )
        received, close_code = 0, None
        try:
            while True:
                opcode, payload = tab.frame()
                if opcode == 8:
                    close_code = struct.unpack(">H", payload[:2])[0]
                    break
                received += 1
        except (TimeoutError, EOFError, OSError) as exc:
            pytest.fail(f"{server}: no close frame after {received} frames ({exc!r})")
        assert close_code == sockets.CLOSE_TOO_SLOW, close_code
        assert received < EVENTS  # it was closed, not served everything it could not read
        assert s.web[0].alive()
