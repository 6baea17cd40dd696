"""The one socket per tab, end to end over the Redis pub/sub channel layer: live delivery
by audience, resuming from the last id, reminders filtered per person, resync, malformed
frames, and publishing while Redis is down.

Each test runs its conversation in one event loop (`async_to_sync`); services run in the
test's thread through `sync_to_async`, so their after-commit pushes are real group sends.
"Does not receive" is shown without waiting: a later frame the socket does receive comes
first, and frames reach a socket in the order they were published."""

import copy
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from core import events
from core.models import Event
from notices import services
from tests.core.sockets import (
    frames_until,
    headers_for,
    next_frame,
    open_socket,
    ping_pong,
    publish,
)
from tests.notices.helpers import send

pytestmark = pytest.mark.django_db(transaction=True)

remind = sync_to_async(services.notice_remind)
mark_read = sync_to_async(services.notice_mark_read)


# --- (a) delivery by audience ---------------------------------------------------------


def test_a_county_account_receives_a_notice_to_its_provinces_counties(people):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(county)
        notice = await publish(
            people.province_manager, to=["130000"], levels=["county"], title="县级学籍通知"
        )
        frame = await next_frame(socket)
        await socket.disconnect()
        return notice, frame

    notice, frame = async_to_sync(conversation)()
    assert frame["type"] == "notice.published"
    assert frame["notice"]["id"] == notice.pk
    assert frame["notice"]["title"] == "县级学籍通知"
    assert frame["notice"]["url"] == f"/notices/{notice.pk}/"
    assert frame["id"] == Event.objects.get(kind="notice.published").seq


def test_a_school_account_does_not_receive_a_notice_to_counties_only(people):
    county, school = headers_for(people.county_staff), headers_for(people.school_staff)

    async def conversation():
        county_socket, _ = await open_socket(county)
        school_socket, _ = await open_socket(school)
        to_counties = await publish(people.province_manager, to=["130000"], levels=["county"])
        assert (await next_frame(county_socket))["notice"]["id"] == to_counties.pk
        to_schools = await publish(people.province_manager, to=["130000"], levels=["school"])
        assert (await next_frame(school_socket))["notice"]["id"] == to_schools.pk
        await county_socket.disconnect()
        await school_socket.disconnect()

    async_to_sync(conversation)()


def test_another_provinces_account_does_not_receive_the_notice(people):
    hebei, beijing = headers_for(people.county_staff), headers_for(people.beijing_county_staff)

    async def conversation():
        hebei_socket, _ = await open_socket(hebei)
        beijing_socket, _ = await open_socket(beijing)
        await publish(people.province_manager, to=["130000"], levels=["county"])
        await next_frame(hebei_socket)
        theirs = await publish(people.beijing_manager, to=["110000"], levels=["county"])
        assert (await next_frame(beijing_socket))["notice"]["id"] == theirs.pk
        await hebei_socket.disconnect()
        await beijing_socket.disconnect()

    async_to_sync(conversation)()


def test_a_managers_only_notice_reaches_managers_sockets_only(people):
    manager, staff = headers_for(people.county_manager), headers_for(people.county_staff)

    async def conversation():
        manager_socket, _ = await open_socket(manager)
        staff_socket, _ = await open_socket(staff)
        secret = await publish(
            people.province_manager, to=["130000"], levels=["county"], managers_only=True
        )
        assert (await next_frame(manager_socket))["notice"]["id"] == secret.pk
        everyone = await publish(people.province_manager, to=["130000"], levels=["county"])
        assert (await next_frame(staff_socket))["notice"]["id"] == everyone.pk
        assert (await next_frame(manager_socket))["notice"]["id"] == everyone.pk
        await manager_socket.disconnect()
        await staff_socket.disconnect()

    async_to_sync(conversation)()


def test_the_author_hears_of_its_own_notice(people):
    author = headers_for(people.province_manager)

    async def conversation():
        socket, _ = await open_socket(author)
        notice = await publish(people.province_manager, to=["130000"], levels=["county"])
        assert (await next_frame(socket))["notice"]["id"] == notice.pk
        await socket.disconnect()

    async_to_sync(conversation)()


