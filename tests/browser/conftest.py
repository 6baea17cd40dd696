"""Fixtures for the browser tests: Debian's Chromium driven by Playwright's sync API
against pytest-django's live server (WSGI, no WebSocket) or, for pages that use the
socket, the project's real ASGI app in a daphne subprocess (`daphne_server`).

Chromium is never downloaded here: the tests launch the system binary
(/usr/bin/chromium, or CHROMIUM_PATH as in scripts/ensure_chromium.py) and fail,
never skip, when it is missing.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import processes

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


def _contexts_on(browser, base_url):
    """A maker of fresh browser contexts (own cookies) on base_url, in Chinese; the
    generator closes them all when resumed."""
    contexts = []

    def make():
        context = browser.new_context(
            base_url=base_url,
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
def new_context(browser, live_server):
    """Opens a fresh browser context (own cookies) on the live server, in Chinese."""
    yield from _contexts_on(browser, live_server.url)


@pytest.fixture
def new_daphne_context(browser, daphne_server):
    """Opens a fresh browser context (own cookies) on the daphne server, in Chinese."""
    yield from _contexts_on(browser, daphne_server.url)


@dataclass(frozen=True)
class DaphneServer:
    url: str  # http://127.0.0.1:PORT
    ws_url: str  # ws://127.0.0.1:PORT (append the path, e.g. "/ws/")
    log: Path  # daphne's stdout and stderr


def _session_redis_prefix():
    """Settings with a Redis prefix of this test session's own. Pub/sub channels are
    server-wide whatever the database number in REDIS_URL, so two sessions on one
    redis-server under the same prefix get each other's frames (each has a room 3, and
    every tree has 河北省). The override reaches this process's cache and channel layer
    (Django and Channels reset them on setting_changed) and daphne through processes.daphne_env."""
    from copy import deepcopy

    from django.conf import settings
    from django.test import override_settings

    prefix = f"{settings.CACHES['default']['KEY_PREFIX']}-test{os.getpid()}"
    caches = deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = prefix
    layers = deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = f"{prefix}:ch"  # as config/settings.py derives it
    return override_settings(CACHES=caches, CHANNEL_LAYERS=layers)


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, tmp_path_factory):
    """The project's ASGI app (HTTP and WebSocket) served by daphne in a subprocess,
    on the test database pytest-django created and on the same Redis.

    One per session: the test database outlives every test. Tests that use it take
    `transactional_db`, so what they create is committed where daphne can read it.
    It depends on django_db_setup so it is stopped before the test database is
    dropped (PostgreSQL refuses to drop a database with open connections)."""
    with _session_redis_prefix():
        yield from _daphne_server(tmp_path_factory)


def _daphne_server(tmp_path_factory):
    from django.conf import settings

    try:
        env = processes.daphne_env(
            processes.database_url(), settings.REDIS_URL, settings.CACHES["default"]["KEY_PREFIX"]
        )
        server = processes.Daphne("browser", env, tmp_path_factory.mktemp("daphne"))
        server.start()
    except processes.ProcessError as e:
        pytest.fail(f"daphne did not start: {e}", pytrace=False)
    try:
        yield DaphneServer(url=server.url, ws_url=f"ws://127.0.0.1:{server.port}", log=server.log)
    finally:
        code = server.stop()
    if code != 0:
        how = "was killed after SIGTERM" if code is None else f"exited with code {code} on SIGTERM"
        pytest.fail(
            f"daphne (pid {server.proc.pid}) {how}\n--- last lines of {server.log} ---\n"
            f"{processes.tail(server.log)}",
            pytrace=False,
        )


@pytest.fixture
def results_dir():
    RESULTS_DIR.mkdir(exist_ok=True)
    return RESULTS_DIR
