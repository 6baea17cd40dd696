"""Two-factor for senior managers when the setting asks for it; the per-account login lock
(accounts/login_limits.py; the shared-network cases are in test_lockout.py)."""

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from tests import factories
from tests.accounts.helpers import LOGIN_URL, is_logged_in, log_in


@pytest.fixture
def mfa_required(settings):
    settings.MFA_REQUIRED_FOR_SENIOR_MANAGERS = True


def test_a_province_manager_without_totp_is_sent_to_activate_it(
    mfa_required, province_manager, client_for
):
    response = client_for(province_manager).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/auth/2fa/totp/activate/"


def test_an_api_call_of_a_province_manager_without_totp_is_refused(
    mfa_required, province_manager, client_for
):
    response = client_for(province_manager).get("/people/", HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "mfa_required"


def test_a_province_manager_with_totp_gets_in(mfa_required, province_manager, client_for):
    Authenticator.objects.create(user=province_manager, type=Authenticator.Type.TOTP, data={})
    assert client_for(province_manager).get("/").status_code == 200


def test_a_county_manager_needs_no_totp(mfa_required, county_manager, client_for):
    assert client_for(county_manager).get("/").status_code == 200


def test_without_the_setting_no_one_is_forced(province_manager, client_for):
    assert client_for(province_manager).get("/").status_code == 200


def test_after_five_failed_logins_even_the_right_password_is_refused(county_staff):
    for _ in range(5):
        log_in(county_staff.username, "wrong-password")
    client = Client()
    response = client.post(
        LOGIN_URL, {"login": county_staff.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 429
    assert not is_logged_in(client)


def test_failures_on_another_account_do_not_lock_this_one(county_staff, sibling_staff):
    for _ in range(5):
        log_in(sibling_staff.username, "wrong-password")
    assert is_logged_in(log_in(county_staff.username, factories.PASSWORD))
