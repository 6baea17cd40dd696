"""Fixtures for the browser tests: Debian's Chromium driven by Playwright's sync API
against pytest-django's live server (WSGI, no WebSocket) or, for pages that use the
socket, the project's real ASGI app in a daphne subprocess (`daphne_server`).

Chromium is never downloaded here: the tests launch the system binary
(/usr/bin/chromium, or CHROMIUM_PATH as in scripts/ensure_chromium.py) and fail,
never skip, when it is missing.
"""

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
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
PROJECT_DIR = Path(__file__).resolve().parents[2]
DAPHNE = PROJECT_DIR / ".venv" / "bin" / "daphne"
DAPHNE_START_TIMEOUT = 30  # seconds for daphne to answer /healthz
DAPHNE_STOP_TIMEOUT = 10  # seconds for daphne to exit after SIGTERM


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _test_database_url() -> str:
    """A DATABASE_URL for the test database pytest-django created (call it after
    django_db_setup, when the connection's settings name the test database)."""
    from urllib.parse import quote, urlencode

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if connection.creation.is_in_memory_db(name):
            pytest.fail(
                f"The SQLite test database is in memory ({name}); a daphne subprocess "
                "cannot share it. config/settings.py gives it a file (DATABASES TEST NAME).",
                pytrace=False,
            )
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor == "postgresql":
        user = quote(db.get("USER") or "", safe="")
        password = quote(db.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = quote(db.get("HOST") or "", safe="")  # a socket directory is %-encoded
        port = f":{db['PORT']}" if db.get("PORT") else ""
        options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
        query = f"?{urlencode(options)}" if options else ""
        return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}{query}"
    pytest.fail(f"daphne_server cannot share a {connection.vendor} database", pytrace=False)


def _redacted(url: str) -> str:
    """The URL with any password replaced, for failure messages."""
    import re

    return re.sub(r"(//[^/:@]*:)[^@]*@", r"\1***@", url)


def _daphne_env(database_url: str) -> dict[str, str]:
    """daphne's whole environment, stated rather than inherited: the pytest process's
    DATABASE_URL names the non-test database, and DJANGO_ALLOW_ASYNC_UNSAFE (set for
    the browser tests) must not reach a real server."""
    from django.conf import settings

    env = {
        k: os.environ[k]
        for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
        if k in os.environ
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,  # session cookies made in tests stay valid
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="0",
        VAR_DIR=str(settings.VAR_DIR),
        # With DATABASE_URL set and DEBUG off, cookies would default to Secure; the
        # server is plain http.
        SECURE_COOKIES="0",
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        MFA_REQUIRED_FOR_SENIOR_MANAGERS="1" if settings.MFA_REQUIRED_FOR_SENIOR_MANAGERS else "0",
        INITIAL_CODE_TTL_DAYS=str(settings.INITIAL_CODE_TTL_DAYS),
        CREDENTIAL_SHEET_TTL_HOURS=str(settings.CREDENTIAL_SHEET_TTL_HOURS),
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_until_healthy(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + DAPHNE_START_TIMEOUT
    last_error = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _DaphneDidNotStart(f"daphne exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as e:
            last_error = repr(e)
        time.sleep(0.1)
    raise _DaphneDidNotStart(
        f"GET {url}/healthz did not answer 200 within {DAPHNE_START_TIMEOUT}s (last: {last_error})"
    )


class _DaphneDidNotStart(Exception):
    pass


def _stop(proc: subprocess.Popen) -> int | None:
    """SIGTERM, then SIGKILL; the exit code after SIGTERM, or None when it took SIGKILL."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout=DAPHNE_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=DAPHNE_STOP_TIMEOUT)
        return None


def _session_redis_prefix():
    """Settings with a Redis prefix of this test session's own. Pub/sub channels are
    server-wide whatever the database number in REDIS_URL, so two sessions on one
    redis-server under the same prefix get each other's frames (each has a room 3, and
    every tree has 河北省). The override reaches this process's cache and channel layer
    (Django and Channels reset them on setting_changed) and daphne through _daphne_env."""
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
    if not DAPHNE.is_file():
        pytest.fail(f"daphne is not at {DAPHNE}: run `make install-test`.", pytrace=False)
    env = _daphne_env(_test_database_url())
    log_dir = tmp_path_factory.mktemp("daphne")

    for attempt in range(1, 4):
        port = _free_port()
        argv = [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
        log = log_dir / f"daphne-{attempt}.log"
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(  # noqa: S603
                argv,
                cwd=PROJECT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(proc, url)
            break
        except _DaphneDidNotStart as e:
            failure = str(e)
        _stop(proc)
        # Another process took the port between _free_port() and daphne's bind: retry.
        if "Address already in use" not in _tail(log) or attempt == 3:
            pytest.fail(
                f"daphne did not start: {failure}\n"
                f"command: {' '.join(argv)}\n"
                f"DATABASE_URL={_redacted(env['DATABASE_URL'])} REDIS_URL={env['REDIS_URL']}\n"
                f"--- last lines of {log} ---\n{_tail(log)}",
                pytrace=False,
            )

    try:
        yield DaphneServer(url=url, ws_url=f"ws://127.0.0.1:{port}", log=log)
    finally:
        code = _stop(proc)
    if code is None:
        pytest.fail(
            f"daphne (pid {proc.pid}) did not exit within {DAPHNE_STOP_TIMEOUT}s of "
            f"SIGTERM and was killed\n--- last lines of {log} ---\n{_tail(log)}",
            pytrace=False,
        )
    if code != 0:
        pytest.fail(
            f"daphne (pid {proc.pid}) exited with code {code} on SIGTERM\n"
            f"--- last lines of {log} ---\n{_tail(log)}",
            pytrace=False,
        )


@pytest.fixture
def results_dir():
    RESULTS_DIR.mkdir(exist_ok=True)
    return RESULTS_DIR
