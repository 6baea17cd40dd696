"""The statistics' not-read and not-acknowledged lists (issue 15 item 3): complete and
paged past the old cap of 200 units, with their counts, and the units with nobody to
read yet ("尚无账号") listed apart and not counted as not read — at the county (counted
from the tree) and above it (from the tallies and the incomplete buckets)."""

import re

import pytest
from django.urls import reverse

from accounts import services as accounts_services
from accounts.models import Level
from notices import selectors, services
from tests import factories
from tests.notices.helpers import send

SCHOOLS = 230  # more than the old silent cap of 200
EMPTY = 7  # schools without an account yet
READERS = 11  # schools where someone read


@pytest.fixture
def big_county(tree, people):
    """长安区 with SCHOOLS schools of one staff each and EMPTY schools with no account;
    READERS of the staffed schools have read, two of them also acknowledged."""
    staffed, empty = [], []
    for i in range(SCHOOLS + EMPTY):
        school = accounts_services.unit_create(
            level=Level.SCHOOL,
            code=f"130102{i + 100:04d}",
            name=f"长安区第{i}小学",
            parent=tree.county,
        )
        if i < SCHOOLS:
            staffed.append((school, factories.staff(school, username=f"clerk{i:04d}")))
        else:
            empty.append(school)
    notice = send(
        people.province_manager,
        to=["130000"],
        levels=["school"],
        requires_ack=True,
    )
    for _school, account in staffed[:READERS]:
        services.notice_mark_read(account=account, notice=notice)
    for _school, account in staffed[:2]:
        services.notice_acknowledge(account=account, notice=notice, reply="")
    return notice, staffed, empty


def all_pages(read, **kw):
    found, page = [], 1
    while True:
        items, more = read(page=page, per_page=100, **kw)
        found += items
        if not more:
            return found, page
        page += 1


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["county", "prefecture", "province"])
def test_every_unread_school_is_listed_across_pages(tree, people, big_county, where):
    notice, staffed, empty = big_county
    unit = getattr(tree, where)
    # The fixture's own schools lag too (长安区第一中学; 桥西区's above the county).
    behind = [s for s, _a in staffed[READERS:]] + [tree.school]
    if where != "county":
        behind.append(tree.sibling_school)
    behind.sort(key=lambda u: u.path)
    found, pages = all_pages(selectors.lagging_units, notice=notice, unit=unit)
    assert [u.pk for u in found] == [u.pk for u in behind]
    assert pages == 3
    # No school without accounts among them: they are listed apart.
    apart, _pages = all_pages(selectors.unstaffed_units, notice=notice, unit=unit)
    assert {u.pk for u in apart} == {u.pk for u in empty}
    count_behind, count_apart = selectors.lag_counts(notice=notice, unit=unit)
    assert (count_behind, count_apart) == (len(behind), EMPTY)


@pytest.mark.django_db
def test_not_acknowledged_lists_and_counts(tree, people, big_county):
    notice, staffed, empty = big_county
    for unit in (tree.county, tree.province):
        found, _pages = all_pages(selectors.lagging_units, notice=notice, unit=unit, mode="unacked")
        assert staffed[0][0] not in found and staffed[2][0] in found
        assert not set(found) & set(empty)
        behind, apart = selectors.lag_counts(notice=notice, unit=unit, mode="unacked")
        assert behind == len(found) and apart == EMPTY
    people_behind, _pages = all_pages(
        selectors.lagging_people, notice=notice, unit=tree.county, mode="unacked"
    )
    assert len(people_behind) == SCHOOLS - 2 + tree.school.accounts.count()


@pytest.mark.django_db
def test_the_page_heads_each_list_with_its_count_and_pages_it(client_for, tree, people, big_county):
    notice, staffed, empty = big_county
    client = client_for(people.province_manager)
    url = reverse("notice_stats", args=[notice.pk])
    behind = SCHOOLS - READERS + 1  # and the fixture's own 长安区第一中学 (its staff)
    html = client.get(url, {"unit": tree.county.code}).content.decode()
    heading = re.search(r'id="lag-units-heading">([^<]*)<', html).group(1)
    assert f"({behind})" in heading
    assert f"({EMPTY})" in re.search(r'id="lag-unstaffed-heading">([^<]*)<', html).group(1)
    listed = re.search(r'<ul class="plain" id="lag-units">(.*?)</ul>', html, re.S).group(1)
    assert listed.count("<li>") == 100
    assert "lag_units_page=2" in html
    last = client.get(url, {"unit": tree.county.code, "lag_units_page": "3"}).content.decode()
    listed = re.search(r'<ul class="plain" id="lag-units">(.*?)</ul>', last, re.S).group(1)
    assert listed.count("<li>") == behind - 200
    assert "lag_units_page=4" not in last
    # The units without accounts are never in the not-read list.
    for school in empty:
        assert school.code not in re.search(r'id="lag-units">(.*?)</ul>', html, re.S).group(1)
    apart = re.search(r'id="lag-unstaffed">(.*?)</ul>', html, re.S).group(1)
    assert all(school.code in apart for school in empty)
    # Bad page numbers fall back to the first page.
    assert client.get(url, {"unit": tree.county.code, "lag_units_page": "x"}).status_code == 200
