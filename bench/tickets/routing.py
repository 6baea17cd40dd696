"""Routing under concurrency: tickets raised at once from many processes, beside one
process and bare INSERTs; how long a tier's rotation row is held; and whether
transactions that go on after publishing overlap.

Claim: every ticket raised at a tier goes to exactly one engineer, the round robin
stays fair (over equally available engineers the counts differ by at most one) and
in turn, and the tier's `Rotation` row is locked only for the pick (one conditional
UPDATE of its pointer before the ticket's transaction, escalation/services.py), so
neither one busy tier nor many tiers at once queue on it.

Measured on PostgreSQL, on a fresh database set up for this run alone (see
_harness.py; DATABASE_URL defaults to the local server, REDIS_URL to
redis://127.0.0.1:6379/12 — the Channels push after commit is part of each call).
Every tier has E = 10 engineers (on duty, no duty slots, capacity 32,767 so nobody
fills up). The runs, each `--tickets` calls of `tickets.services.ticket_create`
(worker processes spawned, each with its own django.setup() and connection,
released together):

(a) one tier, 8 counties: 8 processes, each the reporter of a school in a different
    county (基准县E1…E8, no engineers of their own), all routed to the province tier
    基准省 — one rotation row shared by every caller;
(b) 8 tiers: 8 processes, each raising at a county of its own (基准县D1…D8);
(c) one process at one county (基准县B);
(ceiling) bare `Ticket.objects.create` rows (no SLA clocks, routing, timeline or
    events; autocommit) from 8 processes (基准县C);
(e) with `--after-publish-ms MS`: each ticket_create runs inside an outer
    transaction that goes on for MS ms after it has published (SELECT pg_sleep(MS)
    in the same transaction, as a slow statement or a large batch would): 8
    processes at 8 tiers (D1…D8) against 1 process (B). With no lock shared by
    every writer they overlap (target ≥ 6×); with one held to commit they stay
    near 1×.

The runs are interleaved `--rounds` times (a, b, c, ceiling[, e8, e1] per round),
with the ticket, timeline, stay, rotation and event tables truncated before each,
and reported per run and as medians with ranges.

Figures per run: tickets/s; per-call latency p50/p95/p99; CPU per ticket of the
worker processes (time.process_time) and of their PostgreSQL backends (utime +
stime from /proc/<backend pid>/stat, the server being on this machine); and:

(d) the rotation row's hold time, by timestamps around the statements that hold
    it, in each worker: a ticket's turn is one conditional UPDATE in autocommit,
    which holds the row lock only while it runs, so its hold is measured as the
    UPDATE's round trip, from before the execute to after its row is fetched (an
    upper bound). A turn whose UPDATE finds the pointer moved ("conflict") is
    taken again under SELECT … FOR UPDATE in a short transaction: held from that
    SELECT's return to its commit. A turn inside an outer transaction (mode e)
    holds the row to the outer commit, and is measured so. Mean and p99 per turn.
    On a busy machine that round trip also counts the worker's wait for a CPU after
    the server has answered, so the server's side is given beside it: the sampler
    below counts sessions found inside the rotation UPDATE, and that time (samples
    × interval) divided by the turns is the mean hold as the server saw it.
    Each worker first raises two untimed tickets at a tier of its own (基准县W).
    While a run goes on, pg_stat_activity is sampled every 20 ms: how many
    sessions wait on a row lock, on an advisory lock, run SQL or wait on their
    Python; and the machine's CPU use (/proc/stat).

Checks on the result of every ticket_create run (exits non-zero when wrong): every
ticket ASSIGNED to an engineer of its tier, exactly one routing decision per ticket
naming that same engineer (double assignments 0), one stay per ticket; the
decisions' turn numbers are 1…n, each once, and in turn order the engineers come
round without a skip or a repeat (decisions out of turn 0); fairness spread = max −
min tickets per engineer (≤ 1). Timings are never asserted.

On a 2-CPU machine 8 processes cannot run faster than 2: read the ratios with the
CPU and lock-wait figures beside them. With capacity 32,767 every engineer keeps all
of their tickets, so the held counts read by routing grow as a run goes on.

Run: .venv/bin/python bench/tickets/routing.py                 (3 rounds of 2,000)
     .venv/bin/python bench/tickets/routing.py --tickets 200 --rounds 1   (a smoke run)
     .venv/bin/python bench/tickets/routing.py --after-publish-ms 50
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
    # Inside the statement that holds a tier's rotation row (in autocommit it holds
    # the row from its tuple lock to its commit, within the statement).
    ROTATION = "UPDATE escalation_rotation"

    def __init__(self):
        import threading

        self.counts: Counter[str] = Counter()
        self.samples = 0
        self.in_rotation_update = 0
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
                    "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                ).fetchall()
                self.samples += 1
                for state, wtype, wevent, query in rows:
                    if state == "active" and query.startswith(self.ROTATION):
                        self.in_rotation_update += 1
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
        self.t0 = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.seconds = time.perf_counter() - self.t0
        busy1, total1 = self.cpu()
        self.cpu_busy = (busy1 - self.cpu0[0]) / max(1, total1 - self.cpu0[1])
        return False

    def summary(self) -> dict:
        n = max(1, self.samples)
        return {
            "cpu_busy": self.cpu_busy,
            # session-seconds spent inside the rotation UPDATE, estimated from samples
            "rotation_update_seconds": self.in_rotation_update * self.seconds / n,
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


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def worker(
    k: int, workers: int, n: int, mode: str, targets: list, warm: dict, barrier, results
) -> None:
    """Create tickets k, k + workers, k + 2·workers, … < n at tier targets[k] (or the
    one target); put (k, rows, stats, error) on `results`, rows being (start, end)
    perf_counter pairs (CLOCK_MONOTONIC, the same clock in every process). `mode`:
    "service", "plain" (the ceiling) or "sleep:<ms>" (ticket_create in an outer
    transaction that sleeps that long after it)."""
    try:
        import django

        django.setup()
        from django.db import connection, transaction

        from accounts.models import Account, Unit
        from core import events
        from core.markup import render_body
        from escalation import services as escalation
        from tickets import services
        from tickets.models import Ticket

        ids = targets[k % len(targets)]
        reporter = Account.objects.select_related("unit").get(pk=ids["reporter"])
        tier = Unit.objects.get(pk=ids["tier"])
        html = render_body(DESCRIPTION)
        stats = {"push": 0.0, "pushes": 0, "holds": [], "conflicts": 0, "locked_turns": 0}
        original_push = events.push_many
        original_advance = escalation._advance
        original_lock = escalation._lock_rotation

        def timed_push(routed):
            t0 = time.perf_counter()
            original_push(routed)
            stats["push"] += time.perf_counter() - t0
            stats["pushes"] += 1

        def held_from(t0: float) -> None:
            # In a transaction the row stays locked to its commit; this callback runs
            # right after it (before the pushes', registered later). Outside one, the
            # statement's own commit has released it by now.
            if connection.in_atomic_block:
                transaction.on_commit(lambda: stats["holds"].append(time.perf_counter() - t0))
            else:
                stats["holds"].append(time.perf_counter() - t0)

        def timed_advance(tier_id, expected, chosen):
            # Under the lock below, that lock's hold is the one that counts.
            locked = stats.pop("locked", False) and connection.in_atomic_block
            t0 = time.perf_counter()
            turn = original_advance(tier_id, expected, chosen)
            if turn is None:
                stats["conflicts"] += 1  # not taken: the row was not held by this call
            elif not locked:
                held_from(t0)
            return turn

        def timed_lock(tier_id):
            rotation = original_lock(tier_id)
            stats["locked"] = True
            stats["locked_turns"] += 1
            held_from(time.perf_counter())
            return rotation

        events.push_many = timed_push
        escalation._advance = timed_advance
        escalation._lock_rotation = timed_lock
        sleep = float(mode.split(":")[1]) / 1000 if mode.startswith("sleep:") else None

        def create(i: int) -> None:
            stats.pop("locked", None)
            title = f"基准工单 {ids['tag']}-{i}"
            category, priority = CATEGORIES[i % len(CATEGORIES)], PRIORITIES[i % len(PRIORITIES)]
            if mode == "plain":  # the ceiling: the bare row
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
                return
            fields = {"title": title, "description": DESCRIPTION, "category": category}
            if sleep is None:
                services.ticket_create(actor=reporter, priority=priority, **fields)
                return
            with transaction.atomic():  # the transaction goes on after publishing
                services.ticket_create(actor=reporter, priority=priority, **fields)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_sleep(%s)", [sleep])

        # Two untimed tickets at a tier of their own (`warm`, never checked) before
        # the start: connections, caches and lazy imports, so a short run does not
        # time them.
        warm_reporter = Account.objects.select_related("unit").get(pk=warm["reporter"])
        for _ in range(2):
            if mode != "plain":
                services.ticket_create(
                    actor=warm_reporter, title="预热", description=DESCRIPTION, category="other"
                )
        stats.update({"push": 0.0, "pushes": 0, "holds": [], "conflicts": 0, "locked_turns": 0})
        with connection.cursor() as cursor:  # connection open before the start
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        barrier.wait(timeout=600)
        cpu0, server0 = time.process_time(), backend_cpu(backend)
        rows = []
        for i in range(k, n, workers):
            t0 = time.perf_counter()
            create(i)
            rows.append((t0, time.perf_counter()))
        server1 = backend_cpu(backend)
        stats["cpu"] = time.process_time() - cpu0
        stats["server_cpu"] = None if server0 is None or server1 is None else server1 - server0
        stats.pop("locked", None)
        results.put((k, rows, stats, None))
    except BaseException:  # reported by the parent
        results.put((k, [], {}, traceback.format_exc()))
        raise SystemExit(1) from None


WARM: dict = {}  # the warm-up tier's target, set by main()


def run_workers(n: int, workers: int, mode: str, targets: list) -> dict:
    """Spawn `workers` processes, release them together, gather their timings and
    sample the database sessions from the release to the last result."""
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(k, workers, n, mode, targets, WARM, barrier, results))
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
    stats = [st for _k, _r, st, _e in got]
    holds = [h for st in stats for h in st.get("holds", [])]
    server = [st.get("server_cpu") for st in stats]
    return {
        "workers": workers,
        "tickets": n,
        "seconds": end - start,
        "per_second": n / (end - start),
        "p50": pct(latency, 50),
        "p95": pct(latency, 95),
        "p99": pct(latency, 99),
        "max": max(latency),
        "push_per_ticket": sum(st.get("push", 0.0) for st in stats) / n,
        "pushes_per_ticket": sum(st.get("pushes", 0) for st in stats) / n,
        "cpu_per_ticket": sum(st.get("cpu", 0.0) for st in stats) / n,
        "server_cpu_per_ticket": None if None in server else sum(server) / n,
        "sessions": sampler.summary(),
        "turns_timed": len(holds),
        "conflicts": sum(st.get("conflicts", 0) for st in stats),
        "locked_turns": sum(st.get("locked_turns", 0) for st in stats),
        "lock_held_mean": statistics.fmean(holds) if holds else None,
        "lock_held_p50": pct(holds, 50) if holds else None,
        "lock_held_p99": pct(holds, 99) if holds else None,
        # The sampled time sessions spent in the rotation UPDATE, per turn: the row's
        # hold as the server saw it (excludes the client's wake-up after the reply).
        # (Not inside an outer transaction, where the row stays held after it.)
        "lock_held_sampled": (
            sampler.summary()["rotation_update_seconds"] / len(holds)
            if holds and not mode.startswith("sleep:")
            else None
        ),
    }


def show(label: str, r: dict) -> None:
    server = r["server_cpu_per_ticket"]
    print(
        f"{label:<8} {r['tickets']:,} tickets from {r['workers']} process(es) in "
        f"{r['seconds']:.2f} s = {r['per_second']:,.1f} tickets/s\n"
        f"         per call: p50 {ms(r['p50'])}, p95 {ms(r['p95'])}, p99 {ms(r['p99'])}, "
        f"max {ms(r['max'])}; CPU per ticket: workers {ms(r['cpu_per_ticket'])}, "
        f"their PostgreSQL backends {ms(server) if server is not None else 'n/a'}"
    )
    if r["pushes_per_ticket"]:
        print(
            f"         of which the Channels push after commit: {ms(r['push_per_ticket'])} "
            f"per ticket ({r['pushes_per_ticket']:.1f} pushes each)"
        )
    if r["lock_held_mean"] is not None:
        print(
            f"         (d) the tier's rotation row held per turn: mean "
            f"{ms(r['lock_held_mean'])}, p50 {ms(r['lock_held_p50'])}, p99 "
            f"{ms(r['lock_held_p99'])} over {r['turns_timed']:,} turns; "
            f"{r['conflicts']:,} pointer conflicts (pick made again; a tier's first turn "
            f"counts one), {r['locked_turns']:,} turns taken under the row lock"
        )
        if r["lock_held_sampled"] is not None:
            print(
                f"             sampled in pg_stat_activity: {ms(r['lock_held_sampled'])} per "
                "turn inside the rotation UPDATE"
            )
    show_sessions(r["sessions"])


# --- setup and checks ---------------------------------------------------------------


def build(engineers: int, labels: list[str], without_engineers: set[str]) -> dict:
    """Ministry → 基准省 (with `engineers` engineers: the tier of counties that have
    none) → 基准市 → one county per label (基准县A, …), each with a school and a
    reporter, and `engineers` engineers unless the label is in `without_engineers`.
    Returns {label: {"tier", "reporter", "engineers", "tag"}} and, under "province",
    the province tier's {"tier", "engineers"}."""
    from accounts import services
    from accounts.models import Account, Level, Role
    from escalation.models import DutyProfile

    def team_of(unit) -> list:
        team = Account.objects.bulk_create(
            [
                Account(
                    username=f"{unit.code}-e{e:02d}",
                    password="!",
                    unit=unit,
                    role=Role.STAFF,
                    is_support_engineer=True,
                    must_change_password=False,
                )
                for e in range(1, engineers + 1)
            ]
        )
        DutyProfile.objects.bulk_create([DutyProfile(account=a, capacity=CAPACITY) for a in team])
        return team

    ministry = services.ministry_ensure()
    province = services.unit_create(
        level=Level.PROVINCE, code="990000", name="基准省", parent=ministry
    )
    prefecture = services.unit_create(
        level=Level.PREFECTURE, code="990100", name="基准市", parent=province
    )
    out = {"province": {"tier": province.pk, "engineers": team_of(province)}}
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
        team = [] if label in without_engineers else team_of(county)
        out[label] = {"tier": county.pk, "reporter": reporter.pk, "engineers": team, "tag": label}
    return out


