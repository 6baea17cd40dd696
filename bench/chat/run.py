"""Chat fan-out: N clients in one room, deliveries per second and p50/p99 delivery
latency, against (a) a minimal Channels chat in the Channels tutorial's style and
(b) a raw `websockets` broadcast server (the ceiling), in the same run.

Setup, not timed (see bench/README.md): a throwaway database (_harness.py); a
redis-server of this run's own on a free port (the shared Redis is untouched); one
county 基准县 (999901) with max(N) schools and one staff account each, all members of
the county's region room; a session cookie per account (django.test.Client.force_login,
the same SECRET_KEY passed to daphne). For each N and each server, in turn:

- platform: `daphne config.asgi:application` (session auth, Origin check, the one
  socket /ws/; chat.send → message_post: row lock, Message row, push after commit);
- tutorial: `daphne peer_tutorial:application` (tutorial_settings.py; the same
  channel layer class, RedisPubSubChannelLayer, on the same redis-server);
- raw: peer_websockets.py (websockets.serve + websockets.broadcast);

each started fresh, then loadgen.py (one separate process) connects N sockets, lets
--senders of them send --messages messages at --rate messages/s in total, and
reports deliveries, latency, loss, the server's RSS per socket and CPU per delivery.
Figures only; no timing is asserted. Exits non-zero when a server does not start or
the load generator fails.

Run: .venv/bin/python bench/chat/run.py            (N = 100, 500, 1000)
     .venv/bin/python bench/chat/run.py --quick    (N = 100, 50 messages)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:] = [
    str(ROOT),
    str(ROOT / "bench"),
    *(p for p in sys.path if Path(p or ".").resolve() != HERE),
]

from _harness import fresh_database, write_json  # noqa: E402

PYTHON = ROOT / ".venv" / "bin" / "python"
DAPHNE = ROOT / ".venv" / "bin" / "daphne"
COUNTY = "999901"
START_TIMEOUT = 30
P99_TARGET = 1.5
TARGET_N = 500
PEERS = ("platform", "tutorial", "raw")


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} not open within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    log = tmp / "redis.log"
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(tmp), "--maxclients", "20000"]
    proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # noqa: S603
    wait_port(proc, port, log)
    return proc, f"redis://127.0.0.1:{port}/0"


def base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ} | {"PYTHONUNBUFFERED": "1"}


def start_server(kind: str, redis_url: str, tmp: Path) -> tuple[subprocess.Popen, int]:
    from django.conf import settings

    port = free_port()
    env = base_env() | {"REDIS_URL": redis_url}
    if kind == "platform":
        env |= {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DEBUG": "0",
            "SECURE_COOKIES": "0",
            "VAR_DIR": str(settings.VAR_DIR),
            "CACHE_KEY_PREFIX": "bench",
            "MFA_REQUIRED_FOR_SENIOR_MANAGERS": "0",
        }
        argv, cwd = (
            [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            ROOT,
        )
    elif kind == "tutorial":
        env |= {"DJANGO_SETTINGS_MODULE": "tutorial_settings", "PYTHONPATH": str(HERE)}
        argv, cwd = (
            [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "peer_tutorial:application"],
            HERE,
        )
    else:
        argv, cwd = [str(PYTHON), str(HERE / "peer_websockets.py"), "--port", str(port)], HERE
    log = tmp / f"{kind}.log"
    proc = subprocess.Popen(  # noqa: S603
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(proc, port, log)
    except Exception:
        stop(proc)
        raise
    return proc, port


def build(n: int) -> tuple[int, list[str], dict]:
    """One county, n schools with a staff account each, all in the county's room;
    a session cookie per account; the queries of one message_post, counted."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts import services
    from accounts.models import Account, Level, Role
    from chat import selectors
    from chat import services as chat_services
    from chat.models import Room, RoomKind

    t0 = time.perf_counter()
    ministry = services.ministry_ensure()
    province = services.unit_create(
        level=Level.PROVINCE, code="990000", name="基准省", parent=ministry
    )
    pref = services.unit_create(
        level=Level.PREFECTURE, code="999900", name="基准市", parent=province
    )
    county = services.unit_create(level=Level.COUNTY, code=COUNTY, name="基准县", parent=pref)
    schools = [
        services.unit_build(
            level=Level.SCHOOL, code=f"{COUNTY}{s:04d}", name=f"基准县第{s}学校", parent=county
        )
        for s in range(1, n + 1)
    ]
    from accounts.models import Unit

    Unit.objects.bulk_create(schools, batch_size=1000)
    schools = list(Unit.objects.filter(parent=county).order_by("code"))
    Account.objects.bulk_create(
        [
            Account(
                username=f"{s.code}-s1",
                password="!",
                unit=s,
                role=Role.STAFF,
                must_change_password=False,
            )
            for s in schools
        ],
        batch_size=1000,
    )
    accounts = list(
        Account.objects.filter(unit__parent=county).select_related("unit").order_by("username")
    )
    chat_services.region_rooms_ensure(accounts[0])
    room = Room.objects.get(kind=RoomKind.REGION, unit=county)
    assert all(selectors.is_member(a, room) for a in accounts[:5] + accounts[-5:])
    cookies = []
    for account in accounts:
        client = Client()
        client.force_login(account, backend="accounts.backends.PasswordBackend")
        cookies.append(
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    # One post outside the measurement, to count its queries (the push goes to this run's redis).
    with CaptureQueriesContext(connection) as queries:
        chat_services.message_post(account=accounts[0], room=room, body="t=0 k=-1 warm-up")
    room_q = len(queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        selectors.room_or_404(account=accounts[1], pk=room.pk)
        chat_services.message_post(account=accounts[1], room=room, body="t=0 k=-1 warm-up")
    print(
        f"setup: 1 county, {len(accounts):,} schools and staff accounts in room {room.pk}, "
        f"{len(cookies):,} sessions, in {time.perf_counter() - t0:.1f} s; "
        f"queries per chat.send (room_or_404 + message_post): {len(queries.captured_queries)} "
        f"(message_post alone: {room_q})"
    )
    return room.pk, cookies, {"queries_per_send": len(queries.captured_queries)}


def measure(
    kind: str, n: int, args, room: int, cookies_file: Path, redis_url: str, tmp: Path
) -> dict:
    proc, port = start_server(kind, redis_url, tmp)
    try:
        url = f"ws://127.0.0.1:{port}/ws/" if kind != "raw" else f"ws://127.0.0.1:{port}/"
        argv = [str(PYTHON), str(HERE / "loadgen.py"), "--kind", kind, "--url", url]
        argv += ["--origin", f"http://127.0.0.1:{port}", "--n", str(n), "--room", str(room)]
        argv += ["--senders", str(args.senders), "--rate", str(args.rate)]
        argv += ["--messages", str(args.messages), "--pid", str(proc.pid)]
        if kind == "platform":
            argv += ["--cookies", str(cookies_file)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
        if out.returncode != 0:
            raise RuntimeError(f"loadgen {kind} N={n} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout)
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited with {proc.returncode} during the run")
        return result
    finally:
        stop(proc)


def cell(r: dict | None, key: str, fmt: str) -> str:
    value = (r or {}).get(key)
    return "-" if value is None else format(value, fmt)


def report(n: int, rows: dict) -> dict:
    print(f"\n== N = {n:,} clients in one room (load average {load()}) ==")
    head = ["", "connected", "connect s", "RSS/socket", "deliveries/s", "p50 ms", "p99 ms"]
    head += ["max ms", "received/expected", "lost", "CPU µs/delivery"]
    table = [head]
    for kind in PEERS:
        r = rows.get(kind)
        if r is None:
            continue
        table.append(
            [
                kind,
                f"{r['connected']:,}/{r['n']:,}",
                f"{r['connect_seconds']:.1f}",
                f"{r['rss_per_socket_kib']:.0f} KiB",
                cell(r, "throughput", ",.0f"),
                cell(r, "p50_ms", ",.1f"),
                cell(r, "p99_ms", ",.1f"),
                cell(r, "max_ms", ",.0f"),
                f"{r.get('received', 0):,}/{r.get('expected', 0):,}",
                f"{r.get('lost', 0):,}",
                cell(r, "server_cpu_us_per_delivery", ",.0f"),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    extra = {}
    p, t = rows.get("platform"), rows.get("tutorial")
    for kind, r in rows.items():
        if r.get("errors") or r.get("connect_failures"):
            print(
                f"  {kind}: errors {r.get('errors')}, connect failures {r['connect_failures']} {r['connect_failure_sample']}"
            )
    if p and t and p.get("throughput") and t.get("throughput") and t.get("p99_ms"):
        extra = {
            "throughput_ratio": p["throughput"] / t["throughput"],
            "p99_ratio": p["p99_ms"] / t["p99_ms"],
        }
        note = f" (target ≤ {P99_TARGET} at {TARGET_N})" if n == TARGET_N else ""
        print(
            f"  platform / tutorial: throughput {extra['throughput_ratio']:.2f}x (target ≥ 1.0), "
            f"p99 {extra['p99_ratio']:.2f}x{note}"
        )
    r = rows.get("raw")
    if p and r and r.get("throughput"):
        print(f"  platform / raw ceiling: throughput {p['throughput'] / r['throughput']:.2f}x")
    if p:
        print(
            f"  offered: {p['messages']} messages at {p['rate']:g}/s from {p['senders']} senders "
            f"= {p['rate'] * p['connected']:,.0f} deliveries/s; platform accepted {p.get('accepted')}"
        )
    return extra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="100,500,1000", help="comma-separated N values")
    ap.add_argument("--messages", type=int, default=100, help="messages per run (M)")
    ap.add_argument("--rate", type=float, default=20.0, help="messages per second, all senders")
    ap.add_argument(
        "--senders", type=int, default=20, help="sending clients (rate limit: 20/10 s each)"
    )
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--quick", action="store_true", help="N = 100, 50 messages")
    ap.add_argument("--json", help="also write the results to this file (run_all.py)")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.messages = "100", 50
    ns = [int(x) for x in args.clients.split(",")]
    peers = [p for p in PEERS if p in args.peers.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers
    tmp = Path(tempfile.mkdtemp(prefix="xj-bench-chat-"))
    redis_proc, redis_url = start_redis(tmp)
    os.environ["REDIS_URL"] = redis_url  # the harness then starts no embedded Redis
    results = {"clients": ns, "messages": args.messages, "rate": args.rate, "runs": {}}
    try:
        with fresh_database() as db:
            results["database"] = db
            print(f"redis-server of this run: {redis_url}")
            room, cookies, info = build(max(ns))
            results.update(info)
            cookies_file = tmp / "cookies.json"
            cookies_file.write_text(json.dumps(cookies))
            from django.db import connections

            connections.close_all()
            for n in ns:
                rows = {}
                for kind in peers:
                    rows[kind] = measure(kind, n, args, room, cookies_file, redis_url, tmp)
                    print(f"  measured {kind} N={n} (load average {load()})", flush=True)
                extra = report(n, rows)
                results["runs"][str(n)] = {"rows": rows, **extra, "load": os.getloadavg()}
    finally:
        stop(redis_proc)
        shutil.rmtree(tmp, ignore_errors=True)
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
