"""The SLA sweep over 100,000 open tickets: idle cost, escalation rate, exactly-once.

Claim: the minute job (`escalation.services.sweep`: warnings, escalations,
auto-close, filling free capacity) costs what is due, not what is open — an idle
sweep reads two partial indexes (`ticket_breach_at`, `ticket_warn_at`) — and a
breached ticket is escalated exactly once, even by two sweeps racing each other.

Measured on PostgreSQL, on a fresh database set up for this run alone (see
_harness.py; DATABASE_URL defaults to the local server, REDIS_URL to
redis://127.0.0.1:6379/12). Setup, not timed: a synthetic province 基准省 (990000)
via the harness' `fill_province`: 10 prefectures × 10 counties × 10 schools, one
reporter per school, 3 engineers per county and 10 at the province (capacity 500,
on duty around the clock), so a breach at a county escalates to the province. Open
tickets are bulk-inserted with their SLA fields set by `escalation.sla` itself
(start / responded / pause, and mark_warned for the breached ones), each with its
opening stay (EscalationRecord); priorities and statuses mixed, all assigned
(COPY; the clock fields are computed once per priority, status and minute entered).
Breached and warning-due tickets are made from quiet ones (bulk_update), so the
table keeps --open open tickets throughout. Every sweep is called with the same
fixed `now`.

a. idle: `sweep(now)` with nothing due over 1,000 open tickets, then over
   100,000 (median of --runs each, after a warm-up; also each of its four steps):
   ratio large / small, which should be about 1; and the 8 kB pages its queries
   touch (EXPLAIN (ANALYZE, BUFFERS)), a figure the machine's load does not skew.
   Part a always runs: it inserts the tickets the other parts use.
b. 1,000 tickets (1 %) made breached: one `sweep(now)`: escalations/s and ms per
   escalation; the queries of one escalation.
c. another 1,000 made breached; two sweeps in two processes at once: the
   escalations they report must add up to 1,000, and every ticket must have exactly
   one breach stay and one breach entry.
d. 1 % breached and 1 % due for a warning among the 100,000: one full sweep (and a
   second one for what the first left).
e. 250 warnings and 250 breaches in 5 counties, swept while 2 processes raise
   tickets (`ticket_create`) in those counties: failed creations (deadlocks), the
   sweep's outcome, and the creations' latency. A FOR UPDATE that also locks the
   joined Unit rows (select_related without `of=("self",)`), taken before the
   event lock (core.events' advisory lock), deadlocks with a ticket_create that
   holds the event lock and checks its foreign keys at commit: this part fails
   within seconds when that comes back.

Figures only, beside their peers; timings are never asserted. Exits non-zero when
the data come out wrong (an escalation missed or doubled, a sweep or a creation that
failed).

Escalation costs about 37 queries in two transactions, so parts b–e dominate the
run: a few minutes on an idle machine, about 14 minutes at load 7–11.

Run: .venv/bin/python bench/tickets/sweep.py   (--open 20000 for a quick try)
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
import traceback
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_BENCH, _ROOT = _HERE.parent, _HERE.parent.parent
sys.path[:] = [
    str(_ROOT),
    *(p for p in sys.path if Path(p or ".").resolve() not in (_HERE, _BENCH, _ROOT)),
    str(_BENCH),
]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")

from _harness import fill_province, fmt_duration, fresh_database, write_json  # noqa: E402

PREFECTURES, COUNTIES_PER_PREFECTURE, SCHOOLS_PER_COUNTY = 10, 10, 10
COUNTY_ENGINEERS, PROVINCE_ENGINEERS, CAPACITY = 3, 10, 500
PRIORITY_MIX = ["normal"] * 5 + ["low"] * 2 + ["high"] * 2 + ["urgent"]
STATUS_MIX = ["assigned"] * 3 + ["in_progress"] * 5 + ["waiting"] * 2
CATEGORIES = ["account", "import", "transfer", "promotion", "fault", "other"]
DESCRIPTION = "学籍系统导入学生名单时提示“身份证号重复”，请协助核查。"
CLOCK_FIELDS = [
    "priority",
    "status",
    "created_at",
    "updated_at",
    "tier_entered_at",
    "first_response_at",
    "response_due",
    "resolution_due",
    "resolution_used",
    "clock_started_at",
    "response_warned",
    "resolution_warned",
    "breach_at",
    "warn_at",
]
BATCH = 10_000


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def median_of(fn, runs: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@contextlib.contextmanager
def cached_targets():
    """Setup only: `sla.targets_for` (one query per call) asked once per priority while
    the rows are built. This database has no SlaTarget rows, so every reporter gets the
    defaults and the answer depends on the priority alone."""
    from escalation import sla

    original = sla.targets_for
    cache: dict = {}

    def by_priority(priority, reporter_path):
        if priority not in cache:
            cache[priority] = original(priority, reporter_path)
        return cache[priority]

    sla.targets_for = by_priority
    try:
        yield
    finally:
        sla.targets_for = original


def copy_rows(model, objs, *, with_id: bool) -> None:
    """COPY the objects' rows into the model's table (bulk_create builds its SQL in
    Python and is several times slower at 100,000 rows)."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objs:
            copy.write_row(
                [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
            )


def reserve_ids(model, n: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, n],
        )
        return [row[0] for row in cursor.fetchall()]


