"""Ticket pages at 10,000 versus 1,000,000 tickets: my tickets, the queues, the dashboard, exports.

Claim (the issue): the pages an engineer and a manager live on cost the same whether
the database holds ten thousand tickets or a million, because every one of them
reads only open tickets (partial indexes), the tickets created in the dashboard's
window (an index on creation time) or one page of a list in index order, never the
whole history; an export costs the same per row. Target: p95 page time
with 1,000,000 tickets / p95 with 10,000 ≤ 2. (Peers' ticket lists are reported to
slow to tens of seconds at a few hundred thousand tickets; no peer is run here.)

PostgreSQL only (the history is loaded with COPY). On a fresh database set up for
this run alone (see _harness.py; DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/bench_pages — only the admin connection, the
run's own bench_<pid> is created and dropped there; the admin database is created,
empty, if missing, and left for the next runs — REDIS_URL to redis://127.0.0.1:6379/14):

setup (not timed): a synthetic province 基准省 (990000): 10 prefectures × 10 counties
× 30 schools (--schools-per-county), one staff reporter per school, support engineers:
2 per county, 2 per prefecture, 10 at the province and 5 at the Ministry (the province
turns its prefecture tier on, so every level is a tier), a manager of the first county
990101 (the "busy" county: a tenth of all tickets come from its schools) and a
province manager.

A. 10,000 "recent" tickets, created over the last 30 days (≤ 29.5 days ago), with
   their stays (EscalationRecord: one per tier visited, 15 % escalated to the
   province). 500 are open (5 %): 60 at the busy county's tier (20 waiting, 20 held
   by each of its two engineers), 240 at other counties' tiers, 200 at the province
   tier (50 waiting, 15 held by each province engineer), with live SLA clocks
   (breach_at / warn_at); the rest resolved or closed.
B. the same database plus --old (default 990,000) older tickets, created 31–720 days
   ago, spread over the same schools (a tenth in the busy county). Most are closed
   (breach_at / warn_at NULL), each with one stay (created_on = the ticket's
   created_at, reporter_path copied), 85 % at a county tier and 15 % at the province,
   assigned to those tiers' engineers. --old-open-share of them (3 %, about 29,700)
   are still open, 33–720 days old: 60 % at their county's tier, 15 % at the
   prefecture's, 15 % at the province's and 10 % at the Ministry's (escalated there
   within two days of being raised, on a breach or by an engineer, a stay at each
   tier on the way), 15 % new, 25 % assigned, 20 % in progress and 40 % waiting, held
   by that tier's engineers, with their SLA clocks (most long breached). So the
   open-ticket indexes, the queues and the backlog hold history too. Loaded with COPY;
   then VACUUM (ANALYZE), as autovacuum soon would after so many inserts.

Timed in each scenario, through Django's test Client (the whole request: session,
middleware, context processors, template) logged in with force_login: 3 warm-ups
then --runs (30) requests per page, the pages interleaved round by round so that a
change in the machine's load falls on all of them alike; p50 and p95 per page:

  - /tickets/             my tickets, as the reporter of a school of the busy county
  - /tickets/queue/      my queue, as an engineer of the busy county (20 held in A)
  - /tickets/queue/      my queue, as a province engineer (15 held in A)
  - /tickets/tier/       the busy county's tier queue, as that engineer (60 open in A)
  - /tickets/tier/       the province's tier queue, as a province engineer (200 open in A)
  - /tickets/dashboard/?days=30  as the busy county's manager
  - /tickets/dashboard/?days=30  as the province manager
  - /tickets/all/        tickets in my area (newest first, paginated), county engineer

Then the exports (tickets/all.xlsx, the only ticket export in tickets/ and
escalation/), --export-runs (3) interleaved rounds after a warm-up in each scenario:
?status=open and everything (up to the export's cap of 200,000 rows), as the county
and as the province manager. Ceiling: the export's own SELECT run raw through a
cursor, every row fetched. An export holds more rows in B, so A and B are compared
per 1,000 rows (target ≤ 2).

Floor: `SELECT id, title, status, tier_id, assignee_id, created_at, breach_at FROM
tickets_ticket ORDER BY id LIMIT 30` through a cursor, in the same rounds.

The data are checked before anything is timed (every list's size against a count in
plain SQL, rows on the page, rows in the smaller workbooks, the dashboards' figures),
and the dashboards' 30-day figures must be the same in B as in A (their backlog
grows by the history's open tickets); a mismatch exits non-zero. Timings are reported, never asserted. For a
page over the target, the queries whose time grew most are listed with the
EXPLAIN (ANALYZE, BUFFERS) of the worst; --explain prints the plans of every ticket
query of every page in both scenarios.

Run: .venv/bin/python bench/tickets/pages.py   (--old 90000 for a quick try; at full size
about 10 minutes on 2 CPUs, 6 of them the exports: --export-runs 0 leaves them out)
"""

