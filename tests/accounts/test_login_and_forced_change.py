"""Logging in once with an initial code, then being held at the password form."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.models import InitialCode
from config.asgi import application
from tests import factories
from tests.accounts.helpers import LOGIN_URL, is_logged_in, issue, log_in

GOOD_PASSWORD = "Xk9#mQ2!vL"


@pytest.fixture
def issued(county_manager, tree):
    """A fresh staff account of the county and its initial code."""
    return issue(county_manager, tree.county, full_name="王芳")


@pytest.fixture
def code_client(issued):
    """A client logged in with the initial code, not yet past the password form."""
    account, code = issued
    client = log_in(account.username, code)
    assert is_logged_in(client)
    return client


def test_logging_in_with_the_initial_code_redirects_into_the_platform(issued):
    account, code = issued
    response = Client().post(LOGIN_URL, {"login": account.username, "password": code})
    assert response.status_code == 302
    assert not response.url.startswith(LOGIN_URL)


@pytest.mark.parametrize("path", ["/", "/units/", "/people/", "/units/130102/"])
def test_every_page_leads_to_the_password_form_until_one_is_set(code_client, path):
    response = code_client.get(path)
    assert response.status_code == 302
    assert response.url.startswith("/password/first/")


def test_a_json_request_is_refused_until_a_password_is_set(code_client):
    response = code_client.get("/units/", HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "password_change_required"


def test_a_weak_first_password_is_refused_with_its_reason(code_client, issued):
    response = code_client.post(
        "/password/first/",
        {"new_password1": "abc", "new_password2": "abc"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "at least 8 characters" in response.content.decode()
    issued[0].refresh_from_db()
    assert issued[0].must_change_password


def test_a_good_first_password_opens_the_platform(code_client, issued):
    form = {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}
    response = code_client.post("/password/first/", form)
    assert response.status_code == 302
    issued[0].refresh_from_db()
    assert not issued[0].must_change_password
    assert code_client.get("/").status_code == 200


def test_the_chosen_password_then_logs_in(code_client, issued):
    form = {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}
    code_client.post("/password/first/", form)
    assert is_logged_in(log_in(issued[0].username, GOOD_PASSWORD))


def test_an_initial_code_works_only_once(issued):
    account, code = issued
    assert is_logged_in(log_in(account.username, code))
    assert not is_logged_in(log_in(account.username, code))


def test_an_expired_initial_code_does_not_log_in(issued):
    account, code = issued
    InitialCode.objects.filter(account=account).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert not is_logged_in(log_in(account.username, code))


def test_the_initial_code_of_a_disabled_account_does_not_log_in(county_manager, issued):
    account, code = issued
    services.account_set_active(actor=county_manager, account=account, active=False)
    assert not is_logged_in(log_in(account.username, code))
    assert InitialCode.objects.get(account=account).used_at is None


def test_the_password_form_returns_only_to_a_local_page(code_client):
    form = {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}
    response = code_client.post("/password/first/?next=https://evil.example/", form)
    assert response.url == "/"


def test_the_password_form_returns_to_the_page_first_asked_for(code_client):
    form = {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}
    response = code_client.post("/password/first/?next=/units/130102/", form)
    assert response.url == "/units/130102/"


def test_the_code_is_stored_only_as_a_keyed_hash(issued):
    account, code = issued
    row = InitialCode.objects.values().get(account=account)
    stored = " ".join(str(v) for v in row.values())
    assert code not in stored and code.replace("-", "") not in stored
    assert row["digest"] != services.initial_code_normalize(code)
    assert len(row["digest"]) == 64


@pytest.mark.parametrize(
    "typed",
    [
        lambda c: c.lower(),
        lambda c: c.replace("-", ""),
        lambda c: c.lower().replace("-", ""),
        lambda c: " " + c.replace("-", " ") + " ",
    ],
    ids=["lower", "no-dashes", "lower-no-dashes", "spaces"],
)
def test_the_code_is_accepted_however_it_is_typed(issued, typed):
    account, code = issued
    assert is_logged_in(log_in(account.username, typed(code)))


def test_the_username_is_accepted_in_any_case(issued):
    account, code = issued
    assert is_logged_in(log_in(account.username.upper(), code))


def test_a_code_of_another_account_does_not_log_in(county_manager, tree, issued):
    _other, other_code = issue(county_manager, tree.county)
    assert not is_logged_in(log_in(issued[0].username, other_code))


def test_reissuing_revokes_the_old_code(county_manager, issued):
    account, old_code = issued
    result = services.account_reissue(actor=county_manager, account=account)
    assert not is_logged_in(log_in(account.username, old_code))
    assert is_logged_in(log_in(account.username, result.rows[0].code))


# --- the WebSocket ------------------------------------------------------------


def socket_connect(client=None):
    """Open /ws/ through the real ASGI stack: ("open", None, hello frame), or
    ("closed", close code, None) when the server accepts only to close with a code."""
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))

    async def attempt():
        communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
        connected, detail = await communicator.connect()
        if not connected:
            return "refused", detail, None
        message = await communicator.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            return "closed", message.get("code"), None
        await communicator.disconnect()
        return "open", None, json.loads(message["text"])

    return async_to_sync(attempt)()


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_socket_is_closed_with_4401():
    connected, code, _ = socket_connect()
    assert (connected, code) == ("closed", 4401)


@pytest.mark.django_db(transaction=True)
def test_a_socket_of_an_account_that_must_change_its_password_is_closed_with_4403():
    tree = factories.small_tree()
    account = factories.staff(tree.county, must_change_password=True)
    client = Client()
    client.force_login(account)
    connected, code, _ = socket_connect(client)
    assert (connected, code) == ("closed", 4403)


@pytest.mark.django_db(transaction=True)
def test_a_socket_of_an_active_account_is_accepted():
    tree = factories.small_tree()
    account = factories.staff(tree.county)
    client = Client()
    client.force_login(account)
    connected, _, hello = socket_connect(client)
    assert connected == "open"
    assert (hello["type"], hello["account"]) == ("hello", account.username)


@pytest.mark.django_db(transaction=True)
def test_a_socket_of_a_disabled_account_is_closed_with_4401():
    tree = factories.small_tree()
    account = factories.staff(tree.county)
    client = Client()
    client.force_login(account)
    account.is_active = False
    account.save(update_fields=["is_active"])
    connected, code, _ = socket_connect(client)
    assert (connected, code) == ("closed", 4401)
