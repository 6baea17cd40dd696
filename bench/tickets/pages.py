"""Ticket pages at 10,000 versus 1,000,000 tickets: the queue, the tier queue, the dashboard.

Claim (the issue): the pages an engineer and a manager live on cost the same whether
the database holds ten thousand tickets or a million, because every one of them
reads only open tickets (partial indexes) or the tickets created in the dashboard's
window (an index on creation time), never the whole history. Target: p95 page time
with 1,000,000 tickets / p95 with 10,000 ≤ 2. (Peers' ticket lists are reported to
slow to tens of seconds at a few hundred thousand tickets; no peer is run here.)

PostgreSQL only (the history is loaded with COPY). On a fresh database set up for
this run alone (see _harness.py; DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/bench_pages — only the admin connection, the
run's own bench_<pid> is created and dropped there; the admin database is created,
empty, if missing, and left for the next runs — REDIS_URL to redis://127.0.0.1:6379/14):

setup (not timed): a synthetic province 基准省 (990000): 10 prefectures × 10 counties
× 30 schools (--schools-per-county), one staff reporter per school, 2 support
engineers per county and 10 at the province (county and province are the tiers; the
prefecture tier is off, as by default), a manager of the first county 990101 (the
"busy" county: a tenth of all tickets come from its schools) and a province manager.

A. 10,000 "recent" tickets, created over the last 30 days (≤ 29.5 days ago), with
   their stays (EscalationRecord: one per tier visited, 15 % escalated to the
   province). 500 are open (5 %): 60 at the busy county's tier (20 waiting, 20 held
   by each of its two engineers), 240 at other counties' tiers, 200 at the province
   tier (50 waiting, 15 held by each province engineer), with live SLA clocks
   (breach_at / warn_at); the rest resolved or closed.
B. the same database plus --old (default 990,000) older tickets, created 31–720 days
   ago, all closed (breach_at / warn_at NULL), each with one stay (created_on = the
   ticket's created_at, reporter_path copied), 85 % at a county tier and 15 % at the
   province, assigned to those tiers' engineers, spread over the same schools (a
   tenth in the busy county). Loaded with COPY; then VACUUM (ANALYZE), as autovacuum
   soon would after so many inserts.

Timed in each scenario, through Django's test Client (the whole request: session,
middleware, context processors, template) logged in with force_login: 3 warm-ups
then --runs (30) requests per page, the pages interleaved round by round so that a
change in the machine's load falls on all of them alike; p50 and p95 per page:

  - /tickets/queue/      my queue, as an engineer of the busy county (20 held)
  - /tickets/tier/       the busy county's tier queue, as that engineer (60 open)
  - /tickets/tier/       the province's tier queue, as a province engineer (200 open)
  - /tickets/dashboard/?days=30  as the busy county's manager
  - /tickets/dashboard/?days=30  as the province manager

Floor: `SELECT id, title, status, tier_id, assignee_id, created_at, breach_at FROM
tickets_ticket ORDER BY id LIMIT 30` through a cursor, in the same rounds.

The data are checked before anything is timed (queue and tier-queue counts, rows on
the page, the dashboards' figures), and the dashboards must show the same figures in
B as in A; a mismatch exits non-zero. Timings are reported, never asserted. For a
page over the target, the queries whose time grew most are listed with the
EXPLAIN (ANALYZE, BUFFERS) of the worst; --explain prints the plans of every ticket
query of every page in both scenarios.

Run: .venv/bin/python bench/tickets/pages.py   (--old 90000 for a quick try)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

# The script's own directory (bench/tickets) must not shadow project modules, and
# bench/ holds the shared harness: project root first, bench/ and this dir last.
_HERE = Path(__file__).resolve().parent
_BENCH, _ROOT = _HERE.parent, _HERE.parent.parent
sys.path[:] = [
    str(_ROOT),
    *(p for p in sys.path if Path(p or ".").resolve() not in (_HERE, _BENCH, _ROOT)),
    str(_BENCH),
]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_pages")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["MFA_REQUIRED_FOR_SENIOR_MANAGERS"] = "0"  # the province manager has no TOTP

from _harness import (  # noqa: E402
    ensure_admin_database,
    fill_province,
    fmt_duration,
    fresh_database,
    insert_units,
    write_json,
)

RATIO_TARGET = 2.0
RECENT = 10_000
HOT_SHARE = 0.10  # share of all tickets raised in the busy county's schools
ESCALATED_SHARE = 0.15
BREACHED_SHARE = 0.08
COUNTY_ENGINEERS = 2
PROVINCE_ENGINEERS = 10
# Open tickets of the recent set (5 % of 10,000).
HOT_WAITING, HOT_HELD_EACH = 20, 20  # busy county's tier: 20 new + 20 held by each engineer
OTHER_COUNTY_OPEN = 240  # at the other counties' tiers
PROV_WAITING, PROV_HELD_EACH = 50, 15  # province tier: 50 new + 15 held by each engineer
CHUNK = 50_000  # rows per COPY transaction for the history

TICKET_COLUMNS = (
    "id",
    "reporter_id",
    "reporter_unit_id",
    "reporter_path",
    "title",
    "description",
    "description_html",
    "category",
    "priority",
    "status",
    "tier_id",
    "assignee_id",
    "hop",
    "round",
    "created_at",
    "updated_at",
    "tier_entered_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "response_due",
    "resolution_due",
    "resolution_used",
    "clock_started_at",
    "response_warned",
    "resolution_warned",
    "breach_at",
    "warn_at",
    "breached",
    "rating",
    "rating_comment",
)
RECORD_COLUMNS = (
    "id",
    "ticket_id",
    "tier_id",
    "level",
    "from_tier_id",
    "round",
    "hop",
    "kind",
    "reason",
    "actor_id",
    "entered_at",
    "left_at",
    "breached",
    "alerted",
    "reporter_path",
    "created_on",
)
CATEGORIES = ("account", "import", "problem_records", "transfer", "promotion", "fault", "other")
PRIORITIES = ("normal",) * 6 + ("low",) * 2 + ("high", "urgent")
TITLES = (
    "学籍导入提示身份证号重复",
    "转学申请审核后状态未更新",
    "毕业升级后班级信息丢失",
    "账号无法登录，提示密码错误",
    "问题学籍核查名单下载失败",
    "新生注册时系统响应缓慢",
    "休学学生信息无法修改",
    "数据导入模板字段说明不清",
)
DESCRIPTION = "学校在学籍系统中操作时遇到问题，请协助核查。\n\n- 学校：基准学校\n- 时间：上午"
DESCRIPTION_HTML = "<p>学校在学籍系统中操作时遇到问题，请协助核查。</p>\n<ul>\n<li>学校：基准学校</li>\n<li>时间：上午</li>\n</ul>"


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --- the synthetic province ----------------------------------------------------------


def account(username: str, unit_id: int, **fields):
    from accounts.models import Account, Role

    # "!" is an unusable password: make_password(None) would cost a random string each.
    return Account(
        username=username,
        password="!",
        unit_id=unit_id,
        role=fields.pop("role", Role.STAFF),
        must_change_password=False,
        **fields,
    )


def build_tree(args) -> SimpleNamespace:
    from accounts import services
    from accounts.models import Account, Level, Role

    t0 = time.perf_counter()
    ministry = services.ministry_ensure()
    (province,) = insert_units(
        [services.unit_build(level=Level.PROVINCE, code="990000", name="基准省", parent=ministry)]
    )
    _prefs, counties, schools = fill_province(
        province,
        prefectures=args.prefectures,
        counties_per_prefecture=args.counties_per_prefecture,
        schools_per_county=args.schools_per_county,
    )
    county_index = {c.pk: i for i, c in enumerate(counties)}
    reporters = [account(f"{s.code}-s1", s.pk) for s in schools]
    county_engineers = [
        [account(f"{c.code}-e{n}", c.pk, is_support_engineer=True) for n in range(1, 3)]
        for c in counties
    ]
    province_engineers = [
        account(f"{province.code}-e{n}", province.pk, is_support_engineer=True)
        for n in range(1, PROVINCE_ENGINEERS + 1)
    ]
    hot = counties[0]
    county_manager = account(f"{hot.code}-m1", hot.pk, role=Role.MANAGER)
    province_manager = account(f"{province.code}-m1", province.pk, role=Role.MANAGER)
    Account.objects.bulk_create(
        reporters
        + [e for pair in county_engineers for e in pair]
        + province_engineers
        + [county_manager, province_manager],
        batch_size=2000,
    )
    school_rows = [(s.pk, s.path, county_index[s.parent_id]) for s in schools]
    tree = SimpleNamespace(
        province=province,
        counties=counties,
        hot=hot,
        schools=school_rows,
        hot_schools=[i for i, row in enumerate(school_rows) if row[2] == 0],
        cold_schools=[i for i, row in enumerate(school_rows) if row[2] != 0],
        schools_of=[
            [i for i, row in enumerate(school_rows) if row[2] == k] for k in range(len(counties))
        ],
        reporters=[a.pk for a in reporters],
        county_engineers=[[e.pk for e in pair] for pair in county_engineers],
        province_engineers=[e.pk for e in province_engineers],
        engineer=county_engineers[0][0],
        province_engineer=province_engineers[0],
        county_manager=county_manager,
        province_manager=province_manager,
    )
    n_accounts = Account.objects.count()
    print(
        f"setup: 基准省 (990000) with {len(_prefs)} prefectures, {len(counties)} counties, "
        f"{len(schools):,} schools; {n_accounts:,} accounts ({len(schools):,} reporters, "
        f"{COUNTY_ENGINEERS * len(counties)} county + {PROVINCE_ENGINEERS} province engineers, "
        f"2 managers) in {time.perf_counter() - t0:.1f} s"
    )
    return tree


# --- ticket rows -----------------------------------------------------------------------


class Maker:
    """Rows for COPY: tickets and their stays, in TICKET_COLUMNS / RECORD_COLUMNS order."""

    def __init__(self, tree, now, seed: int):
        from escalation.sla import DEFAULT_TARGETS

        self.tree = tree
        self.now = now
        self.rng = random.Random(seed)
        self.targets = {str(k): v for k, v in DEFAULT_TARGETS.items()}
        self.school_index = {unit_id: i for i, (unit_id, _p, _c) in enumerate(tree.schools)}

    def school(self) -> int:
        t, rng = self.tree, self.rng
        return rng.choice(t.hot_schools if rng.random() < HOT_SHARE else t.cold_schools)

    def ticket(self, tid, school, *, created, status, tier_id, hop, assignee, **extra) -> dict:
        rng = self.rng
        unit_id, path, _county = self.tree.schools[school]
        row = {
            "id": tid,
            "reporter_id": self.tree.reporters[school],
            "reporter_unit_id": unit_id,
            "reporter_path": path,
            "title": TITLES[tid % len(TITLES)],
            "description": DESCRIPTION,
            "description_html": DESCRIPTION_HTML,
            "category": rng.choice(CATEGORIES),
            "priority": rng.choice(PRIORITIES),
            "status": status,
            "tier_id": tier_id,
            "assignee_id": assignee,
            "hop": hop,
            "round": 0,
            "created_at": created,
            "updated_at": created,
            "tier_entered_at": created,
            "first_response_at": None,
            "resolved_at": None,
            "closed_at": None,
            "response_due": None,
            "resolution_due": None,
            "resolution_used": 0.0,
            "clock_started_at": None,
            "response_warned": False,
            "resolution_warned": False,
            "breach_at": None,
            "warn_at": None,
            "breached": False,
            "rating": None,
            "rating_comment": "",
        }
        row.update(extra)
        return row

    def done(self, row: dict) -> dict:
        """A resolved or closed ticket: responded, resolved, closed three days later."""
        rng, created = self.rng, row["created_at"]
        first = created + timedelta(minutes=rng.uniform(5, 240))
        start = max(first, row["tier_entered_at"])
        resolved = min(start + timedelta(hours=rng.uniform(2, 72)), self.now - timedelta(minutes=1))
        closed = resolved + timedelta(days=3)
        is_closed = closed <= self.now
        row.update(
            status="closed" if is_closed else "resolved",
            first_response_at=first,
            resolved_at=resolved,
            closed_at=closed if is_closed else None,
            updated_at=closed if is_closed else resolved,
            breached=rng.random() < BREACHED_SHARE,
        )
        if is_closed and rng.random() < 0.3:
            row.update(rating=rng.randint(3, 5))
        return row

    def clocks(self, row: dict, entered) -> dict:
        """An open ticket's live SLA clocks (wall-clock approximation of escalation/sla.py)."""
        rng = self.rng
        response, resolution = self.targets[row["priority"]]
        status = row["status"]
        responded = status in ("in_progress", "waiting") or (
            status == "assigned" and rng.random() < 0.5
        )
        first = entered + timedelta(minutes=rng.uniform(1, response)) if responded else None
        if first is not None and first > self.now:
            first = self.now - timedelta(minutes=1)
        response_due = None if responded else entered + timedelta(minutes=response)
        resolution_due = None if status == "waiting" else entered + timedelta(minutes=resolution)
        dues = [d for d in (response_due, resolution_due) if d is not None]
        warns = []
        if response_due is not None:
            warns.append(entered + timedelta(minutes=0.8 * response))
        if resolution_due is not None:
            warns.append(entered + timedelta(minutes=0.8 * resolution))
        breach_at = min(dues) if dues else None
        row.update(
            tier_entered_at=entered,
            updated_at=first or entered,
            first_response_at=first,
            response_due=response_due,
            resolution_due=resolution_due,
            clock_started_at=None if status == "waiting" else entered,
            breach_at=breach_at,
            warn_at=min(warns) if warns else None,
            breached=breach_at is not None and breach_at < self.now,
        )
        return row

    def stays(self, row: dict, first_rid: int, escalated_at=None) -> list[tuple]:
        """The ticket's stays: its county tier (if it started there) and the province."""
        t, rng = self.tree, self.rng
        ci = t.schools[self.school_index[row["reporter_unit_id"]]][2]
        county = t.counties[ci]
        base = (row["reporter_path"], row["created_at"])
        if row["hop"] == 1:
            level = "county" if row["tier_id"] == county.pk else "province"
            return [
                (first_rid, row["id"], row["tier_id"], level, None, 0, 1, "opened", "")
                + (row["reporter_id"], row["created_at"], None, row["breached"], False)
                + base
            ]
        breach = rng.random() < 0.5
        return [
            (first_rid, row["id"], county.pk, "county", None, 0, 1, "opened", "")
            + (row["reporter_id"], row["created_at"], escalated_at, breach, False)
            + base,
            (first_rid + 1, row["id"], t.province.pk, "province", county.pk, 0, 2)
            + (("breach", "") if breach else ("manual", "需要省级协助"))
            + (None if breach else rng.choice(t.county_engineers[ci]),)
            + (escalated_at, None, row["breached"], False)
            + base,
        ]


