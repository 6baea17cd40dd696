"""A support ticket end to end in real Chromium against the real ASGI app
(`daphne_server`): a school raises a ticket; the county engineer's open queue shows
it live (row, toast, badge); the engineer replies and the school's open ticket page
shows the reply without a reload; the engineer adds an internal note and escalates
with a reason; the province engineer's open queue shows the ticket live and the
school's page moves to the province tier, never showing the note or the reason.
No page logs an error or a Content-Security-Policy violation."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.pages import (
    assert_same_document,
    log_in,
    mark_document,
    wait_for_socket,
    watched_page,
)

TITLE = "学籍注册页面提交后一直转圈"
DESCRIPTION = "点击**提交**后页面一直加载，已尝试更换浏览器，问题依旧。"
REPLY = "已收到，正在排查注册接口"
NOTE = "内部备注：疑似省级接口超时，勿告知学校"
REASON = "县级无权限查看省级接口日志，请省级处理"
SCHOOL_NAME = "赵校员"
COUNTY_NAME = "钱县工程师"
PROVINCE_NAME = "孙省工程师"
TICKET_URL = re.compile(r"/tickets/(\d+)/$")
LIVE = 15_000  # ms: a bound on how long a live update may take, not a measurement

# Every page reports CSP violations on the console, where `watched_page` collects errors.


def open_queue(page: Page) -> None:
    page.goto("/tickets/queue/")
    expect(page.locator("#ticket-list")).to_have_attribute("data-live-list", "queue")
    expect(page.locator("#ticket-rows tr.empty-row")).to_be_visible()
    expect(page.locator("#queue-badge")).to_have_text("0")
    wait_for_socket(page)


def send_reply(page: Page, text: str, *, internal: bool = False) -> None:
    form = page.locator("#reply-form")
    form.locator("#reply-body").fill(text)
    if internal:
        form.locator('input[name="internal"]').check()
    form.locator('button[type="submit"]').click()


def expect_live_in_queue(page: Page, ticket_id: str) -> None:
    """The ticket's row, a toast and the badge, all without a reload."""
    row = page.locator(f'#ticket-rows tr[data-ticket-id="{ticket_id}"]')
    expect(page.locator("#ticket-rows")).to_contain_text(TITLE, timeout=LIVE)
    expect(row.locator("a")).to_have_text(TITLE)
    expect(row).to_contain_text("长安区第一中学")
    expect(page.locator("#ticket-rows tr.empty-row")).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text(TITLE, timeout=LIVE)
    expect(page.locator("#queue-badge")).to_have_text("1", timeout=LIVE)
    assert_same_document(page)


