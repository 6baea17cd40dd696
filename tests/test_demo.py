"""The demo a newcomer logs into: every level has a login, and each capability has
something to show."""

import pytest

from accounts import demo
from accounts.models import Account
from notices.models import Notice
from roll import services as roll
from roll.models import ProblemRecord
from tickets.models import Category, Ticket


@pytest.mark.django_db
def test_demo_loads_once_with_something_to_show(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        created, logins = demo.load()
    assert created
    names = {row[2] for row in logins}
    assert {
        "000000-m1",
        "130000-m1",
        "130102-m1",
        "130102-s1",
        "130000-s1",
        "1301020001-s1",
    } <= names
    assert Account.objects.get(username="130102-s1").is_support_engineer
    assert Notice.objects.filter(status="published").exists()
    assert ProblemRecord.objects.filter(school__code="1301020001").count() == 4
    assert roll.sync_pending() == 1
    ticket = Ticket.objects.get(category=Category.PROBLEM_RECORDS)
    assert ticket.tier.code == "130102" and ticket.priority == "high"
    assert demo.load() == (False, [])
