"""Re-issue, disable, enable and hand over: what the person behind the account notices."""

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from accounts import services
from accounts.models import AuditEvent, IssueBatch
from tests import factories
from tests.accounts.helpers import is_logged_in, log_in


@pytest.fixture
def manager_client(county_manager, client_for):
    return client_for(county_manager)


@pytest.fixture
def target_client(county_staff):
    """The target account's own browser, logged in with its password."""
    client = log_in(county_staff.username, factories.PASSWORD)
    assert client.get("/").status_code == 200
    return client


def batch_from(response):
    """The issue batch a re-issue or hand-over redirects to."""
    assert response.status_code == 302
    return IssueBatch.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))


def sheet_code(manager, batch):
    """The one initial code of a batch, as its credential sheet hands it down."""
    (row,) = services.credential_sheet_rows(actor=manager, batch=batch)
    return row.code


def test_reissue_ends_the_accounts_open_sessions(manager_client, county_staff, target_client):
    manager_client.post(f"/people/{county_staff.pk}/reissue/")
    response = target_client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/auth/login/")


def test_reissue_gives_a_new_working_code_and_stops_the_old_password(
    county_manager, manager_client, county_staff
):
    response = manager_client.post(f"/people/{county_staff.pk}/reissue/")
    batch = batch_from(response)
    assert batch.codes.get().account == county_staff
    assert not is_logged_in(log_in(county_staff.username, factories.PASSWORD))
    client = log_in(county_staff.username, sheet_code(county_manager, batch))
    assert is_logged_in(client)
    assert client.get("/").url.startswith("/password/first/")


def test_reissue_is_audited(manager_client, county_staff):
    manager_client.post(f"/people/{county_staff.pk}/reissue/")
    event = AuditEvent.objects.get(action="account.reissued")
    assert (event.actor_username, event.target_username) == ("county-boss", "county-clerk")


def test_a_disabled_account_cannot_log_in(manager_client, county_staff):
    manager_client.post(f"/people/{county_staff.pk}/disable/")
    assert not is_logged_in(log_in(county_staff.username, factories.PASSWORD))


def test_disabling_ends_the_accounts_open_sessions(manager_client, county_staff, target_client):
    manager_client.post(f"/people/{county_staff.pk}/disable/")
    response = target_client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/auth/login/")


def test_an_enabled_account_can_log_in_again(manager_client, county_staff):
    manager_client.post(f"/people/{county_staff.pk}/disable/")
    manager_client.post(f"/people/{county_staff.pk}/enable/")
    county_staff.refresh_from_db()
    assert county_staff.is_active
    assert is_logged_in(log_in(county_staff.username, factories.PASSWORD))


def test_disable_and_enable_are_audited(manager_client, county_staff):
    manager_client.post(f"/people/{county_staff.pk}/disable/")
    manager_client.post(f"/people/{county_staff.pk}/enable/")
    actions = AuditEvent.objects.filter(target=county_staff).values_list("action", flat=True)
    assert sorted(actions) == ["account.disabled", "account.enabled"]


def test_disabling_twice_writes_one_audit_row(manager_client, county_staff):
    manager_client.post(f"/people/{county_staff.pk}/disable/")
    manager_client.post(f"/people/{county_staff.pk}/disable/")
    assert AuditEvent.objects.filter(action="account.disabled").count() == 1


def test_disabling_returns_to_a_local_next_page_only(manager_client, county_staff):
    response = manager_client.post(
        f"/people/{county_staff.pk}/disable/", {"next": "https://evil.example/"}
    )
    assert response.url == "/people/"


def test_actions_need_a_post(manager_client, county_staff):
    assert manager_client.get(f"/people/{county_staff.pk}/disable/").status_code == 405
    county_staff.refresh_from_db()
    assert county_staff.is_active


def test_hand_over_renames_and_issues_a_new_code(county_manager, manager_client, county_staff):
    response = manager_client.post(
        f"/people/{county_staff.pk}/hand-over/", {"full_name": "李四", "phone": "138 1234 5678"}
    )
    batch = batch_from(response)
    county_staff.refresh_from_db()
    assert (county_staff.full_name, county_staff.phone) == ("李四", "13812345678")
    assert not is_logged_in(log_in(county_staff.username, factories.PASSWORD))
    assert is_logged_in(log_in(county_staff.username, sheet_code(county_manager, batch)))


def test_hand_over_refuses_a_phone_that_is_no_phone(manager_client, county_staff):
    response = manager_client.post(
        f"/people/{county_staff.pk}/hand-over/", {"full_name": "李四", "phone": "123"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["phone"]
    county_staff.refresh_from_db()
    assert county_staff.full_name != "李四"


def test_hand_over_removes_the_two_factor_devices(manager_client, county_staff):
    Authenticator.objects.create(user=county_staff, type=Authenticator.Type.TOTP, data={})
    manager_client.post(f"/people/{county_staff.pk}/hand-over/", {"full_name": "李四"})
    assert not Authenticator.objects.filter(user=county_staff).exists()


def test_hand_over_keeps_the_accounts_history(manager_client, county_staff):
    log_in(county_staff.username, factories.PASSWORD)
    past = set(AuditEvent.objects.filter(target=county_staff).values_list("pk", flat=True))
    manager_client.post(f"/people/{county_staff.pk}/hand-over/", {"full_name": "李四"})
    after = set(AuditEvent.objects.filter(target=county_staff).values_list("pk", flat=True))
    assert past and past < after


def test_hand_over_is_audited_with_both_names(manager_client, county_staff):
    old_name = county_staff.full_name
    manager_client.post(f"/people/{county_staff.pk}/hand-over/", {"full_name": "李四"})
    event = AuditEvent.objects.get(action="account.handed_over")
    assert event.detail == {"from": old_name, "to": "李四"}
    assert event.target == county_staff


def test_hand_over_without_a_name_changes_nothing(manager_client, county_staff):
    response = manager_client.post(f"/people/{county_staff.pk}/hand-over/", {"full_name": " "})
    assert response.status_code == 200
    county_staff.refresh_from_db()
    assert is_logged_in(log_in(county_staff.username, factories.PASSWORD))
    assert not AuditEvent.objects.filter(action="account.handed_over").exists()


def test_hand_over_ends_the_accounts_open_sessions(manager_client, county_staff, target_client):
    manager_client.post(f"/people/{county_staff.pk}/hand-over/", {"full_name": "李四"})
    assert target_client.get("/").url.startswith("/auth/login/")


def test_a_reissued_account_left_alone_keeps_other_accounts_sessions(
    manager_client, county_staff, tree
):
    other = factories.staff(tree.county)
    other_client = Client()
    other_client.force_login(other)
    manager_client.post(f"/people/{county_staff.pk}/reissue/")
    assert other_client.get("/").status_code == 200