# --- (b) reconnect and resume -----------------------------------------------------------


def test_a_client_resumes_with_exactly_the_frames_it_missed(people):
    county = headers_for(people.county_staff)
    boss = people.province_manager

    async def conversation():
        socket, _ = await open_socket(county)
        await publish(boss, to=["130000"], levels=["county"], title="离线前")
        last = (await next_frame(socket))["id"]
        await socket.disconnect()

        missed = []
        for i in range(3):
            missed.append(await publish(boss, to=["130000"], levels=["county"], title=f"第{i}份"))
            await publish(boss, to=["130000"], levels=["school"], title="不是给区县的")

        socket, hello = await open_socket(county, query=f"last_event_id={last}")
        replayed, resumed = await frames_until(socket, "resumed")
        ids = [f["id"] for f in replayed]
        assert len(ids) == len(set(ids)), ids
        new = [f for f in replayed if f["id"] > last]
        assert [f["notice"]["id"] for f in new] == [n.pk for n in missed]
        assert [f["id"] for f in new] == sorted(f["id"] for f in new)
        assert hello["latest_id"] > new[-1]["id"]  # the school-only notices came after
        # The replay starts a little before `last` (REPLAY_OVERLAP): all it adds is the
        # frame this client already had, which its page drops by id.
        assert [f["id"] for f in replayed if f["id"] <= last] == [last]
        assert (resumed["after"], resumed["count"]) == (last, len(replayed))

        further = await publish(boss, to=["130000"], levels=["county"], title="重连后")
        assert (await next_frame(socket))["notice"]["id"] == further.pk
        sentinel = await publish(boss, to=["130000"], levels=["county"], title="再一份")
        assert (await next_frame(socket))["notice"]["id"] == sentinel.pk
        await socket.disconnect()

    async_to_sync(conversation)()


def test_a_client_that_missed_nothing_resumes_with_no_new_frames(people):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, hello = await open_socket(county)
        await socket.disconnect()
        socket, _ = await open_socket(county, query=f"last_event_id={hello['latest_id']}")
        replayed, resumed = await frames_until(socket, "resumed")
        assert replayed == [] and resumed["count"] == 0
        await socket.disconnect()

    async_to_sync(conversation)()


def test_a_frame_published_while_connecting_is_sent_once(people, monkeypatch):
    """Published after the socket joined its groups but before the replay reads: it is in
    the replay and also arrives live; the live copy is dropped."""
    county = headers_for(people.county_staff)
    boss = people.province_manager
    real_replay = events.replay
    during = []

    def replay_after_a_publish(account, after_id):
        during.append(send(boss, to=["130000"], levels=["county"], title="连接时发布"))
        return real_replay(account, after_id)

    async def conversation():
        socket, hello = await open_socket(county)
        await socket.disconnect()
        monkeypatch.setattr(events, "replay", replay_after_a_publish)
        socket, _ = await open_socket(county, query=f"last_event_id={hello['latest_id']}")
        replayed, _ = await frames_until(socket, "resumed")
        assert [f["notice"]["id"] for f in replayed] == [during[0].pk]
        sentinel = await publish(boss, to=["130000"], levels=["county"], title="之后")
        assert (await next_frame(socket))["notice"]["id"] == sentinel.pk
        await socket.disconnect()

    async_to_sync(conversation)()


# --- (c) reminders --------------------------------------------------------------------


def test_a_reminder_reaches_a_connected_recipient_who_has_not_read_it(people):
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    services.notice_mark_read(account=people.county_staff, notice=notice)
    reader, idler = headers_for(people.county_staff), headers_for(people.sibling_staff)

    async def conversation():
        reader_socket, _ = await open_socket(reader)
        idler_socket, _ = await open_socket(idler)
        await remind(actor=people.province_manager, notice=notice, mode="unread")
        frame = await next_frame(idler_socket)
        assert frame["type"] == "notice.reminder"
        assert (frame["notice"]["id"], frame["mode"]) == (notice.pk, "unread")

        sentinel = await publish(people.province_manager, to=["130000"], levels=["county"])
        assert (await next_frame(reader_socket))["notice"]["id"] == sentinel.pk
        assert (await next_frame(idler_socket))["notice"]["id"] == sentinel.pk
        await reader_socket.disconnect()
        await idler_socket.disconnect()

    async_to_sync(conversation)()


