"""School changes in Chromium at 390 px (issue 15, item 6): a county manager proposes to
close a school and to add one, the prefecture's manager refuses one with a reason and
approves the other, and every page fits a phone's width."""

import pytest
from playwright.sync_api import expect

from accounts.models import Account, Unit, UnitChange
from tests import factories
from tests.browser.pages import log_in, outside_playwright, watched_page
from tests.browser.test_phone import MEASURE

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _world():
    tree = factories.small_tree()
    factories.unit("school", "1301020002", "长安区第二中学", tree.county)
    return (
        tree,
        factories.manager(tree.county, full_name="长安区学籍管理员"),
        factories.manager(tree.prefecture, full_name="石家庄市学籍管理员"),
        factories.staff(tree.school, full_name="欧阳晓明"),
    )


def _phone(browser, live_server):
    return browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True
    )


def test_propose_then_approve_at_390px(transactional_db, browser, live_server):
    tree, county, prefecture, school_staff = outside_playwright(_world)
    problems: list[str] = []
    context = _phone(browser, live_server)
    context.set_default_timeout(15_000)
    try:
        page = watched_page(context, "county", problems)
        log_in(page, live_server.url, county.username)
        page.locator(".menu-toggle").click()
        page.locator("#nav-unit-changes").click()
        expect(page.locator("h1")).to_have_text("学校变更")
        problems += [f"county page: {f}" for f in page.evaluate(MEASURE)]

        # Close a school: its reason is required.
        form = page.locator("#close-form")
        form.locator("select[name='close-unit']").select_option(
            label="长安区第一中学（1301020001）"
        )
        form.locator("button[type='submit']").click()
        expect(page.locator("#close-form .field-error")).to_be_visible()
        problems += [f"county page, refused: {f}" for f in page.evaluate(MEASURE)]
        form = page.locator("#close-form")
        form.locator("select[name='close-unit']").select_option(
            label="长安区第一中学（1301020001）"
        )
        form.locator("textarea[name='close-reason']").fill("并入长安区第二中学")
        form.locator("button[type='submit']").click()
        expect(page.locator("#proposals")).to_contain_text("待审批")

        # Add a school.
        form = page.locator("#add-form")
        form.locator("input[name='add-code']").fill("1301020099")
        form.locator("input[name='add-name']").fill("长安区实验小学")
        form.locator("select[name='add-school_type']").select_option("小学")
        form.locator("button[type='submit']").click()
        expect(page.locator("#proposals tbody tr")).to_have_count(2)
        problems += [f"county page, two proposals: {f}" for f in page.evaluate(MEASURE)]
        add = UnitChange.objects.get(kind="add")
        close = UnitChange.objects.get(kind="close")

        # The prefecture decides: a refusal needs a reason, then refuse the addition
        # with one and approve the closure.
        context.clear_cookies()
        log_in(page, live_server.url, prefecture.username)
        page.goto("/school-changes/")
        expect(page.locator("#pending-changes tbody tr")).to_have_count(2)
        problems += [f"prefecture page: {f}" for f in page.evaluate(MEASURE)]
        row = page.locator(f"#pending-changes tr[data-change='{add.pk}']")
        row.locator("button[value='refuse']").click()
        expect(page.locator(".messages")).to_contain_text("驳回原因")
        row = page.locator(f"#pending-changes tr[data-change='{add.pk}']")
        row.locator("textarea[name='reason']").fill("标识码与学籍系统不符，请核对后重新申请。")
        row.locator("button[value='refuse']").click()
        expect(page.locator("#pending-changes tbody tr")).to_have_count(1)
        page.locator(
            f"#pending-changes tr[data-change='{close.pk}'] button[value='approve']"
        ).click()
        expect(page.locator("#pending-changes")).to_contain_text("没有待审批的申请")
        expect(page.locator("#decided-changes")).to_contain_text("已批准")
        expect(page.locator("#decided-changes")).to_contain_text("标识码与学籍系统不符")
        problems += [f"prefecture page, decided: {f}" for f in page.evaluate(MEASURE)]

        # The county sees both outcomes; the school is closed and its people locked out.
        context.clear_cookies()
        log_in(page, live_server.url, county.username)
        page.goto("/school-changes/")
        expect(page.locator(f"#proposals tr[data-change='{close.pk}'] .status")).to_have_text(
            "已批准"
        )
        expect(page.locator(f"#proposals tr[data-change='{add.pk}']")).to_contain_text(
            "标识码与学籍系统不符"
        )
        expect(page.locator("select[name='close-unit'] option")).to_have_count(2)  # — and 第二中学
        problems += [f"county page, decided: {f}" for f in page.evaluate(MEASURE)]
        assert Unit.objects.get(pk=tree.school.pk).closed_at is not None
        assert not Account.objects.get(pk=school_staff.pk).is_active
        context.clear_cookies()
        page.goto("/auth/login/")
        page.locator('input[name="login"]').fill(school_staff.username)
        page.locator('input[name="password"]').fill(factories.PASSWORD)
        page.locator('form[action="/auth/login/"] button[type="submit"]').click()
        expect(page.locator('input[name="login"]').or_(page.locator("h1"))).to_be_visible()
        assert page.url != f"{live_server.url}/"
    finally:
        context.close()
    # The live server speaks no WebSocket (the header's socket retries), and the refused
    # forms answer 400 on purpose; anything else (a CSP violation, a script error) counts.
    problems = [p for p in problems if "WebSocket connection" not in p and "status of 400" not in p]
    assert not problems, "\n".join(problems)
