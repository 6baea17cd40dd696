"""Prometheus metrics (issue 16, item 4): what operators watch, through prometheus-client.

Why prometheus-client rather than django-prometheus: the platform's metrics are mostly its
own (sockets, resyncs, channel-layer errors, escalations, roll intake), which
django-prometheus does not know; its request middleware labels by view too, but adds a
dozen families per request (and database/cache wrappers) the platform does not need.
prometheus-client is what django-prometheus itself builds on; one middleware and a few
counters here are all the wiring.

One scrape sees every process. `make serve` runs several web processes (one uvicorn
worker each, behind HAProxy), a Celery worker (with prefork children) and beat; a
scrape through the balancer reaches any one web process. So every process writes its
figures into prometheus-client's multiprocess files (METRICS_DIR, by default
VAR_DIR/metrics, emptied by `make serve` / `make run` before any process starts) and
the endpoint of any web process merges all of them: counters and histograms are summed,
the open sockets are reported per process (a `pid` label; PromQL's sum() gives the
total). A process that dies leaves its counters (they only grow); its open-socket gauge
is removed at the next scrape (a pid no longer alive). The Celery queue length is not
a file: it is Redis' LLEN of each queue, read at scrape time.

Hooks never break or noticeably slow what they count: the metrics are set up on their
first use in a process; when METRICS_DIR cannot be written, metrics are off in that
process (one warning; /metrics answers 503 saying why) and every hook is a no-op; any
error inside a hook is swallowed (logged once). A counter increment is a lock and an
8-byte write into a memory-mapped file (bench/metrics_overhead.py measures the request
middleware).

Access (docs/deployment.md): with METRICS_TOKEN set, /metrics wants
`Authorization: Bearer <token>` from everyone; without it, it answers only to the
addresses in METRICS_ALLOWED_NETWORKS (loopback by default), behind HAProxy the client's
own address (uvicorn takes it from X-Forwarded-For).

Nothing outside this module imports prometheus_client: the library picks multiprocess
mode when it is first imported, from the environment, which `_setup` sets first.
"""

from __future__ import annotations

import glob
import hmac
import ipaddress
import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.http import client_ip, public

log = logging.getLogger(__name__)

PREFIX = "xueji_"
# Request latency buckets, seconds: most pages answer in 10-100 ms, exports take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "<unmatched>"  # a request no URL pattern matched (404 before any view)

_lock = threading.Lock()
_state: _Metrics | bool | None = None  # None: not yet; False: off in this process
_warned: set[str] = set()


class _Metrics:
    def __init__(self, path: Path):
        from prometheus_client import Counter, Gauge, Histogram

        self.path = path
        self.latency = Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time from the request reaching Django to its response, by view (URL name).",
            ["view"],
            buckets=LATENCY_BUCKETS,
        )
        self.requests = Counter(
            PREFIX + "http_responses",
            "Responses by view (URL name) and status class (2xx, 3xx, 4xx, 5xx).",
            ["view", "status"],
        )
        self.sockets_open = Gauge(
            PREFIX + "sockets_open",
            "WebSockets open in this process (the pid label names it).",
            multiprocess_mode="liveall",
        )
        self.socket_send_failures = Counter(
            PREFIX + "socket_send_failures",
            "Frames that could not be written to a socket: write_error (the server "
            "refused the write), too_slow (closed with 1013: events or replies unread).",
            ["reason"],
        )
        self.socket_resyncs = Counter(
            PREFIX + "socket_resyncs",
            "resync frames sent: lagged (broadcast lane overflowed, frames dropped), "
            "gap (too many events missed to replay).",
            ["reason"],
        )
        self.socket_replays = Counter(
            PREFIX + "socket_replays",
            "Replays of missed events: resume (a reconnect with last_event_id), catchup "
            "(the channel layer came back), sync (the client's periodic events.sync).",
            ["kind"],
        )
        self.channel_layer_errors = Counter(
            PREFIX + "channel_layer_errors",
            "Channel-layer (Redis pub/sub) failures: group_send (a push failed), "
            "queue_full (a push dropped), probe (the layer did not echo: down).",
            ["op"],
        )
        self.task_failures = Counter(
            PREFIX + "celery_task_failures",
            "Celery tasks that raised, by task name.",
            ["task"],
        )
        self.escalations = Counter(
            PREFIX + "escalations",
            "Tickets sent up a tier: manual (by an engineer) or breach (by the SLA sweep).",
            ["kind"],
        )
        self.sla_breaches = Counter(
            PREFIX + "sla_breaches",
            "SLA clocks breached (escalated or, at the last tier, alerted), by clock.",
            ["clock"],
        )
        self.roll_batches = Counter(
            PREFIX + "roll_intake_batches", "Alert batches the roll API accepted."
        )
        self.roll_records = Counter(
            PREFIX + "roll_intake_records",
            "Alerts in the batches the roll API accepted, by outcome.",
            ["outcome"],
        )


def _setup() -> _Metrics | bool:
    global _state
    if _state is not None:
        return _state
    with _lock:
        if _state is not None:
            return _state
        path = Path(settings.METRICS_DIR)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
            from prometheus_client import multiprocess, values

            if values.ValueClass is values.MutexValue:
                # Imported before the environment named the directory (a test, a shell).
                values.ValueClass = values.MultiProcessValue()
            # A live gauge left by an earlier process with this pid is not ours.
            multiprocess.mark_process_dead(os.getpid(), str(path))
            _state = _Metrics(path)
        except Exception as exc:  # unwritable, full, read-only: metrics off, requests on
            log.warning("metrics are off in this process: %s cannot be written (%s)", path, exc)
            _state = False
        return _state