from __future__ import annotations

import argparse
import io
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
# The history's open tickets (--old-open-share of it, 3 % by default): which tier they
# wait at, and in which state. Tickets above the county are escalated, with a stay at
# every tier on the way (county → prefecture → province → Ministry).
OLD_OPEN_TIERS = (("county", 0.60), ("prefecture", 0.15), ("province", 0.15), ("ministry", 0.10))
OLD_OPEN_STATUSES = (("new", 0.15), ("assigned", 0.25), ("in_progress", 0.20), ("waiting", 0.40))
PREFECTURE_ENGINEERS = 2  # per prefecture (the prefecture tier is on in 基准省)
MINISTRY_ENGINEERS = 5
PAGE_ROWS = 30  # rows of a list page (tickets.views.PAGE_SIZE)

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
    from escalation.models import SupportSettings

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
    prefecture_engineers = [
        [
            account(f"{p.code}-e{n}", p.pk, is_support_engineer=True)
            for n in range(1, PREFECTURE_ENGINEERS + 1)
        ]
        for p in _prefs
    ]
    ministry_engineers = [
        account(f"{ministry.code}-e{n}", ministry.pk, is_support_engineer=True)
        for n in range(1, MINISTRY_ENGINEERS + 1)
    ]
    SupportSettings.objects.create(province=province, prefecture_tier=True)
    hot = counties[0]
    county_manager = account(f"{hot.code}-m1", hot.pk, role=Role.MANAGER)
    province_manager = account(f"{province.code}-m1", province.pk, role=Role.MANAGER)
    Account.objects.bulk_create(
        reporters
        + [e for pair in county_engineers for e in pair]
        + province_engineers
        + [e for group in prefecture_engineers for e in group]
        + ministry_engineers
        + [county_manager, province_manager],
        batch_size=2000,
    )
    school_rows = [(s.pk, s.path, county_index[s.parent_id]) for s in schools]
    tree = SimpleNamespace(
        ministry=ministry,
        province=province,
        prefectures=_prefs,
        prefecture_of=[{p.pk: i for i, p in enumerate(_prefs)}[c.parent_id] for c in counties],
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
        prefecture_engineers=[[e.pk for e in group] for group in prefecture_engineers],
        ministry_engineers=[e.pk for e in ministry_engineers],
        school_reporter=reporters[[i for i, row in enumerate(school_rows) if row[2] == 0][0]],
        engineer=county_engineers[0][0],
        province_engineer=province_engineers[0],
        county_manager=county_manager,
        province_manager=province_manager,
    )
    n_accounts = Account.objects.count()
    print(
        f"setup: 基准省 (990000) with {len(_prefs)} prefectures, {len(counties)} counties, "
        f"{len(schools):,} schools; {n_accounts:,} accounts ({len(schools):,} reporters, "
        f"{COUNTY_ENGINEERS * len(counties)} county, "
        f"{PREFECTURE_ENGINEERS * len(_prefs)} prefecture, {PROVINCE_ENGINEERS} province and "
        f"{MINISTRY_ENGINEERS} Ministry engineers, 2 managers; the prefecture tier on) in "
        f"{time.perf_counter() - t0:.1f} s"
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


def pick(rng, shares):
    r, acc = rng.random(), 0.0
    for value, share in shares:
        acc += share
        if r < acc:
            return value
    return shares[-1][0]


def old_open(maker: Maker, row: dict, first_rid: int) -> tuple[dict, list[tuple]]:
    """Turn a history ticket into one still open: at a tier of the county, prefecture,
    province or Ministry (escalated there within two days, a stay at every tier on the
    way), new or held by one of that tier's engineers, with its SLA clocks."""
    t, rng = maker.tree, maker.rng
    ci = t.schools[maker.school_index[row["reporter_unit_id"]]][2]
    pi = t.prefecture_of[ci]
    chain = [
        ("county", t.counties[ci].pk, t.county_engineers[ci]),
        ("prefecture", t.prefectures[pi].pk, t.prefecture_engineers[pi]),
        ("province", t.province.pk, t.province_engineers),
        ("ministry", t.ministry.pk, t.ministry_engineers),
    ]
    level = pick(rng, OLD_OPEN_TIERS)
    chain = chain[: 1 + [c[0] for c in chain].index(level)]
    created = row["created_at"]
    entered = created + timedelta(hours=rng.uniform(2, 48)) if len(chain) > 1 else created
    status = pick(rng, OLD_OPEN_STATUSES)
    _level, tier_id, engineers = chain[-1]
    row.update(
        status=status,
        tier_id=tier_id,
        hop=len(chain),
        assignee_id=None if status == "new" else rng.choice(engineers),
    )
    maker.clocks(row, entered)
    # How it reached each tier above the county: on a breach, or sent up by an engineer.
    kinds = ["opened"] + [
        "breach" if rng.random() < 0.5 else "manual" for _ in range(len(chain) - 1)
    ]
    stays = []
    for i, (lvl, tier, _engineers) in enumerate(chain):
        at = created + (entered - created) * (i / (len(chain) - 1)) if i else created
        left = (
            created + (entered - created) * ((i + 1) / (len(chain) - 1))
            if i + 1 < len(chain)
            else None
        )
        kind = kinds[i]
        if kind == "opened":
            reason, actor, from_tier = "", row["reporter_id"], None
        elif kind == "breach":
            reason, actor, from_tier = "", None, chain[i - 1][1]
        else:
            reason, actor, from_tier = "需要上级协助", rng.choice(chain[i - 1][2]), chain[i - 1][1]
        last = i + 1 == len(chain)
        breached = row["breached"] if last else kinds[i + 1] == "breach"  # left on a breach
        stays.append(
            (first_rid + i, row["id"], tier, lvl, from_tier, 0, i + 1, kind, reason, actor)
            + (at, left, breached, False)
            + (row["reporter_path"], created)
        )
    return row, stays


def old_rows(maker: Maker, n: int, first_tid: int, first_rid: int, open_share: float):
    """`n` tickets created 31–720 days ago (ids in creation order): closed with one stay,
    or (`open_share` of them) still open with a stay per tier visited (`old_open`)."""
    t, rng, now = maker.tree, maker.rng, maker.now
    ages = sorted((rng.uniform(31, 720) for _ in range(n)), reverse=True)
    rid = first_rid
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
        # Open ones are at least 33 days old, so that their stays (≤ 2 days of
        # escalation) stay out of the dashboard's 30-day window.
        if age >= 33 and rng.random() < open_share * 689 / 687:
            row, stays = old_open(maker, row, rid)
        else:
            row = maker.done(row)
            stays = maker.stays(row, rid)
        rid += len(stays)
        yield tuple(row[c] for c in TICKET_COLUMNS), stays


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


def load_old(tree, now, n: int, open_share: float) -> dict:
    from django.db import DatabaseError, connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM tickets_ticket")
        tid = cursor.fetchone()[0] + 1
        cursor.execute("SELECT max(id) FROM escalation_escalationrecord")
        rid = cursor.fetchone()[0] + 1
    maker = Maker(tree, now, seed=2)
    rows = old_rows(maker, n, tid, rid, open_share)
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
                    ticket, ticket_stays = next(rows)
                    stays.extend(ticket_stays)
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
            "SELECT count(*), count(*) FILTER (WHERE t.id IS NOT NULL AND "
            "t.created_at = r.created_on AND t.reporter_path = r.reporter_path) "
            "FROM escalation_escalationrecord r LEFT JOIN tickets_ticket t "
            "ON t.id = r.ticket_id WHERE r.id >= %s",
            [rid],
        )
        n_stays, matched = cursor.fetchone()
        # Every open ticket's last stay is at its current tier, still open (left_at NULL).
        cursor.execute(
            "SELECT t.status, l.level, count(*) FROM tickets_ticket t "
            "JOIN escalation_escalationrecord l ON l.ticket_id = t.id AND l.hop = t.hop "
            "AND l.tier_id = t.tier_id AND l.left_at IS NULL "
            "WHERE t.id >= %s AND t.status IN ('new', 'assigned', 'in_progress', 'waiting') "
            "GROUP BY 1, 2 ORDER BY 2, 1",
            [tid],
        )
        open_rows = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM tickets_ticket WHERE id >= %s "
            "AND status IN ('new', 'assigned', 'in_progress', 'waiting')",
            [tid],
        )
        n_open = cursor.fetchone()[0]
    if matched != n_stays:
        sys.exit(f"wrong data: {matched:,} of the {n_stays:,} older stays match their ticket")
    if sum(r[2] for r in open_rows) != n_open:
        sys.exit("wrong data: an open older ticket has no open stay at its current tier")
    by_level: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for status, level, count in open_rows:
        by_level[level] = by_level.get(level, 0) + count
        by_status[status] = by_status.get(status, 0) + count
    print(
        f"setup B: + {n:,} tickets created 31–720 days ago, {n - n_open:,} closed and "
        f"{n_open:,} still open ({n_open / n:.1%}; at the tiers of "
        + ", ".join(f"{k} {v:,}" for k, v in by_level.items())
        + "; "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(by_status.items()))
        + f"), with {n_stays:,} stays; COPY in "
        f"{copied:.1f} s ({n / copied:,.0f} tickets/s with their stays; foreign keys "
        f"{fk_checks}); VACUUM (ANALYZE) "
        f"{vac:.1f} s; tickets_ticket {size}, escalation_escalationrecord {rsize} with indexes"
    )
    return {
        "old": n,
        "old_open": n_open,
        "old_open_by_tier": by_level,
        "old_open_by_status": by_status,
        "old_stays": n_stays,
        "copy_seconds": copied,
        "vacuum_seconds": vac,
    }


