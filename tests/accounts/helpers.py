"""Small actions the account tests repeat: issuing an account, logging in through the form."""

from django.test import Client

from accounts import services
from accounts.models import Account, Role

LOGIN_URL = "/auth/login/"


def issue(actor, unit, role=Role.STAFF, **kwargs) -> tuple[Account, str]:
    """Issue one account through the service; the new account and its initial code."""
    result = services.account_issue(actor=actor, unit=unit, role=role, **kwargs)
    row = result.rows[0]
    return Account.objects.get(username=row.username), row.code


def log_in(username, password, client=None) -> Client:
    """POST the login form; the client, logged in or not."""
    client = client or Client()
    client.post(LOGIN_URL, {"login": username, "password": password})
    return client


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session
