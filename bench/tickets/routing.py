"""Routing under concurrency: 10,000 tickets raised at once from 8 processes, one tier.

Claim: every ticket raised at a tier goes to exactly one engineer, the round robin
stays fair (over equally available engineers the counts differ by at most one), and
the tier's `Rotation` row lock (SELECT … FOR UPDATE per assignment,
escalation/services.py) does not collapse throughput when many people raise tickets
at the same moment.

Measured on PostgreSQL, on a fresh database set up for this run alone (see
_harness.py; DATABASE_URL defaults to the local server, REDIS_URL to
redis://127.0.0.1:6379/12 — the Channels push after commit is part of each call):
a county tier 基准县A with E = 10 engineers (on duty, no duty slots, capacity
32,767 so nobody fills up) and a school with one reporter.

1. ours, parallel: `tickets.services.ticket_create` called 10,000 times by 8 worker
   processes (spawned, each with its own django.setup() and connection), released
   together: assignments/s over the whole run, per-call latency p50/p95/p99 (the
   call returns after the commit and the Channels push), and the push alone. While
   it runs, pg_stat_activity is sampled every 20 ms: how many of the sessions wait
   on a row lock (the rotation), on the event lock (core.events' advisory lock),
   run SQL or wait on their Python; and the machine's CPU use (/proc/stat).
2. checks on the result: every ticket ASSIGNED to an engineer of the tier, exactly
   one routing decision per ticket naming that same engineer (double assignments
   must be 0), one stay (EscalationRecord) per ticket; the routing decisions, in the
   order their rows were written under the lock, follow the round robin without a
   skip or a repeat; fairness spread = max − min tickets per engineer (≤ 1 expected).
3. peer, serial: the same 10,000 calls from ONE worker process on a twin tier
   (基准县B, its own 10 engineers, school and reporter): the ratio parallel/serial
   shows whether the lock lets 8 callers go faster than one, or makes them slower.
   With --per-tier, also 3b: the 8 processes each on a tier of their own (基准县D1…,
   no shared rotation row): what the shared lock itself costs.
4. ceiling: 10,000 plain `Ticket.objects.create` rows (no SLA clocks, routing,
   timeline or events; autocommit) from the same 8 processes.
5. the queries of one ticket_create, and how many of them run while the tier's
   rotation row is locked (it stays locked until the commit).

On a 2-CPU machine 8 processes cannot run faster than 2: read the ratio with the
CPU and lock-wait figures beside it. One ticket_create costs about 45 ms here (p50,
serial, machine otherwise lightly loaded), so each 10,000-ticket run takes about
8–10 minutes: some 20 minutes for the default run, 27 with --per-tier, and twice
that when other work loads the machine; --tickets 2000 gives the same figures in a
fifth of the time. With capacity 32,767 every engineer keeps all 1,000+ of their
tickets, so `held_counts` (run under the lock) reads more rows as the run goes on —
the late calls are slower than the early ones; at the real capacities (20 by
default, 500 at most) that read stays small.

Figures only, beside their peer and ceiling; timings are never asserted. Exits
non-zero when the data come out wrong (a double assignment, a ticket without an
engineer, an unfair rotation) or a worker fails.

Run: .venv/bin/python bench/tickets/routing.py   (--tickets 1000 for a quick try)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

# The script's own directory (bench/tickets) must not shadow project modules, and
# bench/ holds the shared harness: project root first, bench/ and this dir last.
_HERE = Path(__file__).resolve().parent
_BENCH, _ROOT = _HERE.parent, _HERE.parent.parent
sys.path[:] = [
    str(_ROOT),
    *(p for p in sys.path if Path(p or ".").resolve() not in (_HERE, _BENCH, _ROOT)),
    str(_BENCH),
]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")

from _harness import fmt_duration, fresh_database, write_json  # noqa: E402

CAPACITY = 32_767  # DutyProfile.capacity is a PositiveSmallIntegerField
CATEGORIES = ["account", "import", "transfer", "promotion", "fault", "other"]
PRIORITIES = ["normal", "normal", "low", "high", "normal", "urgent"]
DESCRIPTION = (
    "学籍系统导入学生名单时提示“身份证号重复”，请协助核查。\n\n- 学校：基准学校\n- 时间：今天上午"
)


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


class Sampler:
    """What the run's database sessions are doing, sampled every 20 ms from
    pg_stat_activity on a separate connection, and the machine's CPU use
    (/proc/stat) over the same span."""

    KINDS = ("row lock", "event lock", "other lock", "running SQL", "in Python")

    def __init__(self):
        import threading

        self.counts: Counter[str] = Counter()
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    @staticmethod
    def cpu() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    def run(self) -> None:
        import psycopg

        url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
        with psycopg.connect(url, autocommit=True) as conn:
            while not self.stop.wait(0.02):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                ).fetchall()
                self.samples += 1
                for state, wtype, wevent in rows:
                    if wtype == "Lock":
                        kind = {"tuple": "row lock", "transactionid": "row lock"}.get(
                            wevent, "event lock" if wevent == "advisory" else "other lock"
                        )
                    elif state == "active":
                        kind = "running SQL"
                    else:  # idle, idle in transaction: the session waits on its Python
                        kind = "in Python"
                    self.counts[kind] += 1

    def __enter__(self):
        self.cpu0 = self.cpu()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        busy1, total1 = self.cpu()
        self.cpu_busy = (busy1 - self.cpu0[0]) / max(1, total1 - self.cpu0[1])
        return False

    def summary(self) -> dict:
        n = max(1, self.samples)
        return {
            "cpu_busy": self.cpu_busy,
            **{kind: self.counts[kind] / n for kind in self.KINDS},
        }


def show_sessions(s: dict) -> None:
    print(
        f"       sessions, on average: {s['row lock']:.2f} waiting on a row lock (the "
        f"rotation), {s['event lock']:.2f} on the event lock (advisory), "
        f"{s['other lock']:.2f} on another lock, {s['running SQL']:.2f} running SQL, "
        f"{s['in Python']:.2f} in Python; machine CPU {s['cpu_busy']:.0%} busy"
    )


# --- the worker processes ------------------------------------------------------------


def worker(k: int, workers: int, n: int, mode: str, targets: list, barrier, results) -> None:
    """Create tickets k, k + workers, k + 2·workers, … < n at tier targets[k] (or the
    one target); put (k, rows, push, error) on `results`, rows being (start, end)
    perf_counter pairs (CLOCK_MONOTONIC, the same clock in every process)."""
    try:
        import django

        django.setup()
        from django.db import transaction

        from accounts.models import Account, Unit
        from core import events
        from escalation import services as escalation
        from notices.services import render_body
        from tickets import services
        from tickets.models import Ticket

        ids = targets[k % len(targets)]
        reporter = Account.objects.select_related("unit").get(pk=ids["reporter"])
        tier = Unit.objects.get(pk=ids["tier"])
        html = render_body(DESCRIPTION)
        stats = {"push": 0.0, "pushes": 0, "holds": []}
        original_push = events.push_many
        original_lock = escalation._lock_rotation

        def timed_push(routed):
            t0 = time.perf_counter()
            original_push(routed)
            stats["push"] += time.perf_counter() - t0
            stats["pushes"] += 1

        def timed_lock(tier_id):
            # From the moment the rotation row is locked (its SELECT … FOR UPDATE has
            # returned) to the end of the commit, which releases it: this callback is
            # registered before the pushes', so it runs first after the commit.
            rotation = original_lock(tier_id)
            t0 = time.perf_counter()
            transaction.on_commit(lambda: stats["holds"].append(time.perf_counter() - t0))
            return rotation

        events.push_many = timed_push
        escalation._lock_rotation = timed_lock

        def create(i: int) -> None:
            title = f"基准工单 {ids['tag']}-{i}"
            category, priority = CATEGORIES[i % len(CATEGORIES)], PRIORITIES[i % len(PRIORITIES)]
            if mode == "service":
                services.ticket_create(
                    actor=reporter,
                    title=title,
                    description=DESCRIPTION,
                    category=category,
                    priority=priority,
                )
            else:  # the ceiling: the bare row
                Ticket.objects.create(
                    reporter=reporter,
                    reporter_unit=reporter.unit,
                    reporter_path=reporter.unit.path,
                    title=title,
                    description=DESCRIPTION,
                    description_html=html,
                    category=category,
                    priority=priority,
                    tier=tier,
                )

        Account.objects.filter(pk=reporter.pk).exists()  # connection open before the start
        barrier.wait(timeout=600)
        rows = []
        for i in range(k, n, workers):
            t0 = time.perf_counter()
            create(i)
            rows.append((t0, time.perf_counter()))
        results.put((k, rows, stats, None))
    except BaseException:  # reported by the parent
        results.put((k, [], {}, traceback.format_exc()))
        raise SystemExit(1) from None


def run_workers(n: int, workers: int, mode: str, targets: list) -> dict:
    """Spawn `workers` processes, release them together, gather their timings and
    sample the database sessions from the release to the last result."""
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(k, workers, n, mode, targets, barrier, results))
        for k in range(workers)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=600)
    with Sampler() as sampler:
        got = [results.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    errors = [err for _k, _rows, _push, err in got if err]
    if errors:
        sys.exit(f"a worker failed ({mode}):\n" + errors[0])
    rows = [r for _k, rs, _push, _err in got for r in rs]
    if len(rows) != n:
        sys.exit(f"{mode}: {len(rows)} calls timed, expected {n}")
    start, end = min(s for s, _ in rows), max(e for _, e in rows)
    latency = [e - s for s, e in rows]
    by_end = [e - s for s, e in sorted(rows, key=lambda r: r[1])]
    tenth = max(1, n // 10)
    push_total = sum(st.get("push", 0.0) for _k, _r, st, _e in got)
    push_calls = sum(st.get("pushes", 0) for _k, _r, st, _e in got)
    holds = [h for _k, _r, st, _e in got for h in st.get("holds", [])]
    return {
        "workers": workers,
        "tickets": n,
        "seconds": end - start,
        "per_second": n / (end - start),
        "p50": pct(latency, 50),
        "p95": pct(latency, 95),
        "p99": pct(latency, 99),
        "max": max(latency),
        "first_tenth_mean": statistics.fmean(by_end[:tenth]),
        "last_tenth_mean": statistics.fmean(by_end[-tenth:]),
        "push_per_ticket": push_total / n,
        "pushes_per_ticket": push_calls / n,
        "sessions": sampler.summary(),
        "lock_held_mean": statistics.fmean(holds) if holds else None,
        "lock_held_p50": pct(holds, 50) if holds else None,
        "lock_held_p95": pct(holds, 95) if holds else None,
    }


def show(label: str, r: dict) -> None:
    print(
        f"{label:<7} {r['tickets']:,} tickets from {r['workers']} process(es) in {r['seconds']:.2f} s "
        f"= {r['per_second']:,.0f} tickets/s\n"
        f"       per call: p50 {ms(r['p50'])}, p95 {ms(r['p95'])}, p99 {ms(r['p99'])}, "
        f"max {ms(r['max'])}; mean of the first / last tenth to finish "
        f"{ms(r['first_tenth_mean'])} / {ms(r['last_tenth_mean'])}"
    )
    if r["pushes_per_ticket"]:
        print(
            f"       of which the Channels push after commit: {ms(r['push_per_ticket'])} per "
            f"ticket ({r['pushes_per_ticket']:.1f} pushes each)"
        )
    if r["lock_held_mean"]:
        print(
            f"       the tier's rotation row held (from locked to committed): mean "
            f"{ms(r['lock_held_mean'])}, p50 {ms(r['lock_held_p50'])}, p95 "
            f"{ms(r['lock_held_p95'])} → one tier assigns at most "
            f"{1 / r['lock_held_mean']:,.0f} tickets/s at this speed, however many callers"
        )
    show_sessions(r["sessions"])


# --- setup and checks ---------------------------------------------------------------


def build(engineers: int, labels: list[str], without_engineers: set[str]) -> dict:
    """Ministry → 基准省 → 基准市 → one county per label (基准县A, …), each with a school
    and a reporter, and `engineers` engineers unless the label is in
    `without_engineers`. Returns {label: {"tier", "reporter", "engineers"}}."""
    from accounts import services
    from accounts.models import Account, Level, Role
    from escalation.models import DutyProfile

    ministry = services.ministry_ensure()
    province = services.unit_create(
        level=Level.PROVINCE, code="990000", name="基准省", parent=ministry
    )
    prefecture = services.unit_create(
        level=Level.PREFECTURE, code="990100", name="基准市", parent=province
    )
    out = {}
    for n, label in enumerate(labels, start=1):
        county = services.unit_create(
            level=Level.COUNTY, code=f"9901{n:02d}", name=f"基准县{label}", parent=prefecture
        )
        school = services.unit_create(
            level=Level.SCHOOL,
            code=f"{county.code}0001",
            name=f"基准县{label}第一中学",
            parent=county,
        )
        reporter = Account(
            username=f"{school.code}-s1",
            password="!",
            unit=school,
            role=Role.STAFF,
            must_change_password=False,
        )
        reporter.save()
        team = []
        if label not in without_engineers:
            team = Account.objects.bulk_create(
                [
                    Account(
                        username=f"{county.code}-e{e:02d}",
                        password="!",
                        unit=county,
                        role=Role.STAFF,
                        is_support_engineer=True,
                        must_change_password=False,
                    )
                    for e in range(1, engineers + 1)
                ]
            )
            DutyProfile.objects.bulk_create(
                [DutyProfile(account=a, capacity=CAPACITY) for a in team]
            )
        out[label] = {"tier": county.pk, "reporter": reporter.pk, "engineers": team, "tag": label}
    return out


def target(tier: dict) -> dict:
    return {k: v for k, v in tier.items() if k != "engineers"}


def check(tier_id: int, team, n: int) -> dict:
    """Exits when a ticket is not assigned exactly once; returns the fairness figures."""
    from escalation.models import EscalationRecord
    from tickets.models import EventKind, Status, Ticket, TicketEvent

    names = {a.pk: a.username for a in team}
    order = sorted(names)
    tickets = dict(Ticket.objects.filter(tier_id=tier_id).values_list("pk", "assignee_id"))
    statuses = Counter(Ticket.objects.filter(tier_id=tier_id).values_list("status", flat=True))
    problems = []
    if len(tickets) != n:
        problems.append(f"{len(tickets)} tickets at the tier, expected {n}")
    if statuses != Counter({Status.ASSIGNED: len(tickets)}):
        problems.append(f"statuses {dict(statuses)}, expected all assigned")
    unassigned = sum(1 for a in tickets.values() if a not in names)
    decisions = list(
        TicketEvent.objects.filter(
            ticket__tier_id=tier_id, kind__in=[EventKind.ROUTED, EventKind.ASSIGNED]
        )
        .order_by("pk")
        .values_list("ticket_id", "kind", "data")
    )
    per_ticket: dict[int, set[str]] = {}
    count: Counter[int] = Counter()
    for ticket_id, kind, data in decisions:
        chosen = data.get("chosen") if kind == EventKind.ROUTED else data.get("assignee")
        per_ticket.setdefault(ticket_id, set()).add(chosen)
        count[ticket_id] += 1
    double = sum(1 for chosen in per_ticket.values() if len(chosen) > 1)
    extra = sum(1 for c in count.values() if c > 1)
    mismatch = sum(
        1 for pk, assignee in tickets.items() if per_ticket.get(pk) != {names.get(assignee)}
    )
    stays = Counter(
        EscalationRecord.objects.filter(ticket__tier_id=tier_id).values_list("ticket_id", flat=True)
    )
    bad_stays = sum(1 for pk in tickets if stays.get(pk) != 1)
    # The decisions' rows are written under the rotation lock, so their ids are the
    # order of assignment: each must be the engineer after the previous one.
    by_name = {u: order.index(pk) for pk, u in names.items()}
    chosen_seq = [
        by_name.get(data.get("chosen")) for _t, kind, data in decisions if kind == EventKind.ROUTED
    ]
    out_of_turn = sum(
        1
        for a, b in zip(chosen_seq, chosen_seq[1:], strict=False)
        if a is None or b is None or b != (a + 1) % len(order)
    )
    per_engineer = Counter(tickets.values())
    loads = [per_engineer.get(pk, 0) for pk in order]
    result = {
        "tickets": len(tickets),
        "unassigned": unassigned,
        "double_assignments": double,
        "extra_decisions": extra,
        "decision_mismatch": mismatch,
        "bad_stays": bad_stays,
        "out_of_turn": out_of_turn,
        "per_engineer_min": min(loads),
        "per_engineer_max": max(loads),
        "spread": max(loads) - min(loads),
    }
    if unassigned:
        problems.append(f"{unassigned} tickets without an engineer of the tier")
    if double or extra or mismatch:
        problems.append(
            f"{double} tickets with decisions naming different engineers, {extra} with more "
            f"than one decision, {mismatch} whose decision is not their assignee"
        )
    if bad_stays:
        problems.append(f"{bad_stays} tickets without exactly one stay at the tier")
    if out_of_turn or result["spread"] > 1:
        problems.append(f"{out_of_turn} decisions out of turn; spread {result['spread']}")
    result["problems"] = problems
    return result


def show_check(label: str, c: dict, engineers: int) -> None:
    verdict = "OK" if not c["problems"] else "WRONG: " + "; ".join(c["problems"])
    print(
        f"check  {label}: {c['tickets']:,} tickets, double assignments {c['double_assignments']}, "
        f"without an engineer {c['unassigned']}, decisions ≠ assignee {c['decision_mismatch']}, "
        f"stays ≠ 1 {c['bad_stays']}\n"
        f"       round robin: {c['out_of_turn']} of {c['tickets'] - 1:,} consecutive decisions "
        f"out of turn; per engineer {c['per_engineer_min']:,}–{c['per_engineer_max']:,} "
        f"(spread {c['spread']}, expected ≤ 1 over {engineers}) — {verdict}"
    )


def queries_of_one(ids: dict) -> dict:
    """One more ticket_create on tier B: its queries, and those under the rotation lock."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Account
    from tickets import services

    reporter = Account.objects.select_related("unit").get(pk=ids["reporter"])
    with CaptureQueriesContext(connection) as ctx:
        services.ticket_create(
            actor=reporter, title="基准工单 查询", description=DESCRIPTION, category="fault"
        )
    sqls = [q["sql"] for q in ctx.captured_queries]
    locked_at = next(
        (i for i, s in enumerate(sqls) if '"escalation_rotation"' in s and "FOR UPDATE" in s), None
    )
    under = len(sqls) - locked_at if locked_at is not None else 0
    return {"queries": len(sqls), "under_lock": under}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--engineers", type=int, default=10)
    parser.add_argument(
        "--skip-serial", action="store_true", help="leave out the serial peer (part 3)"
    )
    parser.add_argument(
        "--per-tier",
        action="store_true",
        help="also the parallel run with each process on a tier of its own (no shared "
        "rotation lock): what the lock itself costs",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("routing.py measures PostgreSQL's row locks: give a postgres DATABASE_URL")
    started = time.perf_counter()
    n, workers = args.tickets, args.workers
    own = [f"D{k + 1}" for k in range(workers)] if args.per_tier else []
    with fresh_database() as db:
        print(
            f"\n== Routing under concurrency: {n:,} tickets, one tier, {args.engineers} engineers "
            f"(Redis {os.environ['REDIS_URL']}) =="
        )
        t0 = time.perf_counter()
        tiers = build(args.engineers, ["A", "B", "C", *own], {"C"})
        print(
            "setup: counties 基准县A (parallel), B (serial), C (ceiling, no engineers)"
            + (f", D1–D{workers} (one per process)" if own else "")
            + f", each with a school and a reporter; {args.engineers} engineers per county "
            f"(capacity {CAPACITY:,}, no duty slots) in {time.perf_counter() - t0:.1f} s"
        )
        results: dict = {"database": db, "tickets": n, "workers": workers}
        print(f"\n-- 1. ticket_create from {workers} processes at once, one tier (load {load()})")
        par = run_workers(n, workers, "service", [target(tiers["A"])])
        show("ours", par)
        results["parallel"] = par
        c = check(tiers["A"]["tier"], tiers["A"]["engineers"], n)
        show_check("parallel", c, args.engineers)
        results["parallel_check"] = c
        problems = list(c["problems"])

        if not args.skip_serial:
            print(f"\n-- 3. peer: the same calls from ONE process, on tier B (load {load()})")
            ser = run_workers(n, 1, "service", [target(tiers["B"])])
            show("peer", ser)
            cb = check(tiers["B"]["tier"], tiers["B"]["engineers"], n)
            show_check("serial", cb, args.engineers)
            problems += cb["problems"]
            ratio = par["per_second"] / ser["per_second"]
            print(
                f"ratio  parallel / serial tickets per second: {ratio:.2f}x "
                "(1.0 = no gain from more callers, < 1 = slower; see the CPU and lock-wait "
                "figures above for why)"
            )
            results["serial"] = ser
            results["serial_check"] = cb
            results["ratio_parallel_serial"] = ratio

        if own:
            print(f"\n-- 3b. peer: {workers} processes, each on a tier of its own (load {load()})")
            spread = run_workers(n, workers, "service", [target(tiers[k]) for k in own])
            show("peer", spread)
            for k in own:  # each tier got every workers-th ticket
                share = len(range(own.index(k), n, workers))
                ck = check(tiers[k]["tier"], tiers[k]["engineers"], share)
                problems += ck["problems"]
            ratio = par["per_second"] / spread["per_second"]
            print(
                f"ratio  one shared tier / a tier each, tickets per second: {ratio:.2f}x "
                "(1.0 = the rotation lock costs nothing)"
            )
            results["per_tier"] = spread
            results["ratio_shared_per_tier"] = ratio

        print(f"\n-- 4. ceiling: plain Ticket rows from {workers} processes (load {load()})")
        ceil = run_workers(n, workers, "plain", [target(tiers["C"])])
        show("ceiling", ceil)
        print(
            f"ratio  ours parallel / ceiling: {par['per_second'] / ceil['per_second']:.2f} "
            f"(ticket_create = {ceil['per_second'] / par['per_second']:.1f}x a bare insert)"
        )
        results["ceiling"] = ceil
        results["ratio_ceiling"] = par["per_second"] / ceil["per_second"]

        q = queries_of_one(target(tiers["A" if args.skip_serial else "B"]))
        print(
            f"\n-- 5. one ticket_create: {q['queries']} queries, the last {q['under_lock']} of "
            "them (from the rotation's SELECT … FOR UPDATE on) under the tier's lock, "
            "which is held until the commit"
        )
        results["queries"] = q
        print(f"\nwhole run: {fmt_duration(time.perf_counter() - started)}; load now {load()}")
    write_json(results, args.json)
    if problems:
        print("WRONG DATA: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