def target(tier: dict) -> dict:
    return {k: v for k, v in tier.items() if k != "engineers"}


def reset() -> None:
    """Before each run: no ticket, timeline entry, stay, rotation row or event (the
    tree and the accounts stay)."""
    from django.db import connection

    from core.models import Event, EventTarget
    from escalation.models import EscalationRecord, Rotation
    from tickets.models import Ticket, TicketEvent, TicketFile

    models = (Ticket, TicketEvent, TicketFile, EscalationRecord, Rotation, Event, EventTarget)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE {} RESTART IDENTITY CASCADE".format(
                ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
            )
        )


def check(tier_id: int, team, n: int) -> dict:
    """The correctness figures of one tier after a run; "problems" lists what is wrong."""
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
    # Each decision names the tier's turn it took (the order of assignment, whatever
    # order the transactions committed in): 1…n, each once, and in that order each
    # engineer must be the one after the previous.
    routed = sorted(
        (data.get("turn") or 0, data.get("chosen"))
        for _t, kind, data in decisions
        if kind == EventKind.ROUTED
    )
    bad_turns = sum(1 for want, (turn, _c) in enumerate(routed, start=1) if turn != want) + max(
        0, len(routed) - len(set(t for t, _ in routed))
    )
    by_name = {u: order.index(pk) for pk, u in names.items()}
    chosen_seq = [by_name.get(chosen) for _turn, chosen in routed]
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
        "bad_turns": bad_turns,
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
    if bad_turns:
        problems.append(f"{bad_turns} turn numbers missing, repeated or out of 1…n")
    if out_of_turn or result["spread"] > 1:
        problems.append(f"{out_of_turn} decisions out of turn; spread {result['spread']}")
    result["problems"] = problems
    return result


