"""What the Prometheus request middleware (core/metrics.py) costs in request throughput.

Claim checked: timing every request by view and writing it into prometheus-client's
multiprocess files does not slow the hot path noticeably.

How it is measured. Two copies of the platform's own ASGI HTTP handler
(core.handlers.PooledThreadASGIHandler, as config.asgi builds it) are driven in-process
on one event loop, one request at a time, with a logged-in reporter's session cookie
(bench/middleware.py's driver), on a throwaway database with the tree of
bench/tickets/http_create.py: one with settings.MIDDLEWARE as deployed, whose first
entry is core.metrics.RequestMetricsMiddleware, one with that entry removed. The
metrics files are real (VAR_DIR/metrics of the throwaway VAR_DIR, multiprocess mode).
Each round runs --requests requests of a fixed mix (GET /healthz: no session, no
database; GET /tickets/new/: a full page, every context processor) through each copy,
interleaved in blocks of 20 requests taken in turn (ABBA…, the first copy swapped every
round), so that the machine's changing load falls on both alike; --rounds rounds. Printed per copy: requests per second (wall clock) and CPU µs per
request (process_time, every thread), the median over rounds [min–max], and the
difference of the medians; then the CPU of the middleware's own call
(metrics.request_done) alone, per call, over --rounds runs of 20,000 calls.

Run: .venv/bin/python bench/metrics_overhead.py [--rounds 3] [--requests 400] [--json out.json]
     (DATABASE_URL=postgres://… for PostgreSQL, REDIS_URL for the cache)
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

METRICS_MIDDLEWARE = "core.metrics.RequestMetricsMiddleware"
MIX = ("/healthz", "/tickets/new/")


BLOCK = 20  # requests of one copy before the other's turn, within a round


async def run(driver, requests: int) -> tuple[float, float]:
    """`requests` requests of the mix: (wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(requests):
        path = MIX[i % len(MIX)]
        status = await driver.request("GET", path, login=path != "/healthz")
        assert status == 200, (path, status)
    return time.perf_counter() - wall, time.process_time() - cpu


async def round_(copies: dict, requests: int, first: str) -> dict[str, tuple[float, float]]:
    """`requests` requests through each copy, in blocks of BLOCK taken in turn (so a
    change in the machine's load falls on both alike): (req/s, CPU µs per request)."""
    spent = {name: [0.0, 0.0] for name in copies}
    order = [first, *(n for n in copies if n != first)]
    for _ in range(requests // BLOCK):
        for name in order:
            wall, cpu = await run(copies[name], BLOCK)
            spent[name][0] += wall
            spent[name][1] += cpu
        order.reverse()
    done = requests // BLOCK * BLOCK
    return {n: (done / wall, cpu / done * 1e6) for n, (wall, cpu) in spent.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400, help="timed requests per copy")
    parser.add_argument("--warmup", type=int, default=40, help="untimed requests per copy")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")

    with fresh_database() as db:
        import http_create
        from django.conf import settings
        from middleware import Driver, login_cookies

        from core import metrics
        from core.handlers import PooledThreadASGIHandler

        world = http_create.build(1, 5)
        cookies = login_cookies(world["reporters"][0])
        deployed = list(settings.MIDDLEWARE)
        assert deployed[0] == METRICS_MIDDLEWARE, deployed[0]
        with_metrics = PooledThreadASGIHandler(settings.HTTP_THREADS)
        settings.MIDDLEWARE = deployed[1:]
        without = PooledThreadASGIHandler(settings.HTTP_THREADS)
        settings.MIDDLEWARE = deployed
        copies = {
            "with metrics": Driver(with_metrics, cookies),
            "without": Driver(without, cookies),
        }

        async def bench() -> list[dict]:
            for driver in copies.values():
                await run(driver, args.warmup)
            assert metrics._state, "metrics are off: the bench would measure nothing"
            rounds = []
            for r in range(args.rounds):
                first = list(copies)[r % 2]
                load = os.getloadavg()[0]
                result = {"round": r + 1, "load_at_start": load, "first": first}
                result.update(await round_(copies, args.requests, first))
                rounds.append(result)
                print(
                    f"round {r + 1} (load {load:.2f}; {first} first): "
                    + ", ".join(
                        f"{n} {result[n][0]:,.0f} req/s {result[n][1]:,.0f} µs CPU" for n in copies
                    ),
                    flush=True,
                )
            return rounds

        rounds = asyncio.run(bench())
        # The middleware's own work, alone: one request_done() (a histogram bucket, its
        # sum and count, a counter: four memory-mapped writes under the values lock).
        hook_us = []
        for _ in range(args.rounds):
            n, t = 20_000, time.process_time()
            for i in range(n):
                metrics.request_done(("healthz", "ticket_new")[i % 2], 200, 0.01)
            hook_us.append((time.process_time() - t) / n * 1e6)
        summary = {}
        for name in copies:
            rps = [r[name][0] for r in rounds]
            cpu = [r[name][1] for r in rounds]
            summary[name] = {
                "rps_median": statistics.median(rps),
                "rps_range": [min(rps), max(rps)],
                "cpu_us_median": statistics.median(cpu),
                "cpu_us_range": [min(cpu), max(cpu)],
            }
        print(
            f"\n{db['backend']} {db['version']}; {args.rounds} interleaved round(s) × "
            f"{args.requests} requests per copy (mix: {', '.join(MIX)}; +{args.warmup} warm-up), "
            "one at a time, in-process"
        )
        for name, s in summary.items():
            print(
                f"  {name:13} {s['rps_median']:8,.0f} req/s [{s['rps_range'][0]:,.0f}–"
                f"{s['rps_range'][1]:,.0f}]   {s['cpu_us_median']:7,.0f} µs CPU/request "
                f"[{s['cpu_us_range'][0]:,.0f}–{s['cpu_us_range'][1]:,.0f}]"
            )
        a, b = summary["with metrics"], summary["without"]
        print(
            f"  difference of the medians: {a['rps_median'] / b['rps_median'] - 1:+.1%} "
            f"throughput, {a['cpu_us_median'] - b['cpu_us_median']:+,.0f} µs CPU per request"
        )
        print(
            f"  request_done() alone: {statistics.median(hook_us):.1f} µs CPU per call "
            f"[{min(hook_us):.1f}–{max(hook_us):.1f}]"
        )
        write_json(
            {
                "benchmark": "metrics_overhead",
                "database": db,
                "rounds": rounds,
                "hook_us": hook_us,
                **summary,
            },
            args.json,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
