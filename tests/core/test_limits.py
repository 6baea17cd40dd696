"""Limits at the door: request bodies capped by path before they are read
(core/handlers.py, one table in config/limits.py shared with HAProxy and the docs)."""

import asyncio
import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from config import limits
from core.handlers import PooledThreadASGIHandler
from tests.core.test_handlers import http_scope

ROOT = Path(__file__).resolve().parents[2]


def post(app, path, *, length=None, chunks=(b"",), accept=b"text/html"):
    """POST through the ASGI handler; returns (status, headers, body, chunks received)."""
    headers = [(b"accept", accept), (b"content-type", b"application/x-www-form-urlencoded")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = http_scope(path, method="POST", headers=tuple(headers))
    pending = list(chunks)
    received = []
    stay = asyncio.Event()

    async def receive():
        if pending:
            chunk = pending.pop(0)
            received.append(len(chunk))
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await stay.wait()

    out = {"status": None, "headers": {}, "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return out["status"], out["headers"], out["body"], received


@pytest.fixture
def app():
    return PooledThreadASGIHandler(threads=1)


def test_the_table_by_path():
    table = settings.BODY_LIMITS
    assert limits.limit_for("/auth/login/", table).max_bytes == limits.FORM_MAX_BYTES
    assert limits.limit_for("/auth/login/", table).max_bytes == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limits.limit_for("/api/roll/v1/alerts", table).max_bytes == 9 * 2**20
    upload = settings.NOTICE_MAX_FILES * settings.NOTICE_MAX_FILE_BYTES + 2**20
    for path in (
        "/notices/new/",
        "/notices/12/edit/",
        "/notices/12/ack/",
        "/chat/3/post/",
        "/tickets/new/",
        "/tickets/7/reply/",
    ):
        assert limits.limit_for(path, table).max_bytes == upload, path
    for path in ("/notices/12/forward/", "/chat/3/", "/tickets/7/act/", "/people/issue/"):
        assert limits.limit_for(path, table).max_bytes == limits.FORM_MAX_BYTES, path


@pytest.mark.django_db
def test_a_declared_200_mib_login_is_refused_before_a_byte_is_read(app):
    status, headers, body, received = post(
        app, "/auth/login/", length=200 * 2**20, chunks=[b"x" * 65536] * 4
    )
    assert status == 413
    assert received == []  # not one chunk of the body was asked for
    assert headers["connection"] == "close"  # the server stops reading it too
    html = body.decode()
    assert "1 MiB" in html and "请求过大" in html


@pytest.mark.django_db
def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(app):
    chunk = b"x" * 65536
    status, headers, _, received = post(app, "/auth/login/", chunks=[chunk] * 64)  # 4 MiB
    assert status == 413
    # 1 MiB is 16 chunks: refused on the 17th, the other 47 never read.
    assert len(received) == 17
    assert headers["connection"] == "close"


@pytest.mark.django_db
def test_an_attachment_form_may_be_large_but_not_past_its_limit(app, settings):
    upload = limits.upload_bytes()
    status, _, body, received = post(app, "/notices/new/", length=upload + 1, chunks=[b"x"])
    assert status == 413 and received == []
    assert "20 MB" in body.decode()  # "附件每个不得超过 20 MB，每次最多 10 个"
    # Under the attachment limit (but past the form limit) the door lets it through to
    # the view (an anonymous client is sent to log in).
    status, _, _, _ = post(
        app, "/notices/new/", length=2 * 2**20, chunks=[b"x" * 2**20, b"x" * 2**20]
    )
    assert status != 413


@pytest.mark.django_db
def test_the_roll_api_is_refused_in_its_own_json_shape(app):
    status, headers, body, received = post(
        app, "/api/roll/v1/alerts", length=10 * 2**20, chunks=[b"{}"], accept=b"*/*"
    )
    assert status == 413 and received == []
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {
        "error": "too_large",
        "detail": "the body is limited to 8 MiB",
        "status": 413,
    }


def test_haproxy_and_the_docs_state_the_same_table(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import shape

    config = shape.render_haproxy(
        bind="127.0.0.1:8000",
        servers=[("w1", "127.0.0.1:8001")],
        admin_socket=tmp_path / "admin.sock",
        env={},
        maxconn=1000,
    )
    docs = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for limit in settings.BODY_LIMITS:
        assert f"gt {limit.max_bytes}" in config, limit
        assert f"client_max_body_size {limits.mib(limit.max_bytes)}m" in docs, limit
    assert limits.UPLOAD_PATHS in config and limits.UPLOAD_PATHS[:-2] in docs
    assert f"tune.http.maxhdr {limits.HEADER_COUNT_MAX}" in config
    assert f"tune.bufsize {limits.HEAD_BYTES_MAX + 1024}" in config
    assert "timeout http-request 10s" in config
    assert f"| `tune.http.maxhdr` | {limits.HEADER_COUNT_MAX} |" in docs
    assert re.search(r"client_max_body_size 9m", docs)


# --- The server as `make run` starts it (gunicorn + config.uvicorn_worker.Worker) ------


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    from tests import processes

    with django_db_blocker.unblock():
        env = processes.daphne_env(processes.database_url(), settings.REDIS_URL, "h2limits")
    env["HTTP_HEADER_TIMEOUT"] = "2"  # the slowloris test waits for it; 10 s by default
    web = processes.Daphne("limits", env, tmp_path_factory.mktemp("limits"))
    try:
        web.start()
    except processes.ProcessError as e:
        pytest.fail(f"the web server did not start: {e}", pytrace=False)
    yield web
    web.stop()


def _connect(server):
    import socket

    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _answer(sock) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _get(server, headers: list[str]) -> bytes:
    with _connect(server) as sock:
        head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        sock.sendall((head + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode())
        return _answer(sock)


def test_an_ordinary_request_with_many_headers_passes(server):
    answer = _get(server, [f"X-Extra-{i}: {'v' * 40}" for i in range(60)])
    assert answer.startswith(b"HTTP/1.1 200")


def test_200_headers_are_refused_with_431(server):
    answer = _get(server, [f"X-Extra-{i}: v" for i in range(200)])
    assert answer.startswith(b"HTTP/1.1 431")


def test_a_64_kib_header_is_refused_with_431(server):
    answer = _get(server, ["X-Big: " + "v" * 64 * 1024])
    assert answer.startswith(b"HTTP/1.1 431")


def test_a_slowloris_client_is_cut_off(server):
    """Headers trickled one byte a second: the server closes the connection (408) long
    before the 120 bytes are sent, instead of holding it open for as long as they take."""
    import time

    trickle = b"X-Slow: " + b"v" * 110 + b"\r\n"
    sent = 0
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(1.0)
        answer = b""
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                answer += sock.recv(4096)
                break  # the server answered (and closes)
            except TimeoutError:
                continue  # one byte a second
            time.sleep(0)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert sent < len(trickle)


def test_a_200_mib_login_post_is_refused_without_being_read(server, capsys):
    """The weak point of issue 14: an anonymous 200 MiB POST to the login page was read in
    full (9.6 s) before it was refused. Now the door answers 413 on the Content-Length and
    closes; the client gets to send only what the socket buffers took."""
    import time

    total = 200 * 2**20
    chunk = b"x" * 2**20
    sent = 0
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(
            b"POST /auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % total
        )
        try:
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _answer(sock)
    refused_after = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < total // 10  # most of the 200 MiB was never sent, let alone read
    with capsys.disabled():
        print(
            f"\n200 MiB login POST: 413 after {refused_after:.3f} s, "
            f"{sent / 2**20:.0f} MiB of 200 sent before the server closed"
        )


# --- Sockets per account (core/socket_quota.py) ------------------------------------------


@pytest.fixture
def quota(settings, people):
    import redis as redis_lib

    from core import socket_quota

    settings.SOCKETS_PER_ACCOUNT = 3
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    key = socket_quota.key(people.county_staff.pk)
    client.delete(key)
    yield client, key
    client.delete(key)
    client.close()


async def _refused(headers):
    from channels.testing import WebsocketCommunicator

    from config.asgi import application
    from tests.core.sockets import WAIT

    socket = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _ = await socket.connect(timeout=WAIT)
    assert connected  # accepted, so the browser sees the close code, not 1006
    frame = await socket.receive_json_from(timeout=WAIT)
    closed = await socket.receive_output(timeout=WAIT)
    return frame, closed


@pytest.mark.django_db(transaction=True)
def test_an_account_past_its_socket_limit_is_refused_with_4429(people, quota):
    from asgiref.sync import async_to_sync

    from tests.core.sockets import headers_for, open_socket, ping_pong

    client, key = quota
    headers = headers_for(people.county_staff)

    async def conversation():
        tabs = [(await open_socket(headers))[0] for _ in range(3)]
        assert client.zcard(key) == 3
        frame, closed = await _refused(headers)
        assert frame == {"type": "error", "code": "too_many_sockets", "limit": 3}
        assert closed == {"type": "websocket.close", "code": 4429}
        # The three open tabs are untouched; closing one frees its slot at once.
        await ping_pong(tabs[0])
        await tabs[0].disconnect()
        assert client.zcard(key) == 2
        fourth, _ = await open_socket(headers)
        for tab in (*tabs[1:], fourth):
            await tab.disconnect()

    async_to_sync(conversation)()
    assert client.zcard(key) == 0


@pytest.mark.django_db(transaction=True)
def test_sockets_are_counted_across_processes_and_a_crashed_ones_lapse(people, quota):
    import time

    from asgiref.sync import async_to_sync

    from tests.core.sockets import headers_for, open_socket

    client, key = quota
    headers = headers_for(people.county_staff)
    # Three sockets live on other processes (entries they keep renewing).
    client.zadd(key, {f"other-process-{i}": time.time() + 60 for i in range(3)})

    async def refused_while_others_live():
        frame, closed = await _refused(headers)
        assert frame["code"] == "too_many_sockets" and closed["code"] == 4429

    async_to_sync(refused_while_others_live)()
    # That process died: its entries stopped being renewed and have lapsed.
    client.zadd(key, {f"other-process-{i}": time.time() - 1 for i in range(3)})

    async def admitted_after_they_lapse():
        socket, hello = await open_socket(headers)
        assert hello["type"] == "hello"
        assert client.zcard(key) == 1  # the lapsed entries are gone, this one is counted
        await socket.disconnect()

    async_to_sync(admitted_after_they_lapse)()


# --- Socket message size in the server ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_socket_message_past_64_kib_is_closed_by_the_server_with_1009(server, people):
    """Up to the server's ws_max_size the platform answers an oversized frame with an
    error frame and keeps the socket; past it the server closes with 1009 before the
    message is buffered whole (uvicorn's own default would buffer 16 MiB)."""
    from asgiref.sync import async_to_sync
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from tests.core.sockets import WAIT, headers_for

    cookie = dict(headers_for(people.county_staff))[b"cookie"].decode()

    async def conversation():
        async with connect(
            f"ws://127.0.0.1:{server.port}/ws/",
            additional_headers={"Cookie": cookie},
            origin=f"http://127.0.0.1:{server.port}",
            max_size=None,
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert hello["type"] == "hello"
            await ws.send(json.dumps({"type": "ping", "pad": "x" * 20_000}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert frame["type"] == "error" and frame["code"] == "frame_too_large_or_binary"
            await ws.send(json.dumps({"type": "ping", "pad": "x" * 100_000}))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), WAIT)
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert async_to_sync(conversation)() == 1009