def recent_rows(maker: Maker, first_tid: int, first_rid: int):
    """The 10,000 tickets of the last 30 days (500 open) and their stays."""
    t, rng, now = maker.tree, maker.rng, maker.now
    day = timedelta(days=1)
    tickets, records = [], []
    tid, rid = first_tid, first_rid

    def held_status():
        r = rng.random()
        return "assigned" if r < 0.4 else "in_progress" if r < 0.85 else "waiting"

    def add(row, escalated_at=None):
        nonlocal tid, rid
        tickets.append(tuple(row[c] for c in TICKET_COLUMNS))
        stays = maker.stays(row, rid, escalated_at)
        records.extend(stays)
        tid += 1
        rid += len(stays)

    def open_at_county(county: int, assignee):
        school = rng.choice(t.schools_of[county])
        entered = now - day * rng.uniform(0.01, 2.0 if assignee is None else 5.0)
        status = "new" if assignee is None else held_status()
        row = maker.ticket(
            tid,
            school,
            created=entered,
            status=status,
            tier_id=t.counties[county].pk,
            hop=1,
            assignee=assignee,
        )
        add(maker.clocks(row, entered))

    def open_at_province(assignee):
        school = maker.school()
        entered = now - day * rng.uniform(0.01, 2.0 if assignee is None else 4.0)
        created = entered - timedelta(hours=rng.uniform(4, 48))
        row = maker.ticket(
            tid,
            school,
            created=created,
            status="new" if assignee is None else held_status(),
            tier_id=t.province.pk,
            hop=2,
            assignee=assignee,
        )
        add(maker.clocks(row, entered), escalated_at=entered)

    # Open: the busy county's tier, the other counties' tiers, the province tier.
    for _ in range(HOT_WAITING):
        open_at_county(0, None)
    for engineer in t.county_engineers[0]:
        for _ in range(HOT_HELD_EACH):
            open_at_county(0, engineer)
    for _ in range(OTHER_COUNTY_OPEN):
        county = rng.randrange(1, len(t.counties))
        open_at_county(
            county, None if rng.random() < 0.3 else rng.choice(t.county_engineers[county])
        )
    for _ in range(PROV_WAITING):
        open_at_province(None)
    for engineer in t.province_engineers:
        for _ in range(PROV_HELD_EACH):
            open_at_province(engineer)
    n_open = tid - first_tid
    # Resolved or closed.
    while tid - first_tid < RECENT:
        school = maker.school()
        county = t.schools[school][2]
        created = now - day * rng.uniform(0.05, 29.5)
        escalated = rng.random() < ESCALATED_SHARE
        tier_id = t.province.pk if escalated else t.counties[county].pk
        engineers = t.province_engineers if escalated else t.county_engineers[county]
        row = maker.ticket(
            tid,
            school,
            created=created,
            status="closed",
            tier_id=tier_id,
            hop=2 if escalated else 1,
            assignee=rng.choice(engineers),
        )
        escalated_at = None
        if escalated:
            escalated_at = min(
                created + timedelta(hours=rng.uniform(1, 8)), now - timedelta(minutes=30)
            )
        if escalated_at is not None:
            row["tier_entered_at"] = escalated_at
        add(maker.done(row), escalated_at)
    return tickets, records, n_open


