"""The production shape across processes: two web processes behind HAProxy (the
`two_processes` fixture: scripts/shape.py, as `make serve` runs it).

- a chat message posted through one process reaches the sockets on the other;
- a notice reaches the sockets on both;
- a process killed while its clients are connected: they resume through the balancer
  on the other, and every client holds every message and every notice exactly once;
- a rolling restart of both under HTTP and chat load: no HTTP request fails, no
  ticket is lost or doubled, no message is lost or doubled.

Waits are bounded (client.HANG) so a failure cannot hang the run; nothing here is
about how fast anything happened.
"""

from __future__ import annotations

import asyncio
import http.client
import secrets
import threading
import time
import urllib.parse
from collections import Counter

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from accounts.models import Level
from chat.models import Message
from tests import factories
from tests.chat_resilience.client import CONNECT_ATTEMPTS, HANG, ChatClient
from tests.chat_resilience.test_no_message_lost import (
    _county_room,
    _people,
    _session_cookie,
    _until,
)
from tests.notices.helpers import send
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = "http://127.0.0.1"


class Tab(ChatClient):
    """A browser tab: chat as ChatClient does, plus the events it was sent, resuming
    from the largest event id it holds on every reconnect (as the page's script does)."""

    def __init__(self, *, base_ws: str, **kw):
        super().__init__(ws_url=base_ws, **kw)
        self.client_ids = True  # a resend is stored once, as the browser's posts are
        self.base_ws = base_ws
        self.last_event_id: int | None = None
        self.events: Counter = Counter()  # event id -> frames received
        self.notices: Counter = Counter()  # notice id -> notice.published frames

    async def connect(self, attempts: int = CONNECT_ATTEMPTS) -> bool:
        resume = f"?last_event_id={self.last_event_id}" if self.last_event_id is not None else ""
        self.ws_url = self.base_ws + resume
        return await super().connect(attempts)

    def _on_frame(self, frame: dict) -> None:
        if frame.get("type") == "hello" and self.last_event_id is None:
            self.last_event_id = frame["latest_id"]
        if isinstance(frame.get("id"), int):
            self.events[frame["id"]] += 1
            self.last_event_id = max(self.last_event_id or 0, frame["id"])
            if frame["type"] == "notice.published":
                self.notices[frame["notice"]["id"]] += 1
        super()._on_frame(frame)


async def _publish(actor, tree):
    """A notice to the counties and schools of the province, from a thread whose
    database connection is closed afterwards (the test database is dropped at the end)."""

    def publish():
        try:
            return send(actor, to=[tree.province.code], levels=["county", "school"])
        finally:
            connections.close_all()

    return await sync_to_async(publish, thread_sensitive=False)()


def _tabs(people, room, ws_urls: list[str]) -> list[Tab]:
    """One tab per person, the i-th on ws_urls[i % len(ws_urls)]."""
    return [
        Tab(
            name=person.username,
            server=str(i % len(ws_urls)),
            base_ws=ws_urls[i % len(ws_urls)],
            origin=ORIGIN,
            cookie=_session_cookie(person),
            room=room.pk,
        )
        for i, person in enumerate(people)
    ]


def _stored(room) -> dict[int, int]:
    return dict(Message.objects.filter(room=room).values_list("seq", "pk"))


def _holds_exactly(tab: Tab, stored: dict[int, int]) -> str | None:
    """None when the tab holds exactly the stored messages, each applied once."""
    if tab.held != stored:
        missing = sorted(set(stored) - set(tab.held))
        extra = sorted(set(tab.held) - set(stored))
        return f"{tab.name}: missing {missing}, not stored {extra}"
    if tab.duplicates and tab.id_mismatches:
        return f"{tab.name}: a seq arrived with another message id {tab.id_mismatches}"
    if len(tab.applied) != len(set(tab.applied)):
        return f"{tab.name}: a message applied twice"
    return None


