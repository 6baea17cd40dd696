"""Login limits that suit shared networks (issue 14, item 1; accounts/login_limits.py):
the lock is per account, a shared address first meets a CAPTCHA and is refused only far
later, and every refusal is a 429 that says how long to wait, with Retry-After."""

import re
import time

import pytest
import time_machine
from captcha.models import CaptchaStore
from django.conf import settings as django_settings
from django.test import Client
from django.utils import translation

from accounts import login_limits, services
from accounts.adapters import wait_text
from accounts.models import AuditAction, AuditEvent, IssueKind, Level
from tests import factories
from tests.accounts.helpers import LOGIN_URL, is_logged_in

COUNTY_NAT = "203.0.113.7"  # one address for a county's schools and bureau
ELSEWHERE = "198.51.100.20"


def _post(username, password, *, ip=COUNTY_NAT, client=None, **extra):
    client = client or Client(REMOTE_ADDR=ip)
    response = client.post(LOGIN_URL, {"login": username, "password": password, **extra})
    return client, response


def _mistyped(code: str) -> str:
    """An initial code with one character changed: still shaped like a code."""
    first = "B" if code[0] != "B" else "C"
    return first + code[1:]


def _zh(text_function, *args) -> str:
    with translation.override("zh-hans"):
        return text_function(*args)


def _limit(name):
    return login_limits.limit(name)


@pytest.fixture
def forty_schools(tree, county_manager):
    """40 schools of one county, each with a fresh staff account and its initial code."""
    for n in range(1, 41):
        factories.unit(Level.SCHOOL, f"130102{n + 100:04d}", f"长安区第{n}学校", tree.county)
    result = services.accounts_issue_bulk(
        actor=county_manager, root=tree.county, scope=IssueKind.SCHOOLS, roles="staff"
    )
    rows = [row for row in result.rows if row.unit_code != tree.school.code]
    assert len(rows) == 40
    return [(row.username, row.code) for row in rows]