# --- the pages --------------------------------------------------------------------------


def pages(tree) -> dict:
    from django.urls import reverse

    dash = reverse("ticket_dashboard") + "?days=30"
    return {
        "mine_school": (
            "my tickets, a busy county's school",
            reverse("ticket_mine"),
            tree.school_reporter,
        ),
        "queue": ("my queue, county engineer", reverse("ticket_queue"), tree.engineer),
        "queue_province": (
            "my queue, province engineer",
            reverse("ticket_queue"),
            tree.province_engineer,
        ),
        "tier_county": ("tier queue, county engineer", reverse("ticket_tier"), tree.engineer),
        "tier_province": (
            "tier queue, province engineer",
            reverse("ticket_tier"),
            tree.province_engineer,
        ),
        "dash_county": ("dashboard ?days=30, county manager", dash, tree.county_manager),
        "dash_province": ("dashboard ?days=30, province manager", dash, tree.province_manager),
        "all_county": ("tickets in my area, county engineer", reverse("ticket_all"), tree.engineer),
    }


def exports(tree) -> dict:
    """The ticket exports (tickets/all.xlsx, the only export of tickets/ and escalation/):
    the open tickets (?status=open) and everything (up to the export's row cap)."""
    from django.urls import reverse

    url = reverse("ticket_export")
    return {
        "open_county": (
            "export ?status=open, county manager",
            url + "?status=open",
            tree.county_manager,
            "open",
        ),
        "open_province": (
            "export ?status=open, province manager",
            url + "?status=open",
            tree.province_manager,
            "open",
        ),
        "all_county": ("export all, county manager", url, tree.county_manager, ""),
        "all_province": ("export all, province manager", url, tree.province_manager, ""),
    }


