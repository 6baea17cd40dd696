"""The HTTP handler under ASGI: each request's sync work on one of a fixed set of
long-lived threads (core/handlers.py), not on a new thread per request."""

import asyncio
import threading

from django.core.signals import request_finished, request_started

from core.handlers import PooledThreadASGIHandler


def http_scope(path: str, method: str = "GET", headers: tuple = ()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def get(app, path: str) -> tuple[int, bytes]:
    scope = http_scope(path)
    pending = [{"type": "http.request", "body": b"", "more_body": False}]
    stay = asyncio.Event()
    status, body = [], []

    async def receive():
        if pending:
            return pending.pop()
        await stay.wait()

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0], b"".join(body)


class ThreadLog:
    """The thread each request's start and finish signal ran on."""

    def __init__(self):
        self.started: list[str] = []
        self.finished: list[str] = []

    def __enter__(self):
        request_started.connect(self.on_start)
        request_finished.connect(self.on_finish)
        return self

    def __exit__(self, *exc):
        request_started.disconnect(self.on_start)
        request_finished.disconnect(self.on_finish)

    def on_start(self, **kwargs):
        self.started.append(threading.current_thread().name)

    def on_finish(self, **kwargs):
        self.finished.append(threading.current_thread().name)


def test_requests_reuse_the_handlers_threads():
    app = PooledThreadASGIHandler(2)
    before = threading.active_count()

    async def five():
        return [await get(app, "/healthz") for _ in range(5)]

    with ThreadLog() as log:
        answers = asyncio.run(five())
    assert [status for status, _ in answers] == [200] * 5
    assert all(body == b'{"status": "ok"}' for _, body in answers)
    # One request at a time: always the same long-lived thread, start and finish alike.
    assert len(set(log.started)) == 1
    assert log.started == log.finished
    assert log.started[0].startswith("http-")
    assert threading.active_count() <= before + 1


def test_more_requests_than_threads_wait_their_turn():
    app = PooledThreadASGIHandler(1)

    async def many():
        return await asyncio.gather(*(get(app, "/healthz") for _ in range(6)))

    with ThreadLog() as log:
        answers = asyncio.run(many())
    assert [status for status, _ in answers] == [200] * 6
    assert len(log.started) == 6
    assert len(set(log.started)) == 1  # the one thread served them in turn


def test_the_middleware_chain_answers_as_before(client):
    """The sync chain keeps what the middleware adds (security headers, CSP)."""
    app = PooledThreadASGIHandler(1)
    status, _ = asyncio.run(get(app, "/healthz"))
    assert status == 200

    async def headers():
        scope_headers = []

        async def send(message):
            if message["type"] == "http.response.start":
                scope_headers.extend(message["headers"])

        scope = http_scope("/healthz")
        sent = [{"type": "http.request", "body": b""}]
        stay = asyncio.Event()

        async def receive():
            if sent:
                return sent.pop()
            await stay.wait()

        await app(scope, receive, send)
        return {k.decode().lower(): v.decode() for k, v in scope_headers}

    got = asyncio.run(headers())
    assert got["content-security-policy"].startswith("default-src 'self'")
    assert got["x-frame-options"] == "DENY"
    assert got["x-content-type-options"] == "nosniff"


def test_a_slow_upload_holds_no_thread_while_its_body_arrives():
    """With one thread, a request whose body is still arriving does not keep the others
    waiting: the thread is lent only once the body is in."""
    app = PooledThreadASGIHandler(1)

    async def run():
        more = asyncio.Event()
        chunks = [
            {"type": "http.request", "body": b"a=1", "more_body": True},
        ]

        async def slow_receive():
            if chunks:
                return chunks.pop()
            await more.wait()  # the rest of the body comes only when the test says
            more.clear()
            return {"type": "http.request", "body": b"&b=2", "more_body": False}

        scope = http_scope("/healthz", "POST", ((b"content-length", b"7"),))
        statuses = []

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        upload = asyncio.create_task(app(scope, slow_receive, send))
        await asyncio.sleep(0.05)
        # The one thread serves others while the upload's body is still coming.
        others = await asyncio.wait_for(
            asyncio.gather(*(get(app, "/healthz") for _ in range(3))), timeout=10
        )
        assert not upload.done()
        more.set()
        await asyncio.wait_for(upload, timeout=10)
        return others, statuses

    others, statuses = asyncio.run(run())
    assert [status for status, _ in others] == [200, 200, 200]
    assert len(statuses) == 1  # the upload was answered too, once its body was in
