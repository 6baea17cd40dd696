"""A notice end to end in real Chromium against the real ASGI app (`daphne_server`):
a province manager publishes a notice with an attachment that asks for an
acknowledgement; the county manager's open inbox shows it live (row, toast, badge)
while a sibling county's open inbox does not; the county manager downloads the
attachment and acknowledges with a reply and a file; the author sees it counted in
the statistics and listed among the replies."""

import re

import pytest
from openpyxl import Workbook
from playwright.sync_api import Page, expect

from accounts.models import Account, Level
from tests import factories

TITLE = "关于报送学籍周报的通知"
BODY = """请各县区于每周五前报送**学籍周报**。

- 使用附件中的模板填写
- 填好后在回执中上传

| 项目 | 要求 |
| --- | --- |
| 报送时间 | 每周五 17:00 前 |
"""
ACK_DEADLINE = "2030-01-01T10:00"
REPLY = "已收到，按时报送"
REPLY_FILE = "回执.pdf"
REPLY_BYTES = b"%PDF-1.4 test"
TEMPLATE_FILE = "周报模板.xlsx"
NOTICE_URL = re.compile(r"/notices/(\d+)/$")


def log_in(page: Page, server_url: str, username: str) -> None:
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page).to_have_url(f"{server_url}/")


def open_inbox(page: Page) -> None:
    page.goto("/notices/")
    expect(page.locator("h1")).to_have_text("通知")
    expect(page.locator("#inbox-rows tr.empty-row")).to_be_visible()
    expect(page.locator("#unread-badge")).to_have_text("0")