# --- the synthetic province and its open tickets -------------------------------------


def build_people() -> dict:
    from accounts import services
    from accounts.models import Account, Level, Role
    from escalation.models import DutyProfile

    ministry = services.ministry_ensure()
    province = services.unit_create(
        level=Level.PROVINCE, code="990000", name="基准省", parent=ministry
    )
    _prefs, counties, schools = fill_province(
        province,
        prefectures=PREFECTURES,
        counties_per_prefecture=COUNTIES_PER_PREFECTURE,
        schools_per_county=SCHOOLS_PER_COUNTY,
    )

    def account(unit, n, engineer):
        return Account(
            username=f"{unit.code}-{'e' if engineer else 's'}{n}",
            password="!",
            unit=unit,
            role=Role.STAFF,
            is_support_engineer=engineer,
            must_change_password=False,
        )

    reporters = Account.objects.bulk_create(
        [account(s, 1, False) for s in schools], batch_size=2000
    )
    engineers = Account.objects.bulk_create(
        [account(c, e, True) for c in counties for e in range(1, COUNTY_ENGINEERS + 1)]
        + [account(province, e, True) for e in range(1, PROVINCE_ENGINEERS + 1)],
        batch_size=2000,
    )
    DutyProfile.objects.bulk_create([DutyProfile(account=a, capacity=CAPACITY) for a in engineers])
    by_county: dict[int, list[int]] = {}
    for a in engineers:
        if a.unit_id != province.pk:
            by_county.setdefault(a.unit_id, []).append(a.pk)
    return {
        "province": province,
        "counties": counties,
        "schools": schools,
        "reporter_of": {r.unit_id: r.pk for r in reporters},
        "county_of": {s.pk: s.parent_id for s in schools},
        "engineers_of": by_county,
    }


def set_clocks(t, *, status: str, entered: datetime, now: datetime, kind: str) -> None:
    """The ticket's SLA fields as `escalation.sla` sets them for a ticket that entered
    its tier at `entered`; kind is "quiet" (nothing due at `now`), "breached" (due,
    its warnings already sent) or "warn" (a warning due, no breach)."""
    from escalation import sla

    t.status = status
    t.created_at = t.updated_at = entered
    sla.start(t, entered)
    if status in ("in_progress", "waiting"):
        sla.responded(t, entered + timedelta(minutes=1))
    if status == "waiting":
        sla.pause(t, entered + timedelta(minutes=2))
    if kind == "breached":
        sla.mark_warned(t, now)
        ok = t.breach_at is not None and t.breach_at <= now and t.warn_at is None
    elif kind == "warn":
        ok = t.warn_at is not None and t.warn_at <= now < t.breach_at
    else:
        ok = (t.breach_at is None or t.breach_at > now) and (t.warn_at is None or t.warn_at > now)
    if not ok:
        sys.exit(f"setup: could not give ticket {t.pk} a {kind} clock ({t.priority}, {status})")