def old_rows(maker: Maker, n: int, first_tid: int, first_rid: int):
    """`n` closed tickets created 31–720 days ago (ids in creation order), one stay each."""
    t, rng, now = maker.tree, maker.rng, maker.now
    ages = sorted((rng.uniform(31, 720) for _ in range(n)), reverse=True)
    for k, age in enumerate(ages):
        school = maker.school()
        county = t.schools[school][2]
        at_province = rng.random() < ESCALATED_SHARE
        tier_id = t.province.pk if at_province else t.counties[county].pk
        engineers = t.province_engineers if at_province else t.county_engineers[county]
        row = maker.ticket(
            first_tid + k,
            school,
            created=now - timedelta(days=age),
            status="closed",
            tier_id=tier_id,
            hop=1,
            assignee=rng.choice(engineers),
        )
        row = maker.done(row)
        (stay,) = maker.stays(row, first_rid + k)
        yield tuple(row[c] for c in TICKET_COLUMNS), stay


def copy_rows(table: str, columns: tuple[str, ...], rows) -> int:
    from django.db import connection

    n = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def resync_sequences() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("tickets_ticket", "escalation_escalationrecord"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )


def vacuum_analyze() -> float:
    from django.db import connection

    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) tickets_ticket")
        cursor.execute("VACUUM (ANALYZE) escalation_escalationrecord")
        cursor.execute("ANALYZE")
    return time.perf_counter() - t0


