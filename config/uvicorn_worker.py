"""uvicorn as a gunicorn worker, configured as the platform runs it (scripts/asgi_servers.py).

gunicorn passes no uvicorn options on its command line; the worker class carries them.

The request head is limited here (config/limits.py): uvicorn's httptools protocol has
no limit on the number or size of headers and no deadline for a request's head (its
keep-alive timeout only runs between requests), and gunicorn's --limit-request-*
options do not reach a uvicorn worker; so a small subclass adds them (hand-written:
no maintained uvicorn plugin does this). `make run` starts this worker directly, with
no balancer in front, so these are the platform's own door.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from config import limits

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _HeadRefused(Exception):
    pass


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """At most HEADER_COUNT_MAX headers and HEAD_BYTES_MAX bytes of request head (431),
    which must be complete within HTTP_HEADER_TIMEOUT seconds of its first byte, or of
    the connection opening (408): a slowloris client is cut off."""

    max_headers = limits.HEADER_COUNT_MAX
    max_head_bytes = limits.HEAD_BYTES_MAX
    header_timeout = limits.header_timeout_seconds()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._message_done = False
        self._head_bytes = 0
        self._header_count = 0
        self._head_size = 0
        self._refusal: int | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc):
        self._stop_head_timer()
        super().connection_lost(exc)

    def _start_head_timer(self):
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self):
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self):
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.logger.warning("Request head not complete in %ss; closed.", self.header_timeout)
            self._refuse(408, "The request's headers took too long to arrive.")

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, _REASONS[status], len(body), body)
        )
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._message_done:  # the next request on a kept-alive connection begins
            self._message_done = False
            self._in_head, self._head_bytes, self._header_count = True, 0, 0
            self._head_size = 0
            self._start_head_timer()
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes and self._refusal is None:
            if not self.transport.is_closing():
                self._refuse(431, "The request's headers are too large.")

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:  # raised from on_header below
            self._refuse(self._refusal, "Too many or too large request headers.")
            return
        super().send_400_response(msg)

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Counted as parsed too: a head that arrives in one read is complete before
        # data_received could count it.
        self._header_count += 1
        self._head_size += len(name) + len(value) + 4
        if self._header_count > self.max_headers or self._head_size > self.max_head_bytes:
            self._refusal = 431
            raise _HeadRefused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._message_done = False, True


class Worker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": LimitedHttpToolsProtocol,
        "lifespan": "off",  # Django and Channels do not speak ASGI lifespan
        "ws_ping_interval": 25.0,
        "ws_ping_timeout": 20.0,
        # A socket message past 64 KiB is closed with 1009 by the server before it is
        # buffered whole (uvicorn's default is 16 MiB); up to that, the platform answers
        # a frame over its own 16 KiB (core/consumers.MAX_FRAME_BYTES) with an error frame.
        "ws_max_size": 64 * 1024,
        "proxy_headers": True,
    }
