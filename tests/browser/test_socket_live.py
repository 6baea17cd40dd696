"""The socket end to end: real Chromium against the real ASGI app in daphne
(`daphne_server`), on the test database. A logged-in tab is greeted; an anonymous
one is refused with 4401."""

import pytest
from playwright.sync_api import Page, expect

from core.consumers import CLOSE_UNAUTHENTICATED
from tests import factories

# Resolves with the first message, parsed; rejects if the socket closes first. The
# guard only turns a silent server into a failure instead of a hung test.
FIRST_MESSAGE = """([url, guardMs]) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const guard = setTimeout(() => reject(new Error(`no message from ${url}`)), guardMs);
    ws.onmessage = (event) => { clearTimeout(guard); resolve(JSON.parse(event.data)); ws.close(); };
    ws.onclose = (event) => { clearTimeout(guard); reject(new Error(`closed ${event.code} before any message`)); };
})"""

# Resolves with the close code, and with whatever arrived before the close.
CLOSE_CODE = """([url, guardMs]) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages = [];
    const guard = setTimeout(() => reject(new Error(`${url} stayed open`)), guardMs);
    ws.onmessage = (event) => messages.push(event.data);
    ws.onclose = (event) => { clearTimeout(guard); resolve({code: event.code, messages}); };
})"""
GUARD_MS = 15_000


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()


@pytest.mark.browser
def test_logged_in_tab_is_greeted_on_the_socket(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    account = factories.manager(tree.county)

    page = new_daphne_context().new_page()
    log_in(page, account.username, factories.PASSWORD)
    expect(page).to_have_url(f"{daphne_server.url}/")
    expect(page.locator("h1")).to_contain_text("欢迎")

    first = page.evaluate(FIRST_MESSAGE, [f"{daphne_server.ws_url}/ws/", GUARD_MS])
    assert (first["type"], first["account"]) == ("hello", account.username), first


@pytest.mark.browser
def test_anonymous_tab_is_refused_with_4401(daphne_server, new_daphne_context):
    page = new_daphne_context().new_page()
    page.goto("/auth/login/")  # a page of the server's own origin, as the app's would be
    expect(page.locator('input[name="login"]')).to_be_visible()

    closed = page.evaluate(CLOSE_CODE, [f"{daphne_server.ws_url}/ws/", GUARD_MS])
    # 1006 here means the handshake itself was refused (HTTP 403): daphne does that
    # when the consumer closes before accept(), and the browser never sees the code.
    assert closed == {"code": CLOSE_UNAUTHENTICATED, "messages": []}