def load_recent(tree, now) -> dict:
    from django.db import transaction

    t0 = time.perf_counter()
    maker = Maker(tree, now, seed=1)
    tickets, records, n_open = recent_rows(maker, 1, 1)
    with transaction.atomic():
        copy_rows("tickets_ticket", TICKET_COLUMNS, tickets)
        copy_rows("escalation_escalationrecord", RECORD_COLUMNS, records)
    resync_sequences()
    copied = time.perf_counter() - t0
    vac = vacuum_analyze()
    print(
        f"setup A: {len(tickets):,} tickets created in the last 30 days ({n_open} open) and "
        f"{len(records):,} stays, COPY in {copied:.1f} s; VACUUM (ANALYZE) {vac:.1f} s"
    )
    return {"tickets": len(tickets), "records": len(records), "open": n_open}


def load_old(tree, now, n: int) -> dict:
    from django.db import DatabaseError, connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM tickets_ticket")
        tid = cursor.fetchone()[0] + 1
        cursor.execute("SELECT max(id) FROM escalation_escalationrecord")
        rid = cursor.fetchone()[0] + 1
    maker = Maker(tree, now, seed=2)
    rows = old_rows(maker, n, tid, rid)
    # The rows are consistent by construction (existing units, accounts, tickets): skip
    # the deferred foreign-key checks (about 40 % of the load time) where allowed.
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SET session_replication_role = replica")
            fk_checks = "skipped (session_replication_role = replica)"
        except DatabaseError:
            fk_checks = "checked (not a superuser)"
    t0 = time.perf_counter()
    done = 0
    try:
        while done < n:
            size = min(CHUNK, n - done)
            stays = []

            def stream(size=size, stays=stays):
                for _ in range(size):
                    ticket, stay = next(rows)
                    stays.append(stay)
                    yield ticket

            with transaction.atomic():  # one transaction per chunk bounds the FK trigger queue
                copy_rows("tickets_ticket", TICKET_COLUMNS, stream())
                copy_rows("escalation_escalationrecord", RECORD_COLUMNS, stays)
            done += size
            if done % (CHUNK * 4) == 0 or done == n:
                print(f"  … {done:,} of {n:,} ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
    resync_sequences()
    copied = time.perf_counter() - t0
    vac = vacuum_analyze()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('tickets_ticket'))")
        size = cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('escalation_escalationrecord'))"
        )
        rsize = cursor.fetchone()[0]
    with connection.cursor() as cursor:  # the stays point at the tickets they should
        cursor.execute(
            "SELECT count(*) FROM escalation_escalationrecord r JOIN tickets_ticket t "
            "ON t.id = r.ticket_id AND t.created_at = r.created_on "
            "AND t.reporter_path = r.reporter_path WHERE r.id >= %s",
            [rid],
        )
        matched = cursor.fetchone()[0]
    if matched != n:
        sys.exit(f"wrong data: {matched:,} of the {n:,} older stays match their ticket")
    print(
        f"setup B: + {n:,} closed tickets created 31–720 days ago and {n:,} stays, COPY in "
        f"{copied:.1f} s ({n / copied:,.0f} tickets/s with their stays; foreign keys "
        f"{fk_checks}); VACUUM (ANALYZE) "
        f"{vac:.1f} s; tickets_ticket {size}, escalation_escalationrecord {rsize} with indexes"
    )
    return {"old": n, "copy_seconds": copied, "vacuum_seconds": vac}