def test_chat_posted_through_one_process_reaches_sockets_on_the_other(two_processes):
    tree = factories.small_tree()
    people = _people(tree)
    room = _county_room(tree, people)
    urls = [f"ws://127.0.0.1:{p.port}/ws/" for p in two_processes.web]
    tabs = _tabs(people, room, urls)

    async def run():
        for tab in tabs:
            await tab.connect()
        on_a, on_b = tabs[0], tabs[1]
        assert await on_a.send("from A") == "sent"
        assert await on_b.send("from B") == "sent"
        await _until(lambda: all(len(t.held) == 2 for t in tabs))
        for tab in tabs:
            await tab.close()

    asyncio.run(run())
    stored = _stored(room)
    assert len(stored) == 2
    for tab in tabs:
        assert _holds_exactly(tab, stored) is None, _holds_exactly(tab, stored)
    # Each process's sockets got the other's message live, not only through a sync.
    for tab in tabs:
        assert [how for _phase, how, _seq, _author in tab.received] == ["live", "live"]


def test_a_notice_reaches_sockets_on_both_processes(two_processes):
    tree = factories.small_tree()
    people = _people(tree)
    room = _county_room(tree, people)
    urls = [f"ws://127.0.0.1:{p.port}/ws/" for p in two_processes.web]
    province_manager = factories.manager(tree.province, username="prov_boss")
    tabs = _tabs(people, room, urls)

    async def run():
        for tab in tabs:
            await tab.connect()
        notice = await _publish(province_manager, tree)
        await _until(lambda: all(t.notices[notice.pk] for t in tabs))
        for tab in tabs:
            await tab.close()
        return notice

    notice = asyncio.run(run())
    assert {tab.server for tab in tabs} == {"0", "1"}
    for tab in tabs:
        assert tab.notices[notice.pk] == 1, (tab.name, tab.server, dict(tab.notices))


def test_clients_of_a_killed_process_resume_through_the_other(two_processes):
    tree = factories.small_tree()
    people = _people(tree)
    room = _county_room(tree, people)
    province_manager = factories.manager(tree.province, username="prov_boss")
    shape = two_processes
    tabs = _tabs(people, room, [shape.ws_url])
    acked: list[int] = []

    async def run():
        for tab in tabs:
            await tab.connect()
        sockets_per_process = {
            name: int(shape.admin.stats()[("sockets", name)]["scur"]) for name in ("w1", "w2")
        }
        assert all(sockets_per_process.values()), sockets_per_process  # spread over both
        for tab in tabs:
            tab.phase = "before"
            await tab.send_all([f"{tab.name} before {i}" for i in range(3)], acked)
        await sync_to_async(shape.kill)(0)
        for tab in tabs:
            tab.phase = "after-kill"
        # A notice while the clients of the killed process are away.
        notice = await _publish(province_manager, tree)
        for tab in tabs:
            await tab.send_all([f"{tab.name} after {i}" for i in range(3)], acked)
        for tab in tabs:
            if not tab.open:
                await tab.connect()
            await tab.sync(acked)
        await _until(lambda: all(t.notices[notice.pk] for t in tabs))
        for tab in tabs:
            await tab.close()
        return notice, sockets_per_process

    notice, _spread = asyncio.run(run())
    stored = _stored(room)
    assert len(stored) == 6 * len(tabs)  # every post stored once (client ids)
    assert sorted(stored) == list(range(1, len(stored) + 1))
    for tab in tabs:
        assert _holds_exactly(tab, stored) is None, _holds_exactly(tab, stored)
        assert tab.notices[notice.pk] == 1, (tab.name, dict(tab.notices))
        assert all(n == 1 for n in tab.events.values()), (tab.name, tab.events)
    moved = [tab for tab in tabs if len(tab.connects) > 1]
    assert moved, "no client was on the killed process"
    # Restarted by the launcher. Its supervisor notices the death on its next round,
    # which can come after the clients have already resumed through the other process.
    deadline = time.monotonic() + HANG
    while shape.web[0].starts < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shape.web[0].exits == [-9] and shape.web[0].starts == 2


