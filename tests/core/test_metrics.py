"""/metrics (core/metrics.py), scraped: refused without its token or from outside the
allowed networks; with it, the figures present and growing after real requests, a
socket connect and resume, a failed Celery task, an escalation and an SLA breach, a
roll batch and queued tasks; two processes' figures merged in one scrape; metrics that
cannot be written never break a request."""

import os
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.test import Client

from core import metrics
from escalation import services as escalation
from tests import factories
from tests.core.sockets import frames_until, headers_for, open_socket
from tests.roll.conftest import api_client, hebei, hebei_key, queued_syncs  # noqa: F401
from tests.roll.helpers import alert
from tests.tickets.conftest import desk  # noqa: F401
from tests.tickets.helpers import MONDAY, raise_ticket

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token"
T0 = MONDAY.replace(hour=9)
RESPONSE_DUE = MONDAY.replace(hour=13)


def parse(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client=None) -> dict[tuple[str, tuple], float]:
    client = client or Client()
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def value(samples, name: str, **labels) -> float:
    """The sum of `name`'s samples carrying these labels (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


# --- access ---------------------------------------------------------------------------


def test_with_a_token_set_the_endpoint_wants_it_from_everyone(db, settings):
    settings.METRICS_TOKEN = TOKEN
    client = Client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"xueji_" not in refused.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    assert b"xueji_celery_queue_length" in answer.content
    assert answer["Cache-Control"].startswith("max-age=0")


def test_without_a_token_only_the_allowed_networks_are_answered(db, settings):
    settings.METRICS_TOKEN = ""
    outside = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert outside.status_code == 403
    assert b"METRICS_TOKEN" in outside.content
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "not-a-network"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


def test_only_reading_methods(db):
    assert Client().post("/metrics").status_code == 405


# --- what it reports --------------------------------------------------------------------


def test_requests_are_counted_by_url_name_not_path(tree, client_for):
    before = scrape()
    client = Client()
    for _ in range(2):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page/").status_code == 404
    manager = client_for(factories.manager(tree.county))
    assert manager.get(f"/units/{tree.school.code}/").status_code == 200
    after = scrape()

    hist = "xueji_http_request_duration_seconds"
    assert value(after, hist + "_count", view="healthz") == (
        value(before, hist + "_count", view="healthz") + 2
    )
    assert value(after, hist + "_bucket", view="healthz", le="+Inf") == value(
        after, hist + "_count", view="healthz"
    )
    assert value(after, hist + "_sum", view="healthz") > value(
        before, hist + "_sum", view="healthz"
    )
    assert value(after, "xueji_http_responses_total", view="healthz", status="2xx") == (
        value(before, "xueji_http_responses_total", view="healthz", status="2xx") + 2
    )
    assert value(after, "xueji_http_responses_total", view="unit_detail", status="2xx") == (
        value(before, "xueji_http_responses_total", view="unit_detail", status="2xx") + 1
    )
    assert value(after, "xueji_http_responses_total", view="<unmatched>", status="4xx") == (
        value(before, "xueji_http_responses_total", view="<unmatched>", status="4xx") + 1
    )
    views = {dict(labels).get("view") for (_n, labels) in after}
    assert not any(v and "/" in v for v in views), views  # never a path


@pytest.mark.django_db(transaction=True)
def test_a_socket_is_counted_open_in_its_process_and_a_resume_as_a_replay(people):
    headers = headers_for(people.county_staff)
    scrape_now = sync_to_async(scrape, thread_sensitive=False)
    me = str(os.getpid())

    async def conversation():
        before = await scrape_now()
        socket, _hello = await open_socket(headers)
        resumed, _ = await open_socket(headers, query="last_event_id=0")
        _replayed, done = await frames_until(resumed, "resumed")
        assert done["after"] == 0
        during = await scrape_now()
        await socket.disconnect()
        await resumed.disconnect()
        return before, during, await scrape_now()

    before, during, after = async_to_sync(conversation)()
    assert (
        value(during, "xueji_sockets_open", pid=me)
        == value(before, "xueji_sockets_open", pid=me) + 2
    )
    assert value(after, "xueji_sockets_open", pid=me) == value(before, "xueji_sockets_open", pid=me)
    assert value(during, "xueji_socket_replays_total", kind="resume") == (
        value(before, "xueji_socket_replays_total", kind="resume") + 1
    )


def test_a_failed_celery_task_is_counted_by_name(db):
    from config.celery import app

    @app.task(name="tests.metrics.always_fails")
    def always_fails():
        raise ValueError("planted")

    before = scrape()
    result = always_fails.apply()
    assert result.failed()
    after = scrape()
    name = "xueji_celery_task_failures_total"
    assert value(after, name, task="tests.metrics.always_fails") == (
        value(before, name, task="tests.metrics.always_fails") + 1
    )


def test_escalations_and_sla_breaches(desk, tree, django_capture_on_commit_callbacks):  # noqa: F811
    manual = raise_ticket(desk.reporter, now=T0)
    breached = raise_ticket(desk.reporter, now=T0)
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        escalation.escalate(
            actor=desk.eng1, ticket=manual, reason="需要省级权限", now=T0 + timedelta(hours=1)
        )
    middle = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        counts = escalation.sweep(now=RESPONSE_DUE)
    assert counts["escalated"] == 1  # the manual one's clocks restarted at 10:00
    breached.refresh_from_db()
    assert breached.breached
    after = scrape()

    esc = "xueji_escalations_total"
    assert value(middle, esc, kind="manual") == value(before, esc, kind="manual") + 1
    assert value(middle, esc, kind="breach") == value(before, esc, kind="breach")
    assert value(after, esc, kind="breach") == value(before, esc, kind="breach") + 1
    breaches = "xueji_sla_breaches_total"
    assert value(after, breaches, clock="response") == value(before, breaches, clock="response") + 1


def test_a_rejected_escalation_counts_nothing(desk, django_capture_on_commit_callbacks):  # noqa: F811
    from django.core.exceptions import ValidationError

    ticket = raise_ticket(desk.reporter, now=T0)
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        escalation.escalate(actor=desk.eng1, ticket=ticket, reason="  ", now=T0)
    assert value(scrape(), "xueji_escalations_total") == value(before, "xueji_escalations_total")


def test_roll_intake_batches_and_records(tree, hebei, django_capture_on_commit_callbacks):  # noqa: F811
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        answer = hebei.send([alert("HB-M-1"), alert("HB-M-2"), alert("HB-M-3", gender="?")])
    assert answer.status_code == 200, answer.content
    with django_capture_on_commit_callbacks(execute=True):
        hebei.send([alert("HB-M-1")], batch_id="again")
    after = scrape()
    name = "xueji_roll_intake_records_total"
    assert value(after, "xueji_roll_intake_batches_total") == (
        value(before, "xueji_roll_intake_batches_total") + 2
    )
    assert value(after, name, outcome="accepted") == value(before, name, outcome="accepted") + 2
    assert value(after, name, outcome="rejected") == value(before, name, outcome="rejected") + 1
    assert value(after, name, outcome="duplicate") == value(before, name, outcome="duplicate") + 1


def test_the_celery_queue_length_is_read_from_redis_at_scrape_time(db, settings):
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    settings.METRICS_CELERY_QUEUES = [queue]
    broker = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert value(scrape(), "xueji_celery_queue_length", queue=queue) == 0
        broker.rpush(queue, "a", "b", "c")
        broker.rpush(queue + "\x06\x163", "high")  # kombu's list for priority 3
        samples = scrape()
        assert value(samples, "xueji_celery_queue_length", queue=queue) == 4
        assert ("xueji_celery_queue_length", (("queue", "celery"),)) in samples
        assert value(samples, "xueji_celery_broker_up") == 1
    finally:
        broker.delete(queue, queue + "\x06\x163")


def test_a_broker_that_does_not_answer_is_reported_not_raised(db, settings, monkeypatch):
    class Down:
        def pipeline(self, **kw):
            raise redis.ConnectionError("planted")

    monkeypatch.setattr(metrics, "_redis", Down())
    samples = scrape()
    assert value(samples, "xueji_celery_broker_up") == 0
    assert not any(name == "xueji_celery_queue_length" for name, _ in samples)


# --- several processes ------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, django
    django.setup()
    from core import metrics
    for _ in range(int(sys.argv[1])):
        metrics.request_done("probe_view", 200, 0.02)
    metrics.socket_opened()
    metrics.channel_layer_error("group_send")
    print("written", flush=True)
    sys.stdin.readline()  # stays alive (its socket open) until told
    """
)


