"""Nothing lost in between: a notice published while Redis is down reaches a socket
that stays open, once Redis is back, without the socket reconnecting.

One daphne on the test database and a redis-server of this test alone (killable, as
in test_no_message_lost.py). The test process publishes through the same Redis and
channel prefix as daphne, so a notice published while Redis is down is stored but its
push fails, as in production. Waits are bounded (HANG); nothing asserts how fast.
"""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import Client
from websockets.asyncio.client import connect

from tests import factories, processes
from tests.chat_resilience.client import HANG
from tests.notices.helpers import make_people, send


@pytest.fixture
def daphne(chat_redis, transactional_db, tmp_path, settings):
    """One daphne on the test's Redis; this process's channel layer points there too."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"][0]["address"] = chat_redis.url
    layers["default"]["CONFIG"]["prefix"] = processes.CHANNEL_PREFIX
    settings.CHANNEL_LAYERS = layers
    server = processes.Daphne(
        "A", processes.daphne_env(processes.database_url(), chat_redis.url), tmp_path
    )
    try:
        server.start()
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"daphne exited with {code}\n{processes.tail(server.log)}"


def _send(*args, **kwargs):
    """tests.notices.helpers.send from a worker thread, which then closes its own
    database connection (else the test database cannot be dropped at the end)."""
    try:
        return send(*args, **kwargs)
    finally:
        connections.close_all()


def _cookie(account) -> str:
    client = Client()
    client.force_login(account, backend="accounts.backends.PasswordBackend")
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


async def _next_notice(ws) -> dict:
    """The next notice.published frame (other frames, e.g. pong, are skipped)."""
    async with asyncio.timeout(HANG):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "notice.published":
                return frame


@pytest.mark.django_db(transaction=True)
def test_a_notice_published_while_redis_is_down_reaches_an_open_socket(daphne, chat_redis):
    tree = factories.small_tree()
    people = make_people(tree)
    cookie = _cookie(people.county_staff)
    publish = sync_to_async(_send)
    to_counties = {"to": ["130000"], "levels": ["county"]}

    async def conversation():
        async with connect(
            daphne.ws_url,
            origin=daphne.url,
            additional_headers={"Cookie": cookie},
            open_timeout=HANG,
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), HANG))
            assert hello["type"] == "hello", hello

            # Redis up: the notice arrives live.
            before = await publish(people.province_manager, **to_counties)
            live = await _next_notice(ws)
            assert live["notice"]["id"] == before.pk

            # Redis down: the notice is stored, its push fails.
            await asyncio.to_thread(chat_redis.kill)
            during = await publish(people.province_manager, **to_counties)

            # Redis back (empty, on the same port): the same socket gets it.
            await asyncio.to_thread(chat_redis.start)
            caught_up = await _next_notice(ws)
            assert caught_up["notice"]["id"] == during.pk
            assert caught_up["id"] > live["id"]

            # And it stays a working, live socket: the next notice comes once.
            after = await publish(people.province_manager, **to_counties)
            again = await _next_notice(ws)
            assert again["notice"]["id"] == after.pk
            await ws.send(json.dumps({"type": "ping"}))
            async with asyncio.timeout(HANG):
                while (frame := json.loads(await ws.recv()))["type"] != "pong":
                    assert frame["type"] != "notice.published", f"sent twice: {frame}"
            return ws.close_code

    try:
        code = asyncio.run(conversation())
    except (AssertionError, TimeoutError) as e:
        raise AssertionError(f"{e!r}\n--- daphne ---\n{processes.tail(daphne.log)}") from e
    assert code in (None, 1000)
