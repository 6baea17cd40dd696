"""The ASGI server chosen by measurement: daphne, uvicorn (a gunicorn worker with httptools
and uvloop, config/uvicorn_worker.py) and granian, each as ONE web process started by
scripts/asgi_servers.argv(kind, port), on the platform's own paths.

Setup, not timed: a throwaway database (_harness.py; DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/h_servers, only serves to create and drop
`bench_<pid>`), Redis at REDIS_URL (default redis://127.0.0.1:6379/1; every server start
gets a cache and channel prefix of its own). The world is chat/run.py's `build`: one
county 基准县 (999901) with --sockets schools, a staff account each, all in the county's
region room, a session cookie each; plus --engineers support engineers on duty at the
county (as tickets/http_create.py's world has them), a password for the first --clients
school accounts (the HTTP clients), and --notices published notices to the county's
schools over the past year, a third of them read by each HTTP client (their inbox).

Each round starts every server fresh for every part, in turn (daphne, uvicorn, granian,
daphne, …), so drifting load hits all three; the load average is printed per part:

1. HTTP ticket creation: --clients logged-in school reporters on keep-alive connections
   POST /tickets/new/ (tickets/loadgen.py `platform_profile`, one account per client as
   http_create.py `_run_clients` runs them), --tickets in all. Before each run the ticket
   tables are emptied (http_create.platform_reset); after it the database must hold
   exactly the tickets the server accepted, all assigned at the county tier
   (http_create.platform_counts), or the run counts them as lost.
2. The inbox: the same clients GET /notices/ (--pages in all); a page that is not 200
   or lacks the newest notice's title is an error.
3. Socket connect: --connects logged-in sockets to /ws/ at once until `hello`, then the
   same sockets again with ?last_event_id (resume) — chat/connect_storm.py's
   connect_phase, its --procs load-generator processes; no per-connect latency (that
   script measures the wall time until all are in).
4. Chat fan-out: --fanout sockets in the room, --senders of them post --messages at
   --rate posts/s in all (chat/run.py `measure` with chat/loadgen.py: every accepted post
   must reach every socket; a post unanswered or a delivery missing at the deadline is
   lost).
5. The server alone: tests/../bare_asgi.py, a bare ASGI app (no Django), --bare GETs
   from --clients keep-alive clients: what the server itself costs per request.

Server CPU is the web process's user + system time from /proc (tickets/loadgen.py and
chat/loadgen.py read it): daphne's own process; for gunicorn and granian, the worker
process that serves (their supervisor process is idle apart from start and stop and
is not counted). The load generators share the 2 CPUs, so CPU per item is the figure
other load moves least; throughput and latency are this machine's, load generator
included.

Before the rounds, once per server: the platform end to end (a ticket, the inbox, a
socket's hello, a chat post delivered, a resume) and the slow reader: a socket that
stops reading (a 4 KiB receive buffer) while --slow-events events of 8 KiB are
published to its group, beside a socket that reads; reported: the server's RSS growth,
whether the slow socket was closed with 1013 (core/sockets.py: EVENT_LIMIT unsent
events), and whether the reader got every event. A server whose `send` does not wait for
the client buffers all of them (RSS grows with the events).

Run: .venv/bin/python bench/servers.py [--rounds 3] [--json F]
     .venv/bin/python bench/servers.py --quick          (small sizes, 1 round)
Figures only; no timing is asserted. Exits non-zero when a server fails a part.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [
    str(ROOT),
    str(BENCH),
    str(BENCH / "chat"),
    *(p for p in sys.path if Path(p or ".").resolve() not in (BENCH, ROOT)),
]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/h_servers")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")

import connect_storm  # noqa: E402  (bench/chat)
import run as chat_run  # noqa: E402  (bench/chat/run.py)

# chat/ and tickets/ each have a `loadgen`; the chat one is bound above (connect_storm);
# the tickets one takes the name for http_create.
chat_loadgen = sys.modules.pop("loadgen")
sys.path[:] = [p for p in sys.path if p != str(BENCH / "chat")]  # run.py drops it too
sys.path.append(str(BENCH / "tickets"))
import http_create  # noqa: E402  (bench/tickets; imports its own loadgen)

tickets_loadgen = http_create.loadgen
from _harness import (  # noqa: E402
    ensure_admin_database,
    fresh_database,
    server_env,
    write_json,
)

from scripts import asgi_servers  # noqa: E402

PLATFORM_APP = asgi_servers.APP
BARE_APP = "bench.bare_asgi:application"
START_TIMEOUT = 60.0
PASSWORD = http_create.PASSWORD
COUNTY = chat_run.COUNTY
PARTS = ("create", "inbox", "connect", "fanout", "bare")


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- one web process ---------------------------------------------------------------------


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Server:
    """One web process of `kind` on a free port, its output in `log`. `pid` is the
    process that serves: daphne itself, gunicorn's and granian's one worker. `poll`,
    `terminate`, `wait` and `kill` act on the process started (chat/run.py `stop`)."""

    def __init__(self, kind: str, env: dict[str, str], log: Path, *, app: str, ready: str):
        self.kind = kind
        self.port = chat_run.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                asgi_servers.argv(kind, self.port, app=app),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready(ready)
        except BaseException:
            chat_run.stop(self.proc)
            raise
        kids = children(self.proc.pid)
        # gunicorn and granian: one worker; take the biggest child should there be helpers.
        self.pid = max(kids, key=lambda p: chat_loadgen.proc_status(p, "VmRSS"), default=None)
        self.pid = self.pid or self.proc.pid

    def _wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            with contextlib.suppress(OSError):
                probe = tickets_loadgen.Session(self.url, timeout=5)
                status = probe.get(path).status
                probe.close()
                if status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.kind} not ready in {START_TIMEOUT:.0f} s:\n{self.tail()}"
                )
            time.sleep(0.2)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback")

    def poll(self):
        return self.proc.poll()

    def terminate(self) -> None:
        self.proc.terminate()

    def kill(self) -> None:
        self.proc.kill()

    def wait(self, timeout=None):
        return self.proc.wait(timeout=timeout)


class Bench:
    """The run's state: the world, the options, where logs go; starts servers."""

    def __init__(self, args, world: dict, tmp: Path):
        self.args = args
        self.world = world
        self.tmp = tmp
        self.starts = 0
        self.log_tracebacks: dict[str, int] = {}

    def env(self, prefix: str | None = None) -> dict[str, str]:
        """The platform's environment (_harness.server_env) with a cache and channel
        prefix of its own per start (the login rate limit starts afresh), unless the
        driver must share the channel layer with the server (it publishes events)."""
        self.starts += 1
        return server_env(prefix or f"benchsrv{os.getpid()}s{self.starts}")

    def log_path(self, kind: str) -> Path:
        return self.tmp / f"{kind}-{self.starts + 1}.log"

    def read_log(self, server: Server, part: str) -> None:
        """Count the tracebacks in a stopped server's log; show the first and the last."""
        text = server.log.read_text(errors="replace")
        n = text.count("Traceback")
        if n:
            self.log_tracebacks.setdefault(server.kind, {})
            self.log_tracebacks[server.kind][part] = (
                self.log_tracebacks[server.kind].get(part, 0) + n
            )
            first, last = text.index("Traceback"), text.rindex("Traceback")
            print(f"  {server.kind}'s log ({part}): {n} traceback(s); the first:")
            print("    " + text[first : first + 2500].replace("\n", "\n    "))
            if last != first:
                print("  the last:\n    " + text[last : last + 2500].replace("\n", "\n    "))
        server.log.unlink(missing_ok=True)

    @contextlib.contextmanager
    def serve(self, kind: str, part: str, *, app: str = PLATFORM_APP, prefix: str | None = None):
        log = self.log_path(kind)
        server = Server(
            kind,
            self.env(prefix),
            log,
            app=app,
            ready="/healthz" if app == PLATFORM_APP else "/",
        )
        try:
            yield server
        finally:
            chat_run.stop(server)
            self.read_log(server, part)

    @contextlib.contextmanager
    def platform_as(self, kind: str, part: str):
        """chat/run.py and connect_storm.py start "platform" through run.start_server:
        here it is `kind` under scripts/asgi_servers.argv."""
        original = chat_run.start_server
        started: list[Server] = []

        def start_server(what, redis_url, tmp):
            assert what == "platform", what
            log = self.log_path(kind)
            server = Server(kind, self.env(), log, app=PLATFORM_APP, ready="/healthz")
            started.append(server)
            return server, server.port

        chat_run.start_server = start_server
        try:
            yield
        finally:
            chat_run.start_server = original
            for server in started:
                chat_run.stop(server)
                self.read_log(server, part)