def _writer(path: Path, count: int) -> subprocess.Popen:
    env = dict(
        os.environ, PROMETHEUS_MULTIPROC_DIR=str(path), DJANGO_SETTINGS_MODULE="config.settings"
    )
    process = subprocess.Popen(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", WRITER, str(count)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "written"
    return process


def test_one_scrape_merges_every_process_and_forgets_the_open_sockets_of_the_dead(tmp_path, db):
    first, second = _writer(tmp_path, 3), _writer(tmp_path, 4)
    try:
        samples = parse(metrics.render(tmp_path).decode())
        hist = "xueji_http_request_duration_seconds"
        assert value(samples, hist + "_count", view="probe_view") == 7
        assert value(samples, hist + "_bucket", view="probe_view", le="0.025") == 7
        assert value(samples, hist + "_bucket", view="probe_view", le="0.01") == 0
        assert value(samples, "xueji_channel_layer_errors_total", op="group_send") == 2
        assert value(samples, "xueji_sockets_open", pid=str(first.pid)) == 1
        assert value(samples, "xueji_sockets_open", pid=str(second.pid)) == 1

        first.communicate("\n", timeout=30)  # the process ends
        samples = parse(metrics.render(tmp_path).decode())
        assert value(samples, hist + "_count", view="probe_view") == 7  # counters stay
        assert value(samples, "xueji_sockets_open", pid=str(first.pid)) == 0
        assert value(samples, "xueji_sockets_open", pid=str(second.pid)) == 1
        assert value(samples, "xueji_sockets_open") == 1
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.communicate("\n", timeout=30)


# --- metrics must never break what they count ---------------------------------------------


def test_an_unwritable_metrics_directory_turns_metrics_off_not_requests(db, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(settings, "METRICS_DIR", blocker / "metrics")
    monkeypatch.setattr(metrics, "_state", None)
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert metrics._state is False
    metrics.socket_opened()
    metrics.task_failed("x")
    off = client.get("/metrics")
    assert off.status_code == 503
    assert b"cannot be written" in off.content


def test_a_failing_metric_never_breaks_the_request(db, monkeypatch):
    class Broken:
        def __getattr__(self, name):
            raise OSError("No space left on device")

    monkeypatch.setattr(metrics, "_state", Broken())
    assert Client().get("/healthz").status_code == 200
    metrics.escalated("manual")
    metrics.roll_intake({"accepted": 1})


# --- the Grafana dashboard ------------------------------------------------------------------


def _family(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_the_grafana_dashboard_charts_every_metric_and_only_real_ones(db):
    import json
    import re

    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    charted = {
        _family(name)
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"xueji_[a-z_]+", target["expr"])
    }
    # Every family registered in the files, with a label or two in use, plus the queue's.
    metrics.request_done("healthz", 200, 0.01)
    for hook, arg in (
        (metrics.socket_send_failed, "write_error"),
        (metrics.socket_resync, "gap"),
        (metrics.socket_replay, "sync"),
        (metrics.channel_layer_error, "probe"),
        (metrics.task_failed, "dashboard.check"),
        (metrics.escalated, "manual"),
        (metrics.sla_breached, "response"),
    ):
        hook(arg)
    metrics.roll_intake({"accepted": 1})
    metrics.socket_opened()
    metrics.socket_closed()
    exposed = {_family(name) for name, _labels in scrape()}
    assert charted == exposed