def test_a_reminder_of_acknowledgements_skips_those_who_acknowledged(people):
    notice = send(people.province_manager, to=["130000"], levels=["county"], requires_ack=True)
    services.notice_acknowledge(account=people.county_staff, notice=notice)
    services.notice_mark_read(account=people.sibling_staff, notice=notice)
    acked, read_only = headers_for(people.county_staff), headers_for(people.sibling_staff)

    async def conversation():
        acked_socket, _ = await open_socket(acked)
        read_socket, _ = await open_socket(read_only)
        await remind(actor=people.province_manager, notice=notice, mode="unacked")
        frame = await next_frame(read_socket)
        assert (frame["type"], frame["mode"]) == ("notice.reminder", "unacked")
        sentinel = await publish(people.province_manager, to=["130000"], levels=["county"])
        assert (await next_frame(acked_socket))["notice"]["id"] == sentinel.pk
        await acked_socket.disconnect()
        await read_socket.disconnect()

    async_to_sync(conversation)()


def test_a_reader_who_opens_the_notice_while_connected_gets_no_reminder(people):
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    reader = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(reader)
        await mark_read(account=people.county_staff, notice=notice)
        await remind(actor=people.province_manager, notice=notice, mode="unread")
        sentinel = await publish(people.province_manager, to=["130000"], levels=["county"])
        assert (await next_frame(socket))["notice"]["id"] == sentinel.pk
        await socket.disconnect()

    async_to_sync(conversation)()


def test_the_author_hears_of_an_acknowledgement(people):
    notice = send(people.province_manager, to=["130000"], levels=["county"], requires_ack=True)
    author = headers_for(people.province_manager)
    acknowledge = sync_to_async(services.notice_acknowledge)

    async def conversation():
        socket, _ = await open_socket(author)
        await acknowledge(account=people.county_staff, notice=notice, reply="已完成")
        frame = await next_frame(socket)
        assert (frame["type"], frame["notice"]["id"]) == ("notice.acknowledged", notice.pk)
        assert frame["unit"] == "长安区"
        await socket.disconnect()

    async_to_sync(conversation)()


# --- (d) resync -------------------------------------------------------------------------


def test_a_client_away_for_more_than_the_replay_limit_is_told_to_resync(people, monkeypatch):
    monkeypatch.setattr(events, "REPLAY_LIMIT", 2)
    county = headers_for(people.county_staff)

    async def conversation():
        socket, hello = await open_socket(county)
        await socket.disconnect()
        for _ in range(3):
            await publish(people.province_manager, to=["130000"], levels=["county"])
        socket, hello_again = await open_socket(county, query=f"last_event_id={hello['latest_id']}")
        frame = await next_frame(socket)
        assert frame == {"type": "resync", "latest_id": hello_again["latest_id"]}
        await ping_pong(socket)
        await socket.disconnect()

    async_to_sync(conversation)()


def test_a_client_away_for_exactly_the_replay_limit_still_resumes(people, monkeypatch):
    monkeypatch.setattr(events, "REPLAY_LIMIT", 2)
    county = headers_for(people.county_staff)

    async def conversation():
        socket, hello = await open_socket(county)
        await socket.disconnect()
        missed = [
            await publish(people.province_manager, to=["130000"], levels=["county"])
            for _ in range(2)
        ]
        socket, _ = await open_socket(county, query=f"last_event_id={hello['latest_id']}")
        replayed, _ = await frames_until(socket, "resumed")
        assert [f["notice"]["id"] for f in replayed] == [n.pk for n in missed]
        await socket.disconnect()

    async_to_sync(conversation)()