def insert_tickets(people: dict, start: int, stop: int, now: datetime) -> list[int]:
    """Open tickets start … stop−1, nothing due at `now`, and their opening stays
    (COPY, in batches); returns their ids. The clock fields are computed once per
    (priority, status, minute entered) on a template ticket and copied."""
    from escalation.models import EntryKind, EscalationRecord
    from notices.services import render_body
    from tickets.models import Ticket

    html = render_body(DESCRIPTION)
    schools = people["schools"]
    clocks: dict[tuple, dict] = {}
    ids = []
    with cached_targets():
        for lo in range(start, stop, BATCH):
            hi = min(stop, lo + BATCH)
            batch = []
            for pk, i in zip(reserve_ids(Ticket, hi - lo), range(lo, hi), strict=True):
                school = schools[i % len(schools)]
                county = people["county_of"][school.pk]
                team = people["engineers_of"][county]
                priority = PRIORITY_MIX[i % len(PRIORITY_MIX)]
                status = STATUS_MIX[(i // 7) % len(STATUS_MIX)]
                ago = 300 + 60 * ((i * 7919) % 15)  # entered 5–19 minutes ago
                key = (priority, status, ago)
                if key not in clocks:
                    template = Ticket(priority=priority, reporter_path=school.path)
                    entered = now - timedelta(seconds=ago)
                    set_clocks(template, status=status, entered=entered, now=now, kind="quiet")
                    clocks[key] = {f: getattr(template, f) for f in CLOCK_FIELDS}
                batch.append(
                    Ticket(
                        id=pk,
                        reporter_id=people["reporter_of"][school.pk],
                        reporter_unit_id=school.pk,
                        reporter_path=school.path,
                        title=f"基准工单 {i}",
                        description=DESCRIPTION,
                        description_html=html,
                        category=CATEGORIES[i % len(CATEGORIES)],
                        tier_id=county,
                        assignee_id=team[(i // len(schools)) % len(team)],
                        hop=1,
                        **clocks[key],
                    )
                )
            copy_rows(Ticket, batch, with_id=True)
            copy_rows(
                EscalationRecord,
                [
                    EscalationRecord(
                        ticket_id=t.pk,
                        tier_id=t.tier_id,
                        level="county",
                        hop=1,
                        kind=EntryKind.OPENED,
                        entered_at=t.created_at,
                        reporter_path=t.reporter_path,
                        created_on=t.created_at,
                    )
                    for t in batch
                ],
                with_id=False,
            )
            ids += [t.pk for t in batch]
    return ids


def make_due(pks: list[int], kind: str, now: datetime) -> None:
    """Turn quiet tickets into breached ones or ones due for a warning (bulk_update)."""
    from tickets.models import Ticket

    tickets = list(Ticket.objects.filter(pk__in=pks))
    with cached_targets():
        for t in tickets:
            if kind == "breached":
                status = "assigned" if t.pk % 2 else "in_progress"
                entered = now - timedelta(days=30, seconds=t.pk % 3600)
            else:  # a first-response clock past 80 %: urgent (30 min) or high (2 h)
                t.priority = "urgent" if t.pk % 2 else "high"
                status = "assigned"
                entered = now - timedelta(minutes=27 if t.priority == "urgent" else 100)
            set_clocks(t, status=status, entered=entered, now=now, kind=kind)
    Ticket.objects.bulk_update(tickets, CLOCK_FIELDS, batch_size=1000)


class Pool:
    """Quiet tickets still at their county, handed out at random (seeded)."""

    def __init__(self, ids: list[int], people: dict):
        from tickets.models import Ticket

        self.rng = random.Random(20261123)
        self.ids = list(ids)
        self.rng.shuffle(self.ids)
        self.tier_of = dict(Ticket.objects.filter(pk__in=ids).values_list("pk", "tier_id"))

    def take(self, n: int, tiers: set[int] | None = None) -> list[int]:
        if tiers is None:
            out, self.ids = self.ids[:n], self.ids[n:]
        else:
            out = [pk for pk in self.ids if self.tier_of[pk] in tiers][:n]
            taken = set(out)
            self.ids = [pk for pk in self.ids if pk not in taken]
        if len(out) < n:
            sys.exit(f"setup: only {len(out)} quiet tickets left, {n} wanted")
        return out


# --- checks -------------------------------------------------------------------------------


def check_escalated(pks: list[int], province_id: int) -> list[str]:
    """Each ticket escalated exactly once: at the province, hop 2, one breach stay, one
    breach entry, its county stay closed and marked breached."""
    from escalation.models import EntryKind, EscalationRecord
    from tickets.models import EventKind, Ticket, TicketEvent

    rows = list(Ticket.objects.filter(pk__in=pks).values_list("pk", "tier_id", "hop", "breached"))
    wrong_place = sum(1 for _pk, tier, hop, br in rows if tier != province_id or hop != 2 or not br)
    stays = Counter(
        EscalationRecord.objects.filter(ticket_id__in=pks, kind=EntryKind.BREACH).values_list(
            "ticket_id", flat=True
        )
    )
    entries = Counter(
        TicketEvent.objects.filter(ticket_id__in=pks, kind=EventKind.BREACH).values_list(
            "ticket_id", flat=True
        )
    )
    open_county = EscalationRecord.objects.filter(
        ticket_id__in=pks, hop=1, left_at__isnull=True
    ).count()
    unbreached = EscalationRecord.objects.filter(ticket_id__in=pks, hop=1, breached=False).count()
    problems = []
    if wrong_place:
        problems.append(f"{wrong_place} of {len(pks)} not at the province with hop 2, breached")
    bad = sum(1 for pk in pks if stays.get(pk) != 1)
    if bad:
        problems.append(f"{bad} without exactly one breach stay ({sum(stays.values())} in all)")
    bad = sum(1 for pk in pks if entries.get(pk) != 1)
    if bad:
        problems.append(f"{bad} without exactly one breach entry ({sum(entries.values())} in all)")
    if open_county or unbreached:
        problems.append(f"{open_county} county stays left open, {unbreached} not marked breached")
    return problems


def describe(exc: BaseException) -> str:
    """The error's first line, PostgreSQL's CONTEXT line if any, and the project
    functions it went through (outermost first)."""
    frames = [
        f"{Path(f.filename).relative_to(_ROOT)}:{f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename.startswith(str(_ROOT))
        and "/site-packages/" not in f.filename
        and not f.filename.startswith(str(_BENCH))
    ]
    lines = str(exc).splitlines() or [""]
    context = next((line for line in lines if line.startswith("CONTEXT:")), "")
    where = " → ".join(frames) or "?"
    return f"{type(exc).__name__}: {lines[0]} [{where}]" + (f" {context}" if context else "")


# --- worker processes (two racing sweeps; ticket creation during a sweep) ----------


def worker(job: str, k: int, arg: dict, barrier, stop, results) -> None:
    try:
        import django

        django.setup()
        from django.db import connections

        from accounts.models import Account
        from escalation import services as escalation
        from tickets import services

        Account.objects.exists()  # connection open before the start
        if job == "sweep":
            now = datetime.fromisoformat(arg["now"])
            barrier.wait(timeout=300)
            t0 = time.perf_counter()
            try:
                counts, error = escalation.sweep(now), None
            except Exception as exc:  # the finding, not a crash of the benchmark
                counts, error = {}, describe(exc)
            results.put((k, {"counts": counts, "seconds": time.perf_counter() - t0}, error))
            return
        reporters = list(Account.objects.select_related("unit").filter(pk__in=arg["reporters"]))
        barrier.wait(timeout=300)
        done, latencies, failures = 0, [], Counter()
        i = k
        while not stop.is_set():
            reporter = reporters[i % len(reporters)]
            t0 = time.perf_counter()
            try:
                services.ticket_create(
                    actor=reporter,
                    title=f"并发工单 {k}-{i}",
                    description=DESCRIPTION,
                    category=CATEGORIES[i % len(CATEGORIES)],
                    priority="normal",
                )
                done += 1
            except Exception as exc:
                failures[describe(exc)] += 1
                connections.close_all()
            latencies.append(time.perf_counter() - t0)
            i += 2
        results.put((k, {"done": done, "latencies": latencies, "failures": failures}, None))
    except BaseException:
        results.put((k, {}, traceback.format_exc()))
        raise SystemExit(1) from None


def spawn(jobs: list[tuple[str, dict]], *, run_parent=None):
    """Start one process per job, release them together; run_parent(stop) in this
    process meanwhile (then stop the workers) if given. Returns ({k: result}, errors)."""
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs) + (1 if run_parent else 0))
    stop, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(job, k, arg, barrier, stop, results))
        for k, (job, arg) in enumerate(jobs)
    ]
    for p in procs:
        p.start()
    parent = None
    if run_parent:
        barrier.wait(timeout=300)
        try:
            parent = run_parent()
        finally:
            stop.set()
    got = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    crashed = [err for _k, _r, err in got if err and "\n" in err]
    if crashed:
        sys.exit("a worker process crashed:\n" + crashed[0])
    return {k: (r, err) for k, r, err in got}, parent


