"""撤回 and 更正 in real Chromium at phone width (390 px) against the real ASGI app: the
author withdraws a notice while a recipient has it open in one tab and the inbox in
another — both show 已撤回 without a reload, the acknowledgement form goes, the badge
drops; then the author corrects another notice and the recipient's open old version
links the new one live, which shows the note and the changes."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.pages import (
    assert_same_document,
    log_in,
    mark_document,
    outside_playwright,
    wait_for_socket,
    watched_page,
)
from tests.notices.helpers import send

PHONE = {"width": 390, "height": 844}
REASON = "附件模板有误，请勿按此填报"
NOTICE_URL = re.compile(r"/notices/(\d+)/$")


def no_sideways_overflow(page, who):
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{who}: {width} px wide at {page.url}"


@pytest.mark.browser
def test_the_author_withdraws_and_the_recipients_open_tabs_show_it_live(
    transactional_db, daphne_server, new_daphne_context, results_dir
):
    tree = factories.small_tree()
    author = factories.manager(tree.prefecture)
    reader = factories.staff(tree.county)
    notice, other = outside_playwright(
        lambda: (
            send(
                author,
                to=[tree.prefecture.code],
                levels=["county"],
                title="关于报送学籍周报的通知",
                requires_ack=True,
            ),
            send(author, to=[tree.prefecture.code], levels=["county"], title="关于学籍注册的通知"),
        )
    )
    problems: list[str] = []

    # --- The recipient: the inbox in one tab, the first notice in another.
    reader_context = new_daphne_context()
    inbox = watched_page(reader_context, "reader inbox", problems)
    inbox.set_viewport_size(PHONE)
    log_in(inbox, daphne_server.url, reader.username)
    inbox.goto("/notices/")
    expect(inbox.locator("#unread-badge")).to_have_text("2")
    opened = watched_page(reader_context, "reader notice", problems)
    opened.set_viewport_size(PHONE)
    opened.goto(f"/notices/{notice.pk}/")
    expect(opened.locator("#ack-form")).to_be_visible()
    for page in (inbox, opened):
        wait_for_socket(page)
        mark_document(page)

    # --- The author withdraws it from the notice's page.
    author_page = watched_page(new_daphne_context(), "author", problems)
    author_page.set_viewport_size(PHONE)
    log_in(author_page, daphne_server.url, author.username)
    author_page.goto(f"/notices/{notice.pk}/")
    author_page.locator("#withdraw-link").click()
    expect(author_page).to_have_url(re.compile(r"/withdraw/$"))
    form = author_page.locator("#withdraw-form")
    expect(form).to_be_visible()
    no_sideways_overflow(author_page, "author")
    form.locator("button[type=submit]").click()  # no reason: refused, says why
    expect(form.locator(".errors")).to_contain_text("请填写撤回原因")
    form.locator('[name="reason"]').fill(REASON)
    form.locator("button[type=submit]").click()
    expect(author_page).to_have_url(NOTICE_URL)
    expect(author_page.locator("#withdrawn-banner")).to_contain_text(REASON)
    expect(author_page.locator("#withdraw-link")).to_have_count(0)

    # --- Without a reload: the open notice gets the banner, the inbox the mark.
    banner = opened.locator("#withdrawn-banner")
    expect(banner).to_contain_text("已撤回")
    expect(banner).to_contain_text(REASON)
    expect(banner).to_contain_text(tree.prefecture.name)
    expect(opened.locator("#ack-form")).to_have_count(0)
    expect(opened.locator("#ack-closed")).to_have_text("已撤回：不再接受回执。")
    row = inbox.locator(f'#inbox-rows tr[data-notice-id="{notice.pk}"]')
    expect(row).to_have_class(re.compile(r"\bwithdrawn\b"))
    expect(row).to_contain_text("已撤回")
    # Read in the other tab, then withdrawn: only the second notice is still unread.
    expect(inbox.locator("#unread-badge")).to_have_text("1")
    for page in (inbox, opened):
        assert_same_document(page)
        no_sideways_overflow(page, "reader")
    opened.screenshot(path=results_dir / "notice-withdrawn-phone.png", full_page=True)

    # --- A correction of the other notice: the reader's open old version links the new.
    opened.goto(f"/notices/{other.pk}/")
    wait_for_socket(opened)
    mark_document(opened)
    author_page.goto(f"/notices/{other.pk}/")
    author_page.locator("#correct-link").click()
    expect(author_page).to_have_url(re.compile(r"/correct/$"))
    form = author_page.locator("#correct-form")
    expect(form).to_be_visible()
    no_sideways_overflow(author_page, "author")
    form.locator('[name="title"]').fill("关于学籍注册的通知（更正）")
    form.locator('[name="note"]').fill("标题补充更正字样")
    form.locator("button[type=submit]").click()
    expect(author_page).to_have_url(NOTICE_URL)
    new_id = NOTICE_URL.search(author_page.url).group(1)
    assert new_id != str(other.pk)

    link = opened.locator("#superseded-banner a")
    expect(link).to_have_text("请阅读第 2 版")
    assert_same_document(opened)
    row = inbox.locator(f'#inbox-rows tr[data-notice-id="{other.pk}"]')
    expect(row).to_contain_text("已更正")
    expect(inbox.locator(f'#inbox-rows tr[data-notice-id="{new_id}"]')).to_be_visible()
    link.click()
    expect(opened).to_have_url(re.compile(rf"/notices/{new_id}/$"))
    expect(opened.locator("#correction")).to_contain_text("标题补充更正字样")
    expect(opened.locator("#diff-title ins")).to_have_text("（更正）")
    no_sideways_overflow(opened, "reader")
    opened.screenshot(path=results_dir / "notice-corrected-phone.png", full_page=True)
    assert problems == []