def clients(tree) -> dict:
    from django.conf import settings
    from django.test import Client

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    out = {}
    for who in (
        tree.engineer,
        tree.province_engineer,
        tree.county_manager,
        tree.province_manager,
        tree.school_reporter,
    ):
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


def window_figures(figures: dict) -> dict:
    """The dashboard figures of the 30-day window, which history must not move (the
    backlog may: the history holds open tickets)."""
    return {
        who: {
            "volume": f["volume"],
            "per_day_total": f["per_day_total"],
            "children": [c[:3] for c in f["children"]],
            "tiers": f["tiers"],
        }
        for who, f in figures.items()
    }


def expected_counts(tree) -> dict:
    """What each list must hold, counted with plain SQL (not through the selectors)."""
    from django.db import connection

    held = "status IN ('assigned', 'in_progress', 'waiting')"
    opened = "status IN ('new', 'assigned', 'in_progress', 'waiting')"
    hot = tree.hot.path
    queries = {
        "mine_school": ("reporter_id = %s", [tree.school_reporter.pk]),
        "queue": (f"assignee_id = %s AND {held}", [tree.engineer.pk]),
        "queue_province": (f"assignee_id = %s AND {held}", [tree.province_engineer.pk]),
        "tier_county": (f"tier_id = %s AND {opened}", [tree.hot.pk]),
        "tier_province": (f"tier_id = %s AND {opened}", [tree.province.pk]),
        "all_county": ("reporter_path >= %s AND reporter_path < %s", [hot, hot + "A"]),
        "open_county": (
            f"reporter_path >= %s AND reporter_path < %s AND {opened}",
            [hot, hot + "A"],
        ),
        "open_province": (f"{opened}", []),
        "everything": ("TRUE", []),
    }
    out = {}
    with connection.cursor() as cursor:
        for key, (where, params) in queries.items():
            cursor.execute(f"SELECT count(*) FROM tickets_ticket WHERE {where}", params)
            out[key] = cursor.fetchone()[0]
    return out


