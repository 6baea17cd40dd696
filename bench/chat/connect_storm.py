"""Connect cost and a reconnect storm: N sockets connecting to one daphne process,
then the same N coming back after that process restarts, beside the Channels
tutorial chat (peer_tutorial.py) connecting the same number.

Setup, not timed: a throwaway database (_harness.py), a redis-server of this run's own
(run.start_redis), one county with max(N) schools and a staff account each, a session
cookie per account (run.build). The clients are --procs separate load-generator
processes (this file with --worker; asyncio + websockets), so the client is not the
bottleneck. The open-file limit is raised to its hard limit (inherited by daphne and
the workers); raise the hard limit itself (`ulimit -Hn`) for 5,000 sockets and more.

Each round, for each server in turn (rounds interleave the servers):

1. connect: the server starts fresh; every client opens its socket at once (each
   worker keeps --concurrency handshakes in flight) and waits for `hello` (the
   platform: the first connect has no last_event_id, so hello is the whole resume).
   Measured: the wall time until all are connected, the server's CPU (utime + stime
   from /proc/<daphne pid>/stat) per connect, and PostgreSQL's CPU per connect (every
   postgres process's CPU, children reaped by the postmaster included; other work on
   the same PostgreSQL server counts too, so read it as an upper bound).
2. storm (platform only, at --storm sockets): with every socket open, daphne is
   stopped (SIGTERM) and started again on the same port; every socket reconnects
   with the browser's backoff (static/js/realtime.js: 1 s × 2^attempt × (0.5–1.5),
   attempt 0 after the close) and `?last_event_id=<the largest id it holds>`, until
   `resumed`. Meanwhile this process publishes an event to every account's county
   group every --event-every seconds (before, during and after the restart). Counted:
   sockets resumed within 60 s of the restart, errors (anything but a refused
   connection while the server is down: timeouts, HTTP errors, close codes, `error`
   or `resync` frames), and events lost: every event published must reach every
   socket, live or by replay.

Run: .venv/bin/python bench/chat/connect_storm.py --sizes 500,1000 --storm 5000 --rounds 3
     .venv/bin/python bench/chat/connect_storm.py --quick      (N = 100,300, storm 300)
Figures only; no timing is asserted. Exits non-zero when a server does not start or a
load generator fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadgen import proc_cpu  # bench/chat is this script's own directory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
OPEN_TIMEOUT = 30.0
STORM_WINDOW = 60.0  # seconds: the target for every socket to be resumed
STORM_CAP = 120.0  # seconds: a hang bound for the storm phase


# --- the load generator (one of --procs processes) -----------------------------------


def _cpu(pid: int) -> float:
    return proc_cpu(pid)


class Client:
    def __init__(self, cookie: str | None):
        self.cookie = cookie
        self.ws = None
        self.last: int | None = None  # None until the first hello
        self.ids: set[int] = set()
        self.closed_at: float | None = None
        self.resumed_at: float | None = None
        self.errors: list[str] = []
        self.refused = 0


class Worker:
    """Holds its share of the sockets; obeys one JSON command per stdin line and
    answers one JSON line on stdout."""

    def __init__(self, cookies: list[str | None], kind: str):
        self.clients = [Client(c) for c in cookies]
        self.kind = kind
        self.url = ""
        self.origin = ""
        self.storm = False

    async def _open(self, client: Client, gate: asyncio.Semaphore) -> None:
        from websockets.asyncio.client import connect

        headers = {"Cookie": client.cookie} if client.cookie else {}
        url = self.url + ("" if client.last is None else f"?last_event_id={client.last}")
        async with gate:
            client.ws = await connect(
                url,
                origin=self.origin,
                additional_headers=headers,
                open_timeout=OPEN_TIMEOUT,
                max_queue=None,
                ping_interval=None,
                compression=None,
            )
            if self.kind != "platform":
                return
            # hello, then (with last_event_id) the replayed frames and `resumed`.
            while True:
                frame = json.loads(await asyncio.wait_for(client.ws.recv(), OPEN_TIMEOUT))
                self._note(client, frame)
                if frame["type"] == "hello" and client.last is None:
                    client.last = frame["latest_id"]
                    return
                if frame["type"] in ("resumed", "resync"):
                    return

    def _note(self, client: Client, frame: dict) -> None:
        if isinstance(frame.get("id"), int):
            client.ids.add(frame["id"])
            client.last = max(client.last or 0, frame["id"])
        elif frame["type"] in ("error", "resync"):
            client.errors.append(json.dumps(frame)[:200])

    async def _listen(self, client: Client) -> None:
        import websockets

        try:
            async for text in client.ws:
                self._note(client, json.loads(text))
        except websockets.ConnectionClosed:
            pass
        client.closed_at = time.monotonic()
        if self.storm:
            await self._reconnect(client)

    async def _reconnect(self, client: Client) -> None:
        import websockets

        attempt = 0
        gate = asyncio.Semaphore(1)
        while time.monotonic() - client.closed_at < STORM_CAP:
            await asyncio.sleep(min(300.0, 2**attempt) * (0.5 + random.random()))  # noqa: S311
            attempt += 1
            try:
                await self._open(client, gate)
            except (ConnectionRefusedError, ConnectionResetError):
                client.refused += 1
                continue
            except (OSError, TimeoutError, websockets.WebSocketException) as e:
                client.errors.append(f"{type(e).__name__}: {e}"[:200])
                continue
            client.resumed_at = time.monotonic()
            asyncio.ensure_future(self._listen(client))
            return

    async def connect_all(self, concurrency: int) -> dict:
        gate = asyncio.Semaphore(concurrency)
        failures: list[str] = []

        async def one(client):
            try:
                await self._open(client, gate)
            except Exception as e:  # noqa: BLE001 (counted and reported)
                failures.append(f"{type(e).__name__}: {e}"[:200])
                return
            asyncio.ensure_future(self._listen(client))

        t0 = time.monotonic()
        await asyncio.gather(*(one(c) for c in self.clients))
        return {"seconds": time.monotonic() - t0, "failures": failures}

    async def close_all(self) -> dict:
        self.storm = False
        await asyncio.gather(*(c.ws.close() for c in self.clients if c.ws is not None))
        return {}

    def storm_report(self, restart_at: float) -> dict:
        # restart_at is the parent's time.monotonic(): the same clock on one machine.
        return {
            "resume_seconds": [
                c.resumed_at - restart_at if c.resumed_at else None for c in self.clients
            ],
            "ids": [sorted(c.ids) for c in self.clients],
            "errors": [e for c in self.clients for e in c.errors],
            "refused": sum(c.refused for c in self.clients),
        }

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            command = json.loads(line)
            op = command["op"]
            if op == "connect":
                self.url, self.origin = command["url"], command["origin"]
                answer = await self.connect_all(command["concurrency"])
            elif op == "storm":
                self.storm = True
                answer = {}
            elif op == "report":
                answer = self.storm_report(command["restart_at"])
            elif op == "close":
                answer = await self.close_all()
            else:
                break
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


def worker_main(args) -> int:
    cookies = json.loads(Path(args.cookies).read_text())[args.first : args.first + args.count]
    asyncio.run(Worker(cookies, args.kind).run())
    return 0


# --- the driver -------------------------------------------------------------------


def postgres_cpu() -> float:
    """CPU seconds of every postgres process, children already reaped included."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        if not head.endswith("(postgres"):
            continue
        fields = rest.split()
        total += int(fields[11]) + int(fields[12])
        if fields[1] == "1" or fields[1] != "0" and _comm(fields[1]) != "postgres":
            total += int(fields[13]) + int(fields[14])  # the postmaster: reaped backends
    return total / tick


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pg_sessions() -> tuple[int, int]:
    """(sessions opened, transactions) on this run's database so far (PostgreSQL 14+):
    what a connect costs PostgreSQL, unpolluted by other databases' work."""
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
        row = cursor.fetchone()
    connections.close_all()
    return row


class Workers:
    def __init__(self, kind: str, n: int, procs: int, cookies_file: Path):
        self.procs = []
        per = -(-n // procs)
        for first in range(0, n, per):
            argv = [str(PYTHON), __file__, "--worker", "--kind", kind, "--cookies"]
            argv += [str(cookies_file), "--first", str(first), "--count", str(min(per, n - first))]
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )

    def ask(self, command: dict) -> list[dict]:
        for p in self.procs:
            p.stdin.write(json.dumps(command) + "\n")
            p.stdin.flush()
        answers = []
        for p in self.procs:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError(f"a load generator exited with {p.wait()}")
            answers.append(json.loads(line))
        return answers

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.stdin.close()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()


def start(kind: str, redis_url: str, tmp: Path, port: int | None = None):
    import run

    if port is not None:
        # The restart reuses the port the clients reconnect to.
        original, run.free_port = run.free_port, lambda: port
        try:
            return run.start_server(kind, redis_url, tmp)
        finally:
            run.free_port = original
    return run.start_server(kind, redis_url, tmp)


def spy_on(args, pid: int, name: str) -> subprocess.Popen | None:
    """With --py-spy: daphne's collapsed stacks (py-spy record --format raw) into
    PREFIX.<name>.txt until spy_stop."""
    if not args.py_spy:
        return None
    argv = [args.py_spy_bin, "record", "--gil", "-p", str(pid), "-r", "200", "-f", "raw"]
    out = f"{args.py_spy}.{name}.txt"
    spy = subprocess.Popen([*argv, "-o", out], stdout=subprocess.DEVNULL)  # noqa: S603
    time.sleep(1)
    return spy


def spy_stop(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(2)
        spy.wait(timeout=30)


def settle(pid: int, *, quiet: float = 0.3, cap: float = 15.0) -> None:
    """Wait until process `pid` has used (almost) no CPU for `quiet` seconds."""
    deadline = time.monotonic() + cap
    before = _cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = _cpu(pid)
        if now - before < 0.02 * quiet:
            return
        before = now


def connect_phase(kind: str, n: int, args, redis_url: str, tmp: Path, cookies: Path) -> dict:
    import run

    proc, port = start(kind, redis_url, tmp)
    workers = Workers(kind, n, args.procs, cookies)
    try:
        time.sleep(0.6)  # the statistics collector's flush of the start-up's sessions
        (s0, x0), cpu0, pg0 = pg_sessions(), _cpu(proc.pid), postgres_cpu()
        spy = spy_on(args, proc.pid, f"{n}") if kind == "platform" else None
        answers = workers.ask(
            {
                "op": "connect",
                "url": f"ws://127.0.0.1:{port}/ws/",
                "origin": f"http://127.0.0.1:{port}",
                "concurrency": args.concurrency,
            }
        )
        cpu, pg = _cpu(proc.pid) - cpu0, postgres_cpu() - pg0
        spy_stop(spy)
        time.sleep(0.6)
        s1, x1 = pg_sessions()
        failures = [f for a in answers for f in a["failures"]]
        connected = n - len(failures)
        workers.ask({"op": "close"})
        resume = {}
        if kind == "platform":
            # The same sockets again, now with ?last_event_id: hello, replay, resumed.
            # First let the server finish the closes (its CPU stops moving), so their
            # cost is not counted as the resumes'.
            settle(proc.pid)
            spy = spy_on(args, proc.pid, f"{n}.resume")
            cpu0 = _cpu(proc.pid)
            again = workers.ask(
                {
                    "op": "connect",
                    "url": f"ws://127.0.0.1:{port}/ws/",
                    "origin": f"http://127.0.0.1:{port}",
                    "concurrency": args.concurrency,
                }
            )
            back = n - sum(len(a["failures"]) for a in again)
            spy_stop(spy)
            resume = {
                "resume_seconds": max(a["seconds"] for a in again),
                "cpu_ms_per_resume": 1000 * (_cpu(proc.pid) - cpu0) / max(1, back),
                "resume_failures": [f for a in again for f in a["failures"]][:5],
            }
            workers.ask({"op": "close"})
        return {
            **resume,
            "n": n,
            "connected": connected,
            "seconds": max(a["seconds"] for a in answers),
            "cpu_ms_per_connect": 1000 * cpu / max(1, connected),
            "pg_cpu_ms_per_connect": 1000 * pg / max(1, connected),
            "pg_sessions_per_connect": (s1 - s0 - 1) / max(1, connected),
            "pg_transactions_per_connect": (x1 - x0 - 1) / max(1, connected),
            "failures": failures[:5],
        }
    finally:
        workers.stop()
        run.stop(proc)


def storm_phase(n: int, args, redis_url: str, tmp: Path, cookies: Path, county) -> dict:
    import run
    from django.db import connections

    from core import events

    group = events.tree_group(county.code, "school", managers_only=False)
    published: list[int] = []

    def publish() -> None:
        event = events.publish(kind="bench.storm", payload={}, groups=[group])
        published.append(event.pk)
        connections.close_all()

    proc, port = start("platform", redis_url, tmp)
    workers = Workers("platform", n, args.procs, cookies)
    try:
        url = f"ws://127.0.0.1:{port}/ws/"
        answers = workers.ask(
            {"op": "connect", "url": url, "origin": f"http://127.0.0.1:{port}", "concurrency": 50}
        )
        if any(a["failures"] for a in answers):
            raise RuntimeError(f"storm: initial connect failed: {answers[0]['failures'][:3]}")
        workers.ask({"op": "storm"})
        publish()
        time.sleep(1)
        restart_at = time.monotonic()
        cpu_before = _cpu(proc.pid)
        run.stop(proc)
        publish()  # while the server is down
        proc, _ = start("platform", redis_url, tmp, port=port)
        cpu0 = _cpu(proc.pid)
        deadline = restart_at + STORM_WINDOW
        while time.monotonic() < deadline:
            time.sleep(args.event_every)
            publish()
        cpu = _cpu(proc.pid) - cpu0
        time.sleep(5)  # the last event's delivery, then the report
        answers = workers.ask({"op": "report", "restart_at": restart_at})
        workers.ask({"op": "close"})
    finally:
        workers.stop()
        run.stop(proc)
    resume = [s for a in answers for s in a["resume_seconds"]]
    within = [s for s in resume if s is not None and s <= STORM_WINDOW]
    errors = [e for a in answers for e in a["errors"]]
    want = set(published)
    lost = sum(len(want - set(ids)) for a in answers for ids in a["ids"])
    done = sorted(s for s in resume if s is not None)
    return {
        "n": n,
        "resumed_within_60s": len(within),
        "resumed": len(done),
        "last_resumed_s": done[-1] if done else None,
        "p50_resumed_s": statistics.median(done) if done else None,
        "errors": len(errors),
        "error_sample": errors[:5],
        "refused_attempts": sum(a["refused"] for a in answers),
        "events_published": len(published),
        "events_lost": lost,
        "server_cpu_s_after_restart": cpu,
        "server_cpu_s_before_stop": cpu_before,
    }


def med_range(values: list[float], fmt: str = ".2f") -> str:
    if not values:
        return "-"
    return (
        f"{format(statistics.median(values), fmt)} "
        f"({format(min(values), fmt)}–{format(max(values), fmt)})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="platform", help=argparse.SUPPRESS)
    ap.add_argument("--cookies", help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="500,1000", help="comma-separated N for the connect phase")
    ap.add_argument("--storm", type=int, default=5000, help="sockets in the storm (0: none)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--procs", type=int, default=4, help="load-generator processes")
    ap.add_argument("--concurrency", type=int, default=50, help="handshakes in flight per process")
    ap.add_argument("--event-every", type=float, default=2.0, help="seconds between events")
    ap.add_argument("--peers", default="platform,tutorial")
    ap.add_argument("--py-spy", help="write py-spy's collapsed stacks of daphne to PREFIX.<N>.txt")
    ap.add_argument("--py-spy-bin", default="py-spy")
    ap.add_argument("--quick", action="store_true", help="N = 100,300, storm 300, 1 round")
    ap.add_argument("--json", help="also write the results to this file (run_all.py)")
    args = ap.parse_args()
    if args.worker:
        return worker_main(args)
    if args.quick:
        args.sizes, args.storm, args.rounds = "100,300", 300, 1
    sizes = [int(x) for x in args.sizes.split(",") if x]
    peers = args.peers.split(",")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by daphne and workers
    biggest = max([*sizes, args.storm])
    if hard < biggest + 1000:
        print(f"warning: open-file hard limit {hard} is low for {biggest} sockets (ulimit -Hn)")
    sys.path[:0] = [str(HERE), str(ROOT / "bench")]
    import shutil

    import run
    from _harness import ensure_admin_database, fresh_database, write_json

    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        ensure_admin_database(os.environ["DATABASE_URL"])
    tmp = Path(tempfile.mkdtemp(prefix="xj-bench-storm-"))
    redis_proc, redis_url = run.start_redis(tmp)
    os.environ["REDIS_URL"] = redis_url
    os.environ["CACHE_KEY_PREFIX"] = "bench"  # run.start_server's daphne: the same channels
    results: dict = {"sizes": sizes, "storm": args.storm, "rounds": []}
    try:
        with fresh_database() as db:
            results["database"] = db
            _room, cookies, _info = run.build(biggest)
            from accounts.models import Unit

            county = Unit.objects.get(code=run.COUNTY)
            cookies_file = tmp / "cookies.json"
            cookies_file.write_text(json.dumps(cookies))
            from django.db import connections

            connections.close_all()
            for r in range(args.rounds):
                row: dict = {"connect": {}, "storm": None}
                for n in sizes:
                    for kind in peers if r % 2 == 0 else reversed(peers):
                        got = connect_phase(kind, n, args, redis_url, tmp, cookies_file)
                        row["connect"][f"{kind}:{n}"] = got
                        print(
                            f"round {r + 1} {kind:8} N={n:>5}: {got['connected']}/{n} in "
                            f"{got['seconds']:.2f} s, daphne CPU {got['cpu_ms_per_connect']:.2f} ms"
                            f"/connect, postgres CPU {got['pg_cpu_ms_per_connect']:.2f} ms/connect, "
                            f"PG sessions {got['pg_sessions_per_connect']:.2f} and transactions "
                            f"{got['pg_transactions_per_connect']:.2f} per connect"
                            + (f", failures {got['failures']}" if got["failures"] else "")
                            + (
                                f"; again with last_event_id (resume): {got['resume_seconds']:.2f}"
                                f" s, daphne CPU {got['cpu_ms_per_resume']:.2f} ms/connect"
                                if "cpu_ms_per_resume" in got
                                else ""
                            ),
                            flush=True,
                        )
                if args.storm and "platform" in peers:
                    got = storm_phase(args.storm, args, redis_url, tmp, cookies_file, county)
                    row["storm"] = got
                    print(
                        f"round {r + 1} storm N={got['n']}: resumed within 60 s "
                        f"{got['resumed_within_60s']}/{got['n']} (last {got['last_resumed_s']}"
                        f" s, median {got['p50_resumed_s']} s), errors {got['errors']} "
                        f"{got['error_sample']}, events lost {got['events_lost']} of "
                        f"{got['events_published']} × {got['n']}, refused attempts "
                        f"{got['refused_attempts']}, daphne CPU after restart "
                        f"{got['server_cpu_s_after_restart']:.1f} s",
                        flush=True,
                    )
                results["rounds"].append(row)
    finally:
        run.stop(redis_proc)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n== summary: medians (ranges) of {args.rounds} round(s) ==")
    for n in sizes:
        for kind in peers:
            rows = [r["connect"][f"{kind}:{n}"] for r in results["rounds"]]
            print(
                f"{kind:8} N={n:>5}: connect all {med_range([x['seconds'] for x in rows])} s, "
                f"daphne CPU {med_range([x['cpu_ms_per_connect'] for x in rows])} ms/connect, "
                f"postgres {med_range([x['pg_cpu_ms_per_connect'] for x in rows])} ms/connect"
                + (
                    f"; resume {med_range([x['cpu_ms_per_resume'] for x in rows])} ms/connect"
                    if kind == "platform"
                    else ""
                )
            )
    storms = [r["storm"] for r in results["rounds"] if r["storm"]]
    if storms:
        print(
            f"storm N={args.storm}: resumed within 60 s "
            f"{med_range([s['resumed_within_60s'] for s in storms], '.0f')}, last resumed "
            f"{med_range([s['last_resumed_s'] or STORM_CAP for s in storms], '.1f')} s, errors "
            f"{med_range([s['errors'] for s in storms], '.0f')}, events lost "
            f"{med_range([s['events_lost'] for s in storms], '.0f')}"
        )
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
