"""Issue 15 (rough edges): a spent initial code at login says so and whom to ask, but
only for a code really issued to that username; guesses still get the plain refusal."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from accounts import services
from accounts.forms import STALE_CODE
from accounts.models import InitialCode
from tests.accounts.helpers import LOGIN_URL, issue


def _error(username: str, password: str) -> str:
    response = Client().post(LOGIN_URL, {"login": username, "password": password})
    assert response.status_code == 200  # refused: the form again
    assert "_auth_user_id" not in response.wsgi_request.session
    return response.content.decode()


def _zh(message) -> str:
    with translation.override("zh-hans"):
        return str(message)


def _mismatch() -> str:
    with translation.override("zh-hans"):
        from allauth.account.adapter import DefaultAccountAdapter

        return str(DefaultAccountAdapter.error_messages["username_password_mismatch"])


@pytest.fixture
def issued(county_manager, tree):
    return issue(county_manager, tree.county, full_name="李雷")


def test_a_used_code_says_it_was_used(issued):
    account, code = issued
    assert services.initial_code_consume(account=account, code=code)
    html = _error(account.username, code)
    assert _zh(STALE_CODE["used"]) in html
    assert _zh(STALE_CODE["used"]).startswith("该初始口令已使用过")
    assert _mismatch() not in html


def test_an_expired_code_says_to_ask_for_a_re_issue(issued):
    account, code = issued
    InitialCode.objects.filter(account=account).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    html = _error(account.username.upper(), code)  # usernames are case-insensitive
    assert _zh(STALE_CODE["expired"]) in html
    assert _mismatch() not in html


def test_a_replaced_code_says_so(issued, county_manager):
    account, code = issued
    services.account_reissue(actor=county_manager, account=account)
    html = _error(account.username, code)
    assert _zh(STALE_CODE["replaced"]) in html


def test_guesses_learn_nothing(issued, county_staff):
    account, code = issued
    assert services.initial_code_consume(account=account, code=code)
    other = services.initial_code_new()
    stale = [_zh(m) for m in STALE_CODE.values()]
    for username, password in [
        (account.username, other),  # a real account, a code never issued to it
        ("nobody-here", code),  # a spent code typed with an unknown username
        (county_staff.username, code),  # another account's spent code
        ("nobody-here", other),
    ]:
        html = _error(username, password)
        assert _mismatch() in html
        assert not any(m in html for m in stale)


def test_the_stale_code_messages_are_translated():
    assert _zh(STALE_CODE["expired"]).startswith("该初始口令已过期")
    assert _zh(STALE_CODE["replaced"]).startswith("该初始口令已被新口令取代")