# --- the pages --------------------------------------------------------------------------


def pages(tree) -> dict:
    from django.urls import reverse

    dash = reverse("ticket_dashboard") + "?days=30"
    return {
        "queue": ("my queue, county engineer", reverse("ticket_queue"), tree.engineer),
        "tier_county": ("tier queue, county engineer", reverse("ticket_tier"), tree.engineer),
        "tier_province": (
            "tier queue, province engineer",
            reverse("ticket_tier"),
            tree.province_engineer,
        ),
        "dash_county": ("dashboard ?days=30, county manager", dash, tree.county_manager),
        "dash_province": ("dashboard ?days=30, province manager", dash, tree.province_manager),
    }


def clients(tree) -> dict:
    from django.conf import settings
    from django.test import Client

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    out = {}
    for who in (tree.engineer, tree.province_engineer, tree.county_manager, tree.province_manager):
        client = Client()
        client.force_login(who)
        out[who.pk] = client
    return out


def dashboard_figures(actor) -> dict:
    """The dashboard's figures that must not move between A and B (ages may: the clock runs)."""
    from django.utils import timezone

    from accounts.models import Account
    from tickets import selectors

    actor = Account.objects.select_related("unit").get(pk=actor.pk)
    d = selectors.dashboard(actor, days=30, now=timezone.now())
    return {
        "open": d["backlog"]["total"],
        "waiting": d["backlog"]["waiting"],
        "by_status": dict(sorted(d["by_status"].items())),
        "volume": d["volume"],
        "per_day_total": sum(r["n"] for r in d["per_day"]),
        "children": [
            (r["unit"].code if r["unit"] else None, r["created"], r["resolved"], r["open"])
            for r in d["children"]
        ],
        "tiers": [(r["level"], r["stays"], r["breached"]) for r in d["tiers"]],
    }