def check(tree, table, clients_by_id, expected: dict | None) -> tuple[dict, dict]:
    """Right data first: list sizes, rows on each page, the dashboards' figures."""
    from accounts.models import Account
    from tickets import selectors
    from tickets.models import Ticket

    def fail(message):
        sys.exit(f"wrong data: {message}")

    engineer = Account.objects.select_related("unit").get(pk=tree.engineer.pk)
    province_engineer = Account.objects.select_related("unit").get(pk=tree.province_engineer.pk)
    reporter = Account.objects.select_related("unit").get(pk=tree.school_reporter.pk)
    counts = {
        "mine_school": selectors.my_tickets(reporter).count(),
        "queue": selectors.my_queue(engineer).count(),
        "queue_province": selectors.my_queue(province_engineer).count(),
        "tier_county": selectors.tier_queue(engineer).count(),
        "tier_province": selectors.tier_queue(province_engineer).count(),
        "all_county": selectors.search(engineer).count(),
    }
    sql_counts = expected_counts(tree)
    want = {key: sql_counts[key] for key in counts}
    if expected is None:  # scenario A: the recent set as built
        want_a = {
            "queue": HOT_HELD_EACH,
            "queue_province": PROV_HELD_EACH,
            "tier_county": HOT_WAITING + COUNTY_ENGINEERS * HOT_HELD_EACH,
            "tier_province": PROV_WAITING + PROVINCE_ENGINEERS * PROV_HELD_EACH,
        }
        if any(want[k] != v for k, v in want_a.items()):
            fail(f"queue sizes {want}, expected {want_a}")
    if counts != want:
        fail(f"list sizes {counts}, expected {want}")
    for key, (label, url, who) in table.items():
        response = clients_by_id[who.pk].get(url)
        if response.status_code != 200:
            fail(f"{label}: HTTP {response.status_code} ({response.get('Location', '')})")
        html = response.content.decode()
        if key in counts and html.count("data-ticket-id=") != min(counts[key], PAGE_ROWS):
            fail(
                f"{label}: {html.count('data-ticket-id=')} rows, expected "
                f"{min(counts[key], PAGE_ROWS)}"
            )
        if key.startswith("dash") and 'id="dash-open"' not in html:
            fail(f"{label}: no dashboard in the page")
    figures = {
        "county": dashboard_figures(tree.county_manager),
        "province": dashboard_figures(tree.province_manager),
    }
    hot_path = tree.hot.path
    recent = Ticket.objects.filter(pk__lte=RECENT)
    open_statuses = ("new", "assigned", "in_progress", "waiting")
    want_fig = {
        "county": (
            sql_counts["open_county"],
            recent.filter(reporter_path__startswith=hot_path).count(),
        ),
        "province": (sql_counts["open_province"], RECENT),
    }
    if Ticket.objects.filter(status__in=open_statuses).count() != sql_counts["open_province"]:
        fail("open tickets outside the province")
    for who, (n_open, n_created) in want_fig.items():
        got = (figures[who]["open"], figures[who]["volume"]["created"])
        if got != (n_open, n_created) or figures[who]["per_day_total"] != n_created:
            fail(
                f"dashboard of the {who} manager: (open, created) {got}, expected "
                f"{(n_open, n_created)}"
            )
    if expected is not None and window_figures(figures) != window_figures(expected):
        fail("the dashboards show other 30-day figures with the history loaded than without it")
    return figures, {
        **counts,
        **{k: sql_counts[k] for k in ("open_county", "open_province", "everything")},
    }


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


