"""The page header's variables: every app adds its own counters, each computed once, and
only for an account that is live (active, bound to a unit, password set)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import events
from tests import factories
from tests.notices.helpers import send

HEADER = (
    "platform_name",
    "is_manager",
    "live",
    "is_support",
    "unread_notices",
    "unread_chat",
    "last_event_id",
    "roll_nav",
    "roll_open",
    "my_queue",
)


def header(response):
    return {k: response.context[k] for k in HEADER if k in response.context}


@pytest.mark.django_db
def test_a_school_clerk_sees_its_unread_notice_and_its_open_records(tree, client_for):
    boss = factories.manager(tree.county)
    clerk = factories.staff(tree.school)
    send(boss, to=[tree.county.code], levels=["school"])

    got = header(client_for(clerk).get("/"))

    assert got == {
        "platform_name": got["platform_name"],
        "is_manager": False,
        "live": True,
        "is_support": False,
        "unread_notices": 1,
        "unread_chat": 0,
        "last_event_id": events.latest_id(),
        "roll_nav": True,
        "roll_open": 0,
    }
    assert got["platform_name"]


@pytest.mark.django_db
def test_a_county_engineer_manager_gets_the_support_counters(tree, client_for):
    boss = factories.manager(tree.county, is_support_engineer=True)

    got = header(client_for(boss).get("/"))

    assert got["is_manager"] and got["live"] and got["is_support"] and got["roll_nav"]
    assert got["my_queue"] == 0
    assert "roll_open" not in got  # the badge is a school's


@pytest.mark.django_db
def test_an_account_yet_to_set_its_password_gets_no_counters(tree, client_for):
    newcomer = factories.staff(tree.school, must_change_password=True)

    got = header(client_for(newcomer).get("/password/first/"))

    assert got == {
        "platform_name": got["platform_name"],
        "is_manager": False,
        "live": False,
        "is_support": False,
    }


@pytest.mark.django_db
def test_the_header_of_an_anonymous_page(client):
    got = header(client.get("/auth/login/"))

    assert got == {
        "platform_name": got["platform_name"],
        "is_manager": False,
        "live": False,
        "is_support": False,
    }


@pytest.mark.django_db
def test_the_live_check_runs_once_per_request(tree, client_for):
    """Each app's counter asks whether the account is live; the answer is kept on the
    request, so adding apps adds their own counter's queries and nothing more."""
    clerk = factories.staff(tree.school)
    client = client_for(clerk)
    client.get("/")  # warm the session and caches
    with CaptureQueriesContext(connection) as queries:
        client.get("/")
    unit_reads = [q for q in queries if 'FROM "accounts_unit"' in q["sql"]]
    assert len(unit_reads) <= 1, [q["sql"] for q in unit_reads]


@pytest.mark.django_db
def test_the_home_page_lists_the_latest_notices_newest_first(tree, client_for):
    boss = factories.manager(tree.county)
    clerk = factories.staff(tree.school)
    for n in range(6):
        send(boss, to=[tree.county.code], levels=["school"], title=f"通知{n}")

    html = client_for(clerk).get("/").content.decode()

    listed = html[
        html.index('id="latest-notices"') : html.index("</ul>", html.index('id="latest-notices"'))
    ]
    assert [f"通知{n}" in listed for n in range(6)] == [False] + [True] * 5
    assert listed.index("通知5") < listed.index("通知1")
    assert listed.count("<strong>") == 5  # unread
