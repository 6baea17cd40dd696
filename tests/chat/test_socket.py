"""Chat over the one socket, end to end through the ASGI stack and the Redis pub/sub
channel layer: chat.send, live chat.message frames by sequence number, mentions, sync
after a disconnect, read positions, presence, following rooms one joins or leaves,
errors that keep the socket open.

As in tests/core: each conversation runs in one event loop (`async_to_sync`), services
run in the test's thread through `sync_to_async`. "Does not receive" is shown without
waiting: a later frame the socket does receive comes first."""

import json
import time
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

from chat import handlers, selectors, services
from chat.models import Message, RoomMember
from tests.core.sockets import frames_until, headers_for, next_frame, open_socket, ping_pong

pytestmark = pytest.mark.django_db(transaction=True)

post = sync_to_async(services.message_post)
member_set = sync_to_async(services.member_set)
topic_room_create = sync_to_async(services.topic_room_create)
dm_open = sync_to_async(services.dm_open)
room_set_policy = sync_to_async(services.room_set_policy)
message_delete = sync_to_async(services.message_delete)


async def send(socket, frame):
    """As a browser's JSON.stringify does: CJK as UTF-8, not as \\u escapes."""
    await socket.send_to(text_data=json.dumps(frame, ensure_ascii=False))


async def reply_to(socket, frame, kind):
    """Send a frame and return the first answer of type `kind` (or an error frame),
    skipping the live chat.message frames of one's own posts."""
    await send(socket, frame)
    while True:
        answer = await next_frame(socket)
        if answer["type"] in (kind, "error"):
            return answer


@pytest.fixture
def frozen_rate_clock(monkeypatch):
    now = time.time()
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: now))


# --- membership over the socket ----------------------------------------------------------


def test_a_school_account_gets_not_a_member_for_the_province_room(people, rooms):
    school = headers_for(people.school_staff)
    province = rooms.province.pk

    async def conversation():
        socket, _ = await open_socket(school)
        await send(socket, {"type": "chat.send", "room": province, "body": "省里好"})
        refused = await next_frame(socket)
        await send(socket, {"type": "chat.sync", "rooms": {str(province): 0}})
        synced = [await next_frame(socket), await next_frame(socket)]
        await send(socket, {"type": "chat.read", "room": province, "seq": 0})
        read = await next_frame(socket)
        await socket.disconnect()
        return refused, synced, read

    refused, synced, read = async_to_sync(conversation)()
    assert refused == {"type": "error", "code": "not_a_member", "room": province}
    assert synced == [
        {"type": "error", "code": "not_a_member", "room": province},
        {"type": "chat.synced"},
    ]
    assert read == {"type": "error", "code": "not_a_member", "room": province}
    assert not Message.objects.exists()