def _hook(name: str, action) -> None:
    """Runs `action(metrics)`; never raises (a metric must not break what it counts)."""
    try:
        state = _state if _state is not None else _setup()
        if state:
            action(state)
    except Exception:
        if name not in _warned:
            _warned.add(name)
            log.warning("metric %s could not be recorded", name, exc_info=True)


# --- the hooks the code calls ---------------------------------------------------------


def request_done(view: str, status: int, seconds: float) -> None:
    def record(m):
        m.latency.labels(view).observe(seconds)
        m.requests.labels(view, f"{status // 100}xx").inc()

    _hook("request", record)


def socket_opened() -> None:
    _hook("socket_opened", lambda m: m.sockets_open.inc())


def socket_closed() -> None:
    _hook("socket_closed", lambda m: m.sockets_open.dec())


def socket_send_failed(reason: str) -> None:
    _hook("socket_send_failed", lambda m: m.socket_send_failures.labels(reason).inc())


def socket_resync(reason: str) -> None:
    _hook("socket_resync", lambda m: m.socket_resyncs.labels(reason).inc())


def socket_replay(kind: str) -> None:
    _hook("socket_replay", lambda m: m.socket_replays.labels(kind).inc())


def channel_layer_error(op: str) -> None:
    _hook("channel_layer_error", lambda m: m.channel_layer_errors.labels(op).inc())


def task_failed(task: str) -> None:
    _hook("task_failed", lambda m: m.task_failures.labels(task).inc())


def escalated(kind: str) -> None:
    _hook("escalated", lambda m: m.escalations.labels(kind).inc())


def sla_breached(clock: str) -> None:
    _hook("sla_breached", lambda m: m.sla_breaches.labels(clock).inc())


def roll_intake(outcomes: dict[str, int]) -> None:
    def record(m):
        m.roll_batches.inc()
        for outcome, count in outcomes.items():
            if count:
                m.roll_records.labels(outcome).inc(count)

    _hook("roll_intake", record)


def on_task_failure(sender=None, **kwargs) -> None:
    """Celery's task_failure signal (connected in core.apps)."""
    task_failed(getattr(sender, "name", None) or "unknown")


class RequestMetricsMiddleware:
    """Latency and status of every request, labelled by the URL name of its view (not the
    path: a label per ticket id would be unbounded). First in MIDDLEWARE, so the time
    includes every middleware. A streaming response counts until its first byte."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        request_done(
            match.view_name if match is not None else UNMATCHED,
            response.status_code,
            time.perf_counter() - started,
        )
        return response


# --- the scrape -----------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes(path: Path) -> list[int]:
    """Removes the live gauges (open sockets) of processes that are gone; their pids."""
    from prometheus_client import multiprocess

    gone = []
    for name in glob.glob(str(path / "gauge_live*_*.db")):
        pid = Path(name).stem.rsplit("_", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(path))
            gone.append(int(pid))
    return gone


_redis = None


def _broker():
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
    return _redis


# kombu's Redis transport keeps a queue's priorities 3, 6 and 9 in lists of their own.
_PRIORITY_KEYS = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_names() -> list[str]:
    names = [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")]
    return names + [q for q in getattr(settings, "METRICS_CELERY_QUEUES", []) if q not in names]


class QueueCollector:
    """Celery queue lengths, read from the broker (Redis LLEN) at scrape time."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        length = GaugeMetricFamily(
            PREFIX + "celery_queue_length",
            "Tasks waiting in the Celery queue (Redis LLEN at scrape time).",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            PREFIX + "celery_broker_up", "1 when the broker answered this scrape's LLEN."
        )
        names = queue_names()
        try:
            pipe = _broker().pipeline(transaction=False)
            for name in names:
                for suffix in _PRIORITY_KEYS:
                    pipe.llen(name + suffix)
            counts = pipe.execute()
        except Exception as exc:
            log.warning("metrics: the Celery queue length could not be read: %s", exc)
            up.add_metric([], 0)
        else:
            step = len(_PRIORITY_KEYS)
            for i, name in enumerate(names):
                length.add_metric([name], sum(counts[i * step : (i + 1) * step]))
            up.add_metric([], 1)
            yield length
        yield up


def _allowed_networks():
    networks = []
    for item in settings.METRICS_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            log.warning("METRICS_ALLOWED_NETWORKS: %r is not an address or network", item)
    return networks


def _refusal(request) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return None
        refused = HttpResponse(
            "401: send Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    try:
        address = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        address = None
    if address is not None and any(address in net for net in _allowed_networks()):
        return None
    return HttpResponse(
        "403: /metrics answers to METRICS_ALLOWED_NETWORKS only; "
        "set METRICS_TOKEN to scrape from elsewhere\n",
        status=403,
        content_type="text/plain; charset=utf-8",
    )


def render(path: Path | None = None) -> bytes:
    """Every process's metrics (the files in `path`, by default this process's
    METRICS_DIR), merged, plus the queue lengths: the exposition text."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    state = _setup()
    if not state:
        raise RuntimeError(f"metrics are off: {settings.METRICS_DIR} cannot be written")
    path = Path(path or state.path)
    forget_dead_processes(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    registry.register(QueueCollector())
    return generate_latest(registry)


@public  # access is checked here: a bearer token or an allowed address (see _refusal)
@require_safe
@never_cache
def endpoint(request):
    refused = _refusal(request)
    if refused is not None:
        return refused
    from prometheus_client import CONTENT_TYPE_LATEST

    try:
        body = render()
    except RuntimeError as exc:
        return HttpResponse(f"503: {exc}\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
