"""How each ASGI server is started for one web process of the platform.

One place for the command line of daphne, uvicorn (as a gunicorn worker, with httptools
and uvloop) and granian, used by `make serve` (scripts/serve.py), the cross-process
tests and the benchmarks, so that what is measured is what is deployed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "config.asgi:application"
SERVERS = ("daphne", "uvicorn", "granian")
# What `make serve` and systemd may run. The others are measured beside it: daphne cannot
# close a socket whose client stopped reading (autobahn refuses the close code 1013: the
# tab stays open and silent; tests/shape/test_slow_reader.py), and granian 2.8 has no
# proxy-headers option, so behind the balancer every audit entry would name 127.0.0.1.
PRODUCTION = ("uvicorn",)
# The server `make serve` runs unless ASGI_SERVER says otherwise (chosen by measurement:
# bench/servers.py, figures in bench/README.md).
DEFAULT = "uvicorn"
PING_SECONDS = 25  # the WebSocket keep-alive ping; the balancer's tunnel timeout is above it


def bindir() -> Path:
    return Path(sys.executable).parent


def chosen() -> str:
    kind = os.environ.get("ASGI_SERVER", DEFAULT)
    if kind not in SERVERS:
        raise SystemExit(f"ASGI_SERVER={kind!r}: expected one of {', '.join(SERVERS)}")
    if kind not in PRODUCTION:
        print(
            f"ASGI_SERVER={kind}: measured, not for production (see scripts/asgi_servers.py)",
            file=sys.stderr,
        )
    return kind


def argv(
    kind: str, port: int, *, host: str = "127.0.0.1", app: str = APP, proxy_headers: bool = True
) -> list[str]:
    """The command line of one web process of `kind` listening on host:port. With
    proxy_headers, the client's address is taken from the balancer's X-Forwarded-For
    (only behind a balancer: anyone can send that header)."""
    if kind == "daphne":
        return [
            str(bindir() / "daphne"),
            # backlog: a reconnect wave of thousands of SYNs overflows Twisted's 50.
            "-e",
            f"tcp:port={port}:interface={host}:backlog=4096",
            *(["--proxy-headers"] if proxy_headers else []),
            "--ping-interval",
            str(PING_SECONDS),
            # A reconnect wave: handshakes wait for their turn instead of being dropped
            # after daphne's default 5 s (docs/deployment.md).
            "--websocket_connect_timeout",
            "60",
            app,
        ]
    if kind == "uvicorn":
        return [
            str(bindir() / "gunicorn"),
            "-k",
            "config.uvicorn_worker.Worker",
            "-w",
            "1",
            "-b",
            f"{host}:{port}",
            "--backlog",
            "4096",
            "--graceful-timeout",
            "20",
            "--forwarded-allow-ips",
            "127.0.0.1" if proxy_headers else "",
            app,
        ]
    if kind == "granian":
        return [
            str(bindir() / "granian"),
            "--interface",
            "asginl",  # no lifespan: Django and Channels do not speak it
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
            "--backlog",
            "4096",
            "--loop",
            "uvloop",
            app,
        ]
    raise ValueError(f"unknown ASGI server {kind!r}")
