"""Chat end to end in real Chromium against the real ASGI app (`daphne_server`): a
county manager and one of the county's schools talk live in the county room (same
messages, same order, both ways, no reload); the school sees neither the province
nor the prefecture room and gets 404 for the province room's URL; the manager sees
the school online, gets an unread count for the county room while reading another
room, and sees a message that looks like HTML as plain text."""

import pytest
from playwright.sync_api import Page, expect

from tests import factories

NOTICE = "各校请于周四前完成学籍注册"
REPLY = "收到，已完成 80%"
XSS = "<img src=x onerror=alert(1)>"
LATER = "注册名单已上传，请查收"
MANAGER_NAME = "王县管"
SCHOOL_NAME = "李校员"


def log_in(page: Page, server_url: str, username: str) -> None:
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page).to_have_url(f"{server_url}/")


def wait_for_socket(page: Page) -> None:
    """Connected means the server has joined this tab to its rooms' groups."""
    page.wait_for_function("() => window.platformSocket && window.platformSocket.open")


def room_entry(page: Page, name: str):
    return page.locator("#room-list li[data-room]").filter(has_text=name)


def open_room(page: Page, name: str) -> str:
    """Open a room from the list by (part of) its name; returns its id."""
    entry = room_entry(page, name)
    expect(entry).to_have_count(1)
    room_id = entry.get_attribute("data-room")
    entry.locator("a").click()
    expect(page.locator("#chat")).to_have_attribute("data-room", room_id)
    expect(page.locator("#chat h1")).to_contain_text(name)
    wait_for_socket(page)
    return room_id


def send(page: Page, text: str) -> None:
    box = page.locator('#composer textarea[name="body"]')
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")  # sent over the socket, not posted as a form


def message(page: Page, text: str):
    return page.locator("#messages li.message").filter(has_text=text)


def seqs(page: Page) -> list[str]:
    return page.locator("#messages li.message").evaluate_all("els => els.map(e => e.dataset.seq)")


# The tab's own heartbeat (chat.js beats on visibilitychange, as when its person comes
# back to it), then a ping: the consumer handles a socket's frames in order, so by the
# pong the presence is stored.
HEARTBEAT = """() => new Promise((resolve) => {
    document.addEventListener("platform:event", function pong(event) {
        if (event.detail.type !== "pong") return;
        document.removeEventListener("platform:event", pong);
        resolve();
    });
    document.dispatchEvent(new Event("visibilitychange"));
    window.platformSocket.send({type: "ping"});
})"""


def mark_document(page: Page) -> None:
    """A flag that a reload or navigation would wipe."""
    page.evaluate("() => { window.__sameDocument = true; }")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"