# --- the world ---------------------------------------------------------------------------


def build(args) -> dict:
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import Account, Role, Unit
    from escalation.models import DutyProfile
    from notices.models import Notice, NoticeTarget, Receipt, Status

    # The sockets' accounts first (their session cookies), then the HTTP clients': giving
    # those a password ends their cookie sessions (Django's session hash).
    sockets = max(args.connects, args.fanout, 2)
    biggest = sockets + args.clients
    room, cookies, info = chat_run.build(biggest)
    cookies = cookies[:sockets]
    county = Unit.objects.get(code=COUNTY)
    # The engineers on duty at the county, as http_create.build makes them.
    team = []
    for e in range(1, args.engineers + 1):
        a = Account(
            username=f"{COUNTY}-e{e:02d}",
            unit=county,
            role=Role.STAFF,
            must_change_password=False,
            full_name=f"基准{COUNTY}-e{e:02d}",
            is_support_engineer=True,
        )
        a.set_password(PASSWORD)
        a.save()
        team.append(a)
    DutyProfile.objects.bulk_create(
        [DutyProfile(account=a, capacity=http_create.CAPACITY) for a in team]
    )
    reporters = list(
        Account.objects.filter(unit__parent=county).select_related("unit").order_by("username")
    )[sockets:]
    assert len(reporters) == args.clients
    hashed = make_password(PASSWORD)
    Account.objects.filter(pk__in=[a.pk for a in reporters]).update(password=hashed)

    # The inbox: notices to the county's schools over a year (newest last).
    author = Account.objects.get(username=chat_run.MANAGER)
    now = timezone.now()
    year = 365 * 86400
    notices = Notice.objects.bulk_create(
        [
            Notice(
                author=author,
                author_unit=county,
                title=f"基准通知 {i:05d}",
                body="",
                body_html="<p>基准通知正文</p>",
                status=Status.PUBLISHED,
                published_at=now - timezone.timedelta(seconds=year * (1 - i / args.notices)),
                created_at=now - timezone.timedelta(seconds=year * (1 - i / args.notices)),
                levels="school",
            )
            for i in range(args.notices)
        ],
        batch_size=2000,
    )
    NoticeTarget.objects.bulk_create(
        [NoticeTarget(notice=n, unit=county, path=county.path) for n in notices], batch_size=2000
    )
    Receipt.objects.bulk_create(
        [
            Receipt(notice=n, account=a, unit=a.unit, unit_path=a.unit.path, read_at=now)
            for a in reporters
            for n in notices[::3]
        ],
        batch_size=5000,
    )
    print(
        f"setup: {COUNTY} with {biggest:,} school accounts in room {room}, {args.engineers} "
        f"engineers on duty, {len(reporters)} reporters with a password, {args.notices:,} "
        f"notices to the county's schools ({len(notices[::3]):,} read by each reporter); "
        f"queries per chat.send {info['queries_per_send']}"
    )
    return {
        "room": room,
        "cookies": cookies,
        "county": county,
        "tier": county.pk,
        "engineers": [a.pk for a in team],
        "reporters": [a.username for a in reporters],
        "newest_title": f"基准通知 {args.notices - 1:05d}",
    }


