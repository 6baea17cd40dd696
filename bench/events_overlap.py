"""Writers at different places overlap: events without a lock every writer shares.

Claim (issue 12, item 1): a transaction that publishes an event and then goes on for
50 ms (a slow statement, a large batch) does not hold up writers elsewhere. Event
ordering now comes from the sequencer (core/events.py: writers INSERT their events
with seq NULL, no lock; after commit `sequence_pending` numbers committed rows under
an advisory lock held only for that one statement and its commit).

Measured on PostgreSQL, on a fresh database set up for this run alone (see
_harness.py; DATABASE_URL defaults to the local server, REDIS_URL to
redis://127.0.0.1:6379/12 — the Channels push after commit is part of each
transaction's cost):

- each worker process stands at a place of its own (its own tree and account
  groups) and runs `--transactions` transactions, each: `events.publish(...)`, then
  `SELECT pg_sleep(0.05)`, then COMMIT (and the after-commit sequencing and push);
- ours: `--workers` processes (default 8) at once, beside one such process;
- peer, the old design (`--shared-lock`): the same code, but each transaction first
  takes one transaction-scoped advisory lock that every writer shares and holds it to
  its commit — what `publish_many` did before the sequencer (its lock came before the
  INSERT and lasted to the commit). Same processes, same run.

The four configurations run interleaved for `--rounds` rounds (default 3), in a
rotated order each round. Printed per configuration: events/s (median and range
over the rounds), the ratio many/one (median and range of the per-round ratios;
target ≥ 6× for ours, the old design stays near 1×), the transaction latency p50,
the time of the after-commit `sequence_pending` call (waiting for the sequencer lock
included) and the workers' CPU per event.

On a 2-CPU machine the 50 ms sleeps leave the CPU mostly idle, so overlap is
possible only if nothing serialises the writers. Timings are reported, never
asserted; the script exits non-zero only when a worker fails or an event is left
without a seq.

Run: .venv/bin/python bench/events_overlap.py   (--transactions 20 --rounds 1 to try)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

# bench/ holds the shared harness; the project root must come first.
_BENCH = Path(__file__).resolve().parent
_ROOT = _BENCH.parent
sys.path[:] = [
    str(_ROOT),
    *(p for p in sys.path if Path(p or ".").resolve() not in (_BENCH, _ROOT)),
    str(_BENCH),
]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")

from _harness import fresh_database, write_json  # noqa: E402

# The old design's lock, emulated: any key other than the sequencer's own.
SHARED_LOCK = 7_241_999
WORK_AFTER_PUBLISH = 0.05  # seconds, SELECT pg_sleep(…) before the commit


def worker(k: int, n: int, shared_lock: bool, barrier, results) -> None:
    """Run n publishing transactions at place k; put (k, latencies, sequencing, cpu, error)."""
    try:
        import django

        django.setup()
        from django.db import connection, transaction

        from core import events

        groups = [events.tree_group(f"9{k:02d}000", "school", False), events.account_group(-1 - k)]
        sequencing: list[float] = []
        original = events.sequence_pending

        def timed_sequence_pending():
            t0 = time.perf_counter()
            try:
                return original()
            finally:
                sequencing.append(time.perf_counter() - t0)

        events.sequence_pending = timed_sequence_pending
        connection.ensure_connection()
        barrier.wait(timeout=600)
        cpu0 = time.process_time()
        latencies = []
        for i in range(n):
            t0 = time.perf_counter()
            with transaction.atomic():
                with connection.cursor() as cursor:
                    if shared_lock:
                        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SHARED_LOCK])
                    events.publish(kind="bench.overlap", payload={"k": k, "i": i}, groups=groups)
                    cursor.execute("SELECT pg_sleep(%s)", [WORK_AFTER_PUBLISH])
            latencies.append((t0, time.perf_counter()))
        results.put((k, latencies, sequencing, time.process_time() - cpu0, None))
    except BaseException:  # reported by the parent
        results.put((k, [], [], 0.0, traceback.format_exc()))
        raise SystemExit(1) from None


def run(workers: int, n: int, shared_lock: bool) -> dict:
    """Spawn `workers` processes, release them together, and time them."""
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(k, n, shared_lock, barrier, results))
        for k in range(workers)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    errors = [err for *_, err in got if err]
    if errors:
        sys.exit("a worker failed:\n" + errors[0])
    spans = [span for _k, spans, *_ in got for span in spans]
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    sequencing = [t for _k, _s, seq, *_ in got for t in seq]
    events_done = len(spans)
    return {
        "workers": workers,
        "events": events_done,
        "seconds": end - start,
        "per_second": events_done / (end - start),
        "latency_p50": statistics.median(e - s for s, e in spans),
        "sequencing_mean": statistics.fmean(sequencing),
        "sequencing_p50": statistics.median(sequencing),
        "cpu_per_event": sum(cpu for *_, cpu, _e in got) / events_done,
    }


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="processes at once (default 8)")
    parser.add_argument(
        "--transactions", type=int, default=40, help="transactions per process (default 40)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--shared-lock",
        action="store_true",
        help="run only the old design (one shared lock held to commit), not ours beside it",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("events_overlap.py measures PostgreSQL's locks: set DATABASE_URL=postgres://…")

    with fresh_database() as database:
        from core.models import Event

        designs = {"old": True} if args.shared_lock else {"ours": False, "old": True}
        configs = [(d, w) for d in designs for w in (1, args.workers)]
        runs: dict[tuple[str, int], list[dict]] = {c: [] for c in configs}
        for r in range(args.rounds):
            order = configs[r % len(configs) :] + configs[: r % len(configs)]
            for design, workers in order:
                result = run(workers, args.transactions, designs[design])
                runs[(design, workers)].append(result)
                print(
                    f"round {r + 1}: {design:<4} {workers} process(es): "
                    f"{result['per_second']:6.1f} events/s, p50 "
                    f"{result['latency_p50'] * 1e3:5.1f} ms per transaction",
                    flush=True,
                )
        unsequenced = Event.objects.filter(seq__isnull=True).count()

        out = {
            "database": database,
            "workers": args.workers,
            "transactions": args.transactions,
            "rounds": args.rounds,
            "work_after_publish_seconds": WORK_AFTER_PUBLISH,
            "target_ratio": 6.0,
            "unsequenced": unsequenced,
        }
        label = {"ours": "sequencer (ours)", "old": "one lock to commit (old)"}
        print(
            f"\n{args.workers} processes at {args.workers} places vs 1, each transaction "
            f"publish + {WORK_AFTER_PUBLISH * 1e3:.0f} ms of work before commit; "
            f"{args.transactions} transactions per process, {args.rounds} interleaved rounds"
        )
        header = (
            f"{'design':<26}{'procs':>6}{'events/s median [range]':>28}"
            f"{'txn p50':>10}{'sequencing':>12}{'CPU/event':>11}"
        )
        print(header)
        print("-" * len(header))
        for design in designs:
            one, many = runs[(design, 1)], runs[(design, args.workers)]
            ratios = [m["per_second"] / o["per_second"] for o, m in zip(one, many, strict=True)]
            entry = {}
            for workers, rows in ((1, one), (args.workers, many)):
                rate = spread([x["per_second"] for x in rows])
                entry[str(workers)] = {
                    "per_second": rate,
                    "latency_p50": statistics.median(x["latency_p50"] for x in rows),
                    "sequencing_mean": statistics.median(x["sequencing_mean"] for x in rows),
                    "cpu_per_event": statistics.median(x["cpu_per_event"] for x in rows),
                    "runs": rows,
                }
                e = entry[str(workers)]
                rates = f"{rate['median']:.1f} [{rate['min']:.1f}–{rate['max']:.1f}]"
                print(
                    f"{label[design]:<26}{workers:>6}{rates:>28}"
                    f"{e['latency_p50'] * 1e3:>7.1f} ms{e['sequencing_mean'] * 1e3:>9.2f} ms"
                    f"{e['cpu_per_event'] * 1e3:>8.2f} ms"
                )
            entry["ratio"] = spread(ratios)
            out[design] = entry
            target = " (target ≥ 6×)" if design == "ours" else " (stays near 1×)"
            print(
                f"{'':<26}{'ratio':>6}   {args.workers}/1 = {entry['ratio']['median']:.2f}× "
                f"[{entry['ratio']['min']:.2f}–{entry['ratio']['max']:.2f}]{target}"
            )
        print(
            "sequencing: the after-commit sequence_pending call, lock wait included (mean); "
            "CPU/event: the workers' own CPU (time.process_time) per transaction"
        )
        if unsequenced:
            print(f"ERROR: {unsequenced} events left without a seq")
        write_json(out, args.json)
        return 1 if unsequenced else 0


if __name__ == "__main__":
    sys.exit(main())