@pytest.mark.browser
def test_published_notice_reaches_the_county_live_and_comes_back_acknowledged(
    transactional_db, daphne_server, new_daphne_context, results_dir, tmp_path
):
    # --- 1. The tree and three accounts.
    tree = factories.small_tree()
    author = factories.manager(tree.province)
    county = factories.manager(tree.county)
    sibling = factories.staff(tree.sibling)
    # The notice goes to 长安区 (130102) at county level. Sent to all of 河北 (130000)
    # it would reach 桥西区's county staff too, which must here see nothing.
    target = tree.county
    recipients = Account.objects.filter(
        is_active=True, unit__level=Level.COUNTY, unit__path__startswith=target.path
    ).count()
    assert recipients == 1  # the county manager alone

    template = tmp_path / TEMPLATE_FILE
    book = Workbook()
    book.active.append(["学校", "在籍人数"])
    book.active.append(["长安区第一中学", 1200])
    book.save(template)
    reply_file = tmp_path / REPLY_FILE
    reply_file.write_bytes(REPLY_BYTES)

    # --- 2. The county manager and the sibling county's staff keep their inboxes open.
    county_page = new_daphne_context().new_page()
    log_in(county_page, daphne_server.url, county.username)
    open_inbox(county_page)

    sibling_page = new_daphne_context().new_page()
    log_in(sibling_page, daphne_server.url, sibling.username)
    open_inbox(sibling_page)

    # --- 3. The province manager writes and publishes the notice.
    author_page = new_daphne_context().new_page()
    log_in(author_page, daphne_server.url, author.username)
    author_page.goto("/notices/new/")
    form = author_page.locator("#notice-form")
    form.locator('[name="title"]').fill(TITLE)
    form.locator('[name="body"]').fill(BODY)
    form.locator('[name="target_codes"]').fill(target.code)
    form.locator('input[name="levels"][value="prefecture"]').uncheck()  # the default
    form.locator('input[name="levels"][value="county"]').check()
    form.locator('[name="requires_ack"]').check()
    form.locator('[name="ack_deadline"]').fill(ACK_DEADLINE)
    form.locator('[name="files"]').set_input_files(template)
    form.locator('button[name="action"][value="publish"]').click()

    expect(author_page).to_have_url(NOTICE_URL)
    expect(author_page.locator(".messages")).to_contain_text("通知已发布")
    expect(author_page.locator("article.notice h1")).to_have_text(TITLE)
    expect(author_page.locator("article.notice .body table")).to_be_visible()
    notice_id = NOTICE_URL.search(author_page.url).group(1)

    # --- 4. Without a reload: a live row, a toast and the badge for the county...
    row = county_page.locator(f'#inbox-rows tr[data-notice-id="{notice_id}"]')
    expect(row).to_be_visible()
    expect(row.locator("a")).to_have_text(TITLE)
    expect(row).to_contain_text("河北省")
    expect(county_page.locator("#inbox-rows tr.empty-row")).to_have_count(0)
    toast = county_page.locator("#toasts .toast").filter(has_text=TITLE)
    expect(toast).to_be_visible()
    expect(county_page.locator("#unread-badge")).to_have_text("1")
    county_page.screenshot(path=results_dir / "notices-inbox-live.png", full_page=True)

    # ...and nothing for the sibling county, whose socket would have had it by now.
    expect(sibling_page.locator(f'#inbox-rows tr[data-notice-id="{notice_id}"]')).to_have_count(0)
    expect(sibling_page.locator("#inbox-rows tr.empty-row")).to_be_visible()
    expect(sibling_page.locator("#toasts .toast")).to_have_count(0)
    expect(sibling_page.locator("#unread-badge")).to_have_text("0")

    # --- 5. The county manager opens it, downloads the template and acknowledges.
    row.locator("a").click()
    expect(county_page).to_have_url(f"{daphne_server.url}/notices/{notice_id}/")
    expect(county_page.locator("article.notice h1")).to_have_text(TITLE)
    expect(county_page.locator("article.notice")).to_contain_text("需要回执")
    expect(county_page.locator("#unread-badge")).to_have_text("0")  # opening reads it
    attachment = county_page.locator("#attachments a", has_text=TEMPLATE_FILE)
    expect(attachment).to_be_visible()
    with county_page.expect_download() as download_info:
        attachment.click()
    download = download_info.value
    assert download.suggested_filename == TEMPLATE_FILE
    saved = tmp_path / "downloaded.xlsx"
    download.save_as(saved)
    assert saved.read_bytes() == template.read_bytes()

    ack = county_page.locator("#ack-form")
    ack.locator('[name="reply"]').fill(REPLY)
    ack.locator('[name="files"]').set_input_files(reply_file)
    ack.locator('button[type="submit"]').click()

    expect(county_page).to_have_url(f"{daphne_server.url}/notices/{notice_id}/")
    expect(county_page.locator(".messages")).to_contain_text("已回执")
    expect(county_page.locator("#ack-form")).to_have_count(0)
    acked = county_page.locator("#ack")
    expect(acked.locator(".ok")).to_contain_text("您已于")
    expect(acked.locator("blockquote")).to_have_text(REPLY)
    expect(acked.locator("a", has_text=REPLY_FILE)).to_be_visible()

    # --- 6. The author's statistics count the read and the acknowledgement...
    author_page.goto(f"/notices/{notice_id}/stats/")
    expect(author_page.locator("#total-accounts")).to_have_text(str(recipients))
    expect(author_page.locator("#total-read")).to_have_text("1")
    expect(author_page.locator("#total-acked")).to_have_text("1")
    prefecture_row = author_page.locator(f'#stats-rows tr[data-unit="{tree.prefecture.code}"]')
    expect(prefecture_row).to_contain_text("石家庄市")
    expect(prefecture_row.locator("td.read")).to_have_text("1")
    expect(prefecture_row.locator("td.acked")).to_have_text("1")
    expect(author_page.locator("#lag-people li.empty")).to_be_visible()
    author_page.screenshot(path=results_dir / "notices-stats.png", full_page=True)

    # ...and the replies page lists the reply with its file.
    author_page.goto(f"/notices/{notice_id}/replies/")
    replies = author_page.locator("#replies tbody tr")
    expect(replies).to_have_count(1)
    expect(replies).to_contain_text("长安区")
    expect(replies).to_contain_text(REPLY)
    expect(replies.locator("a", has_text=REPLY_FILE)).to_be_visible()