def test_forty_schools_behind_one_address_while_five_mistype_their_codes(forty_schools):
    typists, careful = forty_schools[:5], forty_schools[5:]
    failures = _limit("ACCOUNT_FAILURES")
    # The settings leave room: the mistypes stay below the CAPTCHA's threshold.
    assert 5 * failures < _limit("CAPTCHA_IP_FAILURES")
    refused, logged_in, locked = [], 0, []
    # Interleaved: between each round of mistypes, seven careful schools log in.
    for round_ in range(failures):
        for username, code in typists:
            _, response = _post(username, _mistyped(code))
            if round_ < failures - 1:
                assert response.status_code == 200  # the form again, "wrong code"
                assert "captcha" not in response.content.decode()
            else:
                locked.append(response)
        for username, code in careful[round_ * 7 : round_ * 7 + 7]:
            client, response = _post(username, code)
            if response.status_code != 302 or not is_logged_in(client):
                refused.append((username, response.status_code))
            else:
                logged_in += 1
    assert refused == []
    assert logged_in == 35
    # The five are locked, each per account, with the wait and what to do.
    with translation.override("zh-hans"):
        wait = wait_text(_limit("ACCOUNT_LOCK") // 60)
        advice = "请联系上级单位的管理员"
    for response in locked:
        assert response.status_code == 429
        assert 0 < int(response["Retry-After"]) <= _limit("ACCOUNT_LOCK")
        page = response.content.decode()
        assert wait in page
        assert advice in page
        assert "重新签发" in page
    # Even the right code is refused while locked; the next school still gets in.
    _, response = _post(typists[0][0], typists[0][1])
    assert response.status_code == 429
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 5 * failures


def test_a_locked_account_says_how_long_is_left(county_staff):
    for _ in range(_limit("ACCOUNT_FAILURES")):
        _post(county_staff.username, "wrong-password")
    _, response = _post(county_staff.username, factories.PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) == pytest.approx(_limit("ACCOUNT_LOCK"), abs=5)
    assert _zh(wait_text, 5) in response.content.decode()
    with time_machine.travel(time.time() + 125, tick=False):
        _, response = _post(county_staff.username, factories.PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) == pytest.approx(_limit("ACCOUNT_LOCK") - 125, abs=5)
    assert _zh(wait_text, 3) in response.content.decode()
    # A password, not an initial code, was typed: the advice is for a forgotten password.
    assert "忘记" in response.content.decode()


def test_a_json_request_to_a_locked_account_gets_json_and_retry_after(county_staff):
    for _ in range(_limit("ACCOUNT_FAILURES")):
        _post(county_staff.username, "wrong-password")
    client = Client(REMOTE_ADDR=COUNTY_NAT, HTTP_ACCEPT="application/json")
    response = client.post(LOGIN_URL, {"login": county_staff.username, "password": "x"})
    assert response.status_code == 429
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "account_locked"
    assert _zh(wait_text, 5) in body["detail"]
    assert int(response["Retry-After"]) > 0


def test_an_unknown_username_is_answered_like_a_real_one(county_staff):
    answers = []
    for username in (county_staff.username, "no-such-account"):
        for _ in range(_limit("ACCOUNT_FAILURES") - 1):
            _, response = _post(username, "wrong-password")
            assert response.status_code == 200
        _, response = _post(username, "wrong-password")
        assert response.status_code == 429
        assert response["Retry-After"]
        answers.append(response.content)
    assert answers[0] == answers[1]


def test_the_lock_expires(county_staff):
    for _ in range(_limit("ACCOUNT_FAILURES")):
        _post(county_staff.username, "wrong-password")
    client, response = _post(county_staff.username, factories.PASSWORD)
    assert response.status_code == 429 and not is_logged_in(client)
    with time_machine.travel(time.time() + _limit("ACCOUNT_LOCK") + 1, tick=False):
        client, response = _post(county_staff.username, factories.PASSWORD)
        assert response.status_code == 302
        assert is_logged_in(client)


def test_a_successful_login_starts_the_count_again(county_staff):
    for _ in range(_limit("ACCOUNT_FAILURES") - 1):
        _post(county_staff.username, "wrong-password")
    assert is_logged_in(_post(county_staff.username, factories.PASSWORD)[0])
    for _ in range(_limit("ACCOUNT_FAILURES") - 1):
        _, response = _post(county_staff.username, "wrong-password")
        assert response.status_code == 200
    assert is_logged_in(_post(county_staff.username, factories.PASSWORD)[0])


def _fail_from(ip, count):
    """`count` failed logins from `ip`, spread over usernames so no single one locks."""
    per_name = _limit("ACCOUNT_FAILURES") - 1
    for n in range(count):
        _post(f"guess-{n // per_name}", "wrong-password", ip=ip)


def _captcha_key(page: str) -> str:
    return re.search(r'name="captcha_0" value="([0-9a-f]+)"', page).group(1)


def test_past_the_captcha_threshold_the_form_asks_for_one_and_logs_in_when_answered(
    county_staff,
):
    _fail_from(COUNTY_NAT, _limit("CAPTCHA_IP_FAILURES"))
    client = Client(REMOTE_ADDR=COUNTY_NAT)
    page = client.get(LOGIN_URL).content.decode()
    key = _captcha_key(page)
    image = re.search(r'<img src="([^"]+)"', page).group(1)
    served = client.get(image)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    # Without the answer: the form again, and no password checked.
    _, response = _post(county_staff.username, factories.PASSWORD, client=client)
    assert response.status_code == 200 and not is_logged_in(client)
    # With the answer, read from the CAPTCHA's store as a person would read the picture.
    page = response.content.decode()
    key = _captcha_key(page)
    answer = CaptchaStore.objects.get(hashkey=key).response
    _, response = _post(
        county_staff.username,
        factories.PASSWORD,
        client=client,
        captcha_0=key,
        captcha_1=answer,
    )
    assert response.status_code == 302
    assert is_logged_in(client)
    # Another address sees no CAPTCHA.
    assert "captcha_0" not in Client(REMOTE_ADDR=ELSEWHERE).get(LOGIN_URL).content.decode()


def test_the_failure_that_crosses_the_threshold_already_shows_the_captcha(db):
    _fail_from(COUNTY_NAT, _limit("CAPTCHA_IP_FAILURES") - 1)
    _, response = _post("someone", "wrong-password")
    assert response.status_code == 200
    assert 'name="captcha_0"' in response.content.decode()


def test_an_ipv6_client_is_counted_by_its_64_network(db):
    _fail_from("2001:db8:1:2::10", _limit("CAPTCHA_IP_FAILURES"))
    neighbour = Client(REMOTE_ADDR="2001:db8:1:2:ffff::99")
    assert 'name="captcha_0"' in neighbour.get(LOGIN_URL).content.decode()
    other_network = Client(REMOTE_ADDR="2001:db8:1:3::10")
    assert 'name="captcha_0"' not in other_network.get(LOGIN_URL).content.decode()


def test_a_wrong_captcha_answer_checks_no_password(county_staff):
    _fail_from(COUNTY_NAT, _limit("CAPTCHA_IP_FAILURES"))
    client = Client(REMOTE_ADDR=COUNTY_NAT)
    key = _captcha_key(client.get(LOGIN_URL).content.decode())
    _, response = _post(
        county_staff.username, factories.PASSWORD, client=client, captcha_0=key, captcha_1="zzzz"
    )
    assert response.status_code == 200
    assert not is_logged_in(client)


@pytest.fixture
def low_network_cap(settings):
    """The far higher per-address cap, scaled down to keep the test short; its order
    relative to the CAPTCHA's threshold is the configured one."""
    assert _limit("IP_FAILURES") >= 10 * _limit("CAPTCHA_IP_FAILURES")
    settings.LOGIN_LIMITS = {**django_settings.LOGIN_LIMITS, "IP_FAILURES": 40}


def test_beyond_the_per_address_cap_logins_are_refused_with_retry_after(
    low_network_cap, county_staff
):
    _fail_from(COUNTY_NAT, _limit("CAPTCHA_IP_FAILURES"))
    # Past the CAPTCHA: a bot that does not answer it keeps failing.
    client = Client(REMOTE_ADDR=COUNTY_NAT)
    response = None
    for _ in range(_limit("IP_FAILURES")):
        _, response = _post("bot-target", "guess", client=client, captcha_0="x", captcha_1="y")
        if response.status_code == 429:
            break
    assert response.status_code == 429
    assert int(response["Retry-After"]) == _limit("IP_BLOCK")
    assert _zh(wait_text, _limit("IP_BLOCK") // 60) in response.content.decode()
    # Every login from the address is refused now, even a right password with a CAPTCHA.
    _, response = _post(county_staff.username, factories.PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    # Another address is not.
    assert is_logged_in(_post(county_staff.username, factories.PASSWORD, ip=ELSEWHERE)[0])


def test_allauth_s_own_429_says_how_long_to_wait(settings, tree):
    settings.ACCOUNT_RATE_LIMITS = {
        **django_settings.ACCOUNT_RATE_LIMITS,
        "reset_password": "2/m/ip",
    }
    client = Client(REMOTE_ADDR=COUNTY_NAT)
    for _ in range(2):
        client.post("/auth/password/reset/", {"email": "someone@example.org"})
    response = client.post("/auth/password/reset/", {"email": "someone@example.org"})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert _zh(wait_text, 1) in response.content.decode()
    response = client.post(
        "/auth/password/reset/", {"email": "x@example.org"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_requests"


def test_expired_captchas_are_purged(db):
    from datetime import timedelta

    from django.utils import timezone

    old = CaptchaStore.objects.create(challenge="ABCD", response="abcd")
    CaptchaStore.objects.filter(pk=old.pk).update(expiration=timezone.now() - timedelta(minutes=1))
    live = CaptchaStore.objects.create(challenge="EFGH", response="efgh")
    assert login_limits.purge_expired_captchas() == 1
    assert list(CaptchaStore.objects.values_list("pk", flat=True)) == [live.pk]


def test_wrong_two_factor_codes_are_still_limited_per_account(county_staff):
    """allauth MFA counts wrong TOTP codes with allauth's "login_failed" limit, which
    stays on per account while password failures are counted by login_limits."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(county_staff, generate_totp_secret())
    client, response = _post(county_staff.username, factories.PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/auth/2fa/authenticate/"
    answers = []
    for _ in range(6):
        response = client.post("/auth/2fa/authenticate/", {"code": "000000"})
        answers.append(response.content.decode())
    with translation.override("zh-hans"):
        from allauth.account.adapter import get_adapter

        too_many = str(get_adapter().error_messages["too_many_login_attempts"])
    assert too_many not in answers[0]
    assert too_many in answers[-1]
    assert not is_logged_in(client)