# --- the parts ---------------------------------------------------------------------------


def _http_part(r: dict, lost: int = 0) -> dict:
    """A part's figures from the HTTP load generator's result."""
    return {
        "items": r["count"],
        "per_second": r["per_second"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "cpu_ms": r["server_cpu_ms_per_ticket"],
        "errors": r["errors"],
        "error_samples": r["error_samples"],
        "lost": lost,
    }


def part_create(b: Bench, kind: str) -> dict:
    from django.db import connection

    world = b.world
    http_create.platform_reset()
    before = http_create.platform_counts(world["tier"], world["engineers"])
    connection.close()
    with b.serve(kind, "create") as server:
        r = http_create._run_clients(
            lambda k: tickets_loadgen.platform_profile(server.url, world["reporters"][k], PASSWORD),
            SimpleNamespace(clients=b.args.clients, tickets=b.args.tickets),
            server.pid,
        )
    after = http_create.platform_counts(world["tier"], world["engineers"])
    created = after["tickets"] - before["tickets"]
    # Lost: accepted but not stored, or stored but not routed to an engineer of the tier.
    return _http_part(r, lost=abs(created - r["count"]) + (after["tickets"] - after["assigned"]))


def part_inbox(b: Bench, kind: str) -> dict:
    world = b.world
    title = world["newest_title"]

    def profile(base_url: str, k: int):
        p = tickets_loadgen.platform_profile(base_url, world["reporters"][k], PASSWORD)

        def page(s, i):
            r = s.get("/notices/")
            if r.status != 200 or title not in r.text:
                raise tickets_loadgen.LoadError(
                    f"GET /notices/: {r.status}, newest notice shown: {title in r.text}"
                )

        return tickets_loadgen.Profile("inbox", base_url, p.login, page)

    with b.serve(kind, "inbox") as server:
        r = http_create._run_clients(
            lambda k: profile(server.url, k),
            SimpleNamespace(clients=b.args.clients, tickets=b.args.pages),
            server.pid,
        )
    return _http_part(r)


def part_connect(b: Bench, kind: str) -> dict:
    args = SimpleNamespace(procs=b.args.procs, concurrency=b.args.concurrency, py_spy=None)
    with b.platform_as(kind, "connect"):
        r = connect_storm.connect_phase(
            "platform", b.args.connects, args, os.environ["REDIS_URL"], b.tmp, b.cookies_file
        )
    failed = b.args.connects - r["connected"] + len(r.get("resume_failures", []))
    return {
        "items": r["connected"],
        "per_second": r["connected"] / r["seconds"] if r["seconds"] else None,
        "seconds": r["seconds"],
        "cpu_ms": r["cpu_ms_per_connect"],
        "resume_cpu_ms": r.get("cpu_ms_per_resume"),
        "resume_seconds": r.get("resume_seconds"),
        "pg_cpu_ms": r["pg_cpu_ms_per_connect"],
        "errors": failed,
        "error_samples": (r["failures"] + r.get("resume_failures", []))[:3],
        "lost": 0,
    }


def part_fanout(b: Bench, kind: str) -> dict:
    args = SimpleNamespace(
        senders=b.args.senders, rate=b.args.rate, messages=b.args.messages, drain=b.args.drain
    )
    with b.platform_as(kind, "fanout"):
        r = chat_run.measure(
            "platform",
            b.args.fanout,
            args,
            b.world["room"],
            b.cookies_file,
            os.environ["REDIS_URL"],
            b.tmp,
        )
    errors = sum(v for k, v in (r.get("errors") or {}).items() if k != "busy")
    return {
        "items": r["received_live"],
        "per_second": r["throughput"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "cpu_ms": (r["server_cpu_us_per_delivery"] or float("nan")) / 1e3,
        "errors": errors + r["connect_failures"],
        "error_samples": [r.get("errors"), *r.get("connect_failure_sample", [])][:3],
        "lost": (r["lost"] or 0) + (r["posts_lost"] or 0),
        "busy": (r.get("errors") or {}).get("busy", 0),
        "connected": r["connected"],
        "accepted": r["accepted"],
        "rss_per_socket_kib": r["rss_per_socket_kib"],
        "ack_p99_ms": r["ack_p99_ms"],
    }


def part_bare(b: Bench, kind: str) -> dict:
    def get(s, i):
        r = s.get("/")
        if r.status != 200 or r.text != "ok":
            raise tickets_loadgen.LoadError(f"GET /: {r.status}")

    with b.serve(kind, "bare", app=BARE_APP) as server:
        profile = tickets_loadgen.Profile("bare", server.url, lambda s: None, get)
        r = tickets_loadgen.run(
            profile, tickets=b.args.bare, clients=b.args.clients, server_pid=server.pid
        )
    return _http_part(r)


PART_FUNCTIONS = {
    "create": part_create,
    "inbox": part_inbox,
    "connect": part_connect,
    "fanout": part_fanout,
    "bare": part_bare,
}


# --- correctness: end to end, and the slow reader -----------------------------------------


class RawSocket:
    """A WebSocket client on a plain socket, so that it can stop reading (a small receive
    buffer: the server's writes back up to it) and read later what it was sent."""

    def __init__(self, port: int, cookie: str, *, rcvbuf: int | None = None, query: str = ""):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"no upgrade: {head[:200]!r}")

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame (the server's are unmasked, unfragmented)."""
        while len(self.buf) < 2:
            self._more()
        op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        at = 2
        if n == 126:
            while len(self.buf) < 4:
                self._more()
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._more()
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        while len(self.buf) < at + n:
            self._more()
        payload, self.buf = self.buf[at : at + n], self.buf[at + n :]
        return op, payload

    def json_frame(self) -> dict:
        while True:
            op, payload = self.frame()
            if op == 1:
                return json.loads(payload)
            if op == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                return {"type": "_closed", "code": code}

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def slow_reader(b: Bench, kind: str) -> dict:
    """One socket stops reading while events of 8 KiB go to its group; another reads."""
    from django.db import connections

    from core import events

    n_events, pad = b.args.slow_events, "x" * 8192
    group = events.tree_group(COUNTY, "school", managers_only=False)
    cookies = b.world["cookies"]
    with b.serve(kind, "slow reader", prefix=os.environ["CACHE_KEY_PREFIX"]) as server:
        slow = RawSocket(server.port, cookies[0], rcvbuf=4096)
        fast = RawSocket(server.port, cookies[1])
        first = slow.json_frame()
        assert first["type"] == "hello", first
        assert fast.json_frame()["type"] == "hello"
        got = {"events": 0, "closed": None}

        def read_fast():
            with contextlib.suppress(OSError, EOFError):
                while got["events"] < n_events:
                    f = fast.json_frame()
                    if f["type"] == "_closed":
                        got["closed"] = f["code"]
                        return
                    if f.get("kind") == "bench.slow" or "bench.slow" in json.dumps(f)[:200]:
                        got["events"] += 1

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        time.sleep(0.5)
        rss0 = chat_loadgen.proc_status(server.pid, "VmRSS")
        peak = rss0
        for start in range(0, n_events, 100):
            events.publish_many(
                [
                    ("bench.slow", {"pad": pad, "i": i}, [group])
                    for i in range(start, min(n_events, start + 100))
                ]
            )
            peak = max(peak, chat_loadgen.proc_status(server.pid, "VmRSS"))
        connections.close_all()
        deadline = time.monotonic() + 60
        while reader.is_alive() and time.monotonic() < deadline:
            reader.join(0.5)
            peak = max(peak, chat_loadgen.proc_status(server.pid, "VmRSS"))
        time.sleep(2)
        rss1 = chat_loadgen.proc_status(server.pid, "VmRSS")
        peak = max(peak, rss1)
        # Now the slow socket reads what it was sent.
        slow_events, slow_close = 0, None
        slow.sock.settimeout(10)
        with contextlib.suppress(OSError, EOFError, TimeoutError):
            while True:
                f = slow.json_frame()
                if f["type"] == "_closed":
                    slow_close = f["code"]
                    break
                if "bench.slow" in json.dumps(f)[:300]:
                    slow_events += 1
        slow.close()
        fast.close()
        alive = server.poll() is None
    return {
        "events": n_events,
        "event_bytes": len(pad),
        "rss_before_mib": rss0 / 1024,
        "rss_peak_mib": peak / 1024,
        "rss_after_mib": rss1 / 1024,
        "growth_mib": (peak - rss0) / 1024,
        "reader_got": got["events"],
        "slow_got": slow_events,
        "slow_closed": slow_close,
        "server_alive": alive,
    }


def end_to_end(b: Bench, kind: str) -> dict:
    """The platform under `kind`: a ticket, the inbox, hello, a chat post delivered to
    another socket, a resume with last_event_id; what fails is named."""
    world = b.world
    checks: dict[str, str] = {}
    with b.serve(kind, "end to end") as server:
        s = tickets_loadgen.Session(server.url)
        try:
            profile = tickets_loadgen.platform_profile(server.url, world["reporters"][0], PASSWORD)
            profile.login(s)
            profile.create(s, 0)
            checks["ticket"] = "ok"
            r = s.get("/notices/")
            checks["inbox"] = (
                "ok" if r.status == 200 and world["newest_title"] in r.text else f"{r.status}"
            )
        except Exception as e:  # noqa: BLE001 (reported)
            checks.setdefault("ticket", f"{type(e).__name__}: {e}"[:200])
        finally:
            s.close()
        try:
            a = RawSocket(server.port, world["cookies"][0])
            c = RawSocket(server.port, world["cookies"][1])
            hello = a.json_frame()
            c.json_frame()
            checks["hello"] = "ok" if hello["type"] == "hello" else str(hello)
            body = f"t={time.perf_counter_ns()} k=e2e"
            payload = json.dumps(
                {"type": "chat.send", "room": world["room"], "body": body}
            ).encode()
            mask = os.urandom(4)
            masked = bytes(x ^ mask[i % 4] for i, x in enumerate(payload))
            n = len(payload)
            head = bytes([0x81]) + (
                bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + struct.pack(">H", n)
            )
            a.sock.sendall(head + mask + masked)
            seen = {"sent": False, "delivered": False}
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not seen["delivered"]:
                f = c.json_frame()
                if f.get("type") == "chat.message" and "k=e2e" in json.dumps(f, ensure_ascii=False):
                    seen["delivered"] = True
            while time.monotonic() < deadline and not seen["sent"]:
                f = a.json_frame()
                seen["sent"] = f.get("type") == "chat.sent"
            checks["chat"] = "ok" if all(seen.values()) else str(seen)
            latest = hello.get("latest_id", 0)
            a.close()
            c.close()
            again = RawSocket(server.port, world["cookies"][0], query=f"?last_event_id={latest}")
            kinds = []
            while True:
                f = again.json_frame()
                kinds.append(f["type"])
                if f["type"] in ("resumed", "resync", "_closed") or len(kinds) > 20000:
                    break
            checks["resume"] = "ok" if kinds[-1] == "resumed" else ",".join(kinds[-3:])
            again.close()
        except Exception as e:  # noqa: BLE001 (reported)
            checks.setdefault("hello", f"{type(e).__name__}: {e}"[:200])
            checks.setdefault("chat", "not reached")
        checks["tracebacks"] = str(server.tracebacks())  # shown when the server stops
    return checks


# --- the report -------------------------------------------------------------------------


def summary(values: list) -> dict | None:
    values = [v for v in values if v is not None and v == v]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


FIGURES = {
    "create": ("tickets/s", ".1f", "ms CPU/ticket", ".2f"),
    "inbox": ("pages/s", ".1f", "ms CPU/page", ".2f"),
    "connect": ("connects/s", ".0f", "ms CPU/connect", ".2f"),
    "fanout": ("deliveries/s", ",.0f", "µs CPU/delivery", ".1f"),
    "bare": ("requests/s", ",.0f", "µs CPU/request", ".0f"),
}


def table(results: dict[str, dict[str, list[dict]]], servers: list[str]) -> tuple[list, dict]:
    head = ["part", "server", "throughput", "p50 ms", "p99 ms", "server CPU", "errors", "lost"]
    rows = [head]
    stats: dict = {}
    for part in PARTS:
        if part not in results:
            continue
        unit, spec, cpu_unit, cpu_spec = FIGURES[part]
        scale = 1e3 if cpu_unit.startswith("µs") else 1.0
        for kind in servers:
            runs = results[part].get(kind, [])
            if not runs:
                continue
            st = {
                k: summary([r.get(k) for r in runs])
                for k in (
                    "per_second",
                    "p50_ms",
                    "p99_ms",
                    "cpu_ms",
                    "errors",
                    "lost",
                    "resume_cpu_ms",
                )
            }
            stats.setdefault(part, {})[kind] = st
            cpu = chat_run.fmt(
                {k: v * scale for k, v in st["cpu_ms"].items()} if st["cpu_ms"] else None, cpu_spec
            )
            if part == "connect" and st["resume_cpu_ms"]:
                cpu += f" (resume {chat_run.fmt(st['resume_cpu_ms'], cpu_spec)})"
            rows.append(
                [
                    part,
                    kind,
                    f"{chat_run.fmt(st['per_second'], spec)} {unit}",
                    chat_run.fmt(st["p50_ms"], ".1f"),
                    chat_run.fmt(st["p99_ms"], ".1f"),
                    f"{cpu} {cpu_unit}",
                    str(sum(r["errors"] for r in runs)),
                    str(sum(r["lost"] for r in runs)),
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return rows, stats


def relative(stats: dict, servers: list[str]) -> dict:
    """Per part, each server's median CPU per item and throughput over daphne's."""
    print("\nper part, median over daphne's (CPU per item; throughput):")
    ratios: dict = {}
    for part, by in stats.items():
        base = by.get("daphne")
        if not base or not base["cpu_ms"] or not base["per_second"]:
            continue
        cells = []
        for kind in servers:
            st = by.get(kind)
            if kind == "daphne" or not st or not st["cpu_ms"] or not st["per_second"]:
                continue
            cpu = st["cpu_ms"]["median"] / base["cpu_ms"]["median"]
            rate = st["per_second"]["median"] / base["per_second"]["median"]
            ratios.setdefault(part, {})[kind] = {"cpu": cpu, "throughput": rate}
            cells.append(f"{kind} CPU {cpu:.2f}×, throughput {rate:.2f}×")
        if cells:
            print(f"  {part:8} " + "; ".join(cells))
    return ratios


def head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()


def code_changed(since: str) -> list[str]:
    """Files the servers run (not bench/, tests/ or docs) committed since `since`: every
    server start imports the code afresh, so such a change splits the run in two."""
    out = subprocess.run(
        ["git", "diff", "--name-only", since, "HEAD", "--", ".", ":!bench", ":!tests", ":!docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return [p for p in out if p.endswith((".py", ".html", ".js"))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default=",".join(asgi_servers.SERVERS))
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--clients", type=int, default=8, help="HTTP keep-alive clients")
    ap.add_argument("--tickets", type=int, default=1000, help="tickets per run")
    ap.add_argument("--pages", type=int, default=1000, help="inbox pages per run")
    ap.add_argument("--notices", type=int, default=1000, help="notices in the inbox")
    ap.add_argument("--engineers", type=int, default=5)
    ap.add_argument("--connects", type=int, default=1000, help="sockets in the connect part")
    ap.add_argument("--procs", type=int, default=2, help="connect load-generator processes")
    ap.add_argument("--concurrency", type=int, default=50, help="handshakes in flight per proc")
    ap.add_argument("--fanout", type=int, default=500, help="sockets in the room")
    ap.add_argument("--senders", type=int, default=40)
    ap.add_argument("--rate", type=float, default=40.0, help="posts/s in the fan-out, all senders")
    ap.add_argument("--messages", type=int, default=400, help="posts per fan-out run")
    ap.add_argument("--drain", type=float, default=15.0)
    ap.add_argument("--bare", type=int, default=20000, help="bare-app requests per run")
    ap.add_argument("--slow-events", type=int, default=4000, help="8 KiB events, slow reader")
    ap.add_argument("--no-checks", action="store_true", help="skip end to end and slow reader")
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 round")
    ap.add_argument("--json", help="also write the results to this file (run_all.py)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.tickets, args.pages, args.notices = 1, 100, 100, 200
        args.connects, args.fanout, args.messages, args.bare = 200, 100, 80, 2000
        args.slow_events = 1500
    servers = [s for s in args.servers.split(",") if s]
    parts = [p for p in PARTS if p in args.parts.split(",")]
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        print("FAILED: needs PostgreSQL (DATABASE_URL=postgres://…)", file=sys.stderr)
        return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers
    ensure_admin_database(os.environ["DATABASE_URL"])
    os.environ["CACHE_KEY_PREFIX"] = f"benchsrv{os.getpid()}"  # the driver's channel layer
    failures: list[str] = []
    out: dict = {"servers": servers, "options": vars(args), "load_at_start": os.getloadavg()}
    out["load_start"] = out["load_at_start"]  # bench/report.py's load column
    out["commit"] = commit = head()
    print(f"load average at start: {load()}")
    with fresh_database() as db, tempfile.TemporaryDirectory(prefix="xj-bench-servers-") as tmp:
        out["database"] = db
        world = build(args)
        b = Bench(args, world, Path(tmp))
        b.cookies_file = Path(tmp) / "cookies.json"
        b.cookies_file.write_text(json.dumps(world["cookies"]))
        from django.db import connections

        connections.close_all()
        if not args.no_checks:
            out["end_to_end"], out["slow_reader"] = {}, {}
            for kind in servers:
                checks = end_to_end(b, kind)
                out["end_to_end"][kind] = checks
                print(f"end to end, {kind}: {checks}", flush=True)
                bad = [
                    k
                    for k in ("ticket", "inbox", "hello", "chat", "resume")
                    if checks.get(k) != "ok"
                ]
                if bad:
                    failures.append(f"{kind}: end to end {bad}")
                slow = slow_reader(b, kind)
                out["slow_reader"][kind] = slow
                print(
                    f"slow reader, {kind} (load {load()}): {slow['events']:,} events of "
                    f"{slow['event_bytes'] // 1024} KiB; server RSS {slow['rss_before_mib']:.0f} → "
                    f"peak {slow['rss_peak_mib']:.0f} MiB (+{slow['growth_mib']:.0f}), after "
                    f"{slow['rss_after_mib']:.0f}; the reading socket got {slow['reader_got']:,}; "
                    f"the slow one was sent {slow['slow_got']:,} and closed with "
                    f"{slow['slow_closed']}; server alive {slow['server_alive']}",
                    flush=True,
                )
        results: dict[str, dict[str, list[dict]]] = {p: {k: [] for k in servers} for p in parts}
        for n in range(1, args.rounds + 1):
            for part in parts:
                for kind in servers:
                    at = os.getloadavg()
                    try:
                        r = PART_FUNCTIONS[part](b, kind)
                    except Exception as e:  # noqa: BLE001 (counted; the others go on)
                        print(f"FAILED: round {n} {part} {kind}: {e}", file=sys.stderr, flush=True)
                        failures.append(f"round {n} {part} {kind}: {e}"[:500])
                        continue
                    r |= {"round": n, "load_at_start": at}
                    results[part][kind].append(r)
                    unit, spec, cpu_unit, cpu_spec = FIGURES[part]
                    scale = 1e3 if cpu_unit.startswith("µs") else 1.0
                    latency = (
                        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
                        if r.get("p50_ms") is not None
                        else f"all in {r['seconds']:.2f} s, resume "
                        f"{r['resume_cpu_ms'] or 0:.2f} ms CPU each"
                    )
                    print(
                        f"round {n} {part:7} {kind:8} (load {at[0]:.2f}): "
                        f"{format(r['per_second'] or 0, spec)} {unit}, {latency}, "
                        f"{format(r['cpu_ms'] * scale, cpu_spec)} "
                        f"{cpu_unit}, errors {r['errors']}, lost {r['lost']}"
                        + (f" {r['error_samples']}" if r["errors"] else ""),
                        flush=True,
                    )
        print(
            f"\n== {args.rounds} interleaved round(s), median [min–max]; load average now {load()} "
            f"(at start {', '.join(f'{x:.2f}' for x in out['load_at_start'])}) =="
        )
        rows, stats = table(results, servers)
        out["cpu_vs_daphne"] = relative(stats, servers)
        out["table"] = rows
        out["stats"] = stats
        out["runs"] = results
        out["server_log_tracebacks"] = b.log_tracebacks
        if b.log_tracebacks:
            print(f"tracebacks in the servers' logs: {b.log_tracebacks}")
    changed = code_changed(commit)
    if changed:
        print(
            f"WARNING: the platform's code changed during the run ({commit[:8]} → {head()[:8]}): "
            f"{', '.join(changed[:10])}; later starts ran the new code",
            file=sys.stderr,
        )
    out["code_changed_during_run"] = changed
    out["load_end"] = os.getloadavg()
    out["failures"] = failures
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    write_json(out, args.json)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