# --- the parts --------------------------------------------------------------------------


def idle_figures(now: datetime, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from escalation import services
    from tickets.models import Ticket

    counts = services.sweep(now)
    if any(counts.values()):
        sys.exit(f"the idle sweep found work: {counts}")
    with CaptureQueriesContext(connection) as ctx:
        services.sweep(now)
    whole, times = median_of(lambda: services.sweep(now), runs)
    steps = {
        "warn_due": lambda: services.warn_due(now),
        "breach scan": lambda: list(
            Ticket.objects.filter(breach_at__lte=now)
            .order_by("breach_at")
            .values_list("pk", "hop")[: services.SWEEP_BATCH]
        ),
        "close_resolved": lambda: services.close_resolved(now),
        "drain_all": lambda: services.drain_all(now),
    }
    parts = {name: median_of(fn, runs)[0] for name, fn in steps.items()}
    blocks, scans = plan_blocks([q["sql"] for q in ctx.captured_queries])
    return {
        "seconds": whole,
        "min": min(times),
        "max": max(times),
        "queries": len(ctx.captured_queries),
        "steps": parts,
        "blocks": blocks,
        "scans": scans,
    }


def plan_blocks(sqls: list[str]) -> tuple[int, list[str]]:
    """Buffers (8 kB pages, from cache or disk) the queries touch, by EXPLAIN (ANALYZE,
    BUFFERS) — a cost that other work on the machine does not skew — and their scans."""
    from django.db import connection

    total, scans = 0, []

    def walk(node):
        if "Scan" in node["Node Type"]:
            name = node.get("Index Name") or node.get("Relation Name", "")
            scans.append(f"{node['Node Type']} {name}".strip())
        for child in node.get("Plans", []):
            walk(child)

    with connection.cursor() as cursor:
        for sql in sqls:
            if not sql.startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0][0]["Plan"]
            total += plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
            walk(plan)
    return total, scans


