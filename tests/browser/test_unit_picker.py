"""The unit picker in real Chromium on a phone (390×844): a county manager composes a
notice, removes its own county from the recipients, finds a school by its pinyin
initials with the keyboard, browses the tree, publishes; that school's staff sees the
notice and the other school's does not. The page never scrolls sideways."""

import re

import pytest
from playwright.sync_api import expect

from accounts import services
from accounts.models import Level
from tests import factories
from tests.browser.pages import outside_playwright, watched_page

PHONE = {"width": 390, "height": 844}
TITLE = "关于育才实验小学学籍核查的通知"
NOTICE_URL = re.compile(r"/notices/(\d+)/$")


def _world():
    tree = factories.small_tree()
    school = services.unit_create(
        level=Level.SCHOOL, code="1301020002", name="长安区育才实验小学", parent=tree.county
    )
    return (
        tree,
        factories.manager(tree.county),
        factories.staff(school),
        factories.staff(tree.school),
    )


def _log_in(page, username):
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page.locator("body[data-account-id]")).to_be_attached()


def _phone_page(browser, live_server, who, problems):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=PHONE)
    context.set_default_timeout(15_000)
    page = watched_page(context, who, problems)
    page.route_web_socket("**/ws/**", lambda ws: None)  # the WSGI live server has no socket
    return context, page


def _no_sideways_scroll(page):
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide"


@pytest.mark.browser
def test_a_county_finds_a_school_by_pinyin_initials_and_the_school_gets_the_notice(
    transactional_db, browser, live_server, results_dir
):
    tree, boss, school_staff, other_staff = outside_playwright(_world)
    problems: list[str] = []
    context, page = _phone_page(browser, live_server, "county", problems)
    _log_in(page, boss.username)
    page.goto("/notices/new/")
    form = page.locator("#notice-form")
    form.locator('[name="title"]').fill(TITLE)

    # Only the level below a county is offered, already chosen.
    levels = form.locator('input[name="levels"]')
    expect(levels).to_have_count(1)
    expect(levels).to_have_attribute("value", "school")
    expect(levels).to_be_checked()

    # The code already in the field (one's own county) is a chip with its name.
    codes = form.locator('[name="target_codes"]')
    picker = form.locator(".unit-picker")
    chip = picker.locator(".unit-chip")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("长安区")
    chip.get_by_role("button").click()
    expect(chip).to_have_count(0)
    expect(codes).to_have_value("")

    # Pinyin initials "ycsy" (育才实验) with the keyboard: Enter takes the first result.
    search = picker.get_by_role("combobox")
    search.fill("ycsy")
    listbox = picker.get_by_role("listbox")
    option = listbox.get_by_role("option").first
    expect(option).to_contain_text("长安区育才实验小学")
    expect(option).to_contain_text("学校")
    expect(option).to_contain_text("1301020002")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(search).to_have_attribute("aria-expanded", "true")
    search.press("Enter")
    expect(codes).to_have_value("1301020002")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("长安区育才实验小学")
    expect(option).to_have_attribute("aria-selected", "true")

    # Nothing outside the county: the sibling county's school is not found.
    search.fill("qxq")
    expect(listbox).to_contain_text("没有找到单位")

    # Browsing: the county and its two schools; the chosen one is marked.
    search.fill("")
    picker.locator(".unit-picker-browse").click()
    options = listbox.get_by_role("option")
    expect(options).to_have_count(3)
    expect(options.nth(0)).to_contain_text("长安区")
    expect(options.filter(has_text="育才")).to_have_attribute("aria-selected", "true")
    # The keyboard in the list: the first school is active; down to 育才, Enter takes
    # it out, Enter again puts it back.
    expect(options.nth(1)).to_have_class(re.compile(r"\bactive\b"))
    search.press("ArrowDown")
    expect(options.nth(2)).to_have_class(re.compile(r"\bactive\b"))
    expect(search).to_have_attribute("aria-activedescendant", re.compile(r"-o2$"))
    search.press("Enter")
    expect(codes).to_have_value("")
    expect(chip).to_have_count(0)
    search.press("Enter")
    expect(codes).to_have_value("1301020002")
    _no_sideways_scroll(page)
    page.screenshot(path=results_dir / "unit-picker-phone.png", full_page=True)
    search.press("Escape")
    expect(listbox).to_be_hidden()

    form.locator('button[name="action"][value="publish"]').click()
    expect(page).to_have_url(NOTICE_URL)
    expect(page.locator(".messages")).to_contain_text("通知已发布")
    context.close()

    # The school found in the picker has it in its inbox; the other school has not.
    context, page = _phone_page(browser, live_server, "school", problems)
    _log_in(page, school_staff.username)
    page.goto("/notices/")
    expect(page.locator("main")).to_contain_text(TITLE)
    context.close()
    context, page = _phone_page(browser, live_server, "other school", problems)
    _log_in(page, other_staff.username)
    page.goto("/notices/")
    expect(page.locator("h1")).to_have_text("通知")
    expect(page.locator("main")).not_to_contain_text(TITLE)
    context.close()
    assert problems == []
