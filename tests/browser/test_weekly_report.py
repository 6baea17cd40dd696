"""The weekly report at phone size (390 px): the table as cards, no sideways overflow,
drilling into a county, the week picker to an empty week, the workbook's download."""

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.pages import outside_playwright
from tests.browser.test_phone import MEASURE
from tests.reports import world

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _log_in(page, username):
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page.locator("body[data-account-id]")).to_be_attached()


def test_weekly_report_on_a_phone(transactional_db, browser, live_server, results_dir):
    w = outside_playwright(world.build)
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport=PHONE, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.route_web_socket("**/ws/**", lambda ws: None)
        _log_in(page, w.pm.username)
        page.goto("/reports/weekly/?week=2026-11-25")
        table = page.locator("table.grid#weekly-report")
        expect(table).to_be_visible()
        county = page.locator('tr[data-unit="130102"]')
        expect(county).to_contain_text("66.7%")
        # a card: the row is laid out as a block, its cells stacked
        cells = county.locator("td")
        first, second = cells.nth(0).bounding_box(), cells.nth(1).bounding_box()
        assert second["y"] >= first["y"] + first["height"] - 1
        assert page.evaluate(MEASURE) == []
        page.screenshot(path=str(results_dir / "phone-weekly-report.png"), full_page=True)

        with page.expect_download() as download:
            page.locator("#report-download").click()
        assert download.value.suggested_filename == "weekly-130100-2026-11-23.xlsx"

        county.locator("a").first.click()
        expect(page.locator('tr[data-unit="1301020001"]')).to_be_visible()
        expect(page.locator("nav.trail")).to_contain_text("石家庄市")
        assert page.evaluate(MEASURE) == []

        page.locator("#id_week").fill("2026-11-10")
        page.locator("#week-picker button[type=submit]").click()
        expect(page.locator("#report-empty")).to_have_text("本周没有数据。")
        expect(page.locator("#weekly-report")).to_have_count(0)
        assert page.evaluate(MEASURE) == []
    finally:
        context.close()