# --- (e) malformed frames ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ({"text": "not json"}, "malformed"),
        ({"text": "[1, 2]"}, "malformed"),
        ({"text": '"ping"'}, "malformed"),
        ({"text": "null"}, "malformed"),
        ({"text": ""}, "malformed"),
        ({"text": "[" * 8000 + "]" * 8000}, "malformed"),
        ({"text": '{"type": "dance"}'}, "unknown_type"),
        ({"text": "{}"}, "unknown_type"),
        ({"bytes": b"\x00\x01"}, "frame_too_large_or_binary"),
        ({"text": '{"type": "ping", "x": "' + "a" * 20_000 + '"}'}, "frame_too_large_or_binary"),
        # 6,000 characters, 18,000 bytes: the limit is 16 KiB on the wire (docs/websocket.md).
        ({"text": '{"type": "ping", "x": "' + "学" * 6_000 + '"}'}, "frame_too_large_or_binary"),
    ],
    ids=[
        "not-json",
        "list",
        "string",
        "null",
        "empty",
        "deeply-nested",
        "unknown-type",
        "no-type",
        "binary",
        "too-large",
        "too-large-in-utf8",
    ],
)
def test_a_malformed_frame_gets_an_error_and_the_socket_stays_open(people, sent, code):
    headers = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(headers)
        await socket.send_input({"type": "websocket.receive", **sent})
        frame = await next_frame(socket)
        assert (frame["type"], frame["code"]) == ("error", code)
        await ping_pong(socket)
        await socket.disconnect()

    async_to_sync(conversation)()


@pytest.mark.parametrize(
    "query",
    ["last_event_id=abc", "last_event_id=-5", "last_event_id=%C2%B2", "last_event_id=" + "9" * 30],
    ids=["letters", "negative", "superscript-two", "too-long"],
)
def test_a_malformed_last_event_id_is_ignored(people, query):
    headers = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(headers, query=query)
        await ping_pong(socket)  # no resumed or resync came first
        await socket.disconnect()

    async_to_sync(conversation)()


# --- (f) Redis down ----------------------------------------------------------------------


@pytest.fixture
def redis_outage(settings):
    """Points the channel layer at a port nobody listens on; call the result to end it."""
    healthy = settings.CHANNEL_LAYERS
    down = copy.deepcopy(healthy)
    down["default"]["CONFIG"]["hosts"] = [{"address": "redis://127.0.0.1:1"}]
    settings.CHANNEL_LAYERS = down

    def end():
        settings.CHANNEL_LAYERS = healthy

    return end


def test_publishing_while_redis_is_down_still_stores_the_event(people, redis_outage, caplog):
    with caplog.at_level(logging.WARNING, logger="core.events"):
        notice = send(people.province_manager, to=["130000"], levels=["county"])
    event = Event.objects.get(kind="notice.published")
    assert event.payload["notice"]["id"] == notice.pk
    assert f"could not push event {event.seq}" in caplog.text
    frames = events.replay(people.county_staff, 0)
    assert [(f["type"], f["id"]) for f in frames] == [("notice.published", event.seq)]


def test_an_event_published_while_redis_is_down_is_replayed_on_reconnect(people, redis_outage):
    before = events.latest_id()
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    redis_outage()
    county = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(county, query=f"last_event_id={before}")
        replayed, _ = await frames_until(socket, "resumed")
        await socket.disconnect()
        return replayed

    replayed = async_to_sync(conversation)()
    assert [f["notice"]["id"] for f in replayed] == [notice.pk]


def test_disabling_an_account_closes_its_open_socket_with_4401(tree):
    from accounts import services as accounts
    from tests import factories

    manager = factories.manager(tree.prefecture)
    clerk = factories.staff(tree.county)
    headers = headers_for(clerk)

    async def scenario():
        socket, _ = await open_socket(headers)
        await sync_to_async(accounts.account_set_active)(actor=manager, account=clerk, active=False)
        return await socket.receive_output(timeout=5)

    message = async_to_sync(scenario)()
    assert (message["type"], message.get("code")) == ("websocket.close", 4401)
