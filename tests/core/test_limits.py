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
    assert re.search(r"client_max_body_size 9m", docs)
