"""One load-generator process of the busy day (asyncio: websockets + bench/busy/http1.py,
no thread per client). busy_day.py starts several and gives each a plan (JSON):

- role "schools": its share of the school sockets (each a logged-in school account:
  a session cookie, or a username and password it logs in with through /auth/login/
  first), the county room each belongs to, and its share of the rates: chat posts
  over the socket as chat.js sends them, notice opens (GET the page) and
  acknowledgements by schools whose socket got the notice, tickets raised (GET the
  form, POST it).
- role "staff": the province manager who publishes the notice to the province
  (compose page, POST with action=publish), the support engineers (each polls its
  queue page, opens a new ticket, replies, then resolves it or escalates it), the
  managers on their pages (notice statistics, the support dashboard and tier queue,
  the problem records), and the roll system posting its signed alert batches.

Protocol with the parent: the plan file is argv[1]; after connecting and logging in
it prints READY (stdout), waits for a line GO on stdin, runs for `duration`
seconds, then waits up to `drain` seconds for deliveries, writes its results to
plan["out"] and prints DONE.

Chat counting: a post's body is "t=<perf_counter_ns> k=<post id>" (perf_counter is
the system-wide monotonic clock on Linux, so stamps compare across processes). Every
socket counts each post id it receives once; the parent adds the counts of all
generators and compares them with the members connected in the room (the sender's
own socket left out): every expected delivery that did not arrive is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import re
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import websockets
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http1 import Browser, HttpError  # noqa: E402

STAMP = re.compile(r"t=(\d+) k=(\d+)")
TICKET_LINK = re.compile(r'href="/tickets/(\d+)/"')
CONNECT_CONCURRENCY = 20
OPEN_TIMEOUT = 60.0
ROLL_PATH = "/api/roll/v1/alerts"
RETRIED = ("busy", "rate_limited")  # chat.js sends the post again after retry_after


class Sock:
    __slots__ = ("spec", "ws", "browser", "room", "own", "notice", "closed")

    def __init__(self, spec: dict, browser: Browser):
        self.spec = spec
        self.browser = browser
        self.room = spec["room"]
        self.ws = None
        self.own: set[int] = set()
        self.notice: int | None = None
        self.closed = False


class Gen:
    def __init__(self, plan: dict):
        self.plan = plan
        self.index = plan["index"]
        self.rng = random.Random(plan["seed"])
        self.base = plan["base"]
        self.actions: dict[str, list[float]] = defaultdict(list)  # ms, successes
        self.errors: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []
        self.socks: list[Sock] = []
        self.connect_failures: list[str] = []
        self.posts: dict[int, dict] = {}  # post id -> room, accepted
        self.received: dict[int, int] = defaultdict(int)  # post id -> deliveries here
        self.chat_latency: list[float] = []  # ms
        self.notice_latency: list[float] = []
        self.notice_id: int | None = None
        self.notice_event = asyncio.Event()
        self.socket_errors: dict[str, int] = defaultdict(int)
        self.running = True
        self.tickets_raised: list[int] = []
        self.handled: dict[str, int] = defaultdict(int)

    # --- bookkeeping ------------------------------------------------------------------

    def fail(self, action: str, exc: BaseException | str) -> None:
        self.errors[action] += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(f"{action}: {exc!r}"[:200])

    async def timed(self, action: str, coro):
        t0 = time.perf_counter()
        try:
            result = await coro
        except (HttpError, OSError, TimeoutError, EOFError, ValueError) as exc:
            self.fail(action, exc)
            return None
        self.actions[action].append((time.perf_counter() - t0) * 1e3)
        return True if result is None else result

    # --- sockets ----------------------------------------------------------------------

    async def open_socket(self, spec: dict, gate: asyncio.Semaphore) -> None:
        browser = Browser(self.base, cookie=spec.get("cookie", ""), xff=spec["xff"])
        sock = Sock(spec, browser)
        async with gate:
            if spec.get("username"):
                ok = await self.timed("login", browser.login(spec["username"], spec["password"]))
                if ok is None:
                    self.connect_failures.append("login failed")
                    return
                browser.close()
            try:
                sock.ws = await connect(
                    self.plan["ws"],
                    origin=self.plan["origin"],
                    additional_headers={
                        "Cookie": browser.cookie_header(),
                        "X-Forwarded-For": spec["xff"],
                    },
                    open_timeout=OPEN_TIMEOUT,
                    close_timeout=2,
                    ping_interval=None,
                    max_queue=None,
                    max_size=None,
                    compression=None,
                )
                first = json.loads(await asyncio.wait_for(sock.ws.recv(), OPEN_TIMEOUT))
            except (OSError, TimeoutError, websockets.InvalidHandshake) as e:
                self.connect_failures.append(repr(e)[:120])
                return
            except websockets.ConnectionClosed as e:
                self.connect_failures.append(f"closed before hello: {e!r}"[:120])
                return
            if first.get("type") != "hello":
                self.connect_failures.append(f"first frame {first.get('type')}")
                return
        self.socks.append(sock)
        asyncio.create_task(self.read(sock))

    async def read(self, sock: Sock) -> None:
        try:
            async for raw in sock.ws:
                now = time.perf_counter_ns()
                if '"chat.message"' in raw:
                    m = STAMP.search(raw)
                    if m is None:
                        continue
                    k = int(m.group(2))
                    if k in sock.own:
                        continue
                    self.received[k] += 1
                    self.chat_latency.append((now - int(m.group(1))) / 1e6)
                    continue
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "error" and frame.get("code") in RETRIED and "client_id" in frame:
                    # As chat.js does: the same client id again after retry_after.
                    k = int(frame["client_id"][1:])
                    self.socket_errors[f"{frame['code']} (retried)"] += 1
                    if k in self.posts:
                        asyncio.get_running_loop().call_later(
                            float(frame.get("retry_after") or 1),
                            lambda s=sock, k=k: asyncio.ensure_future(self.transmit(s, k)),
                        )
                elif kind == "chat.sent" or (kind == "error" and "client_id" in frame):
                    k = int(frame.get("client_id", "c-1")[1:])
                    post = self.posts.get(k)
                    if post is not None:
                        post["accepted"] = kind == "chat.sent"
                        post["answer_ms"] = (now - post["t"]) / 1e6
                        if kind == "error":
                            self.socket_errors[frame.get("code", "?")] += 1
                elif kind == "notice.published":
                    notice = frame.get("notice", {})
                    m = STAMP.search(notice.get("title", ""))
                    if m is not None and sock.notice is None:
                        sock.notice = notice.get("id")
                        self.notice_latency.append((now - int(m.group(1))) / 1e6)
                        if self.notice_id is None:
                            self.notice_id = sock.notice
                            self.notice_event.set()
                elif kind == "error":
                    self.socket_errors[frame.get("code", "?")] += 1
        except websockets.ConnectionClosed as e:
            if self.running:
                self.socket_errors[f"closed {e.rcvd.code if e.rcvd else '-'}"] += 1
        sock.closed = True

    # --- the schools' actions ------------------------------------------------------------

    async def paced(self, rate: float, job, name: str) -> None:
        """Start job() at `rate` per second (Poisson arrivals) until the end of the run;
        each runs on its own, so a slow answer does not slow the offered load."""
        if rate <= 0:
            return
        tasks = set()
        while self.running:
            await asyncio.sleep(self.rng.expovariate(rate))
            if not self.running:
                break
            t = asyncio.create_task(job())
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=self.plan["drain"])

    async def chat_post(self) -> None:
        live = [s for s in self.socks if not s.closed]
        if not live:
            return
        sock = self.rng.choice(live)
        k = self.index * 10_000_000 + len(self.posts)
        t = time.perf_counter_ns()
        frame = {
            "type": "chat.send",
            "room": sock.room,
            "body": f"t={t} k={k}",
            "client_id": f"c{k}",
        }
        self.posts[k] = {"room": sock.room, "accepted": None, "t": t, "frame": json.dumps(frame)}
        sock.own.add(k)
        await self.transmit(sock, k)

    async def transmit(self, sock: Sock, k: int) -> None:
        try:
            await sock.ws.send(self.posts[k]["frame"])
        except websockets.ConnectionClosed as e:
            self.fail("chat_post", e)

    async def notice_open_ack(self, queue: list[Sock]) -> None:
        if not queue:
            return
        sock = queue.pop()
        b = Browser(self.base, cookie=sock.browser.cookie_header(), xff=sock.spec["xff"])
        try:
            page = await self.timed("notice_open", b.form(f"/notices/{sock.notice}/"))
            if page is None:
                return
            await asyncio.sleep(self.rng.uniform(1.0, 5.0))  # reads it, then acknowledges
            done = await self.timed(
                "notice_ack", b.submit(f"/notices/{sock.notice}/ack/", {"reply": ""})
            )
            if done is not None:
                self.handled["acks"] += 1
        finally:
            b.close()

    async def ticket_raise(self) -> None:
        sock = self.rng.choice(self.socks)
        b = Browser(self.base, cookie=sock.browser.cookie_header(), xff=sock.spec["xff"])
        n = len(self.tickets_raised) + self.handled["ticket_attempts"]
        self.handled["ticket_attempts"] += 1
        try:
            if await self.timed("ticket_form", b.form("/tickets/new/")) is None:
                return
            r = await self.timed(
                "ticket_create",
                b.submit(
                    "/tickets/new/",
                    {
                        "title": f"学籍信息无法保存（{self.index}-{n}）",
                        "description": "提交学籍变更时页面提示保存失败，请协助排查。",
                        "category": "other",
                        "priority": "normal",
                    },
                ),
            )
            if r is not None:
                m = re.search(r"/tickets/(\d+)/", r.headers.get("location", ""))
                if m is None:
                    self.fail("ticket_create", f"redirect to {r.headers.get('location')}")
                else:
                    self.tickets_raised.append(int(m.group(1)))
        finally:
            b.close()

    # --- the staff ---------------------------------------------------------------------

    async def publish(self, spec: dict) -> None:
        await asyncio.sleep(spec["at"])
        b = self.staff[spec["who"]]
        if await self.timed("notice_compose", b.form("/notices/new/")) is None:
            return
        title = f"关于做好学籍年报工作的通知 t={time.perf_counter_ns()} k=0"
        r = await self.timed(
            "notice_publish",
            b.submit(
                "/notices/new/",
                {
                    "title": title,
                    "body": "请各单位于规定时间内完成学籍年报核对，并回执确认。",
                    "priority": "normal",
                    "target_codes": spec["target"],
                    "levels": spec["levels"],
                    "requires_ack": "on",
                    "ack_deadline": spec["deadline"],
                    "publish_at": "",
                    "action": "publish",
                },
            ),
        )
        if r is not None:
            m = re.search(r"/notices/(\d+)/", r.headers.get("location", ""))
            if m:
                self.notice_id = int(m.group(1))
                self.notice_event.set()

    async def engineer(self, spec: dict) -> None:
        b = self.staff[spec["who"]]
        seen: set[int] = set()
        await asyncio.sleep(self.rng.uniform(0, spec["poll"]))
        while self.running:
            r = await self.timed("support_queue", b.get("/tickets/queue/"))
            if r is not None and r.status != 200:
                self.fail("support_queue", f"status {r.status}")
            elif r is not None:
                # One person: at most `per_poll` tickets before looking at the queue again.
                fresh = [
                    pk
                    for pk in dict.fromkeys(int(x) for x in TICKET_LINK.findall(r.text))
                    if pk not in seen
                ]
                for pk in fresh[: spec["per_poll"]]:
                    if not self.running:
                        break
                    seen.add(pk)
                    await self.work_ticket(b, pk, spec)
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * spec["poll"])

    async def work_ticket(self, b: Browser, pk: int, spec: dict) -> None:
        if await self.timed("ticket_open", b.form(f"/tickets/{pk}/")) is None:
            return
        r = await self.timed(
            "ticket_reply",
            b.submit(f"/tickets/{pk}/reply/", {"body": "收到，正在排查，请稍候。", "internal": ""}),
        )
        if r is None:
            return
        if spec["can_escalate"] and self.rng.random() < spec["escalate_share"]:
            if await self.timed(
                "ticket_escalate",
                b.submit(f"/tickets/{pk}/escalate/", {"reason": "需要上级技术支持协助处理。"}),
            ):
                self.handled["escalated"] += 1
        elif await self.timed(
            "ticket_resolve",
            b.submit(
                f"/tickets/{pk}/act/",
                {"action": "resolve", "text": "已修复，请重新提交。", "rating": ""},
            ),
        ):
            self.handled["resolved"] += 1

    async def manager(self, spec: dict) -> None:
        b = self.staff[spec["who"]]
        await asyncio.sleep(self.rng.uniform(0, spec["period"]))
        while self.running:
            for name, path in spec["pages"]:
                if "{notice}" in path:
                    if self.notice_id is None:
                        continue
                    path = path.format(notice=self.notice_id)
                r = await self.timed(name, b.get(path))
                if r is not None and r.status != 200:
                    self.actions[name].pop()
                    self.fail(name, f"{path}: status {r.status}")
                await asyncio.sleep(self.rng.uniform(1.0, 3.0))
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * spec["period"])

    async def roll(self, spec: dict) -> None:
        bodies = Path(spec["file"]).read_bytes().split(b"\n")
        bodies = [x for x in bodies if x]
        b = Browser(self.base, timeout=300)
        secret = spec["secret"].encode()
        every = spec["every"]
        t0 = time.monotonic()
        for i, body in enumerate(bodies):
            delay = t0 + i * every - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.running:
                break
            stamp = str(int(time.time()))
            digest = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            r = await self.timed("roll_batch", self.roll_post(b, body, spec["key"], stamp, digest))
            if r is None:
                continue
            data = json.loads(r.text)
            if r.status != 200 or data.get("accepted") != spec["batch"]:
                self.actions["roll_batch"].pop()
                self.fail("roll_batch", f"{r.status} {r.text[:150]}")
            else:
                self.handled["roll_records"] += data["accepted"]
        b.close()

    async def roll_post(self, b: Browser, body: bytes, key: str, stamp: str, digest: str):
        """A raw signed POST (JSON body, no cookies), on the client's connection."""
        if b._w is None:
            b._r, b._w = await asyncio.open_connection(b.host, b.port)
        head = (
            f"POST {ROLL_PATH} HTTP/1.1\r\nHost: {b.host}:{b.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Roll-Key: {key}\r\nX-Roll-Timestamp: {stamp}\r\n"
            f"X-Roll-Signature: sha256={digest}\r\n\r\n"
        )
        b._w.write(head.encode() + body)
        await b._w.drain()
        return await b._read()

    # --- the run -----------------------------------------------------------------------

    async def main(self) -> dict:
        p = self.plan
        cpu0 = time.process_time()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        t0 = time.perf_counter()
        await asyncio.gather(*(self.open_socket(spec, gate) for spec in p.get("sockets", [])))
        connect_seconds = time.perf_counter() - t0
        self.staff: dict[str, Browser] = {}
        for spec in p.get("staff_accounts", []):
            b = Browser(self.base, cookie=spec.get("cookie", ""), xff=spec["xff"])
            if spec.get("username"):
                await self.timed("login", b.login(spec["username"], spec["password"]))
            self.staff[spec["key"]] = b
        setup_cpu = time.process_time() - cpu0
        print("READY", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line.startswith("GO"):
            raise SystemExit("no GO")
        cpu1 = time.process_time()
        start = time.perf_counter()
        jobs = []
        open_queue: list[Sock] = []

        async def fill_open_queue():
            await self.notice_event.wait()
            await asyncio.sleep(1.0)
            got = [s for s in self.socks if s.notice is not None]
            self.rng.shuffle(got)
            open_queue.extend(got)

        rates = p.get("rates", {})
        jobs.append(self.paced(rates.get("chat", 0), self.chat_post, "chat"))
        jobs.append(self.paced(rates.get("ticket", 0), self.ticket_raise, "ticket"))
        if rates.get("open", 0) > 0:
            jobs.append(fill_open_queue())
            jobs.append(self.paced(rates["open"], lambda: self.notice_open_ack(open_queue), "o"))
        if p.get("publish"):
            jobs.append(self.publish(p["publish"]))
        for spec in p.get("engineers", []):
            jobs.append(self.engineer(spec))
        for spec in p.get("managers", []):
            jobs.append(self.manager(spec))
        if p.get("roll"):
            jobs.append(self.roll(p["roll"]))
        tasks = [asyncio.create_task(j) for j in jobs]
        await asyncio.sleep(p["duration"])
        self.running = False
        steady = time.perf_counter() - start
        await asyncio.wait(tasks, timeout=p["drain"])
        await asyncio.sleep(min(p["drain"], 5.0))  # deliveries still on the way
        run_cpu = time.process_time() - cpu1
        result = {
            "index": self.index,
            "role": p["role"],
            "sockets_planned": len(p.get("sockets", [])),
            "sockets_connected": len(self.socks),
            "sockets_closed_during_run": sum(1 for s in self.socks if s.closed),
            "connect_seconds": connect_seconds,
            "connect_failures": len(self.connect_failures),
            "connect_failure_sample": self.connect_failures[:5],
            "room_members": _count(s.room for s in self.socks),
            "posts": {
                str(k): {"room": v["room"], "accepted": v["accepted"], "ms": v.get("answer_ms")}
                for k, v in self.posts.items()
            },
            "received": {str(k): v for k, v in self.received.items()},
            "chat_latency_ms": self.chat_latency,
            "notice_latency_ms": self.notice_latency,
            "notice_id": self.notice_id,
            "actions_ms": self.actions,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "socket_errors": self.socket_errors,
            "tickets_raised": self.tickets_raised,
            "handled": self.handled,
            "steady_seconds": steady,
            "setup_cpu_seconds": setup_cpu,
            "run_cpu_seconds": run_cpu,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
        closing = [asyncio.create_task(s.ws.close()) for s in self.socks if s.ws]
        if closing:
            await asyncio.wait(closing, timeout=10)
        return result


def _count(values) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[str(v)] += 1
    return out


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop  # the same loop the servers use, when installed

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(Gen(plan).main())
    Path(plan["out"]).write_text(json.dumps(result))
    print("DONE", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
