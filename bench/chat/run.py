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
- tutorial: `daphne peer_tutorial:application` (the Channels tutorial's consumer behind
  AuthMiddlewareStack, logged in with the same cookies; tutorial_settings.py: the same
  channel layer class, RedisPubSubChannelLayer, on the same redis-server);
- raw: peer_websockets.py (websockets.serve + websockets.broadcast);

each started fresh, then loadgen.py (one separate process) connects N sockets, lets
--senders of them send --messages messages at --rate messages/s in total, and
reports deliveries, latency, loss (a post unanswered or a delivery missing at the
deadline counts), the server's RSS per socket and CPU per delivery. --rounds rounds
(default 3), the servers interleaved within each round; the tables give medians and
[min–max] ranges.

--overload: after the rounds, for each N, the platform alone at twice the median
deliveries/s it reached (or --capacity), with notice_publisher.py publishing a notice
to the county's schools every second from a process of its own: chat.sent p99, the
notice's p99, the server's RSS over time, lost posts and deliveries, resyncs.

Figures only; no timing is asserted. Exits non-zero when a server does not start or
the load generator fails.

Run: .venv/bin/python bench/chat/run.py                 (N = 100, 500, 1000; 3 rounds)
     .venv/bin/python bench/chat/run.py --quick         (N = 100, 50 messages, 1 round)
     .venv/bin/python bench/chat/run.py --clients 500,1000 --senders 16 --rate 20 \\
         --messages 400 --overload
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import socket
import statistics
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
MANAGER = f"{COUNTY}-boss"


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


def django_env(redis_url: str) -> dict[str, str]:
    """The environment of a process running the platform's settings on this run's data."""
    from django.conf import settings

    return base_env() | {
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "0",
        "SECURE_COOKIES": "0",
        "HTTPS": "0",
        "VAR_DIR": str(settings.VAR_DIR),
        "CACHE_KEY_PREFIX": "bench",
        "MFA_REQUIRED_FOR_SENIOR_MANAGERS": "0",
    }


# daphne as docs/deployment.md runs it, for both daphne servers: a listen backlog that
# holds a reconnect wave (Twisted's default is 50) and a handshake allowed to wait for
# its turn (daphne's default closes one not accepted within 5 s: under a wave of
# thousands that dropped work already done and sent the client round again).
def daphne_argv(port: int, app: str) -> list[str]:
    return [
        str(DAPHNE),
        "-e",
        f"tcp:port={port}:interface=127.0.0.1:backlog=4096",
        "--websocket_connect_timeout",
        "60",
        app,
    ]


