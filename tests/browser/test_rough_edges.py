"""Issue 15 (rough edges) in real Chromium: what only computed styles show — the ticket
timeline without numbers and its internal notes set apart, the ticket's actions as
visible buttons, the draft and publish buttons of one height, the SLA number fields and
the two-factor pages styled like the rest, borders on Markdown tables."""

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from tests import factories
from tests.browser.pages import outside_playwright
from tickets import services as ticket_services

STYLE = "(e, p) => getComputedStyle(e)[p]"


def _log_in(page, username: str) -> None:
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    page.wait_for_load_state()


def _style(locator, prop: str) -> str:
    return locator.evaluate(STYLE, prop)


@pytest.mark.browser
def test_rough_edges_are_styled(transactional_db, live_server, new_context):
    def set_up():
        tree = factories.small_tree()
        engineer = factories.manager(tree.county, is_support_engineer=True)
        reporter = factories.staff(tree.school)
        ticket = ticket_services.ticket_create(
            actor=reporter,
            title="导入失败",
            description="| 列 | 值 |\n|---|---|\n| 学籍号 | 空 |",
            category="import",
        )
        ticket_services.ticket_reply(actor=engineer, ticket=ticket, body="请重试")
        ticket_services.ticket_reply(
            actor=engineer, ticket=ticket, body="疑似模板问题", internal=True
        )
        return tree, engineer, ticket

    tree, engineer, ticket = outside_playwright(set_up)

    page = new_context().new_page()
    _log_in(page, engineer.username)
    page.goto(f"/tickets/{ticket.pk}/")
    timeline = page.locator("#ticket-timeline")
    assert _style(timeline, "listStyleType") == "none"
    note = timeline.locator("li.internal").filter(has_text="疑似模板问题")
    reply = timeline.locator("li.kind-reply:not(.internal)").filter(has_text="请重试")
    with translation.override("zh-hans"):
        label = gettext("Internal note")
    expect(note.locator(".internal-label")).to_have_text(label)
    assert _style(note, "backgroundColor") != _style(reply, "backgroundColor")
    # Markdown tables in rendered bodies have borders.
    cell = page.locator(".ticket .body td").first
    assert _style(cell, "borderTopStyle") == "solid" and _style(cell, "borderTopWidth") != "0px"
    # The actions are buttons to see, not ▶ disclosures.
    summary = page.locator("#ticket-actions details > summary").first
    expect(summary).to_be_visible()
    assert _style(summary, "display") == "inline-block"
    assert _style(summary, "listStyleType") == "none"
    assert _style(summary, "borderTopStyle") == "solid"

    # Draft and publish: one height.
    page.goto("/notices/new/")
    draft = page.locator('button[value="draft"]')
    publish = page.locator('button[value="publish"]')
    assert draft.bounding_box()["height"] == publish.bounding_box()["height"]

    # The province's SLA targets: number fields with the platform's border and padding.
    province = outside_playwright(lambda: factories.manager(tree.province))
    page = new_context().new_page()
    _log_in(page, province.username)
    page.goto("/support/settings/")
    number = page.locator("#sla-form input[type=number]").first
    assert _style(number, "borderTopColor") == "rgb(188, 204, 220)"
    assert _style(number, "paddingLeft") != "0px" and _style(number, "borderTopStyle") == "solid"

    # The two-factor pages: allauth's form and buttons in the platform's look.
    page.goto("/auth/2fa/totp/activate/")
    form = page.locator("form.allauth-form")
    expect(form).to_have_count(1)
    assert _style(form, "backgroundColor") == "rgb(255, 255, 255)"
    submit = form.locator('button[type="submit"]')
    assert "primary" in (submit.get_attribute("class") or "")
    code = form.locator("input:not([type=hidden])").first
    assert _style(code, "borderTopColor") == "rgb(188, 204, 220)"


@pytest.mark.browser
def test_file_pickers_speak_chinese_and_list_the_chosen_names(
    transactional_db, live_server, new_context
):
    from chat import services as chat_services

    def set_up():
        tree = factories.small_tree()
        engineer = factories.manager(tree.county, is_support_engineer=True)
        reporter = factories.staff(tree.school)
        ticket = ticket_services.ticket_create(
            actor=reporter, title="导入失败", description="第 3 行", category="import"
        )
        room = chat_services.topic_room_create(
            actor=engineer, name="长安区工作群", rules=[], usernames=[reporter.username]
        )
        return engineer, ticket, room

    engineer, ticket, room = outside_playwright(set_up)
    with translation.override("zh-hans"):
        choose, none = gettext("Choose files"), gettext("No file chosen")
    assert (choose, none) == ("选择文件", "未选择文件")
    files = [
        {"name": "截图一.png", "mimeType": "image/png", "buffer": b"\x89PNG"},
        {"name": "名单.xlsx", "mimeType": "application/octet-stream", "buffer": b"PK"},
    ]

    page = new_context().new_page()
    _log_in(page, engineer.username)
    for path, picker in (
        ("/tickets/new/", "form .file-picker"),  # a form field (core.files widget)
        (f"/tickets/{ticket.pk}/", "#reply-form .file-picker"),  # written in the template
    ):
        page.goto(path)
        box = page.locator(picker)
        button = box.locator("label.file-button")
        expect(button).to_have_text(choose)
        expect(button).to_be_visible()
        expect(box.locator(".file-names")).to_have_text(none)
        assert _style(box.locator("input[type=file]"), "opacity") == "0"
        box.locator("input[type=file]").set_input_files(files)
        expect(box.locator(".file-names")).to_have_text("截图一.png、名单.xlsx")

    # Chat's attach button: a drawn paper clip (the 📎 glyph was an empty box).
    page.goto(f"/chat/{room.pk}/")
    attach = page.locator("#composer label.file-button")
    expect(attach.locator("svg.icon")).to_be_visible()
    assert attach.locator("svg.icon").bounding_box()["width"] > 10
    assert "📎" not in page.content()
    page.locator("#composer input[type=file]").set_input_files(files[:1])
    expect(page.locator("#composer .file-names")).to_have_text("截图一.png")
