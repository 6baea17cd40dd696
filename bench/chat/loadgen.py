"""The load generator: ONE process (asyncio + websockets) that opens N client sockets to
one server under test, then lets a few of them send M messages at a fixed total rate
and records, on every client, when each message arrives.

Each message body carries its send time and index, "t=<perf_counter_ns> k=<index>"
(the platform escapes the text; these characters survive). Latency of a delivery is
its receive time minus that send time (one process, one clock). Throughput is the
deliveries received divided by the window from the first send to the last delivery.
Bounded: it stops when every expected delivery arrived, after IDLE seconds without a
delivery once sending is over, or after CAP seconds. Prints one JSON object.

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

import websockets
from websockets.asyncio.client import connect

STAMP = re.compile(r"t=(\d+) k=(\d+)")
CONNECT_CONCURRENCY = 25
OPEN_TIMEOUT = 30.0
IDLE = 10.0  # seconds without a delivery, after the last send, before giving up
CAP = 240.0  # seconds: a hang bound for the whole measurement


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


class Run:
    def __init__(self, args):
        self.args = args
        self.sockets: list = []
        self.connect_failures: list[str] = []
        self.latencies: list[int] = []  # ns
        self.last_receive = 0
        self.acks = 0
        self.errors: dict[str, int] = {}
        self.hello = 0
        self.done = asyncio.Event()
        self.expected = 0
        self.sending = True

    def payload(self, k: int) -> str:
        text = f"t={time.perf_counter_ns()} k={k}"
        if self.args.kind == "platform":
            return json.dumps({"type": "chat.send", "room": self.args.room, "body": text})
        if self.args.kind == "tutorial":
            return json.dumps({"message": text})
        return text

    async def open_one(self, i: int, cookie: str | None, gate: asyncio.Semaphore):
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
                    compression=None,
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake) as e:
                self.connect_failures.append(repr(e)[:120])
                return
            if self.args.kind == "platform":
                # The consumer joins its groups before accepting and sends hello after.
                try:
                    first = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
                except (TimeoutError, websockets.ConnectionClosed) as e:
                    self.connect_failures.append(f"no hello: {e!r}"[:120])
                    return
                if first.get("type") != "hello":
                    self.connect_failures.append(f"first frame {first.get('type')}")
                    await ws.close()
                    return
        self.sockets.append(ws)
        asyncio.create_task(self.read(ws))

    async def read(self, ws) -> None:
        platform = self.args.kind == "platform"
        try:
            async for raw in ws:
                now = time.perf_counter_ns()
                if platform and '"chat.message"' not in raw:
                    frame = json.loads(raw)
                    kind = frame.get("type")
                    if kind == "chat.sent":
                        self.acks += 1
                        self.expected += len(self.sockets)
                    elif kind == "error":
                        code = frame.get("code", "?")
                        self.errors[code] = self.errors.get(code, 0) + 1
                    continue
                m = STAMP.search(raw)
                if m is None:
                    continue
                self.latencies.append(now - int(m.group(1)))
                self.last_receive = now
                if not self.sending and len(self.latencies) >= self.expected:
                    self.done.set()
        except websockets.ConnectionClosed:
            pass

    async def main(self) -> dict:
        a = self.args
        cookies = json.loads(open(a.cookies).read()) if a.cookies else [None] * a.n
        rss_before = proc_status(a.pid, "VmRSS")
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        t0 = time.perf_counter()
        await asyncio.gather(*(self.open_one(i, cookies[i], gate) for i in range(a.n)))
        connect_seconds = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # let the server settle before reading its memory
        rss_after = proc_status(a.pid, "VmRSS")
        n = len(self.sockets)
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
        senders = self.sockets[: min(a.senders, n)]
        cpu0, own0 = proc_cpu(a.pid), time.process_time()
        start = time.perf_counter_ns()
        if a.kind != "platform":
            self.expected = a.messages * n
        for k in range(a.messages):
            delay = start + int(k * 1e9 / a.rate) - time.perf_counter_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            try:
                await senders[k % len(senders)].send(self.payload(k))
            except websockets.ConnectionClosed:
                self.errors["sender_closed"] = self.errors.get("sender_closed", 0) + 1
        send_seconds = (time.perf_counter_ns() - start) / 1e9
        self.sending = False
        deadline = time.monotonic() + CAP
        seen = -1
        while time.monotonic() < deadline and not self.done.is_set():
            if a.kind == "platform" and self.acks + sum(self.errors.values()) < a.messages:
                seen = -1  # still waiting for the server to answer every send
            elif len(self.latencies) >= self.expected:
                break
            elif len(self.latencies) == seen:
                break  # IDLE seconds without a delivery: the rest is lost
            else:
                seen = len(self.latencies)
            try:
                await asyncio.wait_for(self.done.wait(), IDLE)
            except TimeoutError:
                pass
        cpu = proc_cpu(a.pid) - cpu0
        own = time.process_time() - own0
        lat = sorted(self.latencies)
        received = len(lat)
        window = max(self.last_receive - start, 1) / 1e9
        result.update(
            {
                "messages": a.messages,
                "rate": a.rate,
                "senders": len(senders),
                "send_seconds": send_seconds,
                "accepted": self.acks if a.kind == "platform" else a.messages,
                "errors": self.errors,
                "expected": self.expected,
                "received": received,
                "lost": self.expected - received,
                "window_seconds": window,
                "throughput": received / window,
                "p50_ms": lat[received // 2] / 1e6 if lat else None,
                "p99_ms": lat[min(received - 1, int(received * 0.99))] / 1e6 if lat else None,
                "max_ms": lat[-1] / 1e6 if lat else None,
                "server_cpu_seconds": cpu,
                "server_cpu_us_per_delivery": cpu / received * 1e6 if received else None,
                "loadgen_cpu_seconds": own,
            }
        )
        await asyncio.wait([asyncio.create_task(ws.close()) for ws in self.sockets], timeout=10)
        return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=["platform", "tutorial", "raw"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--origin", default=None)
    p.add_argument("--cookies", help="a JSON file: a list of N Cookie header values")
    p.add_argument("--room", type=int, default=0)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--rate", type=float, default=20.0, help="messages per second, all senders")
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--pid", type=int, default=0, help="the server's pid, for RSS and CPU")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(Run(args).main())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