def export_queryset(who, status: str):
    """The rows an export reads, as tickets.views.export asks for them."""
    from accounts.models import Account
    from tickets import selectors
    from tickets.exports import MAX_ROWS

    actor = Account.objects.select_related("unit").get(pk=who.pk)
    qs = selectors.search(actor, status=status)
    return qs.select_related("reporter", "reporter_unit", "tier", "assignee")[:MAX_ROWS]


def measure_exports(table, clients_by_id, counts, runs: int) -> dict:
    """Each export's whole request (query, workbook, response) in interleaved rounds after
    a warm-up, beside its ceiling: the same SELECT run raw through a cursor, all rows
    fetched (what any export of these rows must read); medians and ranges."""
    from django.db import connection
    from openpyxl import load_workbook

    from tickets.exports import MAX_ROWS

    calls, rows = {}, {}
    for key, (_label, url, who, status) in table.items():
        sql, params = export_queryset(who, status).query.sql_with_params()
        calls[key] = lambda c=clients_by_id[who.pk], u=url: c.get(u)

        def ceiling(sql=sql, params=params):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return len(cursor.fetchall())

        calls[key + ":ceiling"] = ceiling
        want = {
            "open_county": counts["open_county"],
            "open_province": counts["open_province"],
            "all_county": counts["all_county"],
            "all_province": counts["everything"],
        }[key]
        rows[key] = min(want, MAX_ROWS)
    # Right data first: each workbook holds the rows it should (header + one per ticket).
    for key, (label, _url, _who, _status) in table.items():
        response = calls[key]()
        if response.status_code != 200 or not response.get("Content-Type", "").startswith(
            "application/vnd.openxmlformats"
        ):
            sys.exit(f"wrong data: {label}: HTTP {response.status_code}")
        if rows[key] <= 20_000:  # reading a large workbook back costs more than the export
            book = load_workbook(io.BytesIO(response.content), read_only=True)
            n = sum(1 for _ in book.active.iter_rows(values_only=True)) - 1
            if n != rows[key]:
                sys.exit(f"wrong data: {label}: {n:,} rows in the workbook, expected {rows[key]:,}")
        if calls[key + ":ceiling"]() != rows[key]:
            sys.exit(f"wrong data: {label}: the ceiling's SELECT read another number of rows")
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(runs):
        for key, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    out = {}
    for key, (label, url, _who, _status) in table.items():
        t, c = times[key], times[key + ":ceiling"]
        out[key] = {
            "label": label,
            "url": url,
            "rows": rows[key],
            "median": statistics.median(t),
            "min": min(t),
            "max": max(t),
            "ceiling": {"median": statistics.median(c), "min": min(c), "max": max(c)},
        }
        out[key]["per_1000_rows"] = out[key]["median"] / max(rows[key], 1) * 1000
        out[key]["ratio_ceiling"] = out[key]["median"] / out[key]["ceiling"]["median"]
    return out


