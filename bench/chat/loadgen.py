"""The load generator: ONE process (asyncio + websockets) that opens N client sockets to
one server under test, then lets a few of them send M messages at a fixed total rate
and records, on every client, when each message arrives.

Each message body carries its send time and index, "t=<perf_counter_ns> k=<index>"
(the platform escapes the text; these characters survive; perf_counter is the
system-wide monotonic clock on Linux, so the notice publisher's stamps compare too).

Nothing drops out of the figures:
- a post (platform) counts as accepted when its `chat.sent` arrives; one with neither
  `chat.sent` nor an error frame before the deadline counts in `posts_lost`;
- every accepted post is expected at every connected client; a delivery that has not
  arrived, live or by sync, before the deadline counts in `lost`;
- the run ends when every post is answered and every expected delivery arrived, or
  at the deadline: DRAIN seconds after the last send (--drain).

Overload: a platform client that gets `resync` (reason `lagged`) asks `chat.sync` from
the highest seq it held then, as chat.js does; one that gets `chat.resync` (over 200
missed) reloads the room's history over HTTP (history.json pages), as the room page
does. Deliveries that came by sync or HTTP count as received, and separately.
`notice.published` frames whose title holds "t=<ns>" give the notice latency. The
server's RSS is sampled every RSS_EVERY seconds.

Run by run.py; alone: loadgen.py --kind raw --url ws://127.0.0.1:8765/ --n 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import sys
import time
import urllib.request
from collections import deque

import websockets
from websockets.asyncio.client import connect

STAMP = re.compile(r"t=(\d+) k=(\d+)")
SEQ = re.compile(r'"seq":\s*(\d+)')
CONNECT_CONCURRENCY = 25
OPEN_TIMEOUT = 30.0
RSS_EVERY = 0.5


def proc_status(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status, in KiB (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def fetch(request) -> bytes:
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.read()


def pct(values: list[int], q: float) -> float | None:
    """The q-quantile of nanoseconds, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e6


class Client:
    def __init__(self, ws, cookie: str | None):
        self.ws = ws
        self.cookie = cookie
        self.live: set[int] = set()  # message indexes received live
        self.synced: set[int] = set()  # … by chat.sync after a resync, or over HTTP
        self.max_seq = 0
        self.in_flight: deque[int] = deque()  # indexes of posts awaiting chat.sent


