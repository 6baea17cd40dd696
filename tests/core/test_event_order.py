"""The ordering guarantee without a shared lock (core/events.py): writer processes publish
with random delays before commit, some roll back, while a client polls; a resume from
any seq the client saw yields exactly the events it lacks."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from core import events
from core.models import Event, EventTarget
from tests.notices.helpers import make_people

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 4
TRANSACTIONS = 30


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":  # the test database is a file (config/settings.py)
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _start_writers(groups: list[str]) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    }
    procs = [
        subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "tests.core.event_writer", str(w), str(TRANSACTIONS), *groups],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    return procs


class Client(threading.Thread):
    """Polls like a socket that resumes from its last seq with no overlap at all, and
    records what the database showed it at each poll."""

    def __init__(self, account):
        super().__init__()
        self.account = account
        self.done = threading.Event()
        self.received: list[dict] = []
        self.snapshots: list[set[int]] = []  # the seqs visible at each poll
        self.error: BaseException | None = None

    def run(self):
        try:
            while True:
                finished = self.done.is_set()
                last = self.received[-1]["id"] if self.received else 0
                self.received += events.replay(self.account, last)
                self.snapshots.append(
                    set(Event.objects.filter(seq__isnull=False).values_list("seq", flat=True))
                )
                if finished:
                    return
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_resume_from_any_seq_a_client_saw_yields_exactly_the_events_it_lacks(tree, monkeypatch):
    account = make_people(tree).county_staff
    groups = [events.account_group(account.pk), events.tree_group("130000", "county", False)]
    monkeypatch.setattr(events, "REPLAY_OVERLAP", 0)  # any late low seq would be missed
    writers = _start_writers(groups)
    client = Client(account)
    client.start()
    for p in writers:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [json.loads(p.stdout.readline()) for p in writers]
    for p in writers:
        assert p.wait(timeout=60) == 0
    client.done.set()
    client.join(timeout=60)
    assert client.error is None, client.error

    committed = {(w, i) for r in results for w, i, _ in r["committed"]}
    rolled_back = {(w, i) for r in results for w, i in r["rolled_back"]}
    assert committed and rolled_back and len(committed) + len(rolled_back) == 120
    # Every committed event was numbered by its writer's own hook; none is left over.
    assert not Event.objects.filter(seq__isnull=True).exists()
    assert not EventTarget.objects.filter(seq__isnull=True).exists()
    final = {
        seq: (p["w"], p["i"])
        for seq, p in Event.objects.filter(kind="test.order").values_list("seq", "payload")
    }
    assert set(final.values()) == committed  # and nothing rolled back
    # The writers' ids committed out of order, yet the client, resuming each time from
    # the last seq it had with no overlap, got every committed event exactly once, in order.
    got = [f["id"] for f in client.received]
    assert got == sorted(final)
    assert [(f["w"], f["i"]) for f in client.received] == [final[s] for s in got]
    # At every poll, whatever seq the client stood at, the events it lacked were exactly
    # those above it: no seq ever appeared below one already visible.
    for seen in client.snapshots:
        top = max(seen, default=0)
        assert set(final) - seen == {s for s in final if s > top}
        for at in sorted(seen)[:: max(1, len(seen) // 5)] + [top]:
            lacks = [s for s in final if s > at]
            resumed = [f["id"] for f in events.replay(account, at)]
            assert resumed == sorted(lacks)
    assert len(client.snapshots) > 3  # the client polled while the writers ran


@pytest.mark.django_db(transaction=True)
def test_events_a_dead_writer_left_unnumbered_are_numbered_by_replay_and_the_task(
    tree, monkeypatch
):
    from core import tasks

    monkeypatch.setattr(events, "REPLAY_OVERLAP", 0)
    account = make_people(tree).county_staff
    group = events.account_group(account.pk)
    before = events.publish(kind="x.y", payload={"n": 0}, groups=[group])
    before.refresh_from_db()

    def crashed_writer(n):
        # What a writer leaves when it dies between its commit and its sequencing.
        event = Event.objects.create(kind="x.y", payload={"n": n})
        EventTarget.objects.create(event=event, group=group)
        return event

    orphan = crashed_writer(1)
    assert Event.objects.get(pk=orphan.pk).seq is None
    assert events.latest_id() == before.seq
    frames = events.replay(account, before.seq)
    assert [(f["n"], f["id"]) for f in frames] == [(1, before.seq + 1)]

    another = crashed_writer(2)
    assert tasks.sequence_events() == 1
    assert Event.objects.get(pk=another.pk).seq == before.seq + 2
    assert EventTarget.objects.get(event=another).seq == before.seq + 2
    assert events.latest_id() == before.seq + 2
