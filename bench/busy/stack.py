"""The platform as the busy day runs it: N daphne web processes (scripts/asgi_servers.py's
command line) behind HAProxy, a Celery worker and Celery beat, on the run's PostgreSQL
database and Redis db.

A stand-in for the owner's scripts/shape.py, which had not landed when this benchmark
was written; its HAProxy configuration follows deploy/haproxy.cfg.in (HTTP round-robin
with /readyz checks, sockets by least connections, the same timeouts), except that
it does not add X-Forwarded-For: the load generators send each school's own address,
as the balancer in front of a real deployment would pass it on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import asgi_servers  # noqa: E402

HAPROXY = "/usr/sbin/haproxy"

CONFIG = """\
global
    maxconn 9000
    hard-stop-after 10s

defaults
    mode http
    option redispatch 1
    retries 3
    timeout connect 2s
    timeout http-request 10s
    timeout http-keep-alive 15s
    timeout client 120s
    timeout server 120s
    timeout tunnel 120s
    timeout client-fin 10s
    timeout server-fin 10s
    timeout queue 30s
    # A busy process answers /readyz late; with one process behind it, a 2 s check
    # would take the only server out and turn load into 503s.
    timeout check 10s

frontend platform
    bind 127.0.0.1:{port}
    maxconn 9000
    acl socket path_beg /ws/
    use_backend sockets if socket
    default_backend web

backend web
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    retry-on conn-failure empty-response
    http-request disable-l7-retry unless METH_GET || METH_HEAD
    default-server check inter 2s fall 3 rise 1 maxconn 10000
{web}

backend sockets
    balance leastconn
    default-server maxconn 20000
{sockets}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


class Stack:
    def __init__(self, *, processes: int, env: dict[str, str], log_dir: Path):
        self.n = processes
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.log_dir / f"{name}.log"
        proc = subprocess.Popen(  # noqa: S603
            argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def __enter__(self) -> Stack:
        try:
            ports = []
            for i in range(self.n):
                port = free_port()
                ports.append(port)
                self._start(f"web{i + 1}", asgi_servers.argv("daphne", port))
            for i, port in enumerate(ports):
                name = f"web{i + 1}"
                wait_ready(
                    f"http://127.0.0.1:{port}/readyz",
                    self.procs[name],
                    self.log_dir / f"{name}.log",
                )
            bindir = Path(sys.executable).parent
            self._start(
                "worker",
                [str(bindir / "celery"), "-A", "config", "worker", "-l", "WARNING"]
                + ["--concurrency", "2"],
            )
            self._start(
                "beat",
                [str(bindir / "celery"), "-A", "config", "beat", "-l", "WARNING"]
                + ["--schedule", str(self.log_dir / "celerybeat-schedule")],
            )
            servers = [f"web{i + 1} 127.0.0.1:{p}" for i, p in enumerate(ports)]
            cfg = self.log_dir / "haproxy.cfg"
            cfg.write_text(
                CONFIG.format(
                    port=self.port,
                    web="\n".join(f"    server {s}" for s in servers),
                    sockets="\n".join(f"    server {s}" for s in servers),
                )
            )
            self._start("haproxy", [HAPROXY, "-db", "-f", str(cfg)])
            wait_ready(self.url + "/readyz", self.procs["haproxy"], self.log_dir / "haproxy.log")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                # The main process only: Celery's warm shutdown lets its children finish.
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                proc.wait()