def check_all(label: str, tiers: list[tuple[dict, int]]) -> dict:
    """`check` over (tier, tickets expected there) pairs; prints one line, returns the
    summed figures with every problem."""
    total: Counter = Counter()
    problems, spread = [], 0
    for tier, n in tiers:
        c = check(tier["tier"], tier["engineers"], n)
        problems += c.pop("problems")
        spread = max(spread, c.pop("spread"))
        c.pop("per_engineer_min"), c.pop("per_engineer_max")
        total.update(c)
    out = {**total, "spread": spread, "problems": problems}
    verdict = "OK" if not problems else "WRONG: " + "; ".join(problems)
    print(
        f"check    {label}: {out['tickets']:,} tickets, double assignments "
        f"{out['double_assignments']}, without an engineer {out['unassigned']}, "
        f"decisions ≠ assignee {out['decision_mismatch']}, stays ≠ 1 {out['bad_stays']}, "
        f"turns missing/repeated {out['bad_turns']}, decisions out of turn "
        f"{out['out_of_turn']}, spread {spread} — {verdict}"
    )
    return out


def queries_of_one(ids: dict) -> dict:
    """One more ticket_create: its statements, and those run while the tier's rotation
    row is locked (from the statement that locks it to the end of its transaction)."""
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
    statements = [s for s in sqls if s not in ("BEGIN", "COMMIT")]
    locks = [i for i, s in enumerate(sqls) if "escalation_rotation" in s and "SELECT" not in s[:8]]
    locks += [i for i, s in enumerate(sqls) if "escalation_rotation" in s and "FOR UPDATE" in s]
    under = 0
    if locks:
        first = min(locks)
        open_tx = sqls[:first].count("BEGIN") > sqls[:first].count("COMMIT")
        if open_tx:
            end = next((i for i in range(first, len(sqls)) if sqls[i] == "COMMIT"), len(sqls))
            under = len([s for s in sqls[first:end] if s not in ("BEGIN", "COMMIT")])
        else:
            under = 1  # one statement in autocommit
    return {"queries": len(statements), "under_lock": under}


