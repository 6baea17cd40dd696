"""Who belongs to which room: region rooms by level policy, topic rooms by rule and by
person, mute and removal, and the direct-message rule along the tree."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from accounts.models import Level
from chat import selectors, services
from chat.models import Message, Room, RoomKind, RoomMember
from tests import factories


def members_of(room):
    return set(selectors.room_members(room).values_list("username", flat=True))


def room_ids(account):
    return set(selectors.rooms_of(account).values_list("pk", flat=True))


# --- region rooms ----------------------------------------------------------------------


def test_school_staff_cannot_join_or_read_the_province_room(people, rooms, client_for):
    school = people.school_staff
    assert not selectors.is_member(school, rooms.province)
    assert not selectors.is_member(school, rooms.prefecture)
    client = client_for(school)
    for room in (rooms.province, rooms.prefecture):
        assert client.get(f"/chat/{room.pk}/").status_code == 404
        assert client.get(f"/chat/{room.pk}/history.json").status_code == 404
        assert client.get(f"/chat/{room.pk}/members.json").status_code == 404
        assert client.post(f"/chat/{room.pk}/post/", {"body": "你好"}).status_code == 404
    assert not Message.objects.exists()


def test_school_staff_belongs_to_its_county_room_only(people, rooms):
    assert room_ids(people.school_staff) == {rooms.county.pk}


def test_a_county_room_includes_its_schools(people, rooms):
    assert members_of(rooms.county) == {
        "county-boss",
        "county-clerk",
        "school-boss",
        "school-clerk",
    }
    for account in (people.school_staff, people.school_manager, people.county_staff):
        assert selectors.is_member(account, rooms.county)
        assert selectors.can_post(account, rooms.county)


def test_the_province_room_includes_prefecture_and_county_staff_but_not_schools(people, rooms):
    assert members_of(rooms.province) == {
        "prov-boss",
        "pref-boss",
        "pref-clerk",
        "county-boss",
        "county-clerk",
        "sibling-boss",
        "sibling-clerk",
    }
    assert selectors.is_member(people.county_staff, rooms.province)
    assert selectors.is_member(people.prefecture_staff, rooms.province)
    assert not selectors.is_member(people.school_manager, rooms.province)


def test_a_county_account_belongs_to_its_province_prefecture_and_county_rooms(people, rooms):
    assert room_ids(people.county_staff) == {
        rooms.province.pk,
        rooms.prefecture.pk,
        rooms.county.pk,
    }


def test_a_sibling_countys_accounts_are_not_in_changan_room(people, rooms, client_for):
    for account in (people.sibling_staff, people.sibling_manager, people.sibling_school_staff):
        assert not selectors.is_member(account, rooms.county)
        assert rooms.county.pk not in room_ids(account)
    assert client_for(people.sibling_staff).get(f"/chat/{rooms.county.pk}/").status_code == 404
    assert members_of(rooms.sibling) == {"sibling-boss", "sibling-clerk", "sibling-school-clerk"}


def test_another_provinces_accounts_are_not_in_hebei_rooms(people, rooms):
    assert not selectors.is_member(people.beijing_county_staff, rooms.province)
    assert not selectors.is_member(people.beijing_manager, rooms.county)


def test_the_beijing_county_room_works_without_a_prefecture(people, rooms, client_for):
    assert members_of(rooms.muni_county) == {"bj-county-clerk", "bj-school-clerk"}
    assert members_of(rooms.municipality) == {"bj-boss", "bj-county-clerk"}
    assert room_ids(people.beijing_school_staff) == {rooms.muni_county.pk}
    assert room_ids(people.beijing_county_staff) == {rooms.municipality.pk, rooms.muni_county.pk}

    message = services.message_post(
        account=people.beijing_school_staff, room=rooms.muni_county, body="东城区报到"
    )
    assert message.seq == 1
    history = client_for(people.beijing_county_staff).get(
        f"/chat/{rooms.muni_county.pk}/history.json"
    )
    assert [m["html"] for m in history.json()["messages"]] == ["东城区报到"]


def test_region_rooms_are_created_once_per_unit(people, rooms):
    services.region_rooms_ensure(people.school_staff)
    services.region_rooms_ensure(people.county_staff)
    assert Room.objects.filter(kind=RoomKind.REGION, unit=rooms.county.unit).count() == 1
    assert rooms.county.level_list == ["county", "school"]
    assert rooms.province.level_list == ["province", "prefecture", "county"]
    assert rooms.prefecture.level_list == ["prefecture", "county"]


def test_changing_a_county_rooms_policy_to_county_only_drops_the_school(people, rooms, client_for):
    services.room_set_policy(actor=people.county_manager, room=rooms.county, levels=["county"])
    rooms.county.refresh_from_db()
    assert not selectors.is_member(people.school_staff, rooms.county)
    assert room_ids(people.school_staff) == set()
    assert members_of(rooms.county) == {"county-boss", "county-clerk"}
    client = client_for(people.school_staff)
    assert client.get(f"/chat/{rooms.county.pk}/history.json").status_code == 404


def test_a_county_manager_sets_the_policy_from_the_room_page(people, rooms, client_for):
    response = client_for(people.county_manager).post(
        f"/chat/{rooms.county.pk}/policy/", {"levels": ["county"]}
    )
    assert response.status_code == 302
    rooms.county.refresh_from_db()
    assert rooms.county.levels == "county"


def test_staff_cannot_change_a_rooms_policy(people, rooms, client_for):
    with pytest.raises(PermissionDenied):
        services.room_set_policy(actor=people.county_staff, room=rooms.county, levels=["county"])
    response = client_for(people.county_staff).post(
        f"/chat/{rooms.county.pk}/policy/", {"levels": ["county"]}
    )
    assert response.status_code == 403
    rooms.county.refresh_from_db()
    assert rooms.county.levels == "county,school"


def test_a_manager_below_the_unit_cannot_change_its_rooms_policy(people, rooms):
    with pytest.raises(PermissionDenied):
        services.room_set_policy(
            actor=people.county_manager, room=rooms.prefecture, levels=["prefecture"]
        )


def test_a_policy_cannot_take_levels_above_the_unit(people, rooms):
    with pytest.raises(ValidationError):
        services.room_set_policy(
            actor=people.county_manager, room=rooms.county, levels=["province", "prefecture"]
        )
    rooms.county.refresh_from_db()
    assert rooms.county.levels == "county,school"


def test_a_member_removed_from_a_region_room_loses_it_despite_the_policy(people, rooms, client_for):
    services.member_set(
        actor=people.county_manager, room=rooms.county, account=people.school_staff, removed=True
    )
    assert not selectors.is_member(people.school_staff, rooms.county)
    assert not selectors.can_post(people.school_staff, rooms.county)
    assert rooms.county.pk not in room_ids(people.school_staff)
    assert "school-clerk" not in members_of(rooms.county)
    assert client_for(people.school_staff).get(f"/chat/{rooms.county.pk}/").status_code == 404
    with pytest.raises(PermissionDenied):
        services.message_post(account=people.school_staff, room=rooms.county, body="还在吗")


# --- topic rooms -----------------------------------------------------------------------


def topic(actor, *, rules=(), usernames=(), name="学籍注册工作群"):
    return services.topic_room_create(
        actor=actor, name=name, rules=list(rules), usernames=list(usernames)
    )


def test_a_manager_creates_a_topic_room_by_unit_and_levels_and_by_person(people):
    room = topic(
        people.prefecture_manager, rules=[("130102", ["school"])], usernames=["sibling-clerk"]
    )
    assert room.kind == RoomKind.TOPIC
    assert room.unit == people.prefecture_manager.unit
    assert members_of(room) == {"pref-boss", "school-boss", "school-clerk", "sibling-clerk"}
    assert selectors.is_member(people.school_staff, room)
    assert selectors.is_member(people.sibling_staff, room)
    assert not selectors.is_member(people.county_staff, room)  # county level not in the rule
    assert not selectors.is_member(people.sibling_school_staff, room)  # outside the rule's unit
    assert room.pk in room_ids(people.school_staff)
    assert room.pk not in room_ids(people.county_staff)


def test_a_topic_room_with_no_member_is_refused(people):
    with pytest.raises(ValidationError):
        topic(people.county_manager)
    assert not Room.objects.filter(kind=RoomKind.TOPIC).exists()


def test_picking_a_person_outside_the_managers_subtree_is_refused(people):
    with pytest.raises(ValidationError) as refused:
        topic(people.county_manager, usernames=["county-clerk", "sibling-clerk"])
    assert any("sibling-clerk" in text for text in refused.value.messages)
    assert not Room.objects.filter(kind=RoomKind.TOPIC).exists()


def test_a_rule_on_a_unit_outside_the_managers_subtree_is_refused(people):
    with pytest.raises(ValidationError) as refused:
        topic(people.county_manager, rules=[("130104", ["school"])])
    assert any("130104" in text for text in refused.value.messages)
    assert not Room.objects.filter(kind=RoomKind.TOPIC).exists()


def test_an_unknown_username_is_refused(people):
    with pytest.raises(ValidationError) as refused:
        topic(people.county_manager, usernames=["nobody-here"])
    assert any("nobody-here" in text for text in refused.value.messages)


def test_staff_cannot_create_a_topic_room(people, client_for):
    with pytest.raises(PermissionDenied):
        topic(people.county_staff, usernames=["school-clerk"])
    client = client_for(people.county_staff)
    assert client.get("/chat/new/").status_code == 403
    response = client.post("/chat/new/", {"name": "群", "usernames": "school-clerk"})
    assert response.status_code == 403
    assert not Room.objects.filter(kind=RoomKind.TOPIC).exists()


def test_the_new_room_page_creates_a_topic_room(people, client_for):
    response = client_for(people.county_manager).post(
        "/chat/new/",
        {
            "name": "长安区学籍员",
            "rule_units": "130102",
            "rule_levels": ["school"],
            "usernames": "county-clerk",
        },
    )
    room = Room.objects.get(kind=RoomKind.TOPIC)
    assert response.status_code == 302
    assert response["Location"] == f"/chat/{room.pk}/"
    assert members_of(room) == {"county-boss", "county-clerk", "school-boss", "school-clerk"}


def test_a_muted_member_cannot_post(people, client_for):
    room = topic(people.county_manager, usernames=["school-clerk"])
    services.member_set(
        actor=people.county_manager, room=room, account=people.school_staff, muted=True
    )
    assert selectors.is_member(people.school_staff, room)
    assert not selectors.can_post(people.school_staff, room)
    with pytest.raises(PermissionDenied):
        services.message_post(account=people.school_staff, room=room, body="我被禁言了吗")
    client_for(people.school_staff).post(f"/chat/{room.pk}/post/", {"body": "试试表单"})
    assert not Message.objects.filter(room=room).exists()

    services.member_set(
        actor=people.county_manager, room=room, account=people.school_staff, muted=False
    )
    assert services.message_post(account=people.school_staff, room=room, body="恢复了").seq == 1


def test_a_removed_member_is_out_even_though_a_rule_matches(people, client_for):
    room = topic(people.county_manager, rules=[("130102", ["school"])])
    assert selectors.is_member(people.school_staff, room)
    response = client_for(people.county_manager).post(
        f"/chat/{room.pk}/members/{people.school_staff.pk}/remove/"
    )
    assert response.status_code == 302
    assert RoomMember.objects.get(room=room, account=people.school_staff).removed
    assert not selectors.is_member(people.school_staff, room)
    assert room.pk not in room_ids(people.school_staff)
    assert "school-clerk" not in members_of(room)
    assert "school-boss" in members_of(room)
    assert client_for(people.school_staff).get(f"/chat/{room.pk}/").status_code == 404


def test_a_removed_picked_member_is_out(people):
    room = topic(people.county_manager, usernames=["county-clerk"])
    services.member_set(
        actor=people.county_manager, room=room, account=people.county_staff, removed=True
    )
    assert not selectors.is_member(people.county_staff, room)
    assert members_of(room) == {"county-boss"}


def test_only_the_rooms_managers_mute_or_remove(people, client_for):
    room = topic(people.county_manager, usernames=["county-clerk", "school-clerk"])
    with pytest.raises(PermissionDenied):
        services.member_set(
            actor=people.county_staff, room=room, account=people.school_staff, muted=True
        )
    response = client_for(people.county_staff).post(
        f"/chat/{room.pk}/members/{people.school_staff.pk}/remove/"
    )
    assert response.status_code == 403
    assert selectors.is_member(people.school_staff, room)
    assert selectors.can_post(people.school_staff, room)


# --- direct messages -------------------------------------------------------------------


def test_a_county_account_and_a_school_below_it_may_talk_either_way(people):
    assert selectors.dm_refusal(people.county_staff, people.school_staff) is None
    assert selectors.dm_refusal(people.school_staff, people.county_staff) is None
    assert selectors.dm_refusal(people.school_staff, people.province_manager) is None
    room = services.dm_open(actor=people.school_staff, other=people.province_manager)
    assert room.kind == RoomKind.DIRECT
    assert selectors.is_member(people.school_staff, room)
    assert selectors.is_member(people.province_manager, room)


def test_two_schools_in_one_county_may_talk(tree, people):
    other_school = factories.unit(Level.SCHOOL, "1301020002", "长安区第二中学", tree.county)
    other = factories.staff(other_school, username="school-two-clerk")
    assert selectors.dm_refusal(people.school_staff, other) is None
    room = services.dm_open(actor=people.school_staff, other=other)
    assert set(selectors.room_members(room).values_list("username", flat=True)) == {
        "school-clerk",
        "school-two-clerk",
    }


def test_accounts_of_different_counties_are_refused_with_the_reason(people):
    for a, b in (
        (people.county_staff, people.sibling_staff),
        (people.school_staff, people.sibling_school_staff),
        (people.school_staff, people.beijing_school_staff),
    ):
        with translation.override("en"), pytest.raises(ValidationError) as refused:
            services.dm_open(actor=a, other=b)
        assert "within your county" in refused.value.messages[0]
    assert not Room.objects.filter(kind=RoomKind.DIRECT).exists()


def test_the_direct_page_shows_the_refusal(people, client_for):
    response = client_for(people.school_staff).post(
        "/chat/direct/", {"username": "sibling-school-clerk"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "within your county" in response.content.decode()
    assert not Room.objects.filter(kind=RoomKind.DIRECT).exists()


def test_the_direct_page_opens_the_conversation(people, client_for):
    response = client_for(people.school_staff).post("/chat/direct/", {"username": "county-clerk"})
    room = Room.objects.get(kind=RoomKind.DIRECT)
    assert response.status_code == 302
    assert response["Location"] == f"/chat/{room.pk}/"


def test_a_second_dm_open_returns_the_same_room(people):
    first = services.dm_open(actor=people.county_staff, other=people.school_staff)
    again = services.dm_open(actor=people.county_staff, other=people.school_staff)
    reverse = services.dm_open(actor=people.school_staff, other=people.county_staff)
    assert first.pk == again.pk == reverse.pk
    assert Room.objects.filter(kind=RoomKind.DIRECT).count() == 1
    assert RoomMember.objects.filter(room=first).count() == 2


def test_nobody_else_reads_a_direct_conversation(people, client_for):
    room = services.dm_open(actor=people.county_staff, other=people.school_staff)
    services.message_post(account=people.county_staff, room=room, body="私信内容")
    assert not selectors.is_member(people.county_manager, room)
    assert not selectors.can_manage_room(people.county_manager, room)
    assert room.pk not in room_ids(people.school_manager)
    client = client_for(people.county_manager)
    assert client.get(f"/chat/{room.pk}/history.json").status_code == 404


def test_nobody_opens_a_dm_with_themselves(people):
    with pytest.raises(ValidationError):
        services.dm_open(actor=people.county_staff, other=people.county_staff)
