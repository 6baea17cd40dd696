"""Fixtures for the browser tests: Debian's Chromium driven by Playwright's sync API
against pytest-django's live server.

Chromium is never downloaded here: the tests launch the system binary
(/usr/bin/chromium, or CHROMIUM_PATH as in scripts/ensure_chromium.py) and fail,
never skip, when it is missing.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots for a human to look at; the directory is gitignored.
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch):
    """Playwright's sync API keeps an asyncio loop running in the test's thread, so
    Django would refuse ORM calls in the test body (SynchronousOnlyOperation).
    Only the browser tests get this exemption; it is undone after each test."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def chromium_path():
    if not os.path.isfile(CHROMIUM) or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not at {CHROMIUM}: install Debian's `chromium` package "
            "(apt-get install chromium) or set CHROMIUM_PATH. The browser tests "
            "need a real Chromium and do not download one.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def browser(chromium_path):
    """One headless Chromium per test. Playwright is stopped afterwards so its event
    loop does not stay running in the thread for the tests that follow.

    While that loop runs, Django keeps this thread's database connections in
    context-local rather than thread-local storage, so ORM calls in the test body
    open a second connection. It is closed here, while the loop still runs, or it
    would outlive the test and block dropping the PostgreSQL test database."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


@pytest.fixture
def new_context(browser, live_server):
    """Opens a fresh browser context (own cookies) on the live server, in Chinese."""
    contexts = []

    def make():
        context = browser.new_context(
            base_url=live_server.url,
            locale="zh-CN",
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def results_dir():
    RESULTS_DIR.mkdir(exist_ok=True)
    return RESULTS_DIR
