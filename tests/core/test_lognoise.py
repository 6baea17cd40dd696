"""core.lognoise.RepeatFilter: a repeated failure is written once with its traceback,
its repeats are counted, and the first after the window says how many were dropped."""

import io
import logging

from core.lognoise import RepeatFilter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _logger(clock):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RepeatFilter(repeat=60, clock=clock))
    log = logging.getLogger("tests.lognoise")
    log.handlers, log.propagate, log.level = [handler], False, logging.INFO
    return log, out


def _fail(log, group):
    try:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
    except ConnectionError:
        log.warning("could not push to %s", group, exc_info=True)


def test_a_failure_on_every_socket_is_written_once_then_counted():
    clock = Clock()
    log, out = _logger(clock)
    for n in range(300):
        _fail(log, f"acct.{n}")
    log.info("connection open")  # INFO is never held back
    text = out.getvalue()
    assert text.count("Traceback") == 1
    assert text.count("could not push") == 1
    assert "acct.0" in text and "connection open" in text

    clock.now = 61
    _fail(log, "acct.300")
    last = out.getvalue()[len(text) :]
    assert (
        "could not push to acct.300 … repeated 299 times since it was last written 61 s ago" in last
    )
    assert "Traceback" not in last


def test_different_failures_are_each_written():
    clock = Clock()
    log, out = _logger(clock)
    _fail(log, "acct.1")
    log.error("chat rate limit unavailable")
    log.warning("could not push to %s", "acct.2")  # no traceback: another kind
    assert out.getvalue().count("\n") > 3
    assert out.getvalue().count("could not push") == 2
    assert "chat rate limit unavailable" in out.getvalue()