def check(tree, table, clients_by_id, expected: dict | None) -> dict:
    """Right data first: queue sizes, rows on each page, the dashboards' figures."""
    from accounts.models import Account
    from tickets import selectors
    from tickets.models import Ticket

    def fail(message):
        sys.exit(f"wrong data: {message}")

    engineer = Account.objects.select_related("unit").get(pk=tree.engineer.pk)
    province_engineer = Account.objects.select_related("unit").get(pk=tree.province_engineer.pk)
    counts = {
        "queue": selectors.my_queue(engineer).count(),
        "tier_county": selectors.tier_queue(engineer).count(),
        "tier_province": selectors.tier_queue(province_engineer).count(),
    }
    want = {
        "queue": HOT_HELD_EACH,
        "tier_county": HOT_WAITING + COUNTY_ENGINEERS * HOT_HELD_EACH,
        "tier_province": PROV_WAITING + PROVINCE_ENGINEERS * PROV_HELD_EACH,
    }
    if counts != want:
        fail(f"queue sizes {counts}, expected {want}")
    for key, (label, url, who) in table.items():
        response = clients_by_id[who.pk].get(url)
        if response.status_code != 200:
            fail(f"{label}: HTTP {response.status_code} ({response.get('Location', '')})")
        html = response.content.decode()
        if key in counts and html.count("data-ticket-id=") != min(counts[key], 30):
            fail(f"{label}: {html.count('data-ticket-id=')} rows, expected {min(counts[key], 30)}")
        if key.startswith("dash") and 'id="dash-open"' not in html:
            fail(f"{label}: no dashboard in the page")
    figures = {
        "county": dashboard_figures(tree.county_manager),
        "province": dashboard_figures(tree.province_manager),
    }
    hot_path = tree.hot.path
    recent = Ticket.objects.filter(pk__lte=RECENT)
    hot_recent = recent.filter(reporter_path__startswith=hot_path)
    open_statuses = ("new", "assigned", "in_progress", "waiting")
    want_fig = {
        "county": (
            hot_recent.filter(status__in=open_statuses).count(),
            hot_recent.count(),
        ),
        "province": (recent.filter(status__in=open_statuses).count(), RECENT),
    }
    for who, (n_open, n_created) in want_fig.items():
        got = (figures[who]["open"], figures[who]["volume"]["created"])
        if got != (n_open, n_created) or figures[who]["per_day_total"] != n_created:
            fail(
                f"dashboard of the {who} manager: (open, created) {got}, expected "
                f"{(n_open, n_created)}"
            )
    if expected is not None and figures != expected:
        fail("the dashboards show other figures with the history loaded than without it")
    return figures


