"""Fixtures of the injected-fault tests: a redis-server of the test's own (the broker,
cache and channel layer of every process the test starts), Celery workers and web
processes on it and on the test database, and the roll system's signed HTTP calls."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import pytest
from celery import Celery

from tests import processes
from tests.roll.helpers import API, sign
from tests.shared_fixtures import _fast_password_hasher  # noqa: F401

PREFIX = "h7f"  # the cache / channel-layer prefix of the processes these tests start
# The volumes of the tests (schools, tickets, sockets, requests) times SCALE: 1 in
# `make test` and CI, more in `make faults` (FAULTS_SCALE, default 5 there).
SCALE = max(1, int(os.environ.get("FAULTS_SCALE") or 1))
WAIT = 60 * SCALE  # seconds: a hang bound for work the processes do, never a measurement


def until(predicate, what: str, timeout: float = WAIT, every: float = 0.05):
    """Poll `predicate` until it is truthy (its value), or fail saying what never came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"within {timeout}s: {what}")


@pytest.fixture
def fault_redis(tmp_path):
    """A redis-server of this test alone; stopped (and checked gone) afterwards."""
    log_dir = tmp_path / "redis"
    log_dir.mkdir()
    server = processes.RedisServer(log_dir)
    try:
        server.start()
    except processes.ProcessError as e:
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.stop()
        assert server.proc.poll() is not None, "the test's redis-server is still running"


@pytest.fixture
def process_env(fault_redis, transactional_db):
    """The environment of every process a test starts: the test database, the test's
    Redis (broker, cache, channel layer)."""
    env = processes.daphne_env(processes.database_url(), fault_redis.url, cache_key_prefix=PREFIX)
    if "LOG_REPEAT_SECONDS" in os.environ:  # LOG_REPEAT_SECONDS=0: the log as it was, to compare
        env["LOG_REPEAT_SECONDS"] = os.environ["LOG_REPEAT_SECONDS"]
    return env


@pytest.fixture
def workers(process_env, tmp_path):
    """start(name) → a running Celery worker; every one started is stopped afterwards."""
    started: list[processes.CeleryWorker] = []

    def start(name: str) -> processes.CeleryWorker:
        worker = processes.CeleryWorker(name, process_env, tmp_path)
        started.append(worker)
        try:
            worker.start()
        except processes.ProcessError as e:
            pytest.fail(str(e))
        return worker

    yield start
    for worker in started:
        worker.stop()
        assert worker.proc.poll() is not None, f"worker {worker.name} still running"


@pytest.fixture
def web(process_env, tmp_path):
    """One web process (the ASGI server `make serve` runs) on the test's Redis."""
    server = processes.Daphne("web", process_env, tmp_path)
    try:
        server.start()
    except processes.ProcessError as e:
        server.stop()
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def beat(fault_redis):
    """send(task) puts a periodic job on the broker by name, as celery beat does
    (Scheduler.apply_async → app.send_task)."""
    app = Celery("faults-beat", broker=fault_redis.url)
    app.conf.broker_connection_retry_on_startup = True

    def send(task: str, *args) -> None:
        app.send_task(task, args=list(args))

    yield send
    app.close()


def roll_post(base_url: str, key_id: str, secret: str, payload: dict) -> tuple[int, dict]:
    """A signed POST of alerts to a running server, as the roll system sends it."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310
        base_url + API,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Roll-Key": key_id,
            "X-Roll-Timestamp": stamp,
            "X-Roll-Signature": sign(secret, stamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