def summarise(label: str, values: list[float], fmt="{:,.1f}") -> str:
    if not values:
        return f"{label}: n/a"
    med = statistics.median(values)
    return f"{label} {fmt.format(med)} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2_000, help="per run (default 2,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--engineers", type=int, default=10)
    parser.add_argument(
        "--after-publish-ms",
        type=float,
        default=None,
        metavar="MS",
        help="also (e): transactions going on MS ms after publishing, 8 tiers vs 1 process",
    )
    parser.add_argument(
        "--after-publish-tickets",
        type=int,
        default=400,
        help="tickets per (e) run (default 400: the one process needs 400 × MS)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("routing.py measures PostgreSQL's row locks: give a postgres DATABASE_URL")
    started = time.perf_counter()
    n, workers, rounds = args.tickets, args.workers, args.rounds
    counties = [f"E{k + 1}" for k in range(workers)]  # (a): no engineers of their own
    own = [f"D{k + 1}" for k in range(workers)]  # (b), (e)
    with fresh_database() as db:
        print(
            f"\n== Routing under concurrency: {n:,} tickets per run, {rounds} round(s), "
            f"{workers} processes, {args.engineers} engineers per tier "
            f"(Redis {os.environ['REDIS_URL']}) =="
        )
        t0 = time.perf_counter()
        tiers = build(args.engineers, ["B", "C", "W", *own, *counties], {"C", *counties})
        province = tiers["province"]
        WARM.update(target(tiers["W"]))
        print(
            f"setup: province 基准省 (the tier of 基准县E1–E{workers}), counties 基准县B "
            f"(one process), C (ceiling, no engineers), W (warm-up), D1–D{workers} (a tier per "
            f"process); "
            f"{args.engineers} engineers per tier (capacity {CAPACITY:,}, no duty slots) in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        def share(k: int, total: int) -> int:  # tickets worker k raises of `total`
            return len(range(k, total, workers))

        runs = {
            "a": (
                f"(a) one tier, {workers} counties",
                lambda: run_workers(n, workers, "service", [target(tiers[c]) for c in counties]),
                lambda: [(province, n)],
            ),
            "b": (
                f"(b) {workers} tiers",
                lambda: run_workers(n, workers, "service", [target(tiers[c]) for c in own]),
                lambda: [(tiers[c], share(k, n)) for k, c in enumerate(own)],
            ),
            "c": (
                "(c) one process",
                lambda: run_workers(n, 1, "service", [target(tiers["B"])]),
                lambda: [(tiers["B"], n)],
            ),
            "ceiling": (
                f"ceiling: bare INSERTs, {workers} processes",
                lambda: run_workers(n, workers, "plain", [target(tiers["C"])]),
                None,
            ),
        }
        if args.after_publish_ms is not None:
            m, sleep = args.after_publish_tickets, f"sleep:{args.after_publish_ms:g}"
            runs["e8"] = (
                f"(e) {args.after_publish_ms:g} ms after publishing, {workers} tiers",
                lambda: run_workers(m, workers, sleep, [target(tiers[c]) for c in own]),
                lambda: [(tiers[c], share(k, m)) for k, c in enumerate(own)],
            )
            runs["e1"] = (
                f"(e) {args.after_publish_ms:g} ms after publishing, one process",
                lambda: run_workers(m, 1, sleep, [target(tiers["B"])]),
                lambda: [(tiers["B"], m)],
            )
        per_round: list[dict] = []
        checks: dict[str, dict] = {}
        problems: list[str] = []
        for r in range(1, rounds + 1):
            print(f"\n-- round {r} of {rounds}")
            got = {}
            for key, (label, run, expected) in runs.items():
                reset()
                print(f"\n{label} (load {load()})")
                got[key] = run()
                show("", got[key])
                if expected is not None:
                    c = check_all(key, expected())
                    problems += [f"round {r} {key}: {p}" for p in c["problems"]]
                    checks.setdefault(key, c)
            per_round.append(got)

        def each(key: str, field: str) -> list[float]:
            return [g[key][field] for g in per_round if g[key].get(field) is not None]

        def ratio(a: str, b: str) -> list[float]:
            return [g[a]["per_second"] / g[b]["per_second"] for g in per_round]

        print(f"\n== Summary over {rounds} round(s): median [min–max] ==")
        for key, (label, _run, _e) in runs.items():
            print(
                f"{label}: "
                + summarise("tickets/s", each(key, "per_second"))
                + "; "
                + summarise(
                    "CPU ms/ticket, workers", [v * 1e3 for v in each(key, "cpu_per_ticket")]
                )
                + ", "
                + summarise("backends", [v * 1e3 for v in each(key, "server_cpu_per_ticket")])
            )
            if key != "ceiling" and each(key, "lock_held_mean"):
                print(
                    "    (d) rotation row held per turn: "
                    + summarise("mean", [v * 1e3 for v in each(key, "lock_held_mean")], "{:.2f}")
                    + " ms, "
                    + summarise("p99", [v * 1e3 for v in each(key, "lock_held_p99")], "{:.2f}")
                    + " ms; "
                    + summarise(
                        "sampled", [v * 1e3 for v in each(key, "lock_held_sampled")], "{:.2f}"
                    )
                    + " ms; "
                    + summarise("conflicts", each(key, "conflicts"), "{:,.0f}")
                )
        ratios = {
            "a_over_c": ratio("a", "c"),
            "b_over_c": ratio("b", "c"),
            "c_over_ceiling": ratio("c", "ceiling"),
            "a_over_ceiling": ratio("a", "ceiling"),
        }
        print(
            summarise(
                f"ratio (a) one tier, {workers} counties ÷ (c) one process:",
                ratios["a_over_c"],
                "{:.2f}x",
            )
        )
        print(
            summarise(
                f"ratio (b) {workers} tiers ÷ (c) one process:", ratios["b_over_c"], "{:.2f}x"
            )
            + " (target ≥ 1.7x on 2 cores)"
        )
        print(
            summarise("ratio (c) one process ÷ bare INSERTs:", ratios["c_over_ceiling"], "{:.3f}")
            + "; "
            + summarise("(a) ÷ bare INSERTs", ratios["a_over_ceiling"], "{:.3f}")
        )
        if "e8" in runs:
            ratios["e8_over_e1"] = ratio("e8", "e1")
            print(
                summarise(
                    f"ratio (e) {workers} tiers ÷ one process, {args.after_publish_ms:g} ms "
                    "after publishing:",
                    ratios["e8_over_e1"],
                    "{:.2f}x",
                )
                + " (target ≥ 6x)"
            )

        q = queries_of_one(target(tiers["B"]))
        print(
            f"\none ticket_create: {q['queries']} statements, {q['under_lock']} of them while "
            "the tier's rotation row is locked"
        )

        def median_run(key: str) -> dict:
            ordered = sorted(per_round, key=lambda g: g[key]["per_second"])
            return ordered[len(ordered) // 2][key]

        results: dict = {
            "database": db,
            "tickets": n,
            "workers": workers,
            "rounds": [{k: v for k, v in g.items()} for g in per_round],
            "checks": checks,
            "ratios": {
                k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                for k, v in ratios.items()
            },
            "queries": q,
            # The keys run_all.py reads: the median round's runs and ratios.
            "parallel": median_run("a"),
            "parallel_check": checks["a"],
            "serial": median_run("c"),
            "ratio_parallel_serial": statistics.median(ratios["a_over_c"]),
            "per_tier": median_run("b"),
            "ratio_per_tier_serial": statistics.median(ratios["b_over_c"]),
            "ceiling": median_run("ceiling"),
            "ratio_ceiling": statistics.median(ratios["a_over_ceiling"]),
        }
        print(f"\nwhole run: {fmt_duration(time.perf_counter() - started)}; load now {load()}")
    write_json(results, args.json)
    if problems:
        print("WRONG DATA: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
