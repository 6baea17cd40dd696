"""A province's busy day, measured (issue 13, item 4).

The platform runs as deployed: N web processes behind HAProxy, a Celery worker
(2 children) and Celery beat, on PostgreSQL and Redis (scripts/shape.py, as `make
serve` starts them; the server is ASGI_SERVER, default uvicorn). Separate
load-generator processes (bench/busy/loadgen.py: asyncio, websockets and a small
HTTP/1.1 client, no thread per client) drive it as browsers and the roll system do:

- sockets: --sockets school accounts hold /ws/ open (Cookie and Origin headers), at
  most 2,500 per generator process; --http-logins of them (and every manager) log in
  through allauth's page first (GET /auth/login/ for the CSRF cookie, POST the
  password), the others carry a session made beforehand in the session table (the
  login's PBKDF2 at Django's 1,000,000 iterations costs ~0.2 s of CPU: 5,000 logins
  would be ~17 minutes of one core before every run);
- a notice to the whole province (its prefectures, counties and schools), composed and
  published over HTTP by the province manager 10 s into the run; school sockets get
  `notice.published` (delivery latency from the publisher's stamp); schools whose
  socket got it open the page (GET) and acknowledge it (POST) at --open-rate a second;
- chat in the county rooms: posts over the socket as chat.js sends them, at
  --chat-rate a second from random school sockets; every other connected member's
  socket should receive each accepted post (counted across all generators; every
  expected delivery that did not arrive is lost);
- tickets raised by schools over HTTP (form GET + POST) at --ticket-rate a second,
  routed by rotation to the county's engineers; every support engineer (county,
  prefecture, province tiers) polls its queue page every --engineer-poll seconds,
  opens each new ticket, replies, then resolves it or (--escalate-share) escalates it
  to the next tier, where the next tier's engineers do the same;
- a --roll-records alert run (150,000) through the signed roll API in batches of
  5,000 spread over the run (signing as bench/roll/intake.py; bodies made by its
  `Alerts` before the run); the worker syncs each batch;
- managers (the province's, every prefecture's and --county-managers county ones) on
  the notice statistics, the support dashboard, the tier queue and the problem
  records, each page every --manager-period seconds or so.

The world is built once into its own database (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/h_busy) and kept: one province, 10 prefectures,
100 counties, --schools schools, two accounts per school (a manager and a staff
member), a manager and engineers at each county (2), prefecture (2) and the province
(3), duty profiles and the prefecture tier on, so rotations route at every tier; all
with one password hashed once. Before each run the day's rows (tickets, notices,
chat messages, events, problem records, sessions) are truncated and Redis db
(REDIS_URL, default db 3) flushed, so every run starts from the same state.

Measured per run: per action count, p50, p99 and errors; socket delivery latency and
lost deliveries (chat and the notice); CPU seconds and % of one core and RSS of each
process (each web process, the worker with its children, beat, HAProxy, PostgreSQL's
processes, Redis, every load generator) over the steady state. The load generators
share the 2 CPUs with the platform. Checks against the database after each run:
tickets, replies, escalations, receipts and problem records equal what the clients
were told was done.

Runs: --shapes 1,2 --rounds 3 interleaves the shapes (1, 2, 1, 2, …) at the same
offered load; --scales 1,2 runs every offered-load multiple for each shape.

    .venv/bin/python bench/busy_day.py --schools 1500 --sockets 500 --duration 60   (smoke)
    flock /tmp/bench.lock .venv/bin/python bench/busy_day.py --json busy.json       (full)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/h_busy")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
os.environ["DEBUG"] = "0"
os.environ["HTTPS"] = "0"  # plain HTTP on loopback: no redirect to https://
os.environ["MFA_REQUIRED_FOR_SENIOR_MANAGERS"] = "0"
WORLD_DIR = Path(os.environ.get("BUSY_WORLD_DIR", "/tmp/busy-world"))
os.environ["VAR_DIR"] = str(WORLD_DIR / "var")  # the secret key the servers share

from _harness import (  # noqa: E402
    ensure_admin_database,
    fill_province,
    insert_units,
    server_env,
    write_json,
)

PYTHON = sys.executable
LOADGEN = HERE / "busy" / "loadgen.py"
PASSWORD = "Busy-day-2026!"
PROVINCE = "990000"
PER_GENERATOR = 2500
ROLL_BATCH = 5000
TICKET_TITLE = "学籍信息无法保存（"  # the schools' tickets (bench/busy/loadgen.py)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- the world ---------------------------------------------------------------------------


def setup_django() -> None:
    (WORLD_DIR / "var").mkdir(parents=True, exist_ok=True)
    ensure_admin_database(os.environ["DATABASE_URL"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def world_file(schools: int) -> Path:
    return WORLD_DIR / f"world-{schools}.json"


def build_world(schools: int) -> dict:
    """Wipe the database's accounts and units and build the province afresh."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts import services
    from accounts.models import Account, Level, Role
    from chat import services as chat_services
    from escalation.models import DutyProfile, SupportSettings
    from roll import services as roll

    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'django_migrations'"
        )
        tables = cursor.fetchone()[0]
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    ministry = services.ministry_ensure()
    (province,) = insert_units(
        [services.unit_build(level=Level.PROVINCE, code=PROVINCE, name="基准省", parent=ministry)]
    )
    per_county = max(1, schools // 100)
    prefs, counties, school_units = fill_province(
        province, prefectures=10, counties_per_prefecture=10, schools_per_county=per_county
    )
    SupportSettings.objects.create(province=province, prefecture_tier=True)
    hashed = make_password(PASSWORD)  # once: every account shares it

    def account(username, unit, role=Role.STAFF, engineer=False):
        return Account(
            username=username,
            password=hashed,
            unit=unit,
            role=role,
            is_support_engineer=engineer,
            must_change_password=False,
            full_name=username,
        )

    rows = []
    for s in school_units:
        rows += [account(f"{s.code}-m1", s, Role.MANAGER), account(f"{s.code}-s1", s)]
    engineers_per = {Level.COUNTY: 2, Level.PREFECTURE: 2, Level.PROVINCE: 3}
    for unit in [province, *prefs, *counties]:
        rows.append(account(f"{unit.code}-m1", unit, Role.MANAGER))
        rows += [
            account(f"{unit.code}-e{e}", unit, engineer=True)
            for e in range(1, engineers_per[unit.level] + 1)
        ]
    Account.objects.bulk_create(rows, batch_size=5000)
    DutyProfile.objects.bulk_create(
        [DutyProfile(account=a) for a in Account.objects.filter(is_support_engineer=True)]
    )
    for county in counties:  # region rooms along each county's path
        chat_services.region_rooms_ensure(Account.objects.get(username=f"{county.code}-m1"))
    manager = Account.objects.get(username=f"{PROVINCE}-m1")
    key, secret = roll.key_issue(actor=manager, unit=province, label="busy day")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    info = {"schools": schools, "roll_key": key.key_id, "roll_secret": secret}
    world_file(schools).write_text(json.dumps(info))
    print(
        f"world: 1 province, {len(prefs)} prefectures, {len(counties)} counties, "
        f"{len(school_units):,} schools, {len(rows):,} accounts, built in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return info


def ensure_world(schools: int) -> dict:
    from accounts.models import Level, Unit

    f = world_file(schools)
    have = Unit.objects.filter(level=Level.SCHOOL, code__startswith=PROVINCE[:2]).count()
    if f.exists() and have == max(1, schools // 100) * 100:
        print(f"world: reusing the {have:,} schools in the database")
        return json.loads(f.read_text())
    return build_world(schools)


def load_world(args, info: dict) -> dict:
    """Who does what in this run."""
    from accounts.models import Account, Level, Unit
    from chat.models import Room, RoomKind

    counties = list(Unit.objects.filter(level=Level.COUNTY).order_by("code"))
    rooms = dict(
        Room.objects.filter(kind=RoomKind.REGION, unit__level=Level.COUNTY).values_list(
            "unit_id", "pk"
        )
    )
    per_county = math.ceil(args.sockets / len(counties))
    socket_accounts = []
    for county in counties:
        schools = list(
            Unit.objects.filter(parent=county).order_by("code").values_list("code", flat=True)
        )[:per_county]
        socket_accounts += [(f"{code}-s1", rooms[county.pk]) for code in schools]
    socket_accounts = socket_accounts[: args.sockets]
    ids = dict(
        Account.objects.filter(username__in=[u for u, _ in socket_accounts]).values_list(
            "username", "pk"
        )
    )
    engineers = list(
        Account.objects.filter(is_support_engineer=True)
        .order_by("username")
        .values_list("pk", "username", "unit__level")
    )
    prefs = list(Unit.objects.filter(level=Level.PREFECTURE).order_by("code"))
    managers = [f"{PROVINCE}-m1"] + [f"{p.code}-m1" for p in prefs]
    managers += [
        f"{c.code}-m1" for c in counties[:: max(1, len(counties) // args.county_managers)]
    ][: args.county_managers]
    manager_ids = dict(Account.objects.filter(username__in=managers).values_list("username", "pk"))
    schools = [
        (u.code, u.pk, u.path) for u in Unit.objects.filter(level=Level.SCHOOL).order_by("code")
    ]
    return {
        "sockets": [(u, ids[u], room) for u, room in socket_accounts],
        "engineers": engineers,
        "managers": [(u, manager_ids[u]) for u in managers],
        "school_units": schools,
        **info,
    }


def reset() -> None:
    """The day's rows gone: every run starts from the same world."""
    import redis
    from django.db import connection

    keep = {
        "django_migrations",
        "django_content_type",
        "auth_permission",
        "auth_group",
        "auth_group_permissions",
        "accounts_unit",
        "accounts_account",
        "accounts_account_groups",
        "accounts_account_user_permissions",
        "chat_room",
        "chat_roomrule",
        "chat_roommember",
        "escalation_supportsettings",
        "escalation_dutyprofile",
        "escalation_dutyslot",
        "escalation_slatarget",
        "roll_rollkey",
        "django_site",
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [t for (t,) in cursor.fetchall() if t not in keep]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        cursor.execute("VACUUM ANALYZE")
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def make_sessions(account_ids: list[int]) -> dict[int, str]:
    """A logged-in session per account, as django.contrib.auth.login leaves it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from accounts.models import Account

    store = SessionStore()
    expire = timezone.now() + timedelta(days=1)
    cookies, rows = {}, []
    for account in Account.objects.filter(pk__in=account_ids):
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            SESSION_KEY: str(account.pk),
            BACKEND_SESSION_KEY: "accounts.backends.PasswordBackend",
            HASH_SESSION_KEY: account.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        cookies[account.pk] = f"{settings.SESSION_COOKIE_NAME}={key}"
    Session.objects.bulk_create(rows, batch_size=5000)
    return cookies


def roll_bodies(world: dict, records: int) -> Path:
    """The alert batches (made once per world and size by bench/roll/intake.py's Alerts)."""
    import importlib.util
    from datetime import date

    path = WORLD_DIR / f"roll-{world['schools']}-{records}.ndjson"
    if path.exists():
        return path
    spec = importlib.util.spec_from_file_location("bench_roll_intake", HERE / "roll" / "intake.py")
    intake = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    spec.loader.exec_module(intake)
    sys.path[:] = saved
    maker = intake.Alerts(world["school_units"], ROLL_BATCH, date.today())
    t0 = time.perf_counter()
    part = path.with_suffix(".part")
    with part.open("wb") as f:
        for b in range(math.ceil(records / ROLL_BATCH)):
            f.write(maker.body(b) + b"\n")
    part.rename(path)
    print(f"roll: {records:,} alerts made in {time.perf_counter() - t0:.1f} s")
    return path


# --- processes: CPU and memory -----------------------------------------------------------


def _procs_of(pid: int):
    import psutil

    with contextlib.suppress(psutil.Error):
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    return []


def _cpu(procs, *, reaped_of=None) -> float:
    import psutil

    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
            if reaped_of is not None and p.pid == reaped_of:
                total += t.children_user + t.children_system
    return total


def _mem(procs) -> int:
    import psutil

    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            try:
                total += p.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                total += p.memory_info().rss
    return total


class Watch:
    """CPU seconds (processes and their children; PostgreSQL's exited backends through
    the postmaster's reaped-children times) and peak memory (PSS: PostgreSQL's shared
    buffers counted once) of every process of the run, sampled every 2 s."""

    def __init__(self, pids: dict[str, int]):
        import psutil
        import redis

        self.pids = dict(pids)
        self.pids["redis"] = redis.Redis.from_url(os.environ["REDIS_URL"]).info("server")[
            "process_id"
        ]
        pg = [p for p in psutil.process_iter(["name", "ppid"]) if p.info["name"] == "postgres"]
        roots = [p for p in pg if p.info["ppid"] not in {q.pid for q in pg}]
        self.pg_root = roots[0].pid if roots else None
        self.peak: dict[str, int] = defaultdict(int)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def procs(self, name: str):
        if name == "postgresql":
            return _procs_of(self.pg_root) if self.pg_root else []
        return _procs_of(self.pids[name])

    def names(self) -> list[str]:
        return [*self.pids, "postgresql"]

    def cpu(self) -> dict[str, float]:
        return {
            n: _cpu(self.procs(n), reaped_of=self.pg_root if n == "postgresql" else None)
            for n in self.names()
        }

    def _sample(self) -> None:
        while not self.stop_event.wait(2.0):
            for n in self.names():
                self.peak[n] = max(self.peak[n], _mem(self.procs(n)))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join()


# --- one run -----------------------------------------------------------------------------


def xff(i: int, net: int = 10) -> str:
    return f"{net}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255 or 1}"


def plans(args, world: dict, url: str, tmp: Path, scale: float, roll_file: Path) -> list[dict]:
    from django.utils import timezone

    sockets = world["sockets"]
    n_gen = max(1, math.ceil(len(sockets) / PER_GENERATOR))
    staff_ids = [pk for pk, _, _ in world["engineers"]]
    cookies = make_sessions([pk for _, pk, _ in sockets[args.http_logins :]] + staff_ids)
    base = {
        "base": url,
        "ws": url.replace("http", "ws") + "/ws/",
        "origin": url,
        "duration": args.duration,
        "drain": args.drain,
    }
    out = []
    for g in range(n_gen):
        mine = [
            {"room": room, "xff": xff(i + 1)}
            | (
                {"username": u, "password": PASSWORD}
                if i < args.http_logins
                else {"cookie": cookies[pk]}
            )
            for i, (u, pk, room) in enumerate(sockets)
            if i % n_gen == g
        ]
        out.append(
            base
            | {
                "index": g + 1,
                "seed": 1000 + g,
                "role": "schools",
                "sockets": mine,
                "rates": {
                    "chat": args.chat_rate * scale / n_gen,
                    "open": args.open_rate * scale / n_gen,
                    "ticket": args.ticket_rate * scale / n_gen,
                },
                "out": str(tmp / f"gen{g + 1}.json"),
            }
        )
    staff_accounts = [
        {"key": u, "username": u, "password": PASSWORD, "xff": xff(i + 1, 11)}
        for i, (u, _) in enumerate(world["managers"])
    ] + [
        {"key": u, "cookie": cookies[pk], "xff": xff(i + 1, 12)}
        for i, (pk, u, _) in enumerate(world["engineers"])
    ]
    deadline = timezone.localtime(timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    pages = [
        ("notice_stats", "/notices/{notice}/stats/"),
        ("support_dashboard", "/tickets/dashboard/"),
        ("support_tier_queue", "/tickets/tier/"),
        ("problem_records", "/roll/"),
    ]
    n_batches = math.ceil(args.roll_records / ROLL_BATCH)
    out.append(
        base
        | {
            "index": 0,
            "seed": 999,
            "role": "staff",
            "staff_accounts": staff_accounts,
            "publish": {
                "who": f"{PROVINCE}-m1",
                "at": min(10.0, args.duration / 6),
                "target": PROVINCE,
                "levels": ["prefecture", "county", "school"],
                "deadline": deadline,
            },
            "engineers": [
                {
                    "who": u,
                    "poll": args.engineer_poll / scale,
                    "can_escalate": level != "province",
                    "escalate_share": args.escalate_share,
                    "per_poll": args.tickets_per_poll,
                }
                for _, u, level in world["engineers"]
            ],
            "managers": [
                {"who": u, "period": args.manager_period / scale, "pages": pages}
                for u, _ in world["managers"]
            ],
            "roll": {
                "file": str(roll_file),
                "key": world["roll_key"],
                "secret": world["roll_secret"],
                "batch": ROLL_BATCH,
                "every": args.duration * 0.9 / max(1, n_batches),
            }
            if args.roll_records
            else None,
            "out": str(tmp / "gen0.json"),
        }
    )
    return out


def db_counts() -> dict:
    from escalation.models import EntryKind, EscalationRecord
    from notices.models import Receipt
    from roll.models import ProblemRecord
    from tickets.models import Status, Ticket, TicketEvent

    return {
        # The roll worker raises tickets of its own for the alerts' schools.
        "tickets": Ticket.objects.filter(title__startswith=TICKET_TITLE).count(),
        "tickets_all": Ticket.objects.count(),
        "tickets_resolved": Ticket.objects.filter(status=Status.RESOLVED).count(),
        "tickets_unassigned_open": Ticket.objects.filter(
            status=Status.NEW, assignee__isnull=True
        ).count(),
        "ticket_events": TicketEvent.objects.count(),
        "escalations_manual": EscalationRecord.objects.filter(kind=EntryKind.MANUAL).count(),
        "receipts_read": Receipt.objects.count(),
        "receipts_acked": Receipt.objects.filter(acked_at__isnull=False).count(),
        "problem_records": ProblemRecord.objects.count(),
    }


def platform_shape(processes: int, tmp: Path):
    """`make serve`'s shape (scripts/shape.py) on this run's database and Redis."""
    env = server_env(f"busy{os.getpid()}x{time.time_ns()}")
    sys.path.insert(0, str(ROOT / "scripts"))
    from shape import Shape

    return Shape(
        processes=processes, env=env, log_dir=tmp, worker=True, beat=True, out=lambda line: None
    )


def shape_pids(stack) -> dict[str, int]:
    pids = {f"web{i + 1}": p.pid for i, p in enumerate(stack.web)}
    pids |= {p.name: p.pid for p in stack.others}
    return pids | {"haproxy": stack.haproxy.pid}


def run_once(args, world: dict, processes: int, scale: float, roll_file: Path) -> dict:
    from django.db import connections

    reset()
    tmp = Path(tempfile.mkdtemp(prefix=f"busy-{processes}p-"))
    at_start = loadavg()
    gens = plans(args, world, "http://127.0.0.1:0", tmp, scale, roll_file)  # sessions made
    connections.close_all()
    print(f"\n== {processes} web process(es), offered load ×{scale:g}; load average {at_start}")
    with platform_shape(processes, tmp) as stack:
        procs = []
        for plan in gens:
            for k in ("base", "origin"):
                plan[k] = stack.url
            plan["ws"] = stack.url.replace("http", "ws") + "/ws/"
            f = tmp / f"plan{plan['index']}.json"
            f.write_text(json.dumps(plan))
            procs.append(
                subprocess.Popen(  # noqa: S603
                    [PYTHON, str(LOADGEN), str(f)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=(tmp / f"gen{plan['index']}.err").open("w"),
                    text=True,
                )
            )
        t0 = time.perf_counter()
        for p in procs:
            line = p.stdout.readline()
            if not line.startswith("READY"):
                raise RuntimeError(f"a load generator failed: see {tmp}")
        setup_seconds = time.perf_counter() - t0
        pids = shape_pids(stack) | {
            f"loadgen{plan['index']}": p.pid for plan, p in zip(gens, procs, strict=True)
        }
        time.sleep(args.settle)  # the connect wave digested before the day starts
        watch = Watch(pids)
        watch.start()
        cpu0 = watch.cpu()
        for p in procs:
            p.stdin.write("GO\n")
            p.stdin.flush()
        time.sleep(args.duration)
        cpu1 = watch.cpu()
        for p in procs:
            if not p.stdout.readline().startswith("DONE"):
                raise RuntimeError(f"a load generator failed: see {tmp}")
            p.wait()
        watch.stop()
        counts = db_counts()
        tracebacks = sum(
            log.read_text(errors="replace").count("Traceback") for log in tmp.glob("*.log")
        )
    results = [json.loads((tmp / f"gen{plan['index']}.json").read_text()) for plan in gens]
    run = summarise(args, results, counts)
    run |= {
        "processes": processes,
        "scale": scale,
        "load_at_start": at_start,
        "setup_seconds": setup_seconds,
        "tracebacks": tracebacks,
        "cpu": {
            n: {
                "seconds": cpu1[n] - cpu0[n],
                "percent": (cpu1[n] - cpu0[n]) / args.duration * 100,
                "peak_mib": watch.peak[n] / 2**20,
            }
            for n in cpu0
        },
        "logs": str(tmp),
    }
    if not args.keep_logs and not run["problems"] and not tracebacks:
        shutil.rmtree(tmp, ignore_errors=True)
    return run


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def summarise(args, results: list[dict], counts: dict) -> dict:
    actions: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    samples: list[str] = []
    members: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    posts: dict[str, dict] = {}
    chat_lat, notice_lat = [], []
    handled: dict[str, int] = defaultdict(int)
    socket_errors: dict[str, int] = defaultdict(int)
    sockets = closed = failures = 0
    raised = 0
    notice_ids = set()
    for r in results:
        for k, v in r["actions_ms"].items():
            actions[k] += v
        for k, v in r["errors"].items():
            errors[k] += v
        samples += r["error_samples"]
        for k, v in r["room_members"].items():
            members[k] += v
        for k, v in r["received"].items():
            received[k] += v
        posts |= r["posts"]
        chat_lat += r["chat_latency_ms"]
        notice_lat += r["notice_latency_ms"]
        for k, v in r["handled"].items():
            handled[k] += v
        for k, v in r["socket_errors"].items():
            socket_errors[k] += v
        sockets += r["sockets_connected"]
        closed += r["sockets_closed_during_run"]
        failures += r["connect_failures"]
        raised += len(r["tickets_raised"])
        if r["notice_id"]:
            notice_ids.add(r["notice_id"])
    accepted = [p for p in posts.values() if p["accepted"]]
    expected = sum(members[str(p["room"])] - 1 for p in accepted)
    got = sum(
        min(received.get(k, 0), members[str(p["room"])] - 1)
        for k, p in posts.items()
        if p["accepted"]
    )
    actions["chat_post"] = [p["ms"] for p in accepted]
    errors["chat_post"] += sum(1 for p in posts.values() if p["accepted"] is False)
    errors["chat_post_unanswered"] = sum(1 for p in posts.values() if p["accepted"] is None)
    duration = args.duration
    table = {
        name: {
            "count": len(v),
            "per_second": len(v) / duration,
            "p50_ms": pct(v, 0.5),
            "p99_ms": pct(v, 0.99),
            "errors": errors.get(name, 0),
        }
        for name, v in sorted(actions.items())
    }
    for name, n in errors.items():
        if name not in table and n:
            table[name] = {"count": 0, "per_second": 0, "p50_ms": None, "p99_ms": None, "errors": n}
    problems = []
    if counts["tickets"] != raised:
        problems.append(f"{counts['tickets']} tickets in the database, {raised} raised")
    if counts["tickets_resolved"] != handled.get("resolved", 0):
        problems.append(
            f"{counts['tickets_resolved']} resolved in the database, "
            f"{handled.get('resolved', 0)} resolved by engineers"
        )
    if counts["escalations_manual"] != handled.get("escalated", 0):
        problems.append(
            f"{counts['escalations_manual']} manual escalations stored, "
            f"{handled.get('escalated', 0)} done"
        )
    if counts["receipts_acked"] != handled.get("acks", 0):
        problems.append(f"{counts['receipts_acked']} receipts acked, {handled.get('acks', 0)} sent")
    if counts["problem_records"] != handled.get("roll_records", 0):
        problems.append(
            f"{counts['problem_records']} problem records, "
            f"{handled.get('roll_records', 0)} accepted"
        )
    http = [
        v for k, vs in actions.items() if k not in ("chat_post", "login", "roll_batch") for v in vs
    ]
    return {
        "actions": table,
        "error_samples": samples[:10],
        "sockets": {
            "connected": sockets,
            "connect_failures": failures,
            "closed_during_run": closed,
            "errors": dict(socket_errors),
        },
        "chat": {
            "posts": len(posts),
            "accepted": len(accepted),
            "expected_deliveries": expected,
            "received": got,
            "lost": expected - got,
            "p50_ms": pct(chat_lat, 0.5),
            "p99_ms": pct(chat_lat, 0.99),
            "deliveries_per_second": got / duration,
        },
        "notice": {
            "published": len(notice_ids),
            "expected_deliveries": sockets if notice_ids else 0,
            "received": len(notice_lat),
            "lost": (sockets - len(notice_lat)) if notice_ids else 0,
            "p50_ms": pct(notice_lat, 0.5),
            "p99_ms": pct(notice_lat, 0.99),
        },
        "http_steady": {
            "count": len(http),
            "per_second": len(http) / duration,
            "p50_ms": pct(http, 0.5),
            "p99_ms": pct(http, 0.99),
        },
        "database": counts,
        "handled": dict(handled),
        "problems": problems,
        "loadgen_cpu": {str(r["index"]): r["run_cpu_seconds"] for r in results},
    }


# --- the report ---------------------------------------------------------------------------


def f_ms(v) -> str:
    return "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:,.1f}")


def show(run: dict) -> None:
    print(
        f"-- {run['processes']} web process(es), load ×{run['scale']:g}, load average at start "
        f"{run['load_at_start']}; setup (connect, logins) {run['setup_seconds']:.0f} s"
    )
    print(f"  {'action':<22}{'count':>8}{'/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, a in run["actions"].items():
        print(
            f"  {name:<22}{a['count']:>8,}{a['per_second']:>8.2f}{f_ms(a['p50_ms']):>9}"
            f"{f_ms(a['p99_ms']):>9}{a['errors']:>8}"
        )
    h = run["http_steady"]
    print(
        f"  {'all pages and forms':<22}{h['count']:>8,}{h['per_second']:>8.2f}"
        f"{f_ms(h['p50_ms']):>9}{f_ms(h['p99_ms']):>9}"
    )
    s, c, n = run["sockets"], run["chat"], run["notice"]
    print(
        f"  sockets: {s['connected']:,} connected, {s['connect_failures']} failed, "
        f"{s['closed_during_run']} closed during the run, errors {s['errors'] or 0}"
    )
    print(
        f"  chat: {c['accepted']:,}/{c['posts']:,} posts accepted; deliveries "
        f"{c['received']:,}/{c['expected_deliveries']:,} ({c['deliveries_per_second']:,.0f}/s), "
        f"lost {c['lost']:,}; latency p50 {f_ms(c['p50_ms'])} ms, p99 {f_ms(c['p99_ms'])} ms"
    )
    print(
        f"  notice to sockets: {n['received']:,}/{n['expected_deliveries']:,}, lost {n['lost']:,};"
        f" latency p50 {f_ms(n['p50_ms'])} ms, p99 {f_ms(n['p99_ms'])} ms"
    )
    print(f"  {'process':<14}{'CPU s':>8}{'% core':>8}{'peak MiB':>10}")
    for name, v in run["cpu"].items():
        print(f"  {name:<14}{v['seconds']:>8.1f}{v['percent']:>8.0f}{v['peak_mib']:>10.0f}")
    print(f"  database: {run['database']}")
    if run["error_samples"]:
        print(f"  error samples: {run['error_samples'][:5]}")
    print(
        f"  tracebacks in server logs: {run['tracebacks']}; problems: {run['problems'] or 'none'}"
    )


def med_range(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    vs = sorted(values)
    mid = vs[len(vs) // 2] if len(vs) % 2 else (vs[len(vs) // 2 - 1] + vs[len(vs) // 2]) / 2
    return f"{f_ms(mid)} [{f_ms(vs[0])}–{f_ms(vs[-1])}]"


def compare(runs: list[dict]) -> dict:
    by: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        by[(r["processes"], r["scale"])].append(r)
    out = {}
    print("\n== Summary: median [min–max] over rounds")
    for (n, scale), rs in sorted(by.items()):
        key = f"{n}p x{scale:g}"
        web_cpu = [
            sum(v["seconds"] for k, v in r["cpu"].items() if k.startswith("web")) for r in rs
        ]
        http = [r["http_steady"]["count"] for r in rs]
        out[key] = {
            "rounds": len(rs),
            "http_per_second": [r["http_steady"]["per_second"] for r in rs],
            "http_p99_ms": [r["http_steady"]["p99_ms"] for r in rs],
            "chat_p99_ms": [r["chat"]["p99_ms"] for r in rs],
            "chat_lost": [r["chat"]["lost"] for r in rs],
            "errors": [sum(a["errors"] for a in r["actions"].values()) for r in rs],
            "web_cpu_ms_per_http": [
                c / h * 1e3 if h else None for c, h in zip(web_cpu, http, strict=True)
            ],
        }
        o = out[key]
        print(
            f"  {key:<8} rounds {len(rs)}: pages+forms/s {med_range(o['http_per_second'])}, "
            f"p99 {med_range(o['http_p99_ms'])} ms; chat p99 {med_range(o['chat_p99_ms'])} ms, "
            f"lost {med_range(o['chat_lost'])}; errors {med_range(o['errors'])}; "
            f"web CPU per page {med_range(o['web_cpu_ms_per_http'])} ms"
        )
    return out


def sizing(runs: list[dict], args: dict) -> dict:
    """DERIVED, NOT MEASURED: the processes 4, 8 and 16 web processes would need, from the
    measured CPU per unit of offered load (scale 1 = the rates of one run at --scales 1)
    and memory per socket of the runs, assuming cost stays linear in load."""
    per_unit: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        d, scale = args["duration"], r["scale"]
        web = sum(v["seconds"] for k, v in r["cpu"].items() if k.startswith("web"))
        per_unit["web"].append(web / d / scale)
        per_unit["postgresql"].append(r["cpu"]["postgresql"]["seconds"] / d / scale)
        per_unit["worker"].append(r["cpu"]["worker"]["seconds"] / d / scale)
        per_unit["redis"].append(r["cpu"]["redis"]["seconds"] / d / scale)
        per_unit["haproxy"].append(r["cpu"]["haproxy"]["seconds"] / d / scale)
        webs = [v["peak_mib"] for k, v in r["cpu"].items() if k.startswith("web")]
        per_unit["web_mib_per_1000_sockets"].append(
            sum(webs) / max(1, r["sockets"]["connected"]) * 1000
        )

    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if xs else 0.0

    m = {k: med(v) for k, v in per_unit.items()}
    busy = 0.7  # a web process kept at 70 % of its core, the rest for bursts
    out = {"cores_per_unit": m, "processes": {}}
    print(
        "\n== Sizing ON PAPER (derived from the measured per-unit CPU, not measured): "
        f"per unit of offered load (scale 1) web {m['web']:.2f} cores, PostgreSQL "
        f"{m['postgresql']:.2f}, worker {m['worker']:.2f}, Redis {m['redis']:.3f}, HAProxy "
        f"{m['haproxy']:.3f}; web memory {m['web_mib_per_1000_sockets']:.0f} MiB per 1,000 "
        "sockets (peak PSS incl. the process's base)"
    )
    print(f"  {'web procs':>9}{'units':>8}{'PG cores':>10}{'worker cores':>14}{'total cores':>13}")
    for n in (4, 8, 16):
        units = n * busy / m["web"] if m["web"] else 0.0
        pg, worker = units * m["postgresql"], units * m["worker"]
        extra = units * (m["redis"] + m["haproxy"])
        total = n + pg + worker + extra
        out["processes"][n] = {"units": units, "pg_cores": pg, "worker_cores": worker}
        print(f"  {n:>9}{units:>8.1f}{pg:>10.1f}{worker:>14.1f}{total:>13.1f}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--schools", type=int, default=15000)
    p.add_argument("--sockets", type=int, default=5000)
    p.add_argument("--duration", type=float, default=180.0, help="seconds of steady load")
    p.add_argument("--drain", type=float, default=20.0)
    p.add_argument("--settle", type=float, default=20.0, help="seconds between connect and GO")
    # The offered load at scale 1; --scales multiplies the rates and divides the periods.
    p.add_argument("--chat-rate", type=float, default=2.0, help="posts a second, all rooms")
    p.add_argument("--open-rate", type=float, default=2.0, help="notice opens+acks a second")
    p.add_argument("--ticket-rate", type=float, default=0.2, help="tickets raised a second")
    p.add_argument("--engineer-poll", type=float, default=120.0, help="seconds between polls")
    p.add_argument("--tickets-per-poll", type=int, default=1)
    p.add_argument("--escalate-share", type=float, default=0.2)
    p.add_argument("--manager-period", type=float, default=120.0)
    p.add_argument("--county-managers", type=int, default=10)
    p.add_argument("--roll-records", type=int, default=150_000)
    p.add_argument("--http-logins", type=int, default=50, help="school sockets logging in")
    p.add_argument("--shapes", default="1,2", help="web processes, interleaved")
    p.add_argument("--scales", default="1", help="offered-load multiples")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--json")
    p.add_argument(
        "--stop-by", help="UTC HH:MM: start no run that would end after it (rounds cut short)"
    )
    p.add_argument("--from-json", help="only print the summary and sizing of an earlier run")
    args = p.parse_args(argv)
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text())
        for run in data["runs"]:
            show(run)
        compare(data["runs"])
        sizing(data["runs"], data["args"])
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the stack stops in `with`
    print(f"busy day: load average {loadavg()}, {os.cpu_count()} CPUs (load generators share them)")
    setup_django()
    info = build_world(args.schools) if args.rebuild else ensure_world(args.schools)
    world = load_world(args, info)
    roll_file = roll_bodies(world, args.roll_records) if args.roll_records else Path("/dev/null")
    shapes = [int(x) for x in args.shapes.split(",")]
    scales = [float(x) for x in args.scales.split(",")]
    runs = []
    run_seconds = args.duration + args.settle + args.drain + 150  # connect, logins, stop
    stop_by, cut = None, False
    if args.stop_by:
        now = datetime.now(UTC)
        hh, mm = (int(x) for x in args.stop_by.split(":"))
        stop_by = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    for _round in range(args.rounds):
        for scale in scales:
            for n in shapes:
                if stop_by and datetime.now(UTC) + timedelta(seconds=run_seconds) > stop_by:
                    if not cut:
                        print(f"\n(cut in round {_round + 1}: --stop-by {args.stop_by} UTC)")
                    cut = True
                    continue
                run = run_once(args, world, n, scale, roll_file)
                show(run)
                runs.append(run)
                if args.json:
                    write_json({"args": vars(args), "runs": runs}, args.json)
    summary = compare(runs)
    summary["sizing_on_paper"] = sizing(runs, vars(args))
    write_json({"args": vars(args), "runs": runs, "summary": summary}, args.json)
    return 1 if any(r["problems"] or r["tracebacks"] for r in runs) else 0


if __name__ == "__main__":
    random.seed(1)
    sys.exit(main())