@pytest.mark.browser
def test_ticket_reaches_the_county_live_and_climbs_to_the_province(
    transactional_db, daphne_server, new_daphne_context, results_dir
):
    # --- 1. The tree, a school's staff and an engineer at the county and the province.
    tree = factories.small_tree()
    reporter = factories.staff(tree.school, full_name=SCHOOL_NAME)
    county = factories.staff(tree.county, is_support_engineer=True, full_name=COUNTY_NAME)
    province = factories.staff(tree.province, is_support_engineer=True, full_name=PROVINCE_NAME)

    problems: list[str] = []
    county_page = watched_page(new_daphne_context(), "county", problems)
    province_page = watched_page(new_daphne_context(), "province", problems)
    school_page = watched_page(new_daphne_context(), "school", problems)

    # --- 2. Both engineers keep their queues open before the ticket exists.
    log_in(county_page, daphne_server.url, county.username)
    open_queue(county_page)
    mark_document(county_page)
    log_in(province_page, daphne_server.url, province.username)
    open_queue(province_page)
    mark_document(province_page)

    # --- 3. The school raises the ticket.
    log_in(school_page, daphne_server.url, reporter.username)
    school_page.goto("/tickets/new/")
    form = school_page.locator("#ticket-form")
    form.locator('[name="title"]').fill(TITLE)
    form.locator('[name="category"]').select_option("import")
    form.locator('[name="priority"]').select_option("high")
    form.locator('[name="description"]').fill(DESCRIPTION)
    form.locator('button[type="submit"]').click()

    expect(school_page).to_have_url(TICKET_URL)
    ticket_id = TICKET_URL.search(school_page.url).group(1)
    expect(school_page.locator(".messages")).to_contain_text(f"#{ticket_id}")
    expect(school_page.locator("#ticket-live h1")).to_contain_text(TITLE)
    expect(school_page.locator("#ticket-tier")).to_have_text("长安区")
    expect(school_page.locator("#ticket-assignee")).to_have_text(COUNTY_NAME)
    wait_for_socket(school_page)
    mark_document(school_page)

    # --- 4. The county engineer's queue shows it without a reload; the province's not.
    expect_live_in_queue(county_page, ticket_id)
    county_page.screenshot(path=results_dir / "tickets-county-queue-live.png", full_page=True)
    expect(province_page.locator("#ticket-rows tr.empty-row")).to_be_visible()
    expect(province_page.locator("#queue-badge")).to_have_text("0")

    # --- 5. The engineer opens it and replies; the school's open page shows the reply.
    county_page.locator(f'#ticket-rows tr[data-ticket-id="{ticket_id}"] a').click()
    expect(county_page).to_have_url(f"{daphne_server.url}/tickets/{ticket_id}/")
    expect(county_page.locator("#ticket-live h1")).to_contain_text(TITLE)
    wait_for_socket(county_page)
    send_reply(county_page, REPLY)
    expect(county_page).to_have_url(f"{daphne_server.url}/tickets/{ticket_id}/")
    expect(county_page.locator("#ticket-timeline")).to_contain_text(REPLY)

    expect(school_page.locator("#ticket-timeline")).to_contain_text(REPLY, timeout=LIVE)
    expect(school_page.locator("#ticket-timeline li.kind-reply")).to_contain_text(COUNTY_NAME)
    assert_same_document(school_page)

    # --- 6. An internal note: the engineer sees it marked internal.
    send_reply(county_page, NOTE, internal=True)
    note = county_page.locator("#ticket-timeline li.internal").filter(has_text=NOTE)
    expect(note).to_have_count(1)

    # --- 7. The engineer escalates with a reason.
    county_page.locator("details:has(#escalate-form) > summary").click()
    escalate = county_page.locator("#escalate-form")
    escalate.locator("#escalate-reason").fill(REASON)
    escalate.locator('button[type="submit"]').click()
    expect(county_page).to_have_url(f"{daphne_server.url}/tickets/{ticket_id}/")
    expect(county_page.locator("#ticket-tier")).to_have_text("河北省")
    expect(county_page.locator("#ticket-timeline")).to_contain_text(REASON)
    expect(county_page.locator("#escalate-form")).to_have_count(0)  # no longer its tier
    expect(county_page.locator("#queue-badge")).to_have_text("0", timeout=LIVE)  # it left

    # --- 8. The province engineer's open queue shows it live...
    expect_live_in_queue(province_page, ticket_id)
    province_row = province_page.locator(f'#ticket-rows tr[data-ticket-id="{ticket_id}"]')
    expect(province_row).to_contain_text("河北省")
    expect(province_row).to_contain_text(PROVINCE_NAME)
    province_page.screenshot(path=results_dir / "tickets-province-queue-live.png", full_page=True)

    # ...and the school's open page moves to the province tier, without the note or
    # the reason (nor anything internal), and was never reloaded.
    expect(school_page.locator("#ticket-tier")).to_have_text("河北省", timeout=LIVE)
    expect(school_page.locator("#ticket-assignee")).to_have_text(PROVINCE_NAME)
    expect(school_page.locator("#ticket-timeline li.kind-escalated")).to_contain_text("河北省")
    assert_same_document(school_page)
    expect(school_page.locator("body")).to_contain_text(REPLY)
    expect(school_page.locator("body")).not_to_contain_text(NOTE)
    expect(school_page.locator("body")).not_to_contain_text(REASON)
    expect(school_page.locator("#ticket-timeline li.internal")).to_have_count(0)
    expect(school_page.locator('#reply-form input[name="internal"]')).to_have_count(0)
    html = school_page.content()
    assert NOTE not in html and REASON not in html
    # What the school's session is served, not only what its page shows.
    partial = school_page.request.get(f"/tickets/{ticket_id}/?partial=1")
    assert partial.ok
    assert REPLY in partial.text()
    assert NOTE not in partial.text() and REASON not in partial.text()
    school_page.screenshot(path=results_dir / "tickets-school-escalated.png", full_page=True)

    assert problems == [], "\n".join(problems)
