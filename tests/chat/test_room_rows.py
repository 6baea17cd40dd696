"""The rooms a connecting socket follows: `selectors.room_rows_of` (one SQL statement
written out, for the connect's cost) is the same set as `selectors.rooms_of`, and
`handlers.room_ids_for` provisions region rooms only when one is missing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import handlers, selectors, services
from chat.models import Room, RoomKind

pytestmark = pytest.mark.django_db


def _rows(account):
    return sorted(selectors.room_rows_of(account))


def _expected(account):
    return sorted(
        (room.pk, room.kind, room.unit.level if room.unit else None)
        for room in selectors.rooms_of(account)
    )


def test_room_rows_of_equals_rooms_of_for_every_kind_of_membership(people, rooms, tree):
    # A topic room by rule (the province's counties) and by pick (a school's staff).
    topic = services.topic_room_create(
        actor=people.province_manager,
        name="学籍专题",
        rules=[(tree.province.code, ["county"])],
        usernames=[people.school_staff.username],
    )
    # A direct room, and a member removed from a region room against its policy.
    direct = services.dm_open(actor=people.county_manager, other=people.county_staff)
    services.member_set(
        actor=people.county_manager, room=rooms.county, account=people.school_staff, removed=True
    )
    # A policy narrowed below the default: the prefecture room no longer takes counties.
    services.room_set_policy(
        actor=people.prefecture_manager, room=rooms.prefecture, levels=["prefecture"]
    )
    everyone = vars(people).values()
    for account in everyone:
        assert _rows(account) == _expected(account), account.username
    ids = {account.username: {pk for pk, _, _ in _rows(account)} for account in everyone}
    assert topic.pk in ids[people.county_staff.username]  # by rule
    assert topic.pk in ids[people.school_staff.username]  # by pick
    assert topic.pk not in ids[people.sibling_school_staff.username]
    assert direct.pk in ids[people.county_manager.username]
    assert rooms.county.pk not in ids[people.school_staff.username]  # removed
    assert rooms.prefecture.pk not in ids[people.county_staff.username]  # narrowed


def test_room_ids_for_provisions_region_rooms_once_then_reads_one_query(people, tree):
    assert not Room.objects.filter(kind=RoomKind.REGION).exists()
    first = handlers.room_ids_for(people.school_staff)
    county_room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county)
    assert first == [county_room.pk]
    for account in (people.school_staff, people.county_staff, people.beijing_school_staff):
        handlers.room_ids_for(account)  # provisions what each path lacks
    for account in (people.school_staff, people.county_staff, people.beijing_county_staff):
        with CaptureQueriesContext(connection) as queries:
            ids = handlers.room_ids_for(account)
        assert len(queries.captured_queries) == 1, account.username
        assert sorted(ids) == sorted(r.pk for r in selectors.rooms_of(account))
