"""Chat posts survive a dying socket, in real Chromium against the real ASGI app: a post
whose `chat.sent` never arrives stays on the page as unsent (and in the tab's
sessionStorage), a post written while the server cannot be reached waits the same way,
and after the reconnect both are sent again and each is stored and shown exactly once.

The socket runs through Playwright's WebSocket route, which forwards every frame to
daphne; it drops the ack of the first post and closes the socket (the server did store
the post), then refuses connections for a while, as a server that is down would."""

import json

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from chat import services as chat_services
from chat.models import Message, Room
from tests import factories
from tests.browser.test_chat_flow import log_in, message, open_room

STORED_UNACKED = "请各校核对名单"
WRITTEN_WHILE_DOWN = "名单已核对"
HANG_MS = 60_000  # a bound on a hang (the reconnect backoff grows), not a measurement


class Link:
    """The tab's socket between the page and daphne: up, losing the next ack, or down."""

    def __init__(self):
        self.mode = "up"
        self.sends: list[dict] = []  # every chat.send the page wrote to the server
        self.dropped: list[dict] = []  # acks the page never got

    def route(self, ws) -> None:
        if self.mode == "down":
            ws.close(code=1011, reason="down")
            return
        server = ws.connect_to_server()

        def to_server(text):
            frame = json.loads(text) if isinstance(text, str) else {}
            if frame.get("type") == "chat.send":
                self.sends.append(frame)
            server.send(text)

        def to_page(text):
            frame = json.loads(text) if isinstance(text, str) else {}
            if self.mode == "lose_ack" and frame.get("type") == "chat.sent":
                self.dropped.append(frame)
                self.mode = "down"
                ws.close(code=1011, reason="lost")
                server.close()
                return
            ws.send(text)

        ws.on_message(to_server)
        server.on_message(to_page)


def pending(page: Page, text: str):
    return page.locator("#messages li.pending").filter(has_text=text)


@pytest.mark.browser
def test_unacknowledged_posts_stay_unsent_and_are_stored_once_after_the_reconnect(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    school = factories.staff(tree.school)
    link = Link()
    page = new_daphne_context().new_page()
    page.route_web_socket("**/ws/**", link.route)
    log_in(page, daphne_server.url, school.username)
    page.goto("/chat/")
    open_room(page, "长安区")
    box = page.locator('#composer textarea[name="body"]')

    # 1. The post reaches the server, which stores it; its ack is lost with the socket.
    link.mode = "lose_ack"
    box.fill(STORED_UNACKED)
    box.press("Enter")
    page.wait_for_function("() => !window.platformSocket.open", timeout=HANG_MS)
    assert [f["type"] for f in link.dropped] == ["chat.sent"]
    expect(pending(page, STORED_UNACKED)).to_have_count(1)
    expect(message(page, STORED_UNACKED)).to_have_count(0)
    assert list(Message.objects.values_list("body", flat=True)) == [STORED_UNACKED]

    # 2. Written while the server cannot be reached: kept, not lost, not posted as a form.
    box.fill(WRITTEN_WHILE_DOWN)
    box.press("Enter")
    expect(pending(page, WRITTEN_WHILE_DOWN)).to_have_count(1)
    expect(box).to_have_value("")
    kept = page.evaluate("() => JSON.parse(sessionStorage.getItem('xj.chatPending'))")
    assert [p["body"] for p in kept] == [STORED_UNACKED, WRITTEN_WHILE_DOWN]

    # 3. The server is back: both go again with their ids; each is stored and shown once.
    link.mode = "up"
    expect(page.locator("#messages li.pending")).to_have_count(0, timeout=HANG_MS)
    expect(message(page, STORED_UNACKED)).to_have_count(1)
    expect(message(page, WRITTEN_WHILE_DOWN)).to_have_count(1)
    stored = list(Message.objects.order_by("seq").values_list("seq", "body", "client_id"))
    assert [(seq, body) for seq, body, _cid in stored] == [
        (1, STORED_UNACKED),
        (2, WRITTEN_WHILE_DOWN),
    ]
    first_id = kept[0]["id"]
    assert stored[0][2] == first_id
    resent = [f for f in link.sends if f.get("client_id") == first_id]
    assert len(resent) >= 2 and {f["body"] for f in resent} == {STORED_UNACKED}
    assert page.evaluate("() => sessionStorage.getItem('xj.chatPending')") == "[]"

    # 4. A reload shows the same two messages, and nothing is left to send.
    page.reload()
    expect(page.locator("#messages li.message .text")).to_have_text(
        [STORED_UNACKED, WRITTEN_WHILE_DOWN]
    )
    expect(page.locator("#messages li.pending")).to_have_count(0)


@pytest.mark.browser
def test_a_refused_post_shows_the_reason_and_can_be_sent_again_or_edited(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    manager = factories.manager(tree.county)
    school = factories.staff(tree.school)
    page = new_daphne_context().new_page()
    log_in(page, daphne_server.url, school.username)
    page.goto("/chat/")
    room_id = open_room(page, "长安区")
    room = Room.objects.get(pk=room_id)
    box = page.locator('#composer textarea[name="body"]')

    # Muted after the page opened: the post is refused, with the reason, and kept.
    chat_services.member_set(actor=manager, room=room, account=school, muted=True)
    box.fill(STORED_UNACKED)
    box.press("Enter")
    refused = pending(page, STORED_UNACKED)
    with translation.override("zh-hans"):
        reason = translation.gettext("You are muted in this room.")
    expect(refused.locator(".field-error")).to_contain_text(reason)
    assert not Message.objects.exists()

    # Unmuted: "send again" stores it once, with the same id.
    chat_services.member_set(actor=manager, room=room, account=school, muted=False)
    refused.locator("button").first.click()
    expect(message(page, STORED_UNACKED)).to_have_count(1)
    expect(page.locator("#messages li.pending")).to_have_count(0)

    # Refused again (muted), then taken back into the composer to be edited.
    chat_services.member_set(actor=manager, room=room, account=school, muted=True)
    box.fill(WRITTEN_WHILE_DOWN)
    box.press("Enter")
    refused = pending(page, WRITTEN_WHILE_DOWN)
    expect(refused.locator(".field-error")).to_be_visible()
    refused.locator("button").last.click()
    expect(box).to_have_value(WRITTEN_WHILE_DOWN)
    expect(page.locator("#messages li.pending")).to_have_count(0)
    assert page.evaluate("() => sessionStorage.getItem('xj.chatPending')") == "[]"
    assert list(Message.objects.values_list("body", flat=True)) == [STORED_UNACKED]