def show_idle(label: str, r: dict, runs: int) -> None:
    steps = ", ".join(f"{k} {ms(v)}" for k, v in r["steps"].items())
    print(
        f"{label}: {ms(r['seconds'])} (median of {runs}; min {ms(r['min'])}, max {ms(r['max'])}; "
        f"{r['queries']} queries)\n       steps: {steps}\n"
        f"       buffers touched: {r['blocks']} pages; scans: {'; '.join(r['scans'])}"
    )


def explain_idle(now: datetime) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from escalation import services

    with CaptureQueriesContext(connection) as ctx:
        services.sweep(now)
    for q in ctx.captured_queries:
        sql = q["sql"]
        if not sql.startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN ANALYZE " + sql)
            plan = [row[0] for row in cursor.fetchall()]
        print(f"-- plan ({float(q['time']) * 1e3:.1f} ms): {sql[:160]} …")
        for line in plan:
            print("   " + line)


def part_a(people, now, args, results) -> list[int]:
    print(f"\n== a. Idle sweep: nothing due (load {load()}) ==")
    small, n = min(args.small, args.open), args.open
    t0 = time.perf_counter()
    ids = insert_tickets(people, 0, small, now)
    analyze()
    print(f"setup: {small:,} open tickets in {time.perf_counter() - t0:.1f} s")
    few = idle_figures(now, args.runs)
    show_idle(f"sweep over {small:,} open tickets", few, args.runs)
    t0 = time.perf_counter()
    ids += insert_tickets(people, small, n, now)
    analyze()
    print(f"setup: {n - small:,} more open tickets in {time.perf_counter() - t0:.1f} s")
    many = idle_figures(now, args.runs)
    show_idle(f"sweep over {n:,} open tickets", many, args.runs)
    ratio = many["seconds"] / few["seconds"]
    print(
        f"ratio  {n:,} / {small:,} open tickets: {ratio:.2f} in time (about 1 expected), "
        f"{many['blocks'] / max(1, few['blocks']):.2f} in pages touched"
    )
    if args.explain:
        explain_idle(now)
    results["idle"] = {"small": small, "large": n, "few": few, "many": many, "ratio": ratio}
    return ids


