"""The to-do home (issue 15, item 5) on a phone, in real Chromium: a school's staff
member sees, first on the home page, the acknowledgement due and the open problem
record; the page fits 390 px; following each link lands where the thing is done, and
once the notice is acknowledged the home page no longer lists it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from notices import services as notice_services
from roll.models import ProblemRecord
from tests import factories
from tests.browser.pages import outside_playwright
from tests.browser.test_phone import MEASURE, PHONE

pytestmark = pytest.mark.browser

TITLE = "关于报送2026年秋季学期毕业年级学籍核查表的通知"
STUDENT = "欧阳小明"


def _world():
    tree = factories.small_tree()
    province = factories.manager(tree.province, full_name="河北省学籍管理员")
    staff = factories.staff(tree.school, full_name="周校员")
    notice = notice_services.notice_publish(
        actor=province,
        notice=notice_services.notice_save(
            actor=province,
            title=TITLE,
            body="请于截止时间前回执。",
            priority="urgent",
            requires_ack=True,
            ack_deadline=timezone.now() + timedelta(days=2),
            publish_at=None,
            target_codes=[tree.province.code],
            levels=["school"],
            managers_only=False,
        ),
    )
    record = ProblemRecord.objects.create(
        scope=tree.province.code,
        alert_id="HOME-1",
        kind="id_duplicate",
        school=tree.school,
        school_path=tree.school.path,
        name=STUDENT,
        grade="9",
        graduating=True,
        detected_at=timezone.now() - timedelta(days=3),
        change_seq=1,
        batch_id=1,
    )
    return staff, notice, record


def _log_in(page, username):
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page.locator("body[data-account-id]")).to_be_attached()


def test_school_staff_sees_and_follows_the_to_dos_on_a_phone(
    transactional_db, browser, live_server, results_dir
):
    staff, notice, record = outside_playwright(_world)
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=PHONE)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.route_web_socket("**/ws/**", lambda ws: None)
        _log_in(page, staff.username)
        page.goto("/")
        acks = page.locator("#todo-acks")
        expect(acks.get_by_role("link", name=TITLE)).to_be_visible()
        records = page.locator("#todo-records")
        expect(records.get_by_role("link", name=STUDENT)).to_be_visible()
        expect(records).to_contain_text("毕业年级")
        # The to-dos come before the rest of the home page.
        assert page.evaluate(
            "() => document.querySelector('#todo').compareDocumentPosition("
            "document.querySelector('#latest-notices, .facts')) & Node.DOCUMENT_POSITION_FOLLOWING"
        )
        assert page.evaluate(MEASURE) == []
        page.screenshot(path=str(results_dir / "phone-home-todo.png"), full_page=True)

        acks.get_by_role("link", name=TITLE).click()
        expect(page).to_have_url(f"{live_server.url}/notices/{notice.pk}/")
        page.locator("#ack-form button[type=submit]").click()
        expect(page.locator("#ack .ok")).to_be_visible()

        page.goto("/")
        expect(page.locator("#todo-acks .empty")).to_be_visible()
        page.locator("#todo-records").get_by_role("link", name=STUDENT).click()
        expect(page).to_have_url(f"{live_server.url}/roll/")
        expect(page.locator(f'tr[data-alert="{record.alert_id}"]')).to_be_visible()
    finally:
        context.close()


def _county_world():
    staff, notice, record = _world()
    county = factories.manager(staff.unit.parent, full_name="长安区学籍管理员")
    from notices.models import Notice

    Notice.objects.filter(pk=notice.pk).update(ack_deadline=timezone.now() - timedelta(days=1))
    return county, staff, notice


def test_county_manager_sees_lagging_schools_as_cards(
    transactional_db, browser, live_server, results_dir
):
    county, staff, notice = outside_playwright(_county_world)
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=PHONE)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.route_web_socket("**/ws/**", lambda ws: None)
        _log_in(page, county.username)
        page.goto("/")
        school = staff.unit
        lag = page.locator("#lag-notices")
        expect(lag.get_by_role("link", name=school.name)).to_be_visible()
        expect(page.locator("#lag-records").get_by_role("link", name=school.name)).to_be_visible()
        assert page.evaluate(MEASURE) == []
        page.screenshot(path=str(results_dir / "phone-home-lag.png"), full_page=True)
        # On a phone the cards stack; on a desk they sit side by side.
        tops = "() => [...document.querySelectorAll('#todo-lag .todo-card')].map(c => Math.round(c.getBoundingClientRect().left))"
        assert len(set(page.evaluate(tops))) == 1
        page.set_viewport_size({"width": 1280, "height": 900})
        assert len(set(page.evaluate(tops))) > 1
        lag.get_by_role("link", name=school.name).click()
        expect(page).to_have_url(
            f"{live_server.url}/notices/{notice.pk}/stats/?unit={school.code}&show=unacked"
        )
        expect(page.locator("#stats-total")).to_be_visible()
    finally:
        context.close()
