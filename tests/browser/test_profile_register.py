"""Issue 15, task E in real Chromium at 390 px: a school's staff member corrects their
name and phone on the profile page (reached from the header's menu), a bad phone is
refused in Chinese; the county's manager opens the register of roll administrators,
sees the new phone and the change since today, and downloads the Excel; the help page
and the move form fit the phone too."""

import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from accounts import services as account_services
from accounts.models import Account, Role
from tests import factories
from tests.browser.pages import outside_playwright
from tests.browser.test_phone import MEASURE, PHONE


def _world():
    tree = factories.small_tree()
    county = factories.manager(tree.county, full_name="长安区学籍管理员")
    result = account_services.account_issue(
        actor=county, unit=tree.school, role=Role.STAFF, full_name="欧阳晓明", phone="13800000000"
    )
    school = Account.objects.get(username=result.rows[0].username)
    school.set_password(factories.PASSWORD)
    school.must_change_password = False
    school.save()
    for n in range(3):
        account_services.account_issue(
            actor=county, unit=tree.school, role=Role.STAFF, full_name=f"教师{n}"
        )
    return tree, county, school


def _log_in(page, username):
    page.context.clear_cookies()
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page.locator("body[data-account-id]")).to_be_attached()


@pytest.mark.browser
def test_profile_and_register_on_a_phone(transactional_db, browser, live_server, results_dir):
    tree, county, school = outside_playwright(_world)
    problems: list[str] = []
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport=PHONE, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.route_web_socket("**/ws/**", lambda ws: None)
        _log_in(page, school.username)
        # The profile from the header's (folded) menu: the name is the link.
        page.locator(".menu-toggle").click()
        page.locator("#nav-profile").click()
        expect(page).to_have_url(f"{live_server.url}/profile/")
        expect(page.locator("#profile-username")).to_have_text(school.username)
        problems += [f"profile: {f}" for f in page.evaluate(MEASURE)]
        page.locator("#id_full_name").fill("欧阳晓明")
        page.locator("#id_phone").fill("1380000")
        page.locator("#profile button[type=submit]").click()
        expect(page.locator(".field-error")).to_contain_text("手机号码为 11 位")
        problems += [f"profile with an error: {f}" for f in page.evaluate(MEASURE)]
        page.locator("#id_phone").fill("0311-87654321")
        page.locator("#profile button[type=submit]").click()
        expect(page.locator(".msg-success")).to_contain_text("已保存")
        expect(page.locator("#id_phone")).to_have_value("0311-87654321")
        page.screenshot(path=str(results_dir / "phone-profile.png"), full_page=True)
        # Help: the school staff's page opens by default, and fits.
        page.goto("/help/")
        expect(page.locator('.help-tabs a[aria-current="page"]')).to_contain_text("学校工作人员")
        expect(page.locator("#first_login")).to_contain_text("初始口令")
        problems += [f"help: {f}" for f in page.evaluate(MEASURE)]

        # The county's manager: the register from the home page.
        _log_in(page, county.username)
        page.locator("#home-register").click()
        expect(page).to_have_url(f"{live_server.url}/people/register/")
        row = page.locator(f'#register tr[data-username="{school.username}"]')
        expect(row).to_contain_text("0311-87654321")
        expect(row).to_contain_text("欧阳晓明")
        expect(page.locator("#register tbody tr")).to_have_count(5)
        problems += [f"register: {f}" for f in page.evaluate(MEASURE)]
        page.locator("#id_since").fill(f"{timezone.localdate():%Y-%m-%d}")
        page.locator("#register-filters button[type=submit]").click()
        change = page.locator('#register-changes tr[data-action="profile.changed"]')
        expect(change).to_contain_text("13800000000 → 0311-87654321")
        problems += [f"register with changes: {f}" for f in page.evaluate(MEASURE)]
        page.screenshot(path=str(results_dir / "phone-register.png"), full_page=True)
        with page.expect_download() as download:
            page.locator("#register-export").click()
        wb = load_workbook(io.BytesIO(open(download.value.path(), "rb").read()))
        assert wb.worksheets[0]["A1"].value == "学籍管理员备案表"
        assert len(wb.worksheets) == 2  # the changes since the date
        phones = [r[5] for r in wb.worksheets[0].iter_rows(min_row=4, values_only=True)]
        assert "0311-87654321" in phones
        # The move form fits too.
        page.goto(f"/people/{school.pk}/move/")
        problems += [f"move: {f}" for f in page.evaluate(MEASURE)]
    finally:
        context.close()
    assert not problems, "\n".join(problems)