class Run:
    def __init__(self, args):
        self.args = args
        self.clients: list[Client] = []
        self.connect_failures: list[str] = []
        self.latencies: list[int] = []  # ns, live deliveries
        self.late_latencies: list[int] = []  # ns, deliveries by sync or HTTP
        self.notice_latencies: list[int] = []
        self.ack_latencies: list[int] = []
        self.sent_at: dict[int, int] = {}
        self.acked: set[int] = set()
        self.refused: set[int] = set()
        self.first_send = 0
        self.last_receive = 0
        self.errors: dict[str, int] = {}
        self.resyncs = 0
        self.room_resyncs = 0
        self.http_pages = 0
        self.rss: list[tuple[float, int]] = []
        self.progress = asyncio.Event()

    def payload(self, k: int) -> str:
        text = f"t={time.perf_counter_ns()} k={k}"
        if self.args.kind == "platform":
            return json.dumps({"type": "chat.send", "room": self.args.room, "body": text})
        if self.args.kind == "tutorial":
            return json.dumps({"message": text})
        return text

    async def open_one(self, cookie: str | None, gate: asyncio.Semaphore):
        headers = {"Cookie": cookie} if cookie else None
        async with gate:
            try:
                ws = await connect(
                    self.args.url,
                    origin=self.args.origin,
                    additional_headers=headers,
                    open_timeout=OPEN_TIMEOUT,
                    close_timeout=2,
                    ping_interval=None,
                    max_queue=None,
                    max_size=None,
                    compression=None,
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake) as e:
                self.connect_failures.append(repr(e)[:120])
                return
            if self.args.kind == "platform":
                # The consumer joins its groups before it sends hello.
                try:
                    first = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
                except (TimeoutError, websockets.ConnectionClosed) as e:
                    self.connect_failures.append(f"no hello: {e!r}"[:120])
                    return
                if first.get("type") != "hello":
                    self.connect_failures.append(f"first frame {first.get('type')}")
                    await ws.close()
                    return
        client = Client(ws, cookie)
        self.clients.append(client)
        asyncio.create_task(self.read(client))

    def deliver(self, client: Client, raw: str, now: int, *, late: bool) -> None:
        m = STAMP.search(raw)
        if m is None:
            return
        k = int(m.group(2))
        if k < 0 or k in client.live or k in client.synced:
            return
        (client.synced if late else client.live).add(k)
        (self.late_latencies if late else self.latencies).append(now - int(m.group(1)))
        if not late:
            self.last_receive = now
        self.progress.set()

    async def read(self, client: Client) -> None:
        platform = self.args.kind == "platform"
        syncing = False
        try:
            async for raw in client.ws:
                now = time.perf_counter_ns()
                if not platform:
                    self.deliver(client, raw, now, late=False)
                    continue
                if '"chat.message"' in raw:
                    seq = SEQ.search(raw)
                    if seq is not None:
                        client.max_seq = max(client.max_seq, int(seq.group(1)))
                    self.deliver(client, raw, now, late=syncing)
                    continue
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "chat.sent" or (kind == "error" and "room" in frame):
                    k = client.in_flight.popleft() if client.in_flight else None
                    if k is not None and kind == "chat.sent":
                        self.acked.add(k)
                        self.ack_latencies.append(now - self.sent_at[k])
                    elif k is not None:
                        self.refused.add(k)
                    if kind == "error":
                        code = frame.get("code", "?")
                        self.errors[code] = self.errors.get(code, 0) + 1
                    self.progress.set()
                elif kind == "resync":
                    # Live frames were dropped: ask for what came after the last one held.
                    self.resyncs += 1
                    syncing = True
                    sync = {"type": "chat.sync", "rooms": {str(self.args.room): client.max_seq}}
                    await client.ws.send(json.dumps(sync))
                elif kind == "chat.synced":
                    syncing = False
                elif kind == "chat.resync":
                    self.room_resyncs += 1
                    held = client.max_seq
                    client.max_seq = max(held, frame.get("last_seq") or 0)
                    asyncio.create_task(self.reload(client, held))
                elif kind == "notice.published":
                    m = STAMP.search(frame.get("notice", {}).get("title", ""))
                    if m is not None:
                        self.notice_latencies.append(now - int(m.group(1)))
                elif kind == "error":
                    code = frame.get("code", "?")
                    self.errors[code] = self.errors.get(code, 0) + 1
        except websockets.ConnectionClosed as e:
            key = f"closed {e.rcvd.code if e.rcvd else '-'}"
            self.errors[key] = self.errors.get(key, 0) + 1

    async def reload(self, client: Client, held: int) -> None:
        """The room page's history reload (history.json, 50 a page, newest first)."""
        base = self.args.http.rstrip("/") + f"/chat/{self.args.room}/history.json"
        before = ""
        while True:
            url = base + (f"?before={before}" if before else "")
            request = urllib.request.Request(url, headers={"Cookie": client.cookie or ""})  # noqa: S310
            try:
                body = await asyncio.to_thread(fetch, request)
            except OSError as e:
                self.errors[f"http {e!r}"[:40]] = self.errors.get(f"http {e!r}"[:40], 0) + 1
                return
            self.http_pages += 1
            messages = json.loads(body)["messages"]
            now = time.perf_counter_ns()
            for m in messages:
                self.deliver(client, m.get("html", ""), now, late=True)
            seqs = [m["seq"] for m in messages]
            if not seqs or min(seqs) <= held + 1:
                return
            before = str(min(seqs))

    async def sample_rss(self) -> None:
        t0 = time.monotonic()
        while True:
            self.rss.append((round(time.monotonic() - t0, 1), proc_status(self.args.pid, "VmRSS")))
            await asyncio.sleep(RSS_EVERY)

    def expected(self) -> int:
        n = len(self.clients)
        if self.args.kind != "platform":
            return self.args.messages * n
        return len(self.acked) * n

    def received(self) -> int:
        if self.args.kind != "platform":
            return sum(len(c.live) + len(c.synced) for c in self.clients)
        acked = self.acked
        return sum(len(c.live & acked) + len(c.synced & acked) for c in self.clients)

    def notices_in(self) -> bool:
        return len(self.notice_latencies) >= self.args.notices * len(self.clients)

    def answered(self) -> bool:
        if self.args.kind != "platform":
            return True
        return len(self.acked) + len(self.refused) >= self.args.messages

    async def main(self) -> dict:
        a = self.args
        cookies = json.loads(open(a.cookies).read()) if a.cookies else [None] * a.n
        rss_before = proc_status(a.pid, "VmRSS")
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        t0 = time.perf_counter()
        await asyncio.gather(*(self.open_one(cookies[i], gate) for i in range(a.n)))
        connect_seconds = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # let the server settle before reading its memory
        rss_after = proc_status(a.pid, "VmRSS")
        n = len(self.clients)
        result = {
            "kind": a.kind,
            "n": a.n,
            "connected": n,
            "connect_failures": len(self.connect_failures),
            "connect_failure_sample": self.connect_failures[:3],
            "connect_seconds": connect_seconds,
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "rss_per_socket_kib": (rss_after - rss_before) / n if n else 0.0,
        }
        if n == 0:
            return result
        senders = self.clients[: min(a.senders, n)]
        sampler = asyncio.create_task(self.sample_rss())
        cpu0, own0 = proc_cpu(a.pid), time.process_time()
        start = self.first_send = time.perf_counter_ns()
        for k in range(a.messages):
            delay = start + int(k * 1e9 / a.rate) - time.perf_counter_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            sender = senders[k % len(senders)]
            self.sent_at[k] = time.perf_counter_ns()
            sender.in_flight.append(k)
            try:
                await sender.ws.send(self.payload(k))
            except websockets.ConnectionClosed:
                sender.in_flight.pop()
                self.refused.add(k)
                self.errors["sender_closed"] = self.errors.get("sender_closed", 0) + 1
        send_seconds = (time.perf_counter_ns() - start) / 1e9
        deadline = time.monotonic() + a.drain
        while time.monotonic() < deadline:
            if self.answered() and self.received() >= self.expected() and self.notices_in():
                break
            self.progress.clear()
            try:
                await asyncio.wait_for(self.progress.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
        cpu = proc_cpu(a.pid) - cpu0
        own = time.process_time() - own0
        sampler.cancel()
        live = len(self.latencies)
        expected, received = self.expected(), self.received()
        window = max(self.last_receive - start, 1) / 1e9
        rss_values = [v for _, v in self.rss]
        result.update(
            {
                "messages": a.messages,
                "rate": a.rate,
                "senders": len(senders),
                "send_seconds": send_seconds,
                "accepted": len(self.acked) if a.kind == "platform" else a.messages,
                "refused": len(self.refused),
                "posts_lost": a.messages - len(self.acked) - len(self.refused)
                if a.kind == "platform"
                else 0,
                "errors": self.errors,
                "expected": expected,
                "received": received,
                "received_live": live,
                "received_late": len(self.late_latencies),
                "lost": expected - received,
                "resyncs": self.resyncs,
                "room_resyncs": self.room_resyncs,
                "http_pages": self.http_pages,
                "window_seconds": window,
                "throughput": live / window,
                "p50_ms": pct(self.latencies, 0.5),
                "p99_ms": pct(self.latencies, 0.99),
                "max_ms": pct(self.latencies, 1.0),
                "p99_all_ms": pct(self.latencies + self.late_latencies, 0.99),
                "ack_p50_ms": pct(self.ack_latencies, 0.5),
                "ack_p99_ms": pct(self.ack_latencies, 0.99),
                "notice_deliveries": len(self.notice_latencies),
                "notice_expected": a.notices * n,
                "notice_p50_ms": pct(self.notice_latencies, 0.5),
                "notice_p99_ms": pct(self.notice_latencies, 0.99),
                "rss_max_kib": max(rss_values, default=0),
                "rss_end_kib": rss_values[-1] if rss_values else 0,
                "rss_series_kib": self.rss[:: max(1, len(self.rss) // 40)],
                "server_cpu_seconds": cpu,
                "server_cpu_us_per_delivery": cpu / live * 1e6 if live else None,
                "loadgen_cpu_seconds": own,
            }
        )
        await asyncio.wait([asyncio.create_task(c.ws.close()) for c in self.clients], timeout=10)
        return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=["platform", "tutorial", "raw"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--http", default="", help="the server's http://host:port (history.json)")
    p.add_argument("--origin", default=None)
    p.add_argument("--cookies", help="a JSON file: a list of N Cookie header values")
    p.add_argument("--room", type=int, default=0)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--rate", type=float, default=20.0, help="messages per second, all senders")
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--drain", type=float, default=15.0, help="seconds after the last send")
    p.add_argument("--notices", type=int, default=0, help="notices another process publishes")
    p.add_argument("--pid", type=int, default=0, help="the server's pid, for RSS and CPU")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(Run(args).main())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
