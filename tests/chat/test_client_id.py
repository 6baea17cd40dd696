"""A post's client id (issue 12, "nothing lost in between"): a browser that got no
`chat.sent` resends its post with the same id, and the server stores it once per author
— a resend, or two sends racing, answer with the same seq and message id, store nothing
more, push nothing again and burn no sequence number. A bad id is refused with a reason;
a post without one behaves as before."""

import threading
import time
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext

from chat import services
from chat.models import Message
from core.models import Event
from tests.core.sockets import headers_for, next_frame, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "5b0d9c1e-4f7a-4d2b-9a51-3c2e8f1d7a60"

# What the platform says of a bad client id, in the language it speaks (Chinese).
BAD_ID = gettext("The client id must be 1 to 64 printable ASCII characters without spaces.")


def post(account, room, body, client_id=None):
    return services.message_post(account=account, room=room, body=body, client_id=client_id)


@pytest.fixture
def frozen_rate_clock(monkeypatch):
    now = time.time()
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: now))


# --- the service -----------------------------------------------------------------------


def test_a_resend_of_a_stored_client_id_returns_the_stored_message(people, rooms):
    first = post(people.school_staff, rooms.county, "到校了", CLIENT_ID)
    again = post(people.school_staff, rooms.county, "到校了", CLIENT_ID)
    assert (again.pk, again.seq) == (first.pk, first.seq) == (first.pk, 1)
    assert Message.objects.count() == 1
    rooms.county.refresh_from_db()
    assert rooms.county.last_seq == 1  # no sequence number burnt
    assert post(people.school_staff, rooms.county, "下一条", "another-id").seq == 2


def test_a_resend_publishes_its_mentions_once(people, rooms):
    body = f"@{people.county_staff.username} 请看"
    post(people.school_staff, rooms.county, body, CLIENT_ID)
    post(people.school_staff, rooms.county, body, CLIENT_ID)
    assert Event.objects.filter(kind="chat.mention").count() == 1


def test_posts_without_a_client_id_are_each_stored_as_before(people, rooms):
    post(people.school_staff, rooms.county, "同一句话")
    post(people.school_staff, rooms.county, "同一句话")
    assert list(Message.objects.values_list("seq", "client_id")) == [(1, None), (2, None)]


def test_the_same_client_id_from_another_author_is_another_post(people, rooms):
    mine = post(people.school_staff, rooms.county, "一", CLIENT_ID)
    theirs = post(people.county_staff, rooms.county, "二", CLIENT_ID)
    assert (mine.seq, theirs.seq) == (1, 2)


def test_a_client_id_already_used_in_another_room_is_refused(people, rooms):
    post(people.county_staff, rooms.county, "县里", CLIENT_ID)
    with pytest.raises(ValidationError, match="另一个群"):
        post(people.county_staff, rooms.prefecture, "市里", CLIENT_ID)
    assert Message.objects.count() == 1


@pytest.mark.parametrize("client_id", ["", "a b", "x" * 65, "编号", "tab\tid", 12, ["x"]])
def test_a_bad_client_id_is_refused_with_a_reason(people, rooms, client_id):
    with pytest.raises(ValidationError, match=BAD_ID):
        post(people.school_staff, rooms.county, "到校了", client_id)
    assert not Message.objects.exists()


def test_a_resend_is_answered_even_past_the_rate_limit(
    people, rooms, monkeypatch, frozen_rate_clock
):
    monkeypatch.setattr(services, "RATE_LIMIT", 1)
    first = post(people.school_staff, rooms.county, "一", CLIENT_ID)
    assert post(people.school_staff, rooms.county, "一", CLIENT_ID).pk == first.pk
    with pytest.raises(services.RateLimited):
        post(people.school_staff, rooms.county, "二", "second-id")


def test_the_database_refuses_a_second_copy_of_a_client_id(people, rooms):
    """The constraint behind the lookup: it settles a race the room's lock does not order."""
    first = post(people.school_staff, rooms.county, "一", CLIENT_ID)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            room=rooms.prefecture, seq=1, author=first.author, body="x", client_id=CLIENT_ID
        )


@pytest.mark.parametrize("round_", range(5))
def test_two_concurrent_sends_of_one_client_id_store_one_message(people, rooms, round_):
    """Two tabs of one account (or a resend overtaking the first copy) at the same moment:
    one row, the same answer for both, and the room's counter moved once."""
    start = threading.Barrier(2)
    answers, failures = [], []

    def send():
        try:
            start.wait(timeout=30)
            message = post(people.school_staff, rooms.county, "抢着发", f"race-{round_}")
            answers.append((message.pk, message.seq))
        except Exception as exc:  # reported below
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    stored = list(Message.objects.values_list("pk", "seq"))
    assert answers == stored * 2
    rooms.county.refresh_from_db()
    assert rooms.county.last_seq == 1


