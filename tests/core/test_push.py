"""Pushes outside the server (a Celery task, a command): core.sockets.group_sends_soon
sends them on the calling thread's own loop, pipelined on the Redis pub/sub layer."""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from core import sockets


def test_a_push_outside_the_server_reaches_every_group_in_its_order():
    layer = get_channel_layer()
    sends = [
        ("push-a", {"type": "platform.event", "n": 1}),
        ("push-b", {"type": "platform.event", "n": 2}),
        ("push-a", {"type": "platform.event", "n": 3}),
    ]

    async def conversation():
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("push-a", a)
        await layer.group_add("push-b", b)
        # From a plain thread: no server loop there, so the thread's own push loop.
        await asyncio.to_thread(sockets.group_sends_soon, layer, sends)
        got_a = [(await asyncio.wait_for(layer.receive(a), 5))["n"] for _ in range(2)]
        got_b = [(await asyncio.wait_for(layer.receive(b), 5))["n"] for _ in range(1)]
        return got_a, got_b

    assert async_to_sync(conversation)() == ([1, 3], [2])
