"""The contact directory on a phone (issue 15 item 3): a school's roll administrator at
390 px finds the county's manager by the unit's pinyin initials, sees the presence dot
follow (online, then away), and opens the direct room with one tap — no username typed,
nothing wider than the screen; someone of another county is not offered."""

import re

import pytest
from playwright.sync_api import expect

from chat import services as chat_services
from tests import factories
from tests.browser.pages import log_in, outside_playwright, wait_for_socket, watched_page

PHONE = {"width": 390, "height": 844}
MANAGER_NAME = "王县管"
WIDE = "() => document.documentElement.scrollWidth"


@pytest.mark.browser
def test_a_school_opens_a_direct_message_from_the_directory_at_390px(
    transactional_db, daphne_server, new_daphne_context, results_dir
):
    tree = factories.small_tree()
    manager = factories.manager(tree.county, username="county-boss", full_name=MANAGER_NAME)
    school = factories.staff(tree.school, username="school-clerk", full_name="李校员")
    factories.staff(tree.sibling, username="sibling-clerk", full_name="桥西区办事员")
    outside_playwright(lambda: chat_services.presence_beat(manager))

    problems: list[str] = []
    page = watched_page(new_daphne_context(), "school", problems)
    page.set_viewport_size(PHONE)
    log_in(page, daphne_server.url, school.username)
    page.goto("/chat/direct/")
    wait_for_socket(page)

    directory = page.locator("#directory")
    expect(directory).to_contain_text(MANAGER_NAME)
    expect(directory).not_to_contain_text("桥西区办事员")  # another county: not offered
    assert page.evaluate(WIDE) <= PHONE["width"]

    # Searched by the county's pinyin initials (长安区 → caq).
    page.locator('#directory-card input[name="q"]').fill("caq")
    page.locator('#directory-card input[name="q"]').press("Enter")
    row = page.locator("#directory li.dir-person").filter(has_text=MANAGER_NAME)
    expect(row).to_have_count(1)
    expect(page.locator("#directory li.dir-person")).to_have_count(1)
    expect(row.locator("[data-presence]")).to_have_class("dot online")

    # The dot follows: the page asks again when its socket (re)opens, and every 30 s.
    wait_for_socket(page)
    outside_playwright(lambda: chat_services.presence_away(manager))
    page.evaluate("() => document.dispatchEvent(new Event('platform:open'))")
    expect(row.locator("[data-presence]")).to_have_class("dot away")
    assert page.evaluate(WIDE) <= PHONE["width"]
    page.screenshot(path=str(results_dir / "phone-directory.png"), full_page=True)

    # One tap opens the direct room.
    row.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/chat/\d+/$"))
    expect(page.locator("#chat h1")).to_contain_text(MANAGER_NAME)
    wait_for_socket(page)
    box = page.locator('#composer textarea[name="body"]')
    box.fill("王老师好，学籍注册的名单已上传")
    box.press("Enter")
    expect(page.locator("#messages li.message").filter(has_text="名单已上传")).to_have_count(1)
    assert page.evaluate(WIDE) <= PHONE["width"]
    assert problems == []
