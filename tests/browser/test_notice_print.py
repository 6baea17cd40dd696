"""A circular's print view (issue 15, item 4) in real Chromium at phone width: the formal
layout (issuer, 文号, centered title, 主送 ending with ：, body, 附件 list, 落款 and the
date in Chinese on the right), no sideways overflow at 390 px, the 打印 button wired
from static/js (no inline script, no CSP violation), and print media hiding the menu,
the buttons, the acknowledgement form and the toasts — on the print view and on the
notice's ordinary page."""

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect

from notices import services
from tests import factories
from tests.browser.pages import log_in, outside_playwright, watched_page
from tests.browser.test_phone import LONG_TOKEN, MEASURE

PHONE = {"width": 390, "height": 844}
TITLE = "关于做好2026年秋季学期学籍信息核查与异动材料报送工作的通知"
BODY = f"""请各县区于本月底前完成**学籍核查**。详见 {LONG_TOKEN}

| 项目 | 要求 | 截止时间 | 报送方式 |
| --- | --- | --- | --- |
| 核查表 | 加盖公章的扫描件 | 2026年12月20日17:00前 | 平台回执上传 |

{"学籍核查工作要求。" * 30}
"""
HIDDEN_IN_PRINT = ["#topbar", "footer.foot", "#toasts"]


def _world():
    tree = factories.small_tree()
    author = factories.manager(tree.province, full_name="河北省学籍管理员")
    reader = factories.manager(tree.county, full_name="长安区学籍管理员")
    services.numbering_rule_save(
        actor=author, prefix="冀教学籍", pattern="", issuer_line="河北省教育厅"
    )
    notice = services.notice_save(
        actor=author,
        title=TITLE,
        body=BODY,
        priority="normal",
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(days=5),
        publish_at=None,
        target_codes=["130102", "130104"],
        levels=["county"],
        managers_only=False,
        signed_on=date(2026, 12, 5),
        files=[
            SimpleUploadedFile(
                "2026年秋季学期学籍信息核查表（县区汇总用，请勿改动表头）.xlsx", b"x"
            ),
            SimpleUploadedFile("填报说明.pdf", b"%PDF-1.4"),
        ],
    )
    notice = services.notice_publish(actor=author, notice=notice)
    return reader, notice


def _context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=PHONE)
    context.set_default_timeout(15_000)
    return context


@pytest.mark.browser
def test_the_print_view_fits_a_phone_and_prints_without_the_menu(
    transactional_db, browser, live_server, results_dir
):
    reader, notice = outside_playwright(_world)
    problems: list[str] = []
    context = _context(browser, live_server)
    try:
        page = watched_page(context, "reader", problems)
        page.route_web_socket("**/ws/**", lambda ws: None)
        log_in(page, live_server.url, reader.username)

        # The notice's page: its formal lines, and a link to the print view.
        page.goto(f"/notices/{notice.pk}/")
        year = timezone.localdate().year
        expect(page.locator("#doc-number")).to_have_text(f"冀教学籍〔{year}〕1号")
        expect(page.locator("#main-recipients")).to_have_text("长安区、桥西区")
        expect(page.locator("#ack-form")).to_be_visible()
        problems += [f"notice page at 390px: {f}" for f in page.evaluate(MEASURE)]
        # Printed, the ordinary page loses the menu, the buttons and the form.
        page.emulate_media(media="print")
        for selector in [*HIDDEN_IN_PRINT, "#ack", ".actions", ".menu-toggle"]:
            expect(page.locator(selector)).to_be_hidden()
        expect(page.locator("article.notice h1")).to_be_visible()
        page.emulate_media(media="screen")

        page.locator("#print-link").click()
        expect(page).to_have_url(re.compile(rf"/notices/{notice.pk}/print/$"))
        doc = page.locator("#official-doc")
        expect(doc.locator("#doc-issuer")).to_have_text("河北省教育厅")
        expect(doc.locator("#doc-number")).to_have_text(f"冀教学籍〔{year}〕1号")
        expect(doc.locator("#doc-title")).to_have_text(TITLE)
        expect(doc.locator("#doc-recipients")).to_have_text("长安区、桥西区：")
        expect(doc.locator("#doc-body strong")).to_have_text("学籍核查")
        expect(doc.locator("#doc-attachments")).to_contain_text("附件：")
        expect(doc.locator("#doc-attachments li")).to_have_text(
            [
                "1. 2026年秋季学期学籍信息核查表（县区汇总用，请勿改动表头）.xlsx",
                "2. 填报说明.pdf",
            ]
        )
        expect(doc.locator("#doc-issuer-line")).to_have_text("河北省教育厅")
        expect(doc.locator("#doc-date")).to_have_text("2026年12月5日")
        assert (
            page.evaluate("() => getComputedStyle(document.querySelector('#doc-title')).textAlign")
            == "center"
        )
        # 落款 and date stand on the right half of the sheet.
        sheet = doc.bounding_box()
        sign = page.locator(".doc-sign").bounding_box()
        assert sign["x"] + sign["width"] / 2 > sheet["x"] + sheet["width"] / 2, (sign, sheet)

        # No sideways overflow at 390 px (long links, a four-column table, long names).
        problems += [f"print view at 390px: {f}" for f in page.evaluate(MEASURE)]
        page.screenshot(path=str(results_dir / "phone-notice-print.png"), full_page=True)

        # The 打印 button appears with its script and calls the browser's print.
        button = page.locator("#print-button")
        expect(button).to_be_visible()
        expect(button).to_have_text("打印")
        page.evaluate(
            "() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }"
        )
        button.click()
        assert page.evaluate("() => window.__printed") == 1

        # Printed: the sheet alone.
        page.emulate_media(media="print")
        for selector in [*HIDDEN_IN_PRINT, ".doc-tools", "#print-button"]:
            expect(page.locator(selector)).to_be_hidden()
        for selector in ["#doc-title", "#doc-number", "#doc-body", "#doc-date"]:
            expect(page.locator(selector)).to_be_visible()
        page.pdf(path=str(results_dir / "notice-print.pdf"), format="A4")
        page.emulate_media(media="screen")

        # The numbering rule page and the compose form's formal lines fit a phone too.
        page.set_viewport_size(PHONE)
        page.goto("/notices/numbering/")
        page.locator("#id_prefix").fill("长教")
        page.locator("#numbering-form button[type=submit]").click()
        expect(page.locator("#next-number strong")).to_have_text(f"长教〔{year}〕1号")
        problems += [f"numbering page at 390px: {f}" for f in page.evaluate(MEASURE)]
        page.goto("/notices/new/")
        expect(page.locator("#id_issuer_line")).to_have_attribute("placeholder", "长安区")
        problems += [f"compose at 390px: {f}" for f in page.evaluate(MEASURE)]
        page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
        page.screenshot(path=str(results_dir / "notice-print-a4.png"), full_page=True)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
