"""The request-body limits, by path: one table for the app, the balancer and the docs.

Read by config/settings.py (BODY_LIMITS, DATA_UPLOAD_MAX_MEMORY_SIZE, NOTICE_MAX_*),
by core/handlers.py (which refuses a body past its path's limit before reading it),
by scripts/shape.py (HAProxy's configuration) and checked against docs/deployment.md
(tests/core/test_limits.py). Kept free of Django so that the launchers can import it.
The patterns use only the regular-expression subset Python, HAProxy (PCRE) and
nginx agree on ([0-9], no \\d).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

MiB = 2**20
# The roll API's own limit (ROLL_API.md: at most 8 MiB per request). roll/auth.py
# answers a body up to 1 MiB past it with its own JSON reason; past that the door does.
ROLL_MAX_BYTES = 8 * MiB
NOTICE_MAX_FILES = 10
# Every form without attachments, the login included.
FORM_MAX_BYTES = 1 * MiB


def notice_max_file_bytes(environ: Mapping[str, str] = os.environ) -> int:
    return int(environ.get("NOTICE_MAX_FILE_MB") or 20) * MiB


def upload_bytes(environ: Mapping[str, str] = os.environ) -> int:
    """The largest form with attachments: NOTICE_MAX_FILES files of NOTICE_MAX_FILE_MB,
    plus 1 MiB for the form's fields and multipart framing."""
    return NOTICE_MAX_FILES * notice_max_file_bytes(environ) + MiB


# The request head (request line and headers), enforced by the web server
# (config/uvicorn_worker.py) and stated to HAProxy (tune.http.maxhdr, tune.bufsize,
# timeout http-request): more headers or a larger head is refused with 431, a head
# not complete within HEADER_TIMEOUT_SECONDS (a slowloris client) with 408.
HEADER_COUNT_MAX = 100
HEAD_BYTES_MAX = 16 * 1024


def header_timeout_seconds(environ: Mapping[str, str] = os.environ) -> float:
    return float(environ.get("HTTP_HEADER_TIMEOUT") or 10)


class BodyLimit(NamedTuple):
    name: str
    pattern: str  # matched against the path from its start
    max_bytes: int


# The forms that take attachments (notices/, chat/, tickets/ urls.py).
UPLOAD_PATHS = (
    r"^/(notices/(new|[0-9]+/edit|[0-9]+/ack)|chat/[0-9]+/post|tickets/(new|[0-9]+/reply))/$"
)


def body_limits(environ: Mapping[str, str] = os.environ) -> tuple[BodyLimit, ...]:
    """First match wins; the last row matches every path."""
    return (
        BodyLimit("roll_api", r"^/api/", ROLL_MAX_BYTES + MiB),
        BodyLimit("upload", UPLOAD_PATHS, upload_bytes(environ)),
        BodyLimit("form", r"^/", FORM_MAX_BYTES),
    )


def limit_for(path: str, limits: tuple[BodyLimit, ...]) -> BodyLimit:
    for limit in limits:
        if re.match(limit.pattern, path):
            return limit
    return limits[-1]


def mib(n: int) -> str:
    """201 MiB → "201", 1.5 MiB → "1.5"."""
    return f"{n / MiB:g}"