class HttpLoad:
    """Logged-in clients over keep-alive connections to the balancer, each in a thread:
    page views and ticket creation, until stopped; every answer that is not the page
    or the redirect after a created ticket is a failure."""

    def __init__(self, port: int, school_people, pages_people):
        self.port = port
        self.jobs = [(p, "ticket") for p in school_people] + [(p, "page") for p in pages_people]
        self.cookies = {p.pk: _session_cookie(p) for p, _ in self.jobs}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = Counter()
        self.failures: list[str] = []
        self.created = 0
        self.threads = [threading.Thread(target=self._run, args=job) for job in self.jobs]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=HANG)

    def _run(self, person, kind: str) -> None:
        csrf = secrets.token_hex(16)
        headers = {"Cookie": f"{self.cookies[person.pk]}; csrftoken={csrf}", "Host": "127.0.0.1"}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HANG)
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                if kind == "ticket":
                    body = urllib.parse.urlencode(
                        {
                            "csrfmiddlewaretoken": csrf,
                            "title": f"{person.username} 无法登录学籍系统 {i}",
                            "description": "登录时提示密码错误，已确认密码正确。",
                            "category": "other",
                            "priority": "normal",
                        }
                    )
                    conn.request(
                        "POST",
                        "/tickets/new/",
                        body,
                        {**headers, "Content-Type": "application/x-www-form-urlencoded"},
                    )
                else:
                    conn.request("GET", "/notices/", headers=headers)
                answer = conn.getresponse()
                answer.read()
                good = 302 if kind == "ticket" else 200
                with self.lock:
                    if answer.status == good:
                        self.ok[kind] += 1
                    else:
                        self.failures.append(f"{kind}: HTTP {answer.status}")
                if answer.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.failures.append(f"{kind}: {exc!r}")
                conn.close()
            self.stop.wait(0.05)
        conn.close()


def test_a_rolling_restart_under_load_fails_no_request_and_loses_no_message(two_processes):
    tree = factories.small_tree()
    people = _people(tree)
    room = _county_room(tree, people)
    shape = two_processes
    tabs = _tabs(people, room, [shape.ws_url])
    acked: list[int] = []
    schools = [p for p in people if p.unit.level == Level.SCHOOL]

    async def chat(stop: asyncio.Event):
        for tab in tabs:
            await tab.connect()
        i = 0
        while not stop.is_set():
            for tab in tabs:
                await tab.send_all([f"{tab.name} restart {i}"], acked)
            i += 1
            await asyncio.sleep(0.3)
        for tab in tabs:
            if not tab.open:
                await tab.connect()
            await tab.sync(acked)
        for tab in tabs:
            await tab.close()

    async def run():
        stop = asyncio.Event()
        talking = asyncio.create_task(chat(stop))
        await asyncio.sleep(1)
        await sync_to_async(shape.rolling_restart)()
        await asyncio.sleep(1)
        stop.set()
        await talking

    with HttpLoad(shape.port, schools, people[:2]) as load:
        asyncio.run(run())
    assert load.failures == [], load.failures[:20]
    assert load.ok["ticket"] > 0 and load.ok["page"] > 0, load.ok
    assert Ticket.objects.count() == load.ok["ticket"]  # none lost, none doubled
    assert [p.starts for p in shape.web] == [2, 2]  # both were restarted
    stored = _stored(room)
    assert sorted(stored) == list(range(1, len(stored) + 1))
    sent = {body for tab in tabs for body in tab.acks}
    assert set(Message.objects.filter(room=room).values_list("body", flat=True)) == sent
    for tab in tabs:
        assert _holds_exactly(tab, stored) is None, _holds_exactly(tab, stored)
    assert any(len(tab.connects) > 1 for tab in tabs), "no socket was moved by the restart"
