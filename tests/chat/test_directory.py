"""The contact directory of direct messages (issue 15 item 3): exactly the people the DM
rule allows, by unit, searched, paged with LIMIT, with presence; one click opens the room."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Level
from chat import selectors, services
from chat.models import Room, RoomKind
from tests import factories


def names(account, **kw):
    people, _more = selectors.directory(account, **kw)
    return [p.username for p in people]


def dot(page: str, account) -> str:
    """The presence a directory page shows for `account`."""
    return re.search(rf'data-account="{account.pk}">\s*<span class="dot (\w+)"', page).group(1)


def test_the_directory_is_exactly_who_the_dm_rule_allows(tree, people):
    listed = names(people.school_staff)
    everyone = [p for p in vars(people).values() if p.pk != people.school_staff.pk]
    allowed = {p.username for p in everyone if selectors.dm_refusal(people.school_staff, p) is None}
    assert set(listed) == allowed
    # Someone I may not message (another county, another province) is not listed.
    assert "sibling-clerk" not in listed and "bj-school-clerk" not in listed
    assert "sibling-school-clerk" not in listed
    assert people.school_staff.username not in listed


def test_own_unit_first_then_the_level_above_then_further_up(tree, people):
    rows, _more = selectors.directory(people.school_staff)
    groups = [(p.group, p.unit.code) for p in rows]
    assert groups == sorted(groups, key=lambda g: g[0])
    assert rows[0].unit == tree.school and rows[0].group == selectors.OWN
    above = [p.unit for p in rows if p.group == selectors.ABOVE]
    assert above and {u.pk for u in above} == {tree.county.pk}
    further = [p.unit.level for p in rows if p.group == selectors.FURTHER_UP]
    assert further == sorted(further, key=lambda lv: ["prefecture", "province"].index(lv))


def test_units_below_and_the_rest_of_the_county(tree, people):
    other_school = factories.unit(Level.SCHOOL, "1301020002", "长安区实验小学", tree.county)
    neighbour = factories.staff(other_school, username="neighbour")
    rows, _more = selectors.directory(people.county_staff)
    by_name = {p.username: p.group for p in rows}
    assert by_name["neighbour"] == selectors.BELOW
    assert by_name["school-clerk"] == selectors.BELOW
    # A school reaches the other schools of its county.
    rows, _more = selectors.directory(people.school_staff)
    assert {p.username: p.group for p in rows}[neighbour.username] == selectors.COUNTY


def test_closed_units_and_inactive_accounts_are_not_offered(tree, people):
    people.county_staff.is_active = False
    people.county_staff.save(update_fields=["is_active"])
    closed = factories.unit(Level.SCHOOL, "1301020003", "已撤并小学", tree.county)
    factories.staff(closed, username="closed-school-clerk")
    closed.closed_at = timezone.now()
    closed.save(update_fields=["closed_at"])
    listed = names(people.county_manager)
    assert "county-clerk" not in listed and "closed-school-clerk" not in listed
    assert "school-clerk" in listed


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("school-boss", {"school-boss"}),  # username
        ("长安区第一", {"school-boss"}),  # unit name
        ("1301020001", {"school-boss"}),  # unit code
        ("caqdy", {"school-boss"}),  # the unit name's pinyin initials (长安区第一中学)
        ("CAQDY", {"school-boss"}),
    ],
)
def test_search(tree, people, q, expected):
    assert set(names(people.school_staff, q=q)) == expected


def test_search_by_the_persons_name(tree, people):
    people.county_manager.full_name = "王建国"
    people.county_manager.save(update_fields=["full_name"])
    assert names(people.school_staff, q="建国") == ["county-boss"]
    assert names(people.school_staff, q="nobody-like-this") == []


def test_paging_reads_one_page_at_a_time(tree, people, django_assert_max_num_queries):
    school = factories.unit(Level.SCHOOL, "1301020009", "长安区第九中学", tree.county)
    for i in range(2 * selectors.DIRECTORY_PAGE):
        factories.staff(school, username=f"clerk{i:03d}")
    first, more = selectors.directory(people.county_manager)
    assert len(first) == selectors.DIRECTORY_PAGE and more
    second, more = selectors.directory(people.county_manager, page=2)
    third, more_after_third = selectors.directory(people.county_manager, page=3)
    seen = [p.pk for p in first + second + third]
    assert len(seen) == len(set(seen))
    assert not more_after_third
    allowed = [
        p for p in vars(people).values() if not selectors.dm_refusal(people.county_manager, p)
    ]
    assert len(seen) == len(allowed) + 2 * selectors.DIRECTORY_PAGE
    # The county's path, the people of the units on my path, then one page of the rest.
    with django_assert_max_num_queries(3):
        selectors.directory(people.county_manager, page=2)


def test_the_page_shows_presence_and_groups(client_for, tree, people):
    services.presence_beat(people.county_manager)
    services.presence_away(people.county_staff)
    page = client_for(people.school_staff).get(reverse("chat_direct")).content.decode()
    assert dot(page, people.county_manager) == "online"
    assert dot(page, people.county_staff) == "away"
    assert dot(page, people.province_manager) == "offline"
    assert "sibling-clerk" not in page
    assert 'id="direct-by-username"' in page  # the username form stays as a fallback


def test_the_page_pages(client_for, tree, people):
    school = factories.unit(Level.SCHOOL, "1301020009", "长安区第九中学", tree.county)
    for i in range(selectors.DIRECTORY_PAGE + 5):
        factories.staff(school, username=f"clerk{i:03d}")
    client = client_for(people.county_manager)
    first = client.get(reverse("chat_direct")).content.decode()
    assert 'rel="next"' in first and "page=2" in first
    second = client.get(reverse("chat_direct"), {"page": "2"}).content.decode()
    assert 'rel="next"' not in second
    assert "clerk034" in second or "clerk034" in first
    assert client.get(reverse("chat_direct"), {"page": "x"}).status_code == 200


def test_presence_json_answers_only_for_people_in_the_directory(client_for, tree, people):
    services.presence_beat(people.county_manager)
    services.presence_beat(people.sibling_staff)
    ids = f"{people.county_manager.pk},{people.sibling_staff.pk},{people.county_staff.pk},x"
    data = client_for(people.school_staff).get(
        reverse("chat_directory_presence"), {"ids": ids}, HTTP_ACCEPT="application/json"
    )
    assert data.status_code == 200
    assert data.json() == {
        "presence": {
            str(people.county_manager.pk): "online",
            str(people.county_staff.pk): "offline",
        }
    }


def test_one_click_opens_the_direct_room(client_for, tree, people):
    client = client_for(people.school_staff)
    answer = client.post(reverse("chat_direct"), {"username": "county-boss"})
    room = Room.objects.get(kind=RoomKind.DIRECT)
    assert answer.status_code == 302 and answer.url == reverse("chat_room", args=[room.pk])
    assert selectors.is_member(people.county_manager, room)
    # Again: the same room, not a second one.
    assert client.post(reverse("chat_direct"), {"username": "county-boss"}).url == answer.url
    assert Room.objects.filter(kind=RoomKind.DIRECT).count() == 1


def test_someone_outside_the_rule_is_refused_with_a_reason(client_for, tree, people):
    page = client_for(people.school_staff).post(reverse("chat_direct"), {"username": "bj-boss"})
    assert page.status_code == 200
    assert not Room.objects.filter(kind=RoomKind.DIRECT).exists()
