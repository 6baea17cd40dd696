"""Helpers the real-browser flows share: logging in through the form, pages that
collect console errors and CSP violations, and checks that a page updated live
(no reload)."""

from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories

REPORT_CSP = """document.addEventListener("securitypolicyviolation", (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
});"""


def log_in(page: Page, server_url: str, username: str) -> None:
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page).to_have_url(f"{server_url}/")


def watched_page(context: BrowserContext, who: str, problems: list[str]) -> Page:
    """A page whose console errors, uncaught exceptions, CSP violations and dialogs
    land in `problems`."""
    context.add_init_script(REPORT_CSP)
    page = context.new_page()

    def on_console(message):
        if message.type == "error":
            problems.append(f"{who}: console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(f"{who}: uncaught {e}"))
    page.on("dialog", lambda d: (problems.append(f"{who}: dialog {d.message}"), d.dismiss()))
    return page


def wait_for_socket(page: Page) -> None:
    """Connected means the server has joined this tab to its groups."""
    page.wait_for_function("() => window.platformSocket && window.platformSocket.open")


def mark_document(page: Page) -> None:
    """A flag that a reload or navigation would wipe."""
    page.evaluate("() => { window.__sameDocument = true; }")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"


def outside_playwright(fn, *, timeout: float = 120):
    """Run `fn` (a service call, a data set-up) in a thread of its own and return its
    result. In the test's thread Playwright's event loop is running, so the push after
    commit (core.sockets.group_sends_soon) would refuse and the event would only be
    stored, never sent live. The thread's database connection is closed before it
    ends, or it would block dropping the PostgreSQL test database."""

    def run():
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=timeout)