def test_a_school_account_does_not_receive_the_province_rooms_messages(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        await post(account=people.county_staff, room=rooms.province, body="省级消息")
        await post(account=people.county_staff, room=rooms.county, body="县级消息")
        frame = await next_frame(socket)
        await socket.disconnect()
        return frame

    frame = async_to_sync(conversation)()
    assert (frame["room"], frame["html"]) == (rooms.county.pk, "县级消息")


# --- sending and receiving ------------------------------------------------------------


def test_chat_send_stores_the_message_then_pushes_it_to_the_rooms_members(people, rooms):
    school, county = headers_for(people.school_staff), headers_for(people.county_staff)

    async def conversation():
        sender, _ = await open_socket(school)
        listener, _ = await open_socket(county)
        await send(sender, {"type": "chat.send", "room": rooms.county.pk, "body": "<b>到校了</b>"})
        sent = await next_frame(sender)
        own = await next_frame(sender)
        heard = await next_frame(listener)
        stored = await sync_to_async(Message.objects.get)(room=rooms.county, seq=heard["seq"])
        await sender.disconnect()
        await listener.disconnect()
        return sent, own, heard, stored

    sent, own, heard, stored = async_to_sync(conversation)()
    assert sent == {
        "type": "chat.sent",
        "room": rooms.county.pk,
        "seq": 1,
        "message_id": stored.pk,
    }
    assert own == heard
    assert heard["type"] == "chat.message"
    assert heard["room"] == rooms.county.pk
    assert heard["seq"] == 1
    assert heard["message_id"] == stored.pk
    assert heard["author"] == "school-clerk"
    assert heard["html"] == "&lt;b&gt;到校了&lt;/b&gt;"
    assert heard["deleted"] is False


def test_a_message_rolled_back_is_never_pushed(people, rooms):
    county = headers_for(people.county_staff)

    class Abandon(Exception):
        pass

    def post_then_roll_back():
        with pytest.raises(Abandon), transaction.atomic():
            services.message_post(account=people.school_staff, room=rooms.county, body="撤销")
            raise Abandon

    async def conversation():
        socket, _ = await open_socket(county)
        await sync_to_async(post_then_roll_back)()
        await post(account=people.school_staff, room=rooms.county, body="保留")
        frame = await next_frame(socket)
        await socket.disconnect()
        return frame

    frame = async_to_sync(conversation)()
    assert (frame["seq"], frame["html"]) == (1, "保留")
    assert list(Message.objects.values_list("seq", "body")) == [(1, "保留")]


def test_frames_reach_a_socket_in_sequence_order(people, rooms):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(county)
        for n in range(1, 11):
            author = people.school_staff if n % 2 else people.school_manager
            await post(account=author, room=rooms.county, body=f"第{n}条")
        frames = [await next_frame(socket) for _ in range(10)]
        await socket.disconnect()
        return frames

    frames = async_to_sync(conversation)()
    assert [f["seq"] for f in frames] == list(range(1, 11))
    assert [f["html"] for f in frames] == [f"第{n}条" for n in range(1, 11)]


def test_a_removal_by_a_manager_is_pushed_as_a_deleted_message(people, rooms):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(county)
        message = await post(account=people.school_staff, room=rooms.county, body="不当言论")
        first = await next_frame(socket)
        await message_delete(account=people.county_manager, message=message)
        second = await next_frame(socket)
        await socket.disconnect()
        return first, second

    first, second = async_to_sync(conversation)()
    assert (first["seq"], first["deleted"]) == (1, False)
    assert (second["seq"], second["deleted"], second["html"]) == (1, True, "")


def test_a_mention_reaches_the_mentioned_member_and_not_a_non_member(people, rooms):
    school, sibling = headers_for(people.school_staff), headers_for(people.sibling_staff)

    async def conversation():
        school_socket, _ = await open_socket(school)
        sibling_socket, _ = await open_socket(sibling)
        await post(
            account=people.county_staff,
            room=rooms.county,
            body="@school-clerk @sibling-clerk 请核对",
        )
        school_frames = [await next_frame(school_socket), await next_frame(school_socket)]
        await post(account=people.county_staff, room=rooms.prefecture, body="市里通知")
        sibling_frame = await next_frame(sibling_socket)
        await school_socket.disconnect()
        await sibling_socket.disconnect()
        return school_frames, sibling_frame

    school_frames, sibling_frame = async_to_sync(conversation)()
    by_type = {f["type"]: f for f in school_frames}
    assert set(by_type) == {"chat.message", "chat.mention"}
    mention = by_type["chat.mention"]
    assert mention["room"] == {"id": rooms.county.pk, "name": "长安区"}
    assert mention["seq"] == 1
    assert mention["by"] == people.county_staff.full_name
    assert (sibling_frame["type"], sibling_frame["room"]) == ("chat.message", rooms.prefecture.pk)


# --- refusals that keep the socket open ---------------------------------------------------


def test_a_muted_member_gets_forbidden_on_chat_send(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        await member_set(
            actor=people.county_manager, room=rooms.county, account=people.school_staff, muted=True
        )
        await send(socket, {"type": "chat.send", "room": rooms.county.pk, "body": "能说话吗"})
        refused = await next_frame(socket)
        await ping_pong(socket)
        await socket.disconnect()
        return refused

    refused = async_to_sync(conversation)()
    assert refused["type"] == "error"
    assert refused["code"] == "forbidden"
    assert refused["room"] == rooms.county.pk
    assert refused["detail"]
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "body", ["", "   ", "学" * 4001, 123, None, ["你好"], "半个\ud800字", "空\x00字"]
)
def test_an_invalid_body_gets_an_invalid_error_with_a_reason(people, rooms, body):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(county)
        await send(socket, {"type": "chat.send", "room": rooms.county.pk, "body": body})
        refused = await next_frame(socket)
        await ping_pong(socket)
        await socket.disconnect()
        return refused

    refused = async_to_sync(conversation)()
    assert refused["type"] == "error"
    assert refused["code"] == "invalid"
    assert refused["room"] == rooms.county.pk
    assert refused["detail"]
    assert not Message.objects.exists()


def test_a_message_of_the_longest_length_fits_in_a_frame(people, rooms):
    county = headers_for(people.county_staff)
    body = "学" * services.MAX_MESSAGE

    async def conversation():
        socket, _ = await open_socket(county)
        sent = await reply_to(
            socket, {"type": "chat.send", "room": rooms.county.pk, "body": body}, "chat.sent"
        )
        await socket.disconnect()
        return sent

    assert async_to_sync(conversation)()["type"] == "chat.sent"
    assert Message.objects.get().body == body


def test_the_message_over_the_rate_limit_gets_rate_limited_and_the_socket_stays_open(
    people, rooms, monkeypatch, frozen_rate_clock
):
    monkeypatch.setattr(services, "RATE_LIMIT", 2)
    county = headers_for(people.county_staff)
    frame = {"type": "chat.send", "room": rooms.county.pk, "body": "催报"}

    async def conversation():
        socket, _ = await open_socket(county)
        for _ in range(3):
            await send(socket, frame)
        answers, messages = [], []
        # Three answers, and the live chat.message frames of the two stored posts,
        # which may come before or after the answers.
        while len(answers) < 3 or len(messages) < 2:
            got = await next_frame(socket)
            (messages if got["type"] == "chat.message" else answers).append(got)
        await ping_pong(socket)
        # The socket still serves what the limit does not cover.
        await send(socket, {"type": "chat.read", "room": rooms.county.pk, "seq": 1})
        await ping_pong(socket)
        await socket.disconnect()
        return answers, messages

    (first, second, third), messages = async_to_sync(conversation)()
    assert [m["seq"] for m in messages] == [1, 2]
    assert (first["type"], first["seq"]) == ("chat.sent", 1)
    assert (second["type"], second["seq"]) == ("chat.sent", 2)
    assert third["type"] == "error"
    assert third["code"] == "rate_limited"
    assert third["room"] == rooms.county.pk
    assert services.RATE_WINDOW >= third["retry_after"] >= 1
    assert Message.objects.count() == 2


def test_malformed_frames_get_errors_and_the_socket_stays_open(people, rooms):
    county = headers_for(people.county_staff)
    room = rooms.county.pk
    bad = [
        ({"type": "chat.send", "room": str(room), "body": "房间号是字符串"}, "malformed"),
        ({"type": "chat.send", "room": True, "body": "布尔"}, "malformed"),
        ({"type": "chat.send", "body": "没有房间"}, "malformed"),
        ({"type": "chat.sync", "rooms": [room]}, "malformed"),
        ({"type": "chat.sync", "rooms": "all"}, "malformed"),
        ({"type": "chat.read", "room": room, "seq": "9"}, "malformed"),
        ({"type": "chat.delete_everything"}, "unknown_type"),
        ({"type": ["chat.send"]}, "unknown_type"),
        ({"room": room}, "unknown_type"),
    ]

    async def conversation():
        socket, _ = await open_socket(county)
        answers = []
        for frame, _code in bad:
            await send(socket, frame)
            answers.append(await next_frame(socket))
        await socket.send_to(text_data='{"type": "chat.send", "body": "' + "长" * 6000 + '"}')
        answers.append(await next_frame(socket))
        await ping_pong(socket)
        await socket.disconnect()
        return answers

    answers = async_to_sync(conversation)()
    assert [(a["type"], a["code"]) for a in answers] == [
        *(("error", code) for _frame, code in bad),
        ("error", "frame_too_large_or_binary"),
    ]
    assert not Message.objects.exists()


def test_a_sync_with_a_malformed_entry_answers_the_others(people, rooms):
    county = headers_for(people.county_staff)

    async def conversation():
        await post(account=people.school_staff, room=rooms.county, body="一")
        socket, _ = await open_socket(county)
        await send(
            socket, {"type": "chat.sync", "rooms": {"abc": 0, str(rooms.county.pk): 0, "1": -1}}
        )
        frames, synced = await frames_until(socket, "chat.synced")
        await socket.disconnect()
        return frames

    frames = async_to_sync(conversation)()
    assert [(f["type"], f.get("code"), f.get("seq")) for f in frames] == [
        ("error", "malformed", None),
        ("chat.message", None, 1),
        ("error", "malformed", None),
    ]


# --- sync after a disconnect ----------------------------------------------------------------


def test_messages_posted_while_disconnected_arrive_once_in_order_on_sync(people, rooms):
    county = headers_for(people.county_staff)

    async def conversation():
        socket, _ = await open_socket(county)
        await post(account=people.school_staff, room=rooms.county, body="一")
        last_seq = (await next_frame(socket))["seq"]
        await socket.disconnect()
        for body in ("二", "三", "四"):
            await post(account=people.school_staff, room=rooms.county, body=body)
        socket, _ = await open_socket(county)
        await send(socket, {"type": "chat.sync", "rooms": {str(rooms.county.pk): last_seq}})
        missed, synced = await frames_until(socket, "chat.synced")
        await ping_pong(socket)  # nothing more: no duplicate arrives after chat.synced
        await post(account=people.school_staff, room=rooms.county, body="五")
        live = await next_frame(socket)
        await socket.disconnect()
        return last_seq, missed, live

    last_seq, missed, live = async_to_sync(conversation)()
    assert last_seq == 1
    assert [(f["type"], f["seq"], f["html"]) for f in missed] == [
        ("chat.message", 2, "二"),
        ("chat.message", 3, "三"),
        ("chat.message", 4, "四"),
    ]
    assert (live["seq"], live["html"]) == (5, "五")


def test_a_sync_beyond_the_limit_asks_the_client_to_resync(people, rooms, monkeypatch):
    monkeypatch.setattr(handlers, "SYNC_LIMIT", 3)
    county = headers_for(people.county_staff)

    async def conversation():
        for n in range(5):
            await post(account=people.school_staff, room=rooms.county, body=f"第{n}条")
        socket, _ = await open_socket(county)
        await send(socket, {"type": "chat.sync", "rooms": {str(rooms.county.pk): 0}})
        far_behind, _ = await frames_until(socket, "chat.synced")
        await send(socket, {"type": "chat.sync", "rooms": {str(rooms.county.pk): 2}})
        at_the_limit, _ = await frames_until(socket, "chat.synced")
        await socket.disconnect()
        return far_behind, at_the_limit

    far_behind, at_the_limit = async_to_sync(conversation)()
    assert far_behind == [{"type": "chat.resync", "room": rooms.county.pk, "last_seq": 5}]
    assert [f["seq"] for f in at_the_limit] == [3, 4, 5]


# --- read positions and presence ---------------------------------------------------------


def test_chat_read_moves_the_read_position(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        for body in ("一", "二", "三"):
            await post(account=people.county_staff, room=rooms.county, body=body)
        socket, _ = await open_socket(school)
        await send(socket, {"type": "chat.read", "room": rooms.county.pk, "seq": 2})
        await send(socket, {"type": "chat.read", "room": rooms.county.pk, "seq": 1})
        await ping_pong(socket)  # both frames handled, neither answered
        await socket.disconnect()

    async_to_sync(conversation)()
    assert RoomMember.objects.get(room=rooms.county, account=people.school_staff).last_read_seq == 2
    assert selectors.unread_total(people.school_staff) == 1


def test_presence_frames_set_online_and_away(people, rooms):
    school = headers_for(people.school_staff)
    ids = [people.school_staff.pk]

    async def conversation():
        socket, _ = await open_socket(school)
        await send(socket, {"type": "presence", "state": "online"})
        await ping_pong(socket)
        online = await sync_to_async(services.presence_of)(ids)
        await send(socket, {"type": "presence", "state": "away"})
        await ping_pong(socket)
        away = await sync_to_async(services.presence_of)(ids)
        await socket.disconnect()
        return online, away

    online, away = async_to_sync(conversation)()
    assert online == {people.school_staff.pk: "online"}
    assert away == {people.school_staff.pk: "away"}


# --- following rooms one joins or leaves while connected --------------------------------------


def test_a_removed_member_stops_receiving_the_rooms_messages(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        room = await topic_room_create(
            actor=people.county_manager,
            name="学籍核查",
            rules=[("130102", ["school"])],
            usernames=[],
        )
        socket, _ = await open_socket(school)
        await post(account=people.county_manager, room=room, body="移除前")
        before = await next_frame(socket)
        await member_set(
            actor=people.county_manager, room=room, account=people.school_staff, removed=True
        )
        removed = await next_frame(socket)
        await post(account=people.county_manager, room=room, body="移除后")
        await post(account=people.county_staff, room=rooms.county, body="县里的消息")
        after = await next_frame(socket)
        await send(socket, {"type": "chat.send", "room": room.pk, "body": "我还在吗"})
        refused = await next_frame(socket)
        await socket.disconnect()
        return room, before, removed, after, refused

    room, before, removed, after, refused = async_to_sync(conversation)()
    assert (before["room"], before["html"]) == (room.pk, "移除前")
    assert removed["type"] == "chat.room_removed"
    assert removed["room"] == {"id": room.pk}
    assert (after["room"], after["html"]) == (rooms.county.pk, "县里的消息")
    assert refused == {"type": "error", "code": "not_a_member", "room": room.pk}


def test_a_new_topic_room_is_followed_without_reconnecting(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        room = await topic_room_create(
            actor=people.county_manager, name="新学期", rules=[("130102", ["school"])], usernames=[]
        )
        added = await next_frame(socket)
        await post(account=people.county_manager, room=room, body="欢迎")
        message = await next_frame(socket)
        await socket.disconnect()
        return room, added, message

    room, added, message = async_to_sync(conversation)()
    assert added["type"] == "chat.room_added"
    assert added["room"] == {"id": room.pk, "name": "新学期"}
    assert (message["room"], message["html"]) == (room.pk, "欢迎")


def test_both_sides_of_a_new_dm_receive_its_messages(people, rooms):
    school, county = headers_for(people.school_staff), headers_for(people.county_staff)

    async def conversation():
        school_socket, _ = await open_socket(school)
        county_socket, _ = await open_socket(county)
        room = await dm_open(actor=people.county_staff, other=people.school_staff)
        added = [await next_frame(school_socket), await next_frame(county_socket)]
        await post(account=people.county_staff, room=room, body="私信")
        heard = [await next_frame(school_socket), await next_frame(county_socket)]
        await school_socket.disconnect()
        await county_socket.disconnect()
        return room, added, heard

    room, added, heard = async_to_sync(conversation)()
    assert [(f["type"], f["room"]["id"]) for f in added] == [("chat.room_added", room.pk)] * 2
    assert [(f["room"], f["html"]) for f in heard] == [(room.pk, "私信")] * 2


def test_a_school_dropped_by_a_policy_change_stops_receiving_the_room(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        await room_set_policy(actor=people.county_manager, room=rooms.county, levels=["county"])
        removed = await next_frame(socket)
        await post(account=people.county_staff, room=rooms.county, body="县级内部")
        room = await dm_open(actor=people.county_staff, other=people.school_staff)
        after = [await next_frame(socket)]  # the county message would have come first
        await post(account=people.county_staff, room=room, body="私信")
        after.append(await next_frame(socket))
        await room_set_policy(
            actor=people.county_manager, room=rooms.county, levels=["county", "school"]
        )
        added = await next_frame(socket)
        await post(account=people.county_staff, room=rooms.county, body="学校回来了")
        back = await next_frame(socket)
        await socket.disconnect()
        return room, removed, after, added, back

    room, removed, after, added, back = async_to_sync(conversation)()
    assert (removed["type"], removed["room"]["id"]) == ("chat.room_removed", rooms.county.pk)
    assert [f["type"] for f in after] == ["chat.room_added", "chat.message"]
    assert (after[1]["room"], after[1]["html"]) == (room.pk, "私信")
    assert (added["type"], added["room"]["id"]) == ("chat.room_added", rooms.county.pk)
    assert (back["room"], back["html"]) == (rooms.county.pk, "学校回来了")
