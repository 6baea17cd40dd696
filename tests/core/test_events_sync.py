"""The client's periodic check, `events.sync`: the events after the client's last id
that this socket has not sent, then `events.synced`; answered at most once per
SYNC_MIN_INTERVAL per socket. (The catch-up after a Redis outage, with no client
frame at all: tests/chat_resilience/test_event_catch_up.py.)"""

import pytest
from asgiref.sync import async_to_sync

from core.consumers import SYNC_MIN_INTERVAL
from tests.core.sockets import frames_until, headers_for, next_frame, open_socket, publish

pytestmark = pytest.mark.django_db(transaction=True)

TO_COUNTIES = {"to": ["130000"], "levels": ["county"]}


def test_events_sync_sends_what_the_client_lacks_and_not_what_the_socket_sent(people):
    county = headers_for(people.county_staff)

    async def conversation():
        missed = await publish(people.province_manager, title="连接前的通知", **TO_COUNTIES)
        socket, hello = await open_socket(county)
        live = await publish(people.province_manager, title="在线收到的通知", **TO_COUNTIES)
        live_frame = await next_frame(socket)
        # The client holds nothing after the id before `missed` (say its tab lost it).
        await socket.send_json_to({"type": "events.sync", "after": hello["latest_id"] - 1})
        replayed, synced = await frames_until(socket, "events.synced")
        await socket.disconnect()
        return missed, live, live_frame, hello, replayed, synced

    missed, live, live_frame, hello, replayed, synced = async_to_sync(conversation)()
    assert live_frame["notice"]["id"] == live.pk
    assert [f["notice"]["id"] for f in replayed] == [missed.pk]
    assert synced == {"type": "events.synced", "after": hello["latest_id"] - 1, "count": 1}


def test_an_up_to_date_client_gets_an_empty_answer(people):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, hello = await open_socket(county)
        await publish(people.province_manager, **TO_COUNTIES)
        frame = await next_frame(socket)
        await socket.send_json_to({"type": "events.sync", "after": frame["id"]})
        answer = await next_frame(socket)
        await socket.disconnect()
        return frame, answer

    frame, answer = async_to_sync(conversation)()
    assert answer == {"type": "events.synced", "after": frame["id"], "count": 0}


def test_events_sync_is_rate_limited_per_socket_and_checks_its_input(people):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, hello = await open_socket(county)
        answers = []
        for after in ("12", -1, True, None):
            await socket.send_json_to({"type": "events.sync", "after": after})
            answers.append(await next_frame(socket))
        await socket.send_json_to({"type": "events.sync", "after": hello["latest_id"]})
        answers.append(await next_frame(socket))
        await socket.send_json_to({"type": "events.sync", "after": hello["latest_id"]})
        answers.append(await next_frame(socket))
        await socket.disconnect()
        return answers

    answers = async_to_sync(conversation)()
    assert [a["code"] for a in answers[:4]] == ["malformed"] * 4
    assert answers[4]["type"] == "events.synced"
    assert answers[5]["type"] == "error"
    assert answers[5]["code"] == "rate_limited"
    assert 0 < answers[5]["retry_after"] <= SYNC_MIN_INTERVAL
