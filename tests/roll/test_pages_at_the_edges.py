"""The problem-record pages where a real school or manager meets their limits: big
bulk resolves, forged ids, a school with more records than one page shows, the
day's inbox entry, key labels and the keys a Ministry manager oversees, and a
county overview that names every school."""

import pytest
from django.utils import timezone

from accounts.models import Level
from notices import selectors as notice_selectors
from roll import selectors, services
from roll.models import ArrivalNotice, ProblemRecord, RollKey
from tests import factories
from tests.roll.helpers import alert


def _intake(key, n, *, school="1301020001", prefix="A", now=None):
    alerts = [alert(f"{prefix}-{i:05d}", school=school) for i in range(n)]
    result = services.intake(key=key, payload={"alerts": alerts}, now=now)
    assert result["accepted"] == n, result
    return result


def test_a_school_resolves_several_thousand_records_in_one_post(tree, hebei_key, client_for):
    _intake(hebei_key[0], 2500)
    ids = list(ProblemRecord.objects.values_list("pk", flat=True))
    client = client_for(factories.staff(tree.school))
    response = client.post(
        "/roll/records/", {"record": ids, "action": "resolve", "note": "已核对更正"}, follow=True
    )
    assert "2500" in response.content.decode()
    assert ProblemRecord.objects.filter(status="resolved").count() == 2500


def test_an_id_past_the_integer_range_is_refused_not_a_crash(tree, hebei_key, client_for):
    _intake(hebei_key[0], 1)
    [pk] = ProblemRecord.objects.values_list("pk", flat=True)
    client = client_for(factories.staff(tree.school))
    response = client.post(
        "/roll/records/", {"record": [str(pk), "9" * 30], "action": "resolve", "note": "x"}
    )
    assert response.status_code == 302
    assert ProblemRecord.objects.get().status == "open"


def test_a_school_with_more_records_than_a_page_is_told_how_many_wait(
    tree, hebei_key, client_for, monkeypatch
):
    monkeypatch.setattr(selectors, "PAGE_LIMIT", 10)
    _intake(hebei_key[0], 12)
    html = client_for(factories.staff(tree.school)).get("/roll/").content.decode()
    assert 'id="roll-more"' in html and "12" in html
    assert html.count('name="record"') == 10


def test_new_records_leave_one_inbox_entry_a_day_for_the_school_and_its_county_managers(
    tree, hebei_key
):
    key = hebei_key[0]
    school_staff = factories.staff(tree.school)
    county_manager = factories.manager(tree.county)
    county_staff = factories.staff(tree.county)
    _intake(key, 2, prefix="A")
    _intake(key, 1, prefix="B")
    assert services.sync_pending() == 2
    school_inbox = list(notice_selectors.inbox(account=school_staff))
    county_inbox = list(notice_selectors.inbox(account=county_manager))
    assert len(school_inbox) == 1 and len(county_inbox) == 1  # two batches, one entry a day
    assert school_inbox[0].title != county_inbox[0].title
    assert list(notice_selectors.inbox(account=county_staff)) == []  # managers only
    sibling = factories.staff(tree.sibling_school)
    assert list(notice_selectors.inbox(account=sibling)) == []  # a school without new records
    assert ArrivalNotice.objects.count() == 2


def test_the_next_day_brings_a_new_inbox_entry(tree, hebei_key):
    key = hebei_key[0]
    school_staff = factories.staff(tree.school)
    _intake(key, 1, prefix="A", now=timezone.now() - timezone.timedelta(days=1))
    services.sync_pending(now=timezone.now() - timezone.timedelta(days=1))
    _intake(key, 1, prefix="B")
    services.sync_pending()
    assert len(list(notice_selectors.inbox(account=school_staff))) == 2


def test_a_key_label_over_100_characters_is_refused(tree, client_for):
    client = client_for(factories.manager(tree.province))
    response = client.post("/roll/keys/", {"label": "长" * 101}, follow=True)
    assert "100" in response.content.decode()
    assert not RollKey.objects.exists()


def test_a_ministry_manager_sees_and_revokes_a_provinces_key(tree, hebei_key, client_for):
    key, _ = hebei_key
    client = client_for(factories.manager(tree.ministry))
    assert key.key_id in client.get("/roll/keys/").content.decode()
    assert client.post(f"/roll/keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_province_manager_does_not_see_another_provinces_keys(tree, beijing_key, client_for):
    key, _ = beijing_key
    html = client_for(factories.manager(tree.province)).get("/roll/keys/").content.decode()
    assert key.key_id not in html


@pytest.fixture
def quiet_school(tree):
    return factories.unit(Level.SCHOOL, "1301020009", "长安区无记录小学", tree.county)


def test_the_county_overview_lists_schools_without_records_too(
    tree, hebei_key, quiet_school, client_for
):
    _intake(hebei_key[0], 1)
    html = client_for(factories.manager(tree.county)).get("/roll/").content.decode()
    assert tree.school.name in html and quiet_school.name in html