def print_exports(stats: dict, runs: int) -> None:
    def mr(d):
        return f"{ms(d['median'])} [{ms(d['min'])}–{ms(d['max'])}]"

    for _key, e in stats.items():
        print(
            f"  {e['label']:<38} {e['rows']:>8,} rows  {mr(e):>30}  ceiling (its SELECT, "
            f"raw) {mr(e['ceiling'])}; {e['ratio_ceiling']:.1f}x it, "
            f"{ms(e['per_1000_rows'])} per 1,000 rows"
        )
    print(f"  ({runs} interleaved rounds after a warm-up: median [range]; load now {load()})")


def scenario(name, tree, table, clients_by_id, args, expected=None) -> tuple[dict, dict, dict]:
    from tickets.models import Ticket

    n = Ticket.objects.count()
    print(f"\n== Scenario {name}: {n:,} tickets (load {load()}) ==")
    figures, counts = check(tree, table, clients_by_id, expected)
    print(
        f"checked: my tickets (school) {counts['mine_school']:,}, queue {counts['queue']:,} "
        f"(province engineer {counts['queue_province']:,}), county tier "
        f"{counts['tier_county']:,}, province tier {counts['tier_province']:,} open, county "
        f"area {counts['all_county']:,}; dashboards: "
        f"county {figures['county']['open']:,} open / {figures['county']['volume']['created']:,} "
        f"raised in 30 days, province {figures['province']['open']:,} open / "
        f"{figures['province']['volume']['created']:,} raised"
        + (" — the same 30-day figures as in A" if expected is not None else "")
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
    if args.export_runs:
        print(f"exports, scenario {name}:")
        stats["exports"] = measure_exports(exports(tree), clients_by_id, counts, args.export_runs)
        print_exports(stats["exports"], args.export_runs)
    stats["counts"] = counts
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
    parser.add_argument(
        "--old-open-share",
        type=float,
        default=0.03,
        help="share of the older tickets still open (default 0.03: 3 %%, at every tier)",
    )
    parser.add_argument("--runs", type=int, default=30, help="timed requests per page")
    parser.add_argument(
        "--export-runs",
        type=int,
        default=3,
        help="interleaved rounds of the exports in each scenario (0: no exports)",
    )
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
        old = load_old(tree, now, args.old, args.old_open_share)
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
        if args.export_runs:
            results["exports"] = {}
            print(
                f"\n== Exports: A → B, median of {args.export_runs} rounds; an export holds "
                "more rows in B (the history's open tickets, or all of it), so the ratio is "
                f"of the time per 1,000 rows (target ≤ {RATIO_TARGET:g}) =="
            )
            for key, ea in stats_a["exports"].items():
                eb = stats_b["exports"][key]
                ratio = eb["per_1000_rows"] / ea["per_1000_rows"]
                target = RATIO_TARGET
                verdict = "ok" if ratio <= target else "OVER"
                print(
                    f"  {ea['label']:<38} {ea['rows']:>7,} → {eb['rows']:>7,} rows  "
                    f"{ms(ea['median']):>10} → {ms(eb['median']):>10}  per 1,000 rows "
                    f"{ms(ea['per_1000_rows'])} → {ms(eb['per_1000_rows'])}  {ratio:5.2f} "
                    f"{verdict}  (B {eb['ratio_ceiling']:.1f}x its SELECT)"
                )
                results["exports"][key] = {
                    "label": ea["label"],
                    "url": ea["url"],
                    "a": ea,
                    "b": eb,
                    "ratio": ratio,
                    "ratio_target": target,
                }
        results["counts_a"], results["counts_b"] = stats_a["counts"], stats_b["counts"]
        for key, label in over:
            diagnose(key, label, queries_a[key], queries_b[key])
        elapsed = time.perf_counter() - started
        print(f"\nwhole run: {fmt_duration(elapsed)}; load average now {load()}")
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
