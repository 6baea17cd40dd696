"""Who sees and acts on what: everything within one's own subtree, nothing above or beside."""

import pytest

from accounts.models import Account, Role
from tests import factories

ACTIONS = ["reissue", "disable", "enable", "hand-over"]


def act(client, account, action):
    return client.post(f"/people/{account.pk}/{action}/", {"full_name": "新人"})


@pytest.mark.parametrize("action", ACTIONS)
def test_county_manager_cannot_act_on_a_sibling_county_account(
    county_manager, sibling_staff, client_for, action
):
    password = sibling_staff.password
    response = act(client_for(county_manager), sibling_staff, action)
    assert response.status_code == 404
    sibling_staff.refresh_from_db()
    assert sibling_staff.is_active and sibling_staff.password == password


@pytest.mark.parametrize("action", ACTIONS)
def test_county_manager_cannot_act_on_a_province_account(county_manager, tree, client_for, action):
    above = factories.staff(tree.province)
    assert act(client_for(county_manager), above, action).status_code == 404
    above.refresh_from_db()
    assert above.is_active and not above.must_change_password


def test_county_manager_cannot_open_the_hand_over_page_of_a_sibling_account(
    county_manager, sibling_staff, client_for
):
    response = client_for(county_manager).get(f"/people/{sibling_staff.pk}/hand-over/")
    assert response.status_code == 404


@pytest.mark.parametrize("code", ["130000", "130100", "130104", "1301040001", "110000", "000000"])
def test_county_manager_cannot_open_units_above_or_beside_it(county_manager, client_for, code):
    assert client_for(county_manager).get(f"/units/{code}/").status_code == 404


@pytest.mark.parametrize("code", ["130102", "1301020001"])
def test_county_manager_opens_its_own_unit_and_those_below(county_manager, client_for, code):
    assert client_for(county_manager).get(f"/units/{code}/").status_code == 200


def test_an_unknown_unit_code_is_404(county_manager, client_for):
    assert client_for(county_manager).get("/units/999999/").status_code == 404


def test_the_people_list_shows_only_the_managers_subtree(
    county_manager, county_staff, sibling_staff, province_manager, tree, client_for
):
    school_staff = factories.staff(tree.school, username="school-clerk")
    html = client_for(county_manager).get("/people/").content.decode()
    for shown in (county_manager, county_staff, school_staff):
        assert f'data-username="{shown.username}"' in html
    for hidden in (sibling_staff, province_manager):
        assert f'data-username="{hidden.username}"' not in html


def test_the_people_list_filtered_by_a_unit_outside_the_subtree_is_404(county_manager, client_for):
    assert client_for(county_manager).get("/people/?unit=130104").status_code == 404


def test_a_manager_cannot_act_on_itself(county_manager, client_for):
    client = client_for(county_manager)
    for action in ACTIONS:
        assert act(client, county_manager, action).status_code == 404
    county_manager.refresh_from_db()
    assert county_manager.is_active


def test_a_manager_cannot_act_on_a_fellow_manager_of_its_unit(county_manager, tree, client_for):
    fellow = factories.manager(tree.county)
    for action in ACTIONS:
        assert act(client_for(county_manager), fellow, action).status_code == 404
    fellow.refresh_from_db()
    assert fellow.is_active and not fellow.must_change_password


def test_a_manager_can_disable_staff_of_its_own_unit(county_manager, county_staff, client_for):
    assert act(client_for(county_manager), county_staff, "disable").status_code == 302
    county_staff.refresh_from_db()
    assert not county_staff.is_active


def test_a_province_manager_can_act_on_county_accounts(
    province_manager, county_manager, client_for
):
    client = client_for(province_manager)
    assert act(client, county_manager, "disable").status_code == 302
    county_manager.refresh_from_db()
    assert not county_manager.is_active
    assert act(client, county_manager, "reissue").status_code == 302


@pytest.mark.parametrize("path", ["/people/", "/people/issue/", "/audit/"])
def test_staff_are_forbidden_manager_pages(county_staff, client_for, path):
    assert client_for(county_staff).get(path).status_code == 403


def test_staff_cannot_act_on_accounts_of_their_unit(county_staff, tree, client_for):
    colleague = factories.staff(tree.county)
    assert act(client_for(county_staff), colleague, "disable").status_code == 403
    colleague.refresh_from_db()
    assert colleague.is_active


def test_staff_cannot_open_a_sibling_unit(county_staff, client_for):
    assert client_for(county_staff).get("/units/130104/").status_code == 404


def test_the_trail_never_shows_units_above_the_manager(county_manager, client_for):
    html = client_for(county_manager).get("/units/1301020001/").content.decode()
    assert "长安区第一中学" in html and 'href="/units/130102/"' in html
    assert "石家庄市" not in html and "河北省" not in html


def test_staff_may_open_their_own_unit(county_staff, client_for):
    assert client_for(county_staff).get("/units/130102/").status_code == 200


@pytest.mark.parametrize("path", ["/", "/units/", "/units/130102/", "/people/", "/audit/"])
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.url.startswith("/auth/login/?next=")


def test_an_account_without_a_unit_is_forbidden(db, client_for):
    unbound = factories.AccountFactory(unit=None, role=Role.MANAGER)
    assert client_for(unbound).get("/").status_code == 403


def test_issuing_for_a_unit_outside_the_subtree_shows_an_error(county_manager, client_for):
    before = Account.objects.count()
    response = client_for(county_manager).post(
        "/people/issue/",
        {"mode": "single", "one-unit_code": "130104", "one-role": "staff"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "No unit with this code in your jurisdiction." in response.content.decode()
    assert Account.objects.count() == before


def test_bulk_issuing_outside_the_subtree_shows_an_error(county_manager, client_for):
    response = client_for(county_manager).post(
        "/people/issue/",
        {
            "mode": "bulk",
            "bulk-unit_code": "130100",
            "bulk-scope": "children",
            "bulk-roles": "staff",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "No unit with this code in your jurisdiction." in response.content.decode()
    assert Account.objects.count() == 1


def test_issuing_a_manager_for_ones_own_unit_through_the_form_is_refused(
    county_manager, client_for
):
    response = client_for(county_manager).post(
        "/people/issue/",
        {"mode": "single", "one-unit_code": "130102", "one-role": "manager"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "come from the level above" in response.content.decode()
    assert Account.objects.count() == 1


def test_issuing_through_the_form_leads_to_the_batch(county_manager, tree, client_for):
    response = client_for(county_manager).post(
        "/people/issue/",
        {"mode": "single", "one-unit_code": "1301020001", "one-role": "manager"},
    )
    assert response.status_code == 302
    assert tree.school.accounts.get().username == "1301020001-m1"