def part_b(people, now, args, pool, results) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from escalation import services

    n = args.breached
    print(f"\n== b. One sweep escalating {n:,} breached tickets (load {load()}) ==")
    pks = pool.take(n)
    make_due(pks, "breached", now)
    t0 = time.perf_counter()
    counts = services.sweep(now)
    seconds = time.perf_counter() - t0
    problems = check_escalated(pks, people["province"].pk)
    if counts["escalated"] != n:
        problems.append(f"the sweep escalated {counts['escalated']}, {n} were breached")
    one = pool.take(1)
    make_due(one, "breached", now)
    with CaptureQueriesContext(connection) as ctx:
        services.escalate_breached(one[0], 1, now)
    print(
        f"ours   sweep(now): {counts} in {seconds:.2f} s = {n / seconds:,.0f} escalations/s, "
        f"{ms(seconds / n)} per escalation\n"
        f"       one escalate_breached: {len(ctx.captured_queries)} queries (with the drain of "
        f"the county it left, run after its commit)\n"
        f"check  {'OK' if not problems else 'WRONG: ' + '; '.join(problems)}"
    )
    results["escalate"] = {
        "breached": n,
        "counts": counts,
        "seconds": seconds,
        "per_second": n / seconds,
        "per_escalation_seconds": seconds / n,
        "queries": len(ctx.captured_queries),
    }
    return problems


def part_c(people, now, args, pool, results) -> list[str]:
    n = args.breached
    print(f"\n== c. Two sweeps at once over the same {n:,} breached tickets (load {load()}) ==")
    pks = pool.take(n)
    make_due(pks, "breached", now)
    got, _ = spawn([("sweep", {"now": now.isoformat()})] * 2)
    problems = []
    total = 0
    for k, (r, err) in sorted(got.items()):
        if err:
            problems.append(f"sweep {k + 1} failed: {err}")
            print(f"sweep {k + 1}: FAILED — {err}")
            continue
        total += r["counts"]["escalated"]
        print(f"sweep {k + 1}: {r['counts']} in {r['seconds']:.2f} s")
    wall = max(r.get("seconds", 0) for r, _e in got.values())
    if total != n:
        problems.append(f"the two sweeps escalated {total} in all, {n} were breached")
    problems += check_escalated(pks, people["province"].pk)
    print(
        f"total  {total:,} escalations for {n:,} breached tickets (exactly once expected) in "
        f"{wall:.2f} s = {n / wall:,.0f} escalations/s\n"
        f"check  {'OK' if not problems else 'WRONG: ' + '; '.join(problems)}"
    )
    results["race"] = {"breached": n, "escalated": total, "seconds": wall}
    return problems


def part_d(people, now, args, pool, results) -> list[str]:
    from django.db.models import Q

    from escalation import services
    from tickets.models import OPEN_STATUSES, Ticket

    print(
        f"\n== d. A full sweep: {args.breached:,} breached and {args.warned:,} due for a warning "
        f"(load {load()}) =="
    )
    breached, warned = pool.take(args.breached), pool.take(args.warned)
    make_due(breached, "breached", now)
    make_due(warned, "warn", now)
    analyze()
    open_n = Ticket.objects.filter(status__in=OPEN_STATUSES).count()
    t0 = time.perf_counter()
    first = services.sweep(now)
    s1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = services.sweep(now)
    s2 = time.perf_counter() - t0
    left = Ticket.objects.filter(Q(pk__in=warned) & Q(warn_at__lte=now)).count()
    problems = check_escalated(breached, people["province"].pk)
    if first["escalated"] != len(breached):
        problems.append(f"the sweep escalated {first['escalated']} of {len(breached)}")
    if first["warned"] + second["warned"] != len(warned) or left:
        problems.append(
            f"warned {first['warned']} + {second['warned']} of {len(warned)}, {left} still due"
        )
    cap = services.SWEEP_BATCH
    print(
        f"ours   sweep(now) over {open_n:,} open tickets: {first} in {s1:.2f} s\n"
        f"       = {ms(s1 / max(1, first['escalated'] + first['warned']))} per ticket acted on\n"
        f"       a second sweep: {second} in {s2:.2f} s"
        + (
            f"\n       ({len(warned) - first['warned']:,} warnings waited for the next minute: "
            f"a batch of {cap} was locked by someone else)"
            if first["warned"] < len(warned)
            else ""
        )
        + f"\ncheck  {'OK' if not problems else 'WRONG: ' + '; '.join(problems)}"
    )
    results["full"] = {
        "open": open_n,
        "breached": len(breached),
        "warn_due": len(warned),
        "first": first,
        "first_seconds": s1,
        "second": second,
        "second_seconds": s2,
    }
    return problems


