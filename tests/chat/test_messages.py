"""Messages through the services and the pages: sequence numbers, rendering, validation,
mentions, unread counts, edits and removals, the rate limit and presence."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from accounts.models import AuditEvent
from chat import selectors, services
from chat.models import Message, MessageRevision, RoomMember
from core import events
from core.models import Event, EventTarget


def post(account, room, body):
    return services.message_post(account=account, room=room, body=body)


def unread_in(account, room):
    return next(r["unread"] for r in selectors.room_list(account) if r["room"].pk == room.pk)


@pytest.fixture
def frozen_rate_clock(monkeypatch):
    """The rate limit counts per fixed window of time.time(): a clock that stands still
    keeps a burst inside one window, whenever the test runs."""
    now = time.time()
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: now))
    return now


# --- posting -----------------------------------------------------------------------------


def test_messages_get_consecutive_sequence_numbers_per_room(people, rooms):
    first = post(people.county_staff, rooms.county, "一")
    second = post(people.school_staff, rooms.county, "二")
    elsewhere = post(people.county_staff, rooms.province, "省里")
    third = post(people.county_manager, rooms.county, "三")
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert elsewhere.seq == 1
    rooms.county.refresh_from_db()
    assert rooms.county.last_seq == 3
    assert list(Message.objects.filter(room=rooms.county).values_list("body", flat=True)) == [
        "一",
        "二",
        "三",
    ]


def test_a_message_is_trimmed_and_stored_with_its_author(people, rooms):
    message = post(people.school_staff, rooms.county, "  请各校按时上报  \n")
    stored = Message.objects.get(pk=message.pk)
    assert stored.body == "请各校按时上报"
    assert stored.author == people.school_staff
    assert services.message_frame(stored)["author"] == "school-clerk"
    assert services.message_frame(stored)["unit"] == "长安区第一中学"


def test_script_and_event_handlers_are_escaped_in_the_html(people, rooms, client_for):
    script = post(people.school_staff, rooms.county, "<script>alert(1)</script>")
    image = post(people.school_staff, rooms.county, '<img src=x onerror="alert(1)">')
    assert script.body_html == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<img" not in image.body_html
    assert image.body_html.startswith("&lt;img")
    history = client_for(people.county_staff).get(f"/chat/{rooms.county.pk}/history.json")
    html = [m["html"] for m in history.json()["messages"]]
    assert html == [script.body_html, image.body_html]
    page = client_for(people.county_staff).get(f"/chat/{rooms.county.pk}/").content.decode()
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_line_breaks_and_mentions_are_the_only_markup(people, rooms):
    message = post(people.county_staff, rooms.county, "第一行\n@school-clerk 请查看 <b>附件</b>")
    assert message.body_html == (
        '第一行<br><span class="mention">@school-clerk</span> 请查看 &lt;b&gt;附件&lt;/b&gt;'
    )


@pytest.mark.parametrize("body", ["", "   \n  "])
def test_an_empty_message_is_refused_with_a_reason(people, rooms, body):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        post(people.county_staff, rooms.county, body)
    assert refused.value.messages == ["The message is empty."]
    assert not Message.objects.exists()


def test_a_message_of_4001_characters_is_refused_and_4000_accepted(people, rooms):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        post(people.county_staff, rooms.county, "学" * 4001)
    assert refused.value.messages == ["The message is longer than 4000 characters."]
    assert not Message.objects.exists()
    assert len(post(people.county_staff, rooms.county, "学" * 4000).body) == 4000


@pytest.mark.parametrize("body", [None, 123, ["你好"], {"text": "你好"}, True])
def test_a_body_that_is_not_text_is_refused(people, rooms, body):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        post(people.county_staff, rooms.county, body)
    assert refused.value.messages == ["The message must be text."]
    assert not Message.objects.exists()
    rooms.county.refresh_from_db()
    assert rooms.county.last_seq == 0


def test_the_post_form_refuses_an_empty_message_and_stores_nothing(people, rooms, client_for):
    response = client_for(people.county_staff).post(
        f"/chat/{rooms.county.pk}/post/", {"body": "  "}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "The message is empty." in response.content.decode()
    assert not Message.objects.exists()


def test_the_post_form_stores_a_message(people, rooms, client_for):
    response = client_for(people.school_staff).post(
        f"/chat/{rooms.county.pk}/post/", {"body": "表单发送"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/chat/{rooms.county.pk}/"
    assert Message.objects.get().body == "表单发送"


def test_history_pages_back_by_sequence_number(people, rooms, client_for, monkeypatch):
    monkeypatch.setattr(services, "RATE_LIMIT", 1000)
    for n in range(1, 56):
        post(people.county_staff, rooms.county, f"第{n}条")
    client = client_for(people.school_staff)
    latest = client.get(f"/chat/{rooms.county.pk}/history.json").json()["messages"]
    assert [m["seq"] for m in latest] == list(range(6, 56))
    earlier = client.get(f"/chat/{rooms.county.pk}/history.json?before=6").json()["messages"]
    assert [m["seq"] for m in earlier] == [1, 2, 3, 4, 5]


# --- mentions ------------------------------------------------------------------------------


def test_a_mention_notifies_members_only(people, rooms):
    message = post(
        people.county_staff, rooms.county, "@school-clerk 和 @sibling-clerk 请确认 @nobody"
    )
    assert message.mentions == [people.school_staff.pk]
    event = Event.objects.get(kind="chat.mention")
    assert event.payload["room"]["id"] == rooms.county.pk
    assert event.payload["seq"] == message.seq
    assert list(EventTarget.objects.filter(event=event).values_list("group", flat=True)) == [
        events.account_group(people.school_staff.pk)
    ]


def test_a_message_without_mentions_publishes_no_event(people, rooms):
    post(people.county_staff, rooms.county, "没有提到任何人 user@example.com")
    assert not Event.objects.filter(kind="chat.mention").exists()


# --- unread counts ------------------------------------------------------------------------


def test_unread_counts_follow_posts_and_mark_read(people, rooms):
    for body in ("一", "二", "三"):
        post(people.county_staff, rooms.county, body)
    post(people.county_staff, rooms.province, "省")
    reader = people.school_staff
    assert unread_in(reader, rooms.county) == 3
    assert selectors.unread_total(reader) == 3  # the province room is not theirs
    assert selectors.unread_total(people.county_manager) == 4

    services.mark_read(account=reader, room=rooms.county, seq=2)
    assert unread_in(reader, rooms.county) == 1
    assert selectors.unread_total(reader) == 1

    post(people.county_manager, rooms.county, "四")
    rooms.county.refresh_from_db()
    assert unread_in(reader, rooms.county) == 2
    services.mark_read(account=reader, room=rooms.county, seq=4)
    assert selectors.unread_total(reader) == 0


def test_mark_read_never_goes_backwards(people, rooms):
    for body in ("一", "二", "三"):
        post(people.county_staff, rooms.county, body)
    rooms.county.refresh_from_db()
    services.mark_read(account=people.school_staff, room=rooms.county, seq=3)
    services.mark_read(account=people.school_staff, room=rooms.county, seq=1)
    assert RoomMember.objects.get(room=rooms.county, account=people.school_staff).last_read_seq == 3
    assert unread_in(people.school_staff, rooms.county) == 0


def test_mark_read_never_goes_past_the_last_message(people, rooms):
    post(people.county_staff, rooms.county, "一")
    rooms.county.refresh_from_db()
    assert services.mark_read(account=people.school_staff, room=rooms.county, seq=99) == 1
    assert RoomMember.objects.get(room=rooms.county, account=people.school_staff).last_read_seq == 1
    post(people.county_staff, rooms.county, "二")
    assert unread_in(people.school_staff, rooms.county) == 1


def test_a_non_member_cannot_mark_a_room_read(people, rooms):
    with pytest.raises(PermissionDenied):
        services.mark_read(account=people.school_staff, room=rooms.province, seq=0)
    assert not RoomMember.objects.filter(account=people.school_staff).exists()


def test_the_posters_own_message_is_not_unread_for_it(people, rooms):
    post(people.school_staff, rooms.county, "我自己发的")
    assert unread_in(people.school_staff, rooms.county) == 0
    assert selectors.unread_total(people.school_staff) == 0
    assert unread_in(people.county_staff, rooms.county) == 1


def test_opening_a_room_marks_it_read(people, rooms, client_for):
    post(people.county_staff, rooms.county, "一")
    post(people.county_staff, rooms.county, "二")
    assert selectors.unread_total(people.school_staff) == 2
    assert client_for(people.school_staff).get(f"/chat/{rooms.county.pk}/").status_code == 200
    assert selectors.unread_total(people.school_staff) == 0


# --- edits and removals -------------------------------------------------------------------


def age(message, minutes):
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )
    message.refresh_from_db()


def test_the_author_edits_within_ten_minutes_and_the_revision_is_kept(people, rooms, client_for):
    message = post(people.school_staff, rooms.county, "初稿 <i>")
    age(message, 9)
    response = client_for(people.school_staff).post(
        f"/chat/{rooms.county.pk}/messages/{message.seq}/edit/", {"body": "定稿 <i>"}
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.body == "定稿 <i>"
    assert message.body_html == "定稿 &lt;i&gt;"
    assert message.edited_at is not None
    assert list(message.revisions.values_list("body", flat=True)) == ["初稿 <i>"]
    assert services.message_frame(message)["edited"] is True


def test_editing_after_ten_minutes_is_refused(people, rooms, client_for):
    message = post(people.school_staff, rooms.county, "初稿")
    age(message, 11)
    with pytest.raises(PermissionDenied):
        services.message_edit(account=people.school_staff, message=message, body="改了")
    client_for(people.school_staff).post(
        f"/chat/{rooms.county.pk}/messages/{message.seq}/edit/", {"body": "改了"}
    )
    message.refresh_from_db()
    assert message.body == "初稿"
    assert message.edited_at is None
    assert not MessageRevision.objects.exists()


def test_nobody_edits_someone_elses_message(people, rooms):
    message = post(people.school_staff, rooms.county, "初稿")
    for other in (people.county_staff, people.county_manager):
        with pytest.raises(PermissionDenied):
            services.message_edit(account=other, message=message, body="改了")
    message.refresh_from_db()
    assert message.body == "初稿"


def test_an_edit_to_an_empty_text_is_refused(people, rooms):
    message = post(people.school_staff, rooms.county, "初稿")
    with pytest.raises(ValidationError):
        services.message_edit(account=people.school_staff, message=message, body=" ")
    assert not MessageRevision.objects.exists()


def test_the_author_deletes_within_ten_minutes_without_an_audit_row(people, rooms):
    message = post(people.school_staff, rooms.county, "发错了")
    services.message_delete(account=people.school_staff, message=message)
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert message.removed_by is None
    assert list(message.revisions.values_list("body", flat=True)) == ["发错了"]
    assert not AuditEvent.objects.filter(action="chat.message_removed").exists()
    frame = services.message_frame(message)
    assert frame["deleted"] is True
    assert frame["html"] == ""


def test_the_author_cannot_delete_after_ten_minutes(people, rooms):
    message = post(people.school_staff, rooms.county, "旧消息")
    age(message, 11)
    with pytest.raises(PermissionDenied):
        services.message_delete(account=people.school_staff, message=message)
    message.refresh_from_db()
    assert message.deleted_at is None


def test_a_manager_of_the_rooms_unit_removes_a_message_audited(people, rooms, client_for):
    message = post(people.school_staff, rooms.county, "不当言论")
    age(message, 30)
    response = client_for(people.county_manager).post(
        f"/chat/{rooms.county.pk}/messages/{message.seq}/delete/"
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert message.removed_by == people.county_manager
    audit = AuditEvent.objects.get(action="chat.message_removed")
    assert audit.actor == people.county_manager
    assert audit.target == people.school_staff
    assert audit.unit == rooms.county.unit
    assert audit.detail == {"room": rooms.county.pk, "seq": message.seq}
    history = client_for(people.county_staff).get(f"/chat/{rooms.county.pk}/history.json")
    [frame] = history.json()["messages"]
    assert frame["deleted"] is True
    assert frame["html"] == ""


def test_the_revisions_page_is_for_the_rooms_managers_only(people, rooms, client_for):
    message = post(people.school_staff, rooms.county, "原话")
    services.message_edit(account=people.school_staff, message=message, body="改过")
    services.message_delete(account=people.county_manager, message=message)
    url = f"/chat/{rooms.county.pk}/messages/{message.seq}/history/"
    page = client_for(people.county_manager).get(url)
    assert page.status_code == 200
    assert "原话" in page.content.decode()
    assert "改过" in page.content.decode()
    assert client_for(people.school_staff).get(url).status_code == 403
    assert client_for(people.county_staff).get(url).status_code == 403
    assert client_for(people.sibling_manager).get(url).status_code == 404


def test_staff_cannot_remove_someone_elses_message(people, rooms, client_for):
    message = post(people.school_staff, rooms.county, "别删我")
    with pytest.raises(PermissionDenied):
        services.message_delete(account=people.county_staff, message=message)
    client_for(people.school_manager).post(
        f"/chat/{rooms.county.pk}/messages/{message.seq}/delete/"
    )
    message.refresh_from_db()
    assert message.deleted_at is None
    assert not AuditEvent.objects.filter(action="chat.message_removed").exists()


def test_a_manager_of_another_county_cannot_remove_a_message(people, rooms):
    message = post(people.county_staff, rooms.prefecture, "石家庄")
    with pytest.raises(PermissionDenied):
        services.message_delete(account=people.sibling_manager, message=message)


# --- rate limit --------------------------------------------------------------------------


def test_the_message_over_the_rate_limit_is_refused_with_retry_after(
    people, rooms, monkeypatch, frozen_rate_clock
):
    monkeypatch.setattr(services, "RATE_LIMIT", 3)
    for n in range(3):
        post(people.county_staff, rooms.county, f"第{n}条")
    with pytest.raises(services.RateLimited) as limited:
        post(people.county_staff, rooms.county, "第四条")
    assert services.RATE_WINDOW >= limited.value.retry_after >= 1
    assert limited.value.retry_after == services.RATE_WINDOW - int(frozen_rate_clock) % 10
    assert Message.objects.count() == 3
    assert post(people.school_staff, rooms.county, "别人不受影响").seq == 4


def test_the_post_form_reports_the_rate_limit(
    people, rooms, client_for, monkeypatch, frozen_rate_clock
):
    monkeypatch.setattr(services, "RATE_LIMIT", 1)
    client = client_for(people.county_staff)
    client.post(f"/chat/{rooms.county.pk}/post/", {"body": "一"})
    response = client.post(
        f"/chat/{rooms.county.pk}/post/", {"body": "二"}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "You are sending too fast" in response.content.decode()
    assert list(Message.objects.values_list("body", flat=True)) == ["一"]


# --- presence ----------------------------------------------------------------------------


def test_a_heartbeat_makes_an_account_online_and_away_when_hidden(people):
    services.presence_beat(people.county_staff)
    services.presence_away(people.school_staff)
    ids = [people.county_staff.pk, people.school_staff.pk, people.county_manager.pk]
    assert services.presence_of(ids) == {
        people.county_staff.pk: "online",
        people.school_staff.pk: "away",
    }


def test_an_expired_presence_reports_nothing(people, monkeypatch):
    monkeypatch.setattr(services, "PRESENCE_TTL", 1)
    services.presence_beat(people.county_staff)
    key = f"presence:{people.county_staff.pk}"
    redis = cache._cache.get_client(key)
    assert 0 < redis.pttl(cache.make_key(key)) <= 1000
    cache.delete(key)  # what the expiry does a second later
    assert services.presence_of([people.county_staff.pk]) == {}


# --- pages ---------------------------------------------------------------------------------


def test_the_chat_index_redirects_into_a_room(people, rooms, client_for):
    school = client_for(people.school_staff).get("/chat/")
    assert school.status_code == 302
    assert school["Location"] == f"/chat/{rooms.county.pk}/"


def test_the_chat_index_provisions_the_region_rooms(people, client_for):
    response = client_for(people.beijing_county_staff).get("/chat/")
    assert response.status_code == 302
    room = selectors.room_list(people.beijing_county_staff)[0]["room"]
    assert response["Location"] == f"/chat/{room.pk}/"
    assert room.unit.code == "110000"


def test_the_chat_index_without_rooms_renders(people, rooms, client_for):
    services.room_set_policy(actor=people.county_manager, room=rooms.county, levels=["county"])
    assert client_for(people.school_staff).get("/chat/").status_code == 200


def test_search_finds_only_messages_of_rooms_i_belong_to(people, rooms, client_for):
    post(people.county_staff, rooms.county, "学籍注册截止 长安区")
    post(people.sibling_staff, rooms.sibling, "学籍注册截止 桥西区")
    post(people.county_staff, rooms.province, "学籍注册截止 省级")
    gone = post(people.school_staff, rooms.county, "学籍注册截止 作者删掉的这条")
    services.message_delete(account=people.school_staff, message=gone)

    found = selectors.search(account=people.school_staff, q="学籍注册")
    assert [m.body for m in found] == ["学籍注册截止 长安区"]

    page = client_for(people.school_staff).get("/chat/search/", {"q": "学籍注册"})
    html = page.content.decode()
    assert "长安区" in html
    assert "桥西区" not in html
    assert "省级" not in html
    assert "作者删掉的这条" not in html


def test_members_json_lists_members_with_presence(people, rooms, client_for):
    services.presence_beat(people.school_staff)
    services.presence_away(people.county_manager)
    services.member_set(
        actor=people.county_manager, room=rooms.county, account=people.county_staff, muted=True
    )
    response = client_for(people.school_staff).get(f"/chat/{rooms.county.pk}/members.json")
    data = response.json()
    listed = {m["username"]: m for m in data["members"]}
    assert set(listed) == {"county-boss", "county-clerk", "school-boss", "school-clerk"}
    assert listed["school-clerk"]["presence"] == "online"
    assert listed["county-boss"]["presence"] == "away"
    assert listed["school-boss"]["presence"] == "offline"
    assert listed["county-clerk"]["muted"] is True
    assert listed["school-clerk"]["muted"] is False
    assert listed["school-clerk"]["unit"] == "长安区第一中学"
    assert data["can_manage"] is False
    manager_view = client_for(people.county_manager).get(f"/chat/{rooms.county.pk}/members.json")
    assert manager_view.json()["can_manage"] is True