@pytest.mark.browser
def test_county_and_school_chat_live_in_their_room_only(
    transactional_db, daphne_server, new_daphne_context, results_dir
):
    # --- 1. The tree, a county manager and a school's staff.
    tree = factories.small_tree()
    manager = factories.manager(tree.county, full_name=MANAGER_NAME)
    school = factories.staff(tree.school, full_name=SCHOOL_NAME)

    dialogs = []
    manager_page = new_daphne_context().new_page()
    school_page = new_daphne_context().new_page()
    for page in (manager_page, school_page):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # --- 2. Both open the county room from /chat/.
    log_in(manager_page, daphne_server.url, manager.username)
    manager_page.goto("/chat/")
    province_id = room_entry(manager_page, "河北省").get_attribute("data-room")
    prefecture_id = room_entry(manager_page, "石家庄市").get_attribute("data-room")
    county_id = open_room(manager_page, "长安区")
    assert len({province_id, prefecture_id, county_id}) == 3

    log_in(school_page, daphne_server.url, school.username)
    school_page.goto("/chat/")
    assert open_room(school_page, "长安区") == county_id

    # --- 3. Live both ways, in the same order on both pages.
    mark_document(manager_page)
    mark_document(school_page)
    send(manager_page, NOTICE)
    expect(message(school_page, NOTICE)).to_have_count(1)
    expect(message(school_page, NOTICE).locator(".who")).to_have_text(MANAGER_NAME)
    expect(message(manager_page, NOTICE)).to_have_count(1)

    send(school_page, REPLY)
    expect(message(manager_page, REPLY)).to_have_count(1)
    expect(message(manager_page, REPLY).locator(".who")).to_have_text(SCHOOL_NAME)
    expect(message(school_page, REPLY)).to_have_count(1)

    for page in (manager_page, school_page):
        expect(page.locator("#messages li.message")).to_have_count(2)
        assert_same_document(page)
    assert seqs(manager_page) == seqs(school_page) == ["1", "2"]
    texts = manager_page.locator("#messages li.message .text")
    expect(texts).to_have_text([NOTICE, REPLY])
    expect(school_page.locator("#messages li.message .text")).to_have_text([NOTICE, REPLY])

    # --- 4. The school belongs to its county room only.
    expect(school_page.locator("#room-list li[data-room]")).to_have_count(1)
    expect(school_page.locator(f'#room-list li[data-room="{province_id}"]')).to_have_count(0)
    expect(school_page.locator(f'#room-list li[data-room="{prefecture_id}"]')).to_have_count(0)
    expect(school_page.locator("#room-list")).not_to_contain_text("河北省")
    expect(school_page.locator("#room-list")).not_to_contain_text("石家庄市")
    probe = school_page.context.new_page()  # the school's session; its chat tab stays open
    response = probe.goto(f"/chat/{province_id}/")
    assert response is not None and response.status == 404
    assert probe.request.get(f"/chat/{province_id}/members.json").status == 404
    probe.close()

    # --- 7. Markup in a message is shown as text, and runs nothing.
    send(school_page, XSS)
    shown = message(manager_page, XSS)
    expect(shown).to_have_count(1)
    expect(shown.locator(".text")).to_have_text(XSS)
    expect(manager_page.locator("#messages img")).to_have_count(0)
    expect(message(school_page, XSS).locator(".text")).to_have_text(XSS)
    expect(school_page.locator("#messages img")).to_have_count(0)

    # --- 6. Presence: the school's connected tab shows as online to the manager.
    # members.json is fetched on page load (then every 30 s): reload once. The
    # reload also marks the county room read up to here on the server. The fresh
    # heartbeat first: the school's first one is as old as its page, and a test run
    # elsewhere on the same Redis empties it (tests/conftest.py's cache.clear()).
    school_page.evaluate(HEARTBEAT)
    manager_page.reload()
    wait_for_socket(manager_page)
    member = manager_page.locator("#member-list li").filter(has_text=SCHOOL_NAME)
    expect(member).to_contain_text("长安区第一中学")
    expect(member.locator(".dot.online")).to_have_count(1)
    expect(manager_page.locator("#member-list li").filter(has_text=MANAGER_NAME)).to_have_count(1)
    # After the reload the history is server-rendered: still text, still no img.
    expect(message(manager_page, XSS).locator(".text")).to_have_text(XSS)
    expect(manager_page.locator("#messages img")).to_have_count(0)
    manager_page.screenshot(path=results_dir / "chat-county-manager.png", full_page=True)
    school_page.screenshot(path=results_dir / "chat-county-school.png", full_page=True)

    # --- 5. Unread: the manager reads the province room; the school writes again.
    open_room(manager_page, "河北省")
    county_unread = room_entry(manager_page, "长安区").locator("[data-unread]")
    expect(county_unread).to_have_text("0")
    expect(manager_page.locator("#chat-badge")).to_have_text("0")
    mark_document(manager_page)
    send(school_page, LATER)
    expect(message(school_page, LATER)).to_have_count(1)
    expect(county_unread).to_have_text("1")
    expect(manager_page.locator("#chat-badge")).to_have_text("1")
    expect(message(manager_page, LATER)).to_have_count(0)  # not rendered in another room
    assert_same_document(manager_page)
    manager_page.screenshot(path=results_dir / "chat-province-unread.png", full_page=True)

    assert dialogs == [], f"a dialog opened: {dialogs}"
