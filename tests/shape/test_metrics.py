"""Prometheus under the production shape (scripts/shape.py, as `make serve` runs it): two
uvicorn web processes behind HAProxy and a real Celery worker, all writing into one
multiprocess directory. A scrape through the balancer, or straight at either process,
reports every process's requests and the worker's failed task."""

from __future__ import annotations

import sys
import time
import urllib.request

import pytest
from django.conf import settings

from config.celery import app
from tests import processes
from tests.core.test_metrics import parse, value

sys.path.insert(0, str(processes.PROJECT_DIR / "scripts"))
import shape  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)
HANG = 60.0  # a bound on a hang, not on speed


def _get(port: int, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": "localhost"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        return answer.status, answer.read()


def _scrape(port: int) -> dict:
    status, body = _get(port, "/metrics")
    assert status == 200
    return parse(body.decode())


def test_one_scrape_through_the_balancer_sees_every_web_process_and_the_worker(tmp_path):
    env = processes.daphne_env(
        processes.database_url(),
        settings.REDIS_URL,
        cache_key_prefix=settings.CACHES["default"]["KEY_PREFIX"],
    )
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    (tmp_path / "metrics").mkdir()
    the_shape = shape.Shape(
        2, env=env, log_dir=tmp_path, worker=True, worker_concurrency=1, out=lambda line: None
    )
    try:
        the_shape.start()
        first, second = (p.port for p in the_shape.web)
        for port, times in ((first, 3), (second, 5)):
            for _ in range(times):
                assert _get(port, "/healthz")[0] == 200
        # A task the worker runs and that raises (wrong arguments): a real failure.
        app.send_task("core.tasks.sequence_events", args=["planted", "wrong", "arguments"])
        failures = "xueji_celery_task_failures_total"
        deadline = time.monotonic() + HANG
        while True:
            samples = _scrape(the_shape.port)  # HAProxy: X-Forwarded-For 127.0.0.1
            if value(samples, failures, task="core.tasks.sequence_events") >= 1:
                break
            assert time.monotonic() < deadline, "the worker's failure never showed"
            time.sleep(0.5)
        hist = "xueji_http_request_duration_seconds_count"
        assert value(samples, hist, view="healthz") == 8
        for port in (first, second):  # either process reports both
            assert value(_scrape(port), hist, view="healthz") == 8
        assert value(samples, "xueji_celery_broker_up") == 1
    finally:
        the_shape.stop()
