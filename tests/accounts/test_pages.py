"""The pages themselves: unit counts, language, and nothing a strict CSP would block."""

import re

import pytest
from django.test import Client

from accounts import services
from tests import factories
from tests.accounts.helpers import issue

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<script[^>]*>\s*[^<\s]", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def child_rows(html):
    """{code: (units under it, accounts, active accounts)} from the children table."""
    table = html.split('id="children"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<td class="code">(\d+)</td>.*?<td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td>',
        table,
        re.S,
    )
    return {code: tuple(int(n) for n in nums) for code, *nums in rows}


def test_a_unit_page_counts_units_and_accounts_under_each_child(
    province_manager, prefecture_manager, county_staff, sibling_staff, tree, client_for
):
    factories.staff(tree.school)
    services.account_set_active(actor=province_manager, account=sibling_staff, active=False)
    html = client_for(province_manager).get("/units/130100/").content.decode()
    assert child_rows(html) == {"130102": (1, 2, 2), "130104": (1, 1, 0)}


def test_a_province_page_counts_the_whole_subtree_of_each_child(
    province_manager, prefecture_manager, county_staff, tree, client_for
):
    html = client_for(province_manager).get("/units/130000/").content.decode()
    # 石家庄: two counties and two schools under it; its manager and the county's staff.
    assert child_rows(html) == {"130100": (4, 2, 2)}


def test_a_leaf_child_counts_no_units_under_it(county_manager, tree, client_for):
    factories.staff(tree.school)
    html = client_for(county_manager).get("/units/130102/").content.decode()
    assert child_rows(html) == {"1301020001": (0, 1, 1)}


def test_a_municipality_page_lists_its_counties(tree, client_for):
    manager = factories.manager(tree.municipality)
    html = client_for(manager).get("/units/110000/").content.decode()
    assert child_rows(html) == {"110101": (1, 0, 0)}


def test_my_unit_leads_to_the_accounts_own_unit(county_staff, client_for):
    response = client_for(county_staff).get("/units/")
    assert (response.status_code, response.url) == (302, "/units/130102/")


def test_pages_are_in_chinese_by_default(client):
    html = client.get("/auth/login/").content.decode()
    assert '<html lang="zh-hans"' in html
    assert "<h1>登录</h1>" in html


def test_the_language_switches_to_english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/auth/login/"})
    assert response.status_code == 302
    html = client.get("/auth/login/").content.decode()
    assert '<html lang="en"' in html
    assert "<h1>Log in</h1>" in html and "登录" not in html


@pytest.fixture
def main_pages(county_manager, tree, client_for):
    """(client, path) for the main pages, as a manager, a new account and a visitor."""
    account, _code = issue(county_manager, tree.school)
    batch = account.initial_codes.get().batch
    staff = factories.staff(tree.county)
    manager = client_for(county_manager)
    pages = [
        (manager, path)
        for path in (
            "/",
            "/units/130102/",
            "/people/",
            "/people/issue/",
            f"/people/batches/{batch.pk}/",
            f"/people/{staff.pk}/hand-over/",
            "/audit/",
            "/auth/2fa/",
            "/auth/password/change/",
        )
    ]
    newcomer = Client()
    newcomer.force_login(factories.staff(tree.county, must_change_password=True))
    return [*pages, (newcomer, "/password/first/"), (Client(), "/auth/login/")]


def test_no_page_carries_inline_script_or_event_handlers(main_pages):
    for client, path in main_pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), path
        assert not INLINE_HANDLER.search(html), path


def test_the_pages_load_their_script_from_the_platform_itself(client):
    html = client.get("/auth/login/").content.decode()
    # app.js is not deferred: it marks <html> as scripted before the first paint.
    assert re.search(r'<script src="/static/js/app\.js"></script>', html)


@pytest.mark.parametrize(
    "path", ["/auth/login/", "/", "/people/", "/units/999999/", "/healthz", "/readyz"]
)
def test_every_response_carries_the_content_security_policy(db, client, path):
    response = client.get(path)
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_a_logged_in_page_and_a_404_carry_the_content_security_policy(county_manager, client_for):
    client = client_for(county_manager)
    for path in ("/", "/units/000000/", "/people/issue/"):
        assert "script-src 'self'" in client.get(path)["Content-Security-Policy"]


def test_pages_cannot_be_framed(client):
    response = client.get("/auth/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