def part_e(people, now, args, pool, results) -> list[str]:
    from escalation import services

    counties = [c.pk for c in people["counties"][: args.race_counties]]
    n_warn = n_breach = args.race_due
    print(
        f"\n== e. A sweep ({n_warn} warnings, {n_breach} breaches in {len(counties)} counties) "
        f"while 2 processes raise tickets there (load {load()}) =="
    )
    warned = pool.take(n_warn, set(counties))
    breached = pool.take(n_breach, set(counties))
    make_due(warned, "warn", now)
    make_due(breached, "breached", now)
    reporters = [
        people["reporter_of"][s.pk] for s in people["schools"] if s.parent_id in set(counties)
    ]
    sweep_out: dict = {}

    def run_sweep():
        time.sleep(0.5)  # the creators are under way
        t0 = time.perf_counter()
        try:
            sweep_out["counts"] = services.sweep(now)
        except Exception as exc:
            sweep_out["error"] = describe(exc)
        sweep_out["seconds"] = time.perf_counter() - t0
        time.sleep(0.5)

    got, _ = spawn([("create", {"reporters": reporters})] * 2, run_parent=run_sweep)
    done = sum(r["done"] for r, _e in got.values())
    failures: Counter[str] = Counter()
    latencies: list[float] = []
    for r, _e in got.values():
        failures.update(r["failures"])
        latencies += r["latencies"]
    failed = sum(failures.values())
    p95 = (
        statistics.quantiles(latencies, n=20, method="inclusive")[-1]
        if len(latencies) > 1
        else float("nan")
    )
    problems = []
    if "error" in sweep_out:
        problems.append(f"the sweep failed: {sweep_out['error']}")
        print(f"sweep: FAILED after {sweep_out['seconds']:.2f} s — {sweep_out['error']}")
    else:
        print(f"sweep: {sweep_out['counts']} in {sweep_out['seconds']:.2f} s")
    print(
        f"creations meanwhile: {done:,} done, {failed:,} failed; latency p50 "
        f"{ms(statistics.median(latencies))}, p95 {ms(p95)}, max {ms(max(latencies))}"
    )
    for what, count in failures.most_common():
        print(f"       {count:,} × {what}")
    if failed:
        problems.append(f"{failed} of {done + failed} ticket creations failed during the sweep")
    print(f"check  {'OK' if not problems else 'WRONG: ' + '; '.join(problems)}")
    results["race_with_creation"] = {
        "counties": len(counties),
        "warn_due": n_warn,
        "breached": n_breach,
        "sweep": sweep_out,
        "created": done,
        "failed": failed,
        "failures": dict(failures),
        "p95": p95,
    }
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=100_000, help="open tickets in all")
    parser.add_argument("--small", type=int, default=1_000, help="open tickets for part a's peer")
    parser.add_argument("--breached", type=int, help="breached per part (default 1 %% of --open)")
    parser.add_argument("--warned", type=int, help="due for a warning (default 1 %% of --open)")
    parser.add_argument("--race-due", type=int, default=250, help="part e: warnings and breaches")
    parser.add_argument("--race-counties", type=int, default=5)
    parser.add_argument("--runs", type=int, default=21, help="idle sweeps per median")
    parser.add_argument("--parts", default="abcde", help="which parts to run, e.g. ab")
    parser.add_argument("--explain", action="store_true", help="plans of the idle sweep's queries")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.breached = args.breached or max(1, args.open // 100)
    args.warned = args.warned or max(1, args.open // 100)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("sweep.py measures PostgreSQL's row locks: give a postgres DATABASE_URL")
    started = time.perf_counter()
    problems: list[str] = []
    with fresh_database() as db:
        from django.utils import timezone

        now = timezone.now().replace(microsecond=0)
        print(f"\n== The SLA sweep over {args.open:,} open tickets (now = {now.isoformat()}) ==")
        t0 = time.perf_counter()
        people = build_people()
        print(
            f"setup: 基准省 with {len(people['counties'])} counties, {len(people['schools']):,} "
            f"schools and reporters, {COUNTY_ENGINEERS} engineers per county and "
            f"{PROVINCE_ENGINEERS} at the province (capacity {CAPACITY}) in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        results: dict = {"database": db, "open": args.open}
        ids = part_a(people, now, args, results)
        pool = Pool(ids, people)
        for part, fn in (("b", part_b), ("c", part_c), ("d", part_d), ("e", part_e)):
            if part in args.parts:
                problems += fn(people, now, args, pool, results)
        print(f"\nwhole run: {fmt_duration(time.perf_counter() - started)}; load now {load()}")
    write_json(results, args.json)
    if problems:
        print("WRONG DATA: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