def start_server(kind: str, redis_url: str, tmp: Path) -> tuple[subprocess.Popen, int]:

    port = free_port()
    env = base_env() | {"REDIS_URL": redis_url}
    if kind in ("platform", "tutorial"):
        env = django_env(redis_url)
    if kind == "platform":
        argv, cwd = (
            daphne_argv(port, "config.asgi:application"),
            ROOT,
        )
    if kind == "tutorial":
        env |= {"DJANGO_SETTINGS_MODULE": "tutorial_settings", "PYTHONPATH": f"{HERE}:{ROOT}"}
        argv, cwd = (
            daphne_argv(port, "peer_tutorial:application"),
            HERE,
        )
    elif kind == "raw":
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
    Account.objects.create(
        username=MANAGER, password="!", unit=county, role=Role.MANAGER, must_change_password=False
    )
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
    kind: str,
    n: int,
    args,
    room: int,
    cookies_file: Path,
    redis_url: str,
    tmp: Path,
    *,
    rate: float | None = None,
    messages: int | None = None,
    senders: int | None = None,
    notices: int = 0,
) -> dict:
    proc, port = start_server(kind, redis_url, tmp)
    publisher = None
    try:
        url = f"ws://127.0.0.1:{port}/ws/" if kind != "raw" else f"ws://127.0.0.1:{port}/"
        argv = [str(PYTHON), str(HERE / "loadgen.py"), "--kind", kind, "--url", url]
        argv += ["--origin", f"http://127.0.0.1:{port}", "--n", str(n), "--room", str(room)]
        argv += ["--senders", str(senders or args.senders), "--rate", str(rate or args.rate)]
        argv += ["--messages", str(messages or args.messages), "--pid", str(proc.pid)]
        argv += ["--drain", str(args.drain), "--http", f"http://127.0.0.1:{port}"]
        if kind != "raw":
            argv += ["--cookies", str(cookies_file)]
        if notices:
            argv += ["--notices", str(notices)]
        loadgen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
        if notices:
            # Started once the sockets are likely connected; it publishes while posts flow.
            time.sleep(min(30.0, 2.0 + n / 200))
            publisher = subprocess.Popen(  # noqa: S603
                [str(PYTHON), str(HERE / "notice_publisher.py"), "--author", MANAGER]
                + ["--to", COUNTY, "--every", "1", "--count", str(notices)],
                env=django_env(redis_url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        out, err = loadgen.communicate(timeout=900)
        if loadgen.returncode != 0:
            raise RuntimeError(f"loadgen {kind} N={n} failed:\n{err[-3000:]}")
        result = json.loads(out)
        if publisher is not None:
            pout, perr = publisher.communicate(timeout=120)
            if publisher.returncode != 0:
                raise RuntimeError(f"notice publisher failed:\n{perr[-3000:]}")
            published = json.loads(pout)["published"]
            result["notices_published"] = published
            result["notice_lost"] = published * result["connected"] - result["notice_deliveries"]
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited with {proc.returncode} during the run")
        return result
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
        stop(proc)


def summary(values: list) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(stat: dict | None, spec: str) -> str:
    if stat is None:
        return "-"
    if stat["min"] == stat["max"]:
        return format(stat["median"], spec)
    return f"{stat['median']:{spec}} [{stat['min']:{spec}}–{stat['max']:{spec}}]"


KEYS = (
    "throughput",
    "p50_ms",
    "p99_ms",
    "server_cpu_us_per_delivery",
    "connect_seconds",
    "rss_per_socket_kib",
    "lost",
    "posts_lost",
    "ack_p99_ms",
)


def report(n: int, rounds: dict[str, list[dict]]) -> dict:
    """Medians and ranges over the rounds of each server at this N."""
    stats = {
        kind: {k: summary([r.get(k) for r in rs]) for k in KEYS} for kind, rs in rounds.items()
    }
    print(
        f"\n== N = {n:,} clients in one room, {len(next(iter(rounds.values())))} round(s), "
        f"median [min–max] (load average {load()}) =="
    )
    head = ["", "deliveries/s", "p50 ms", "p99 ms", "CPU µs/delivery", "connect s"]
    head += ["RSS/socket KiB", "lost deliveries", "lost posts", "chat.sent p99 ms"]
    table = [head]
    for kind in PEERS:
        st = stats.get(kind)
        if st is None:
            continue
        table.append(
            [
                kind,
                fmt(st["throughput"], ",.0f"),
                fmt(st["p50_ms"], ",.1f"),
                fmt(st["p99_ms"], ",.1f"),
                fmt(st["server_cpu_us_per_delivery"], ",.0f"),
                fmt(st["connect_seconds"], ".1f"),
                fmt(st["rss_per_socket_kib"], ",.0f"),
                fmt(st["lost"], ",.0f"),
                fmt(st["posts_lost"], ",.0f"),
                fmt(st["ack_p99_ms"], ",.0f"),
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
    for kind, rs in rounds.items():
        for r in rs:
            if r.get("errors") or r.get("connect_failures"):
                print(
                    f"  {kind}: errors {r.get('errors')}, connect failures "
                    f"{r['connect_failures']} {r['connect_failure_sample']}"
                )
    extra: dict = {"stats": stats}
    p, t, raw = stats.get("platform"), stats.get("tutorial"), stats.get("raw")
    if p and t and p["throughput"] and t["throughput"]:
        extra["throughput_ratio"] = p["throughput"]["median"] / t["throughput"]["median"]
        extra["p99_ratio"] = p["p99_ms"]["median"] / t["p99_ms"]["median"]
        print(f"  platform / tutorial: deliveries/s {extra['throughput_ratio']:.2f}x (target ≥ 3)")
    if p and raw and p["throughput"] and raw["throughput"]:
        print(
            f"  platform / raw ceiling: {p['throughput']['median'] / raw['throughput']['median']:.2f}x"
        )
    first = next(iter(rounds.values()))[0]
    print(
        f"  offered: {first.get('messages')} messages at {first.get('rate', 0):g}/s from "
        f"{first.get('senders')} senders = {first.get('rate', 0) * first['connected']:,.0f} deliveries/s"
    )
    return extra


def overload(n: int, capacity: float, args, room, cookies_file, redis_url, tmp) -> dict:
    """The platform at twice `capacity` deliveries/s, notices published meanwhile."""
    rate = 2 * capacity / n
    # The chat rate limit (20 posts in 10 s an account): enough senders to stay under it.
    senders = max(args.senders, math.ceil(rate / 1.5))
    messages = max(1, int(rate * args.overload_seconds))
    r = measure(
        "platform",
        n,
        args,
        room,
        cookies_file,
        redis_url,
        tmp,
        rate=rate,
        messages=messages,
        senders=senders,
        notices=max(1, int(args.overload_seconds) - 2),
    )
    print(
        f"\n== overload, N = {n:,}: {2 * capacity:,.0f} deliveries/s offered "
        f"(2 × {capacity:,.0f}), {rate:.1f} posts/s from {senders} senders for "
        f"{args.overload_seconds:g} s, a notice a second (load average {load()}) =="
    )

    def ms(key):
        v = r.get(key)
        return "-" if v is None else f"{v:,.0f} ms"

    print(
        f"  chat.sent p50 {ms('ack_p50_ms')}, p99 {ms('ack_p99_ms')} (target ≤ 1,000 ms); "
        f"posts accepted {r.get('accepted')}/{messages}, refused {r.get('refused')}, "
        f"unanswered (lost) {r.get('posts_lost')}"
    )
    print(
        f"  notice event p50 {ms('notice_p50_ms')}, p99 {ms('notice_p99_ms')} (target ≤ 2,000 ms); "
        f"{r.get('notice_deliveries')} delivered of {r.get('notices_published', 0) * r['connected']}"
        f" (lost {r.get('notice_lost')})"
    )
    print(
        f"  deliveries: {r['received']:,}/{r['expected']:,} (live {r['received_live']:,}, by sync "
        f"or HTTP {r['received_late']:,}), lost {r['lost']:,}; live p99 {ms('p99_ms')}, "
        f"all p99 {ms('p99_all_ms')}; resyncs {r['resyncs']}, room resyncs {r['room_resyncs']}, "
        f"HTTP pages {r['http_pages']}; errors {r.get('errors')}"
    )
    series = " ".join(f"{t:g}s:{v / 1024:.0f}" for t, v in r["rss_series_kib"])
    print(
        f"  server RSS MiB: before {r['rss_before_kib'] / 1024:.0f}, max {r['rss_max_kib'] / 1024:.0f}, "
        f"end {r['rss_end_kib'] / 1024:.0f}; over time {series}"
    )
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="100,500,1000", help="comma-separated N values")
    ap.add_argument("--messages", type=int, default=100, help="messages per run (M)")
    ap.add_argument("--rate", type=float, default=20.0, help="messages per second, all senders")
    ap.add_argument(
        "--senders", type=int, default=20, help="sending clients (rate limit: 20/10 s each)"
    )
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per comparison")
    ap.add_argument("--drain", type=float, default=15.0, help="seconds after the last send")
    ap.add_argument("--overload", action="store_true", help="then 2x capacity, with notices")
    ap.add_argument("--capacity", type=float, help="deliveries/s of one process (else measured)")
    ap.add_argument("--overload-seconds", type=float, default=20.0)
    ap.add_argument("--quick", action="store_true", help="N = 100, 50 messages, 1 round")
    ap.add_argument("--json", help="also write the results to this file (run_all.py)")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.messages, args.rounds = "100", 50, 1
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
            rounds: dict[int, dict[str, list[dict]]] = {n: {k: [] for k in peers} for n in ns}
            for i in range(args.rounds):
                for n in ns:
                    # Interleaved: each round measures every server once, in turn.
                    for kind in peers:
                        rounds[n][kind].append(
                            measure(kind, n, args, room, cookies_file, redis_url, tmp)
                        )
                        print(
                            f"  round {i + 1}: measured {kind} N={n} (load average {load()})",
                            flush=True,
                        )
            for n in ns if args.rounds else []:
                extra = report(n, rounds[n])
                # `rows`: the medians, in the shape bench/run_all.py summarises.
                rows = {
                    kind: {k: (st or {}).get("median") for k, st in extra["stats"][kind].items()}
                    | {"connected": min(r["connected"] for r in rounds[n][kind])}
                    for kind in rounds[n]
                }
                results["runs"][str(n)] = {
                    "rows": rows,
                    "rounds": rounds[n],
                    **extra,
                    "load": os.getloadavg(),
                }
            if args.overload:
                for n in ns:
                    capacity = args.capacity
                    if capacity is None:
                        measured = [r.get("throughput") for r in rounds[n].get("platform", [])]
                        capacity = statistics.median(measured) if measured else None
                    if not capacity:
                        print(f"  overload N={n}: no capacity measured (run the platform peer)")
                        continue
                    results["runs"].setdefault(str(n), {})["overload"] = overload(
                        n, capacity, args, room, cookies_file, redis_url, tmp
                    )
    finally:
        stop(redis_proc)
        shutil.rmtree(tmp, ignore_errors=True)
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