def measure(table, clients_by_id, runs: int, warmup: int) -> dict:
    """p50/p95 of each page and of the floor, the pages interleaved round by round."""
    from django.db import connection

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, title, status, tier_id, assignee_id, created_at, breach_at "
                "FROM tickets_ticket ORDER BY id LIMIT 30"
            )
            cursor.fetchall()

    calls = {
        key: (lambda c=clients_by_id[who.pk], u=url: c.get(u))
        for key, (_label, url, who) in table.items()
    }
    calls["floor"] = floor
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(runs):
        for key, fn in calls.items():
            t0 = time.perf_counter()
            result = fn()
            times[key].append(time.perf_counter() - t0)
            if result is not None and result.status_code != 200:
                sys.exit(f"{key}: HTTP {result.status_code} while timing")
    return {
        key: {"p50": pct(v, 50), "p95": pct(v, 95), "min": min(v), "max": max(v)}
        for key, v in times.items()
    }


def capture(table, clients_by_id, requests: int = 5) -> dict:
    """The queries of each page: [(SQL, median seconds over `requests` requests)]."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    out = {}
    for key, (_label, url, who) in table.items():
        runs = []
        for _ in range(requests):
            with CaptureQueriesContext(connection) as ctx:
                clients_by_id[who.pk].get(url)
            runs.append([(q["sql"], float(q["time"])) for q in ctx.captured_queries])
        out[key] = [
            (sql, statistics.median(r[i][1] for r in runs if i < len(r)))
            for i, (sql, _t) in enumerate(runs[-1])
        ]
    return out


def explain(sql: str, indent: str = "     ") -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        for (line,) in cursor.fetchall():
            print(indent + line)


def short(sql: str, n: int = 240) -> str:
    return sql if len(sql) <= n else sql[:n] + " …"


def is_ticket_query(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT") and (
        '"tickets_ticket"' in sql or '"escalation_escalationrecord"' in sql
    )


def scenario(name, tree, table, clients_by_id, args, expected=None) -> tuple[dict, dict, dict]:
    from tickets.models import Ticket

    n = Ticket.objects.count()
    print(f"\n== Scenario {name}: {n:,} tickets (load {load()}) ==")
    figures = check(tree, table, clients_by_id, expected)
    print(
        f"checked: queue {HOT_HELD_EACH}, county tier {HOT_WAITING + 2 * HOT_HELD_EACH}, "
        f"province tier {PROV_WAITING + PROVINCE_ENGINEERS * PROV_HELD_EACH} open; dashboards: "
        f"county {figures['county']['open']} open / {figures['county']['volume']['created']:,} "
        f"raised in 30 days, province {figures['province']['open']} open / "
        f"{figures['province']['volume']['created']:,} raised"
        + (" — the same figures as in A" if expected is not None else "")
    )
    stats = measure(table, clients_by_id, args.runs, args.warmup)
    queries = capture(table, clients_by_id)
    for key, (label, _url, _who) in table.items():
        s = stats[key]
        print(
            f"  {label:<38} p50 {ms(s['p50']):>9}  p95 {ms(s['p95']):>9}  "
            f"(min {ms(s['min'])}, max {ms(s['max'])}; {len(queries[key])} queries, "
            f"SQL {ms(sum(t for _sql, t in queries[key]))})"
        )
    f = stats["floor"]
    print(
        f"  {'floor: SELECT … ORDER BY id LIMIT 30':<38} p50 {ms(f['p50']):>9}  "
        f"p95 {ms(f['p95']):>9}"
    )
    print(
        f"  ({args.runs} requests per page after {args.warmup} warm-ups; SQL = the page's "
        f"queries' time as Django logs it, median of 5 more requests; load now {load()})"
    )
    if args.explain:
        for key, (label, _url, _who) in table.items():
            for sql, seconds in queries[key]:
                if is_ticket_query(sql):
                    print(f"-- plan, {label}, scenario {name} ({ms(seconds)}):\n     {short(sql)}")
                    explain(sql)
    return stats, queries, figures


def diagnose(key, label, queries_a, queries_b) -> None:
    """For a page over the target: the queries that grew most, and the worst one's plan."""
    pairs = []
    for i, (sql, tb) in enumerate(queries_b):
        ta = queries_a[i][1] if i < len(queries_a) else float("nan")
        pairs.append((tb - (ta if ta == ta else 0.0), sql, ta, tb))
    pairs.sort(key=lambda p: p[0], reverse=True)
    print(f"\n-- {label}: the queries that grew most (one request each, A → B)")
    for _growth, sql, ta, tb in pairs[:3]:
        print(f"   {ms(ta)} → {ms(tb)}: {short(sql)}")
    if pairs and is_ticket_query(pairs[0][1]):
        print("   EXPLAIN (ANALYZE, BUFFERS) of the first, in B:")
        explain(pairs[0][1], indent="   ")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--old",
        type=int,
        default=990_000,
        help="older closed tickets added for scenario B (default 990,000: 1,000,000 in all)",
    )
    parser.add_argument("--runs", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--prefectures", type=int, default=10)
    parser.add_argument("--counties-per-prefecture", type=int, default=10)
    parser.add_argument("--schools-per-county", type=int, default=30)
    parser.add_argument(
        "--explain", action="store_true", help="print the plans of every page's ticket queries"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        print(f"{Path(__file__).name} needs PostgreSQL (COPY); DATABASE_URL is {url}")
        return 2
    if args.old < 1 or args.counties_per_prefecture < 2:
        parser.error("--old ≥ 1 and --counties-per-prefecture ≥ 2")
    started = time.perf_counter()
    if ensure_admin_database(url):
        print(f"created the empty database {urlsplit(url).path.lstrip('/')} (left for next runs)")
    with fresh_database() as db:
        print("\n== Ticket pages: 10,000 versus 10,000 + --old tickets ==")
        from django.utils import timezone

        tree = build_tree(args)
        now = timezone.now()
        recent = load_recent(tree, now)
        table = pages(tree)
        by_id = clients(tree)
        stats_a, queries_a, figures = scenario("A", tree, table, by_id, args)
        old = load_old(tree, now, args.old)
        stats_b, queries_b, _ = scenario("B", tree, table, by_id, args, expected=figures)
        n_a, n_b = recent["tickets"], recent["tickets"] + old["old"]

        print(f"\n== Summary: p95 with {n_b:,} tickets / p95 with {n_a:,} (target ≤ 2) ==")
        head = f"  {'page':<38} {'p50 A':>9} {'p95 A':>9} {'p50 B':>9} {'p95 B':>9}  ratio"
        print(head)
        results = {
            "database": db,
            "tickets_a": n_a,
            "tickets_b": n_b,
            "recent": recent,
            "old": old,
            "runs": args.runs,
            "ratio_target": RATIO_TARGET,
            "pages": {},
        }
        over = []
        for key, (label, url_, _who) in [*table.items(), ("floor", ("floor", "", None))]:
            a, b = stats_a[key], stats_b[key]
            ratio = b["p95"] / a["p95"]
            verdict = "" if key == "floor" else ("ok" if ratio <= RATIO_TARGET else "OVER")
            name = "floor: SELECT … ORDER BY id LIMIT 30" if key == "floor" else label
            print(
                f"  {name:<38} {ms(a['p50']):>9} {ms(a['p95']):>9} {ms(b['p50']):>9} "
                f"{ms(b['p95']):>9}  {ratio:5.2f} {verdict}"
            )
            results["pages"][key] = {
                "label": name,
                "url": url_,
                "a": a,
                "b": b,
                "ratio": ratio,
                "queries": len(queries_a.get(key, [])),
                "sql_seconds_a": sum(t for _sql, t in queries_a.get(key, [])),
                "sql_seconds_b": sum(t for _sql, t in queries_b.get(key, [])),
            }
            if key != "floor" and ratio > RATIO_TARGET:
                over.append((key, label))
        print(
            f"  A = {n_a:,} tickets, B = {n_b:,}; p50/p95 of {args.runs} requests; "
            "the load average moves between A and B, read the floor's ratio beside them"
        )
        for key, label in over:
            diagnose(key, label, queries_a[key], queries_b[key])
        elapsed = time.perf_counter() - started
        print(f"\nwhole run: {fmt_duration(elapsed)}; load average now {load()}")
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
