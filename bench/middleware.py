"""What each middleware and each template context processor costs per request.

Claim checked: the layers every request passes through (settings.MIDDLEWARE, Django's
ASGI handler, and on a rendered page settings.TEMPLATES' context processors) cost no
more CPU than their job needs; the table says how much each one takes.

How it is measured. The platform's own ASGI application (config.asgi, the one daphne,
uvicorn or granian serves) is driven in-process on one event loop, one request at a
time, with a logged-in reporter's session cookie, on a throwaway database with the
tree of bench/tickets/http_create.py (one county, its engineers, one school). A probe
middleware (sync- and async-capable, so it never changes the mode of what is around
it and adds no thread hop) sits before every middleware of settings.MIDDLEWARE and
before the view; each probe reads `time.process_time()` (CPU of every thread of the
process: sync_to_async moves work to asgiref's thread) on the way in and out. A
middleware's own cost is its probe's span minus the next probe's span: what it does
on the way in and out, including the thread hop a sync-only middleware forces when
what it wraps is async. "ASGI handler" is the request's CPU outside the outermost
probe (reading the body, building the request, the request_started/finished signals,
sending the response); "view" is the innermost probe's span (URL resolution, the view
middleware hooks, the view, the template). Context processors are wrapped one by one
in the template engine and timed the same way. The probes' own cost (an empty stack of
probes) is measured and printed; it is not subtracted.

Requests, interleaved one of each in turn: GET /healthz (no session, no database),
GET /tickets/new/ (the form page: every context processor runs), POST /tickets/new/
(a real ticket: routed, stored, announced; answered with a redirect). --rounds rounds
of --requests requests of each kind (after --warmup untimed ones each); per round the
median per request of every layer; printed: the median over rounds [min–max], in µs
of CPU, with the load average at the start of each round.

Run: .venv/bin/python bench/middleware.py [--rounds 3] [--requests 200] [--json out.json]
     (DATABASE_URL=postgres://… for PostgreSQL, REDIS_URL for the cache and push)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(_BENCH.parent), str(_BENCH), str(_BENCH / "tickets")]

from _harness import fresh_database, write_json  # noqa: E402

clock = time.process_time
SPANS: dict[str, float] = {}  # layer name → CPU seconds of the current request
PROBES: list[str] = []  # probe names, outermost first
VIEW = "view"


def _make_probe(name: str):
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction

    class Probe:
        sync_capable = True
        async_capable = True

        def __init__(self, get_response):
            self.get_response = get_response
            self.is_async = iscoroutinefunction(get_response)
            if self.is_async:
                markcoroutinefunction(self)

        def __call__(self, request):
            if self.is_async:
                return self._acall(request)
            t = clock()
            try:
                return self.get_response(request)
            finally:
                SPANS[name] = SPANS.get(name, 0.0) + clock() - t

        async def _acall(self, request):
            t = clock()
            try:
                return await self.get_response(request)
            finally:
                SPANS[name] = SPANS.get(name, 0.0) + clock() - t

    return Probe


def probed(middleware: list[str]) -> list[str]:
    """settings.MIDDLEWARE with a probe before each entry and one before the view."""
    module = sys.modules[__name__]
    out = []
    PROBES.clear()
    for i, path in enumerate([*middleware, VIEW]):
        name = path.rsplit(".", 1)[-1] if path != VIEW else VIEW
        attr = f"Probe{i}"
        setattr(module, attr, _make_probe(name))
        PROBES.append(name)
        out.append(f"{__name__}.{attr}")
        if path != VIEW:
            out.append(path)
    return out


def wrap_context_processors() -> list[str]:
    from django.template import engines

    engine = engines["django"].engine
    names = []
    wrapped = []
    for fn in engine.template_context_processors:
        name = f"cp:{fn.__module__.replace('.context_processors', '')}.{fn.__name__}"
        names.append(name)

        def timed(request, fn=fn, name=name):
            t = clock()
            try:
                return fn(request)
            finally:
                SPANS[name] = SPANS.get(name, 0.0) + clock() - t

        wrapped.append(timed)
    engine.__dict__["template_context_processors"] = tuple(wrapped)
    return names


class Driver:
    """Calls the ASGI application in-process, the way a server would, one request at a time."""

    def __init__(self, app, cookies: dict[str, str]):
        self.app = app
        self.cookies = cookies

    async def request(self, method: str, path: str, body: bytes = b"", login=True) -> int:
        headers = [(b"host", b"127.0.0.1")]
        if login:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            headers.append((b"cookie", cookie.encode()))
        if body:
            headers += [
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        never = asyncio.Event()
        status = []

        async def receive():
            if pending:
                return pending.pop()
            await never.wait()  # the client stays connected; Django cancels this wait

        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await self.app(scope, receive, send)
        return status[0]


def login_cookies(username: str) -> dict[str, str]:
    from django.conf import settings
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client

    from accounts.models import Account

    client = Client()
    client.force_login(Account.objects.get(username=username))
    return {
        settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: _get_new_csrf_string(),
    }


KINDS = ("GET /healthz", "GET /tickets/new/", "POST /tickets/new/")


async def one(driver: Driver, kind: str, i: int) -> tuple[int, float, dict]:
    from urllib.parse import urlencode

    from django.conf import settings

    SPANS.clear()
    t = clock()
    if kind == "GET /healthz":
        status = await driver.request("GET", "/healthz", login=False)
    elif kind == "GET /tickets/new/":
        status = await driver.request("GET", "/tickets/new/")
    else:
        body = urlencode(
            {
                "csrfmiddlewaretoken": driver.cookies[settings.CSRF_COOKIE_NAME],
                "title": f"基准工单 {i}: 学籍信息无法保存",
                "description": f"第 {i} 号基准工单。提交学籍变更时页面提示保存失败，请协助排查。",
                "category": "other",
                "priority": "normal",
            }
        ).encode()
        status = await driver.request("POST", "/tickets/new/", body)
    return status, clock() - t, dict(SPANS)


def layers(total: float, spans: dict, cp_names: list[str]) -> dict[str, float]:
    """Per-layer own CPU of one request, in seconds."""
    out = {"ASGI handler": total - spans.get(PROBES[0], 0.0)}
    for k, name in enumerate(PROBES[:-1]):
        out[name] = spans.get(name, 0.0) - spans.get(PROBES[k + 1], 0.0)
    out[VIEW] = spans.get(VIEW, 0.0)
    for name in cp_names:
        out[name] = spans.get(name, 0.0)
    out["total"] = total
    return out


async def round_(driver, n: int, warmup: int, cp_names, offset: int) -> dict:
    from django.db import close_old_connections  # noqa: F401 (the handler calls it itself)

    per_kind: dict[str, list[dict]] = {k: [] for k in KINDS}
    expected = {"GET /healthz": 200, "GET /tickets/new/": 200, "POST /tickets/new/": 302}
    for i in range(warmup + n):
        for kind in KINDS:
            status, total, spans = await one(driver, kind, offset + i)
            if status != expected[kind]:
                raise SystemExit(f"FAILED: {kind} answered {status}, expected {expected[kind]}")
            if i >= warmup:
                per_kind[kind].append(layers(total, spans, cp_names))
    return {
        kind: {name: statistics.median(r[name] for r in rows) for name in rows[0]}
        for kind, rows in per_kind.items()
    }


def probe_cost(n: int = 20000) -> float:
    """CPU of one probe around a function that returns at once (sync mode)."""
    probe = _make_probe("probe-self")(lambda request: None)
    t = clock()
    for _ in range(n):
        probe(None)
    return (clock() - t) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per kind")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per kind")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")

    with fresh_database() as db:
        import http_create
        from django.conf import settings

        world = http_create.build(1, 5)
        middleware = list(settings.MIDDLEWARE)
        settings.MIDDLEWARE = probed(middleware)
        from config.asgi import application

        cp_names = wrap_context_processors()
        driver = Driver(application, login_cookies(world["reporters"][0]))
        rounds = []
        for r in range(1, args.rounds + 1):
            at_start = os.getloadavg()
            result = asyncio.run(round_(driver, args.requests, args.warmup, cp_names, r * 100_000))
            rounds.append({"round": r, "load_at_start": at_start, "median_us": result})
            print(
                f"round {r}: load {at_start[0]:.2f}; total µs "
                + ", ".join(f"{k} {v['total'] * 1e6:,.0f}" for k, v in result.items()),
                flush=True,
            )

        names = ["ASGI handler", *PROBES[:-1], VIEW, *cp_names, "total"]
        summary = {
            kind: {name: [rr["median_us"][kind][name] * 1e6 for rr in rounds] for name in names}
            for kind in KINDS
        }
        cost = probe_cost()
        print(
            f"\n{db['backend']} {db['version']}; {args.rounds} round(s) × {args.requests} requests of each kind "
            f"(+{args.warmup} warm-up), one at a time, in-process through config.asgi; "
            f"load at the round starts: "
            + ", ".join(f"{rr['load_at_start'][0]:.2f}" for rr in rounds)
        )
        print(
            f"CPU per request, µs: median over rounds [min–max]; probe overhead {cost * 1e6:.1f} µs each"
        )
        head = ["layer", *KINDS]
        rows = [head]
        for name in names:
            cells = [name]
            for kind in KINDS:
                v = summary[kind][name]
                if name.startswith("cp:") and kind != "GET /tickets/new/" and max(v) == 0:
                    cells.append("—")
                else:
                    cells.append(f"{statistics.median(v):,.0f} [{min(v):,.0f}–{max(v):,.0f}]")
            rows.append(cells)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for row in rows:
            print(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        write_json(
            {
                "benchmark": "middleware",
                "database": db,
                "requests": args.requests,
                "probe_overhead_us": cost * 1e6,
                "middleware": middleware,
                "rounds": rounds,
                "median_us": {
                    kind: {n: statistics.median(v) for n, v in per.items()}
                    for kind, per in summary.items()
                },
                "range_us": {
                    kind: {n: [min(v), max(v)] for n, v in per.items()}
                    for kind, per in summary.items()
                },
            },
            args.json,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
