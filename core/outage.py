"""The database, Redis or the broker being unreachable: a 503, logged once per outage.

An outage refuses every request for as long as it lasts; a traceback per request
(Django's "Internal Server Error" log) buries the one line that matters. Here the
first failure of each part is logged with its error, then at most one line a minute
with the count of refused requests, and one line when the part answers again.
Hand-written: a few lines over `logging`; a library for a rate-limited logger would
not know what "recovered" means here.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("core.outage")

REPEAT_SECONDS = 60.0
PROBE_SECONDS = 2.0


def _probe_database() -> None:
    from django.db import connection

    connection.ensure_connection()


def _probe_redis() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


# The broker is the same Redis (settings.CELERY_BROKER_URL).
PROBES = {"database": _probe_database, "redis": _probe_redis, "broker": _probe_redis}


def _outage_types() -> dict[type, str]:
    from django.db import InterfaceError, OperationalError

    types: dict[type, str] = {OperationalError: "database", InterfaceError: "database"}
    try:
        import redis.exceptions

        types[redis.exceptions.ConnectionError] = "redis"
        types[redis.exceptions.TimeoutError] = "redis"
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import kombu.exceptions

        types[kombu.exceptions.OperationalError] = "broker"
    except ImportError:  # pragma: no cover - kombu comes with Celery
        pass
    return types


_TYPES: dict[type, str] | None = None


def part_of(exc: BaseException | None) -> str | None:
    """ "database", "redis" or "broker" when `exc` (or what caused it) is one of the
    errors of a part being unreachable, else None."""
    global _TYPES
    if _TYPES is None:
        _TYPES = _outage_types()
    seen = 0
    while exc is not None and seen < 5:
        for kind, part in _TYPES.items():
            if isinstance(exc, kind):
                return part
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


class OutageLog:
    def __init__(self, log: logging.Logger = logger, repeat: float = REPEAT_SECONDS):
        self.log = log
        self.repeat = repeat
        self._lock = threading.Lock()
        # part -> [started, refused, refused since the last line, last line at]
        self._open: dict[str, list] = {}
        self._probed: dict[str, float] = {}

    def failed(self, part: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            state = self._open.get(part)
            if state is None:
                self._open[part] = [now, 1, 0, now]
                line = ("%s unreachable: %s: %s; answering 503 until it is back", part)
                self.log.error(*line, exc.__class__.__name__, str(exc).strip()[:300])
                return
            state[1] += 1
            state[2] += 1
            if now - state[3] >= self.repeat:
                self.log.error(
                    "%s still unreachable after %.0f s: %d requests refused (%d since the "
                    "last line)",
                    part,
                    now - state[0],
                    state[1],
                    state[2],
                )
                state[2], state[3] = 0, now

    def succeeded(self) -> None:
        """A request was answered without an outage error. A request need not touch every
        part (/healthz touches none), so an open outage is closed only when its part
        answers a probe (at most one probe per part every PROBE_SECONDS)."""
        if not self._open:  # the common case, without the lock
            return
        now = time.monotonic()
        with self._lock:
            due = [p for p in self._open if now - self._probed.get(p, 0.0) >= PROBE_SECONDS]
            for part in due:
                self._probed[part] = now
        for part in due:
            try:
                PROBES[part]()
            except Exception:  # noqa: S112 - still down; the next failure is counted
                continue
            with self._lock:
                state = self._open.pop(part, None)
            if state is not None:
                self.log.warning(
                    "%s reachable again after %.0f s; %d requests were refused with 503",
                    part,
                    now - state[0],
                    state[1],
                )

    def is_open(self, part: str) -> bool:
        return part in self._open


outages = OutageLog()


class DropOutageTracebacks(logging.Filter):
    """On the "django.request" logger: an outage error was answered 503 and counted by
    `outages`; its per-request traceback is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return part_of(exc) is None
