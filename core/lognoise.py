"""Repeated failures logged once, with counts: the first warning or error of a kind
(logger, message template, exception type) is written in full, traceback included;
repeats of that kind within REPEAT_SECONDS are counted, not written, and the first one
after the window is written as a single line (no traceback) saying how many were dropped
since the kind was last written.

Without it a Redis outage writes a traceback per socket and per reconnect attempt
(channels_redis "Unexpected exception in receive task", core.sockets "could not push
to …", the server's "Attempt to send on a closed protocol"): hundreds of lines that
bury the one that matters. core.outage does the same for HTTP requests answered 503.

Hand-written: ratelimitingfilter (the one PyPI package for this) limits by rate per
message text and keeps every traceback; here the kind ignores the message's arguments
(the group, the socket) and the repeats drop their tracebacks.
"""

from __future__ import annotations

import logging
import threading
import time

REPEAT_SECONDS = 60.0


class RepeatFilter(logging.Filter):
    """On a handler: WARNING and above pass once per kind per window; INFO passes.
    A window of 0 (LOG_REPEAT_SECONDS=0) writes everything, as before."""

    def __init__(self, repeat: float = REPEAT_SECONDS, clock=time.monotonic):
        super().__init__()
        self.repeat = repeat
        self.clock = clock
        self._lock = threading.Lock()
        self._kinds: dict[tuple, list] = {}  # kind -> [window start, dropped in it]

    @staticmethod
    def kind(record: logging.LogRecord) -> tuple:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        return (record.name, record.levelno, str(record.msg), exc)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or self.repeat <= 0:
            return True
        key, now = self.kind(record), self.clock()
        with self._lock:
            state = self._kinds.get(key)
            if state is None or now - state[0] >= self.repeat:
                dropped, since = (0, 0.0) if state is None else (state[1], now - state[0])
                self._kinds[key] = [now, 0]
                if len(self._kinds) > 1000:  # kinds are few; a bound all the same
                    self._kinds = {key: self._kinds[key]}
            else:
                state[1] += 1
                return False
        if dropped:
            # The kind's traceback was written before; this one says how often it came.
            record.msg = (
                f"{record.getMessage()} … repeated {dropped} times since it was last "
                f"written {since:.0f} s ago (tracebacks not repeated)"
            )
            record.args = None
            record.exc_info = record.exc_text = record.stack_info = None
        return True