# --- over the socket -------------------------------------------------------------------


async def answer(socket) -> dict:
    """The answer to the chat.send in flight, past the live frames of one's own posts."""
    while True:
        frame = await next_frame(socket)
        if frame["type"] != "chat.message":
            return frame


def test_a_resend_over_the_socket_gets_the_same_ack_and_is_not_pushed_again(people, rooms):
    school, county = headers_for(people.school_staff), headers_for(people.county_staff)
    frame = {"type": "chat.send", "room": rooms.county.pk, "body": "到校了", "client_id": CLIENT_ID}

    async def conversation():
        sender, _ = await open_socket(school)
        listener, _ = await open_socket(county)
        await sender.send_json_to(frame)
        first = await answer(sender)
        heard = [await next_frame(listener)]
        await sender.send_json_to(frame)
        again = await answer(sender)
        await sender.send_json_to(frame | {"body": "下一条", "client_id": "next"})
        # The next frame the listener gets is the next post: the resend pushed nothing.
        heard.append(await next_frame(listener))
        await sender.disconnect()
        await listener.disconnect()
        return first, again, heard

    first, again, heard = async_to_sync(conversation)()
    stored = Message.objects.get(seq=1)
    assert first == again
    assert first == {
        "type": "chat.sent",
        "room": rooms.county.pk,
        "seq": 1,
        "message_id": stored.pk,
        "client_id": CLIENT_ID,
    }
    assert [(f["type"], f["seq"]) for f in heard] == [("chat.message", 1), ("chat.message", 2)]


@pytest.mark.parametrize(
    ("client_id", "echoed"),
    [("a b", {"client_id": "a b"}), ("x" * 65, {}), (7, {}), ("", {})],
)
def test_a_bad_client_id_over_the_socket_gets_an_invalid_frame_with_the_reason(
    people, rooms, client_id, echoed
):
    school = headers_for(people.school_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        await socket.send_json_to(
            {"type": "chat.send", "room": rooms.county.pk, "body": "到校了", "client_id": client_id}
        )
        answer = await next_frame(socket)
        await socket.disconnect()
        return answer

    answer = async_to_sync(conversation)()
    assert (
        answer
        == {
            "type": "error",
            "code": "invalid",
            "room": rooms.county.pk,
            "detail": BAD_ID,
        }
        | echoed
    )
    assert not Message.objects.exists()


def test_a_refusal_names_the_posts_client_id(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        await socket.send_json_to(
            {"type": "chat.send", "room": rooms.province.pk, "body": "省里", "client_id": "p1"}
        )
        refused = await next_frame(socket)
        await socket.send_json_to(
            {"type": "chat.send", "room": rooms.county.pk, "body": " ", "client_id": "p2"}
        )
        empty = await next_frame(socket)
        await socket.disconnect()
        return refused, empty

    refused, empty = async_to_sync(conversation)()
    assert refused == {
        "type": "error",
        "code": "not_a_member",
        "room": rooms.province.pk,
        "client_id": "p1",
    }
    assert (empty["code"], empty["client_id"]) == ("invalid", "p2")


def test_an_old_client_without_client_id_gets_the_ack_as_before(people, rooms):
    school = headers_for(people.school_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        answers = []
        for _ in range(2):
            await socket.send_json_to({"type": "chat.send", "room": rooms.county.pk, "body": "好"})
            answers.append(await answer(socket))
        await socket.disconnect()
        return answers

    answers = async_to_sync(conversation)()
    assert [sorted(a) for a in answers] == [["message_id", "room", "seq", "type"]] * 2
    assert [a["seq"] for a in answers] == [1, 2]
    assert Message.objects.count() == 2


# --- the form --------------------------------------------------------------------------


def test_the_post_form_carries_a_client_id_and_a_second_submit_stores_nothing(
    people, rooms, client_for
):
    client = client_for(people.school_staff)
    page = client.get(f"/chat/{rooms.county.pk}/").content.decode()
    assert 'name="client_id"' in page
    form = {"body": "表单提交", "client_id": "form-1"}
    client.post(f"/chat/{rooms.county.pk}/post/", form)
    client.post(f"/chat/{rooms.county.pk}/post/", form)
    assert list(Message.objects.values_list("body", "seq")) == [("表单提交", 1)]


def test_the_post_form_without_a_client_id_still_posts(people, rooms, client_for):
    client = client_for(people.school_staff)
    client.post(f"/chat/{rooms.county.pk}/post/", {"body": "旧表单"})
    assert list(Message.objects.values_list("body", flat=True)) == ["旧表单"]
