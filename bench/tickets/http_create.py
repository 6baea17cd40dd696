"""HTTP ticket creation, side by side: the platform against django-helpdesk 2.6.1.

Claim: a logged-in user raises a ticket over HTTP on the platform (stored, placed at
its first support tier, routed to an engineer on duty, timeline entries written and
announced) at least twice as fast as django-helpdesk creates one through its staff
form, on the same machine, database server and server process model.

Both systems, in the same run:

- the same PostgreSQL server: the platform on a throwaway database of this run
  (_harness.py; DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/postgres,
  which only serves to create and drop `bench_<pid>`), the peer on
  HELPDESK_DATABASE_URL (helpdesk_peer/setup.py; default .../bench_helpdesk);
- the same ASGI server and process count for both: --server (default
  scripts/asgi_servers.py's choice) with the platform's command line for it (the peer
  runs it from its own venv; for uvicorn with the same worker options), --processes
  web processes each (1: on a free loopback port; more: behind HAProxy, started by
  scripts/shape.py as `make serve` runs the platform); the platform with REDIS_URL
  (default redis://127.0.0.1:6379/6) for its cache, rate limits and the Channels push;
- database connections kept on both: the platform's HTTP requests run on
  HTTP_THREADS long-lived threads, each keeping its connection (core/handlers.py);
  the peer uses Django's psycopg pool (helpdesk_peer/settings.py), since under ASGI
  Django's CONN_MAX_AGE keeps nothing;
- with --accounts N, both databases hold N more accounts: the platform N ÷ 2 schools
  in 100 counties of the province with two staff accounts each, the peer N active
  Django users (its ticket form lists every user);
- the same load: loadgen.run with --clients clients (default 8), each logged in once
  (not timed) on its own keep-alive connection, creating --tickets tickets in all
  (default 2,000), each POST timed up to the server's answer (the redirect is not
  followed).

The platform's tree: Ministry → 基准省 → 基准市 → 基准县 with --engineers support
engineers (on duty, no duty slots, capacity 32,767 — DutyProfile.capacity is a small
integer — so nobody is ever "at capacity"), and one school per client under the
county with its own reporter account (staff, password set, no forced change). Every
ticket is routed at the county tier.

The two run alternately for --rounds rounds (platform, helpdesk, platform, helpdesk,
…), so drifting machine load hits both; the load average is recorded at the start of
every run. Before each run the system starts from the same state: the peer's database
is dropped and rebuilt (setup.py --reset), and the platform's ticket, timeline,
escalation, rotation and event tables are truncated (the tree and accounts stay).
After each run the database must hold exactly the tickets the server accepted (the
platform's must also all be assigned to an engineer of the tier), else the script
exits non-zero. Throughput and latency are printed per run; the headline is the
median over rounds of platform ÷ helpdesk tickets/s (target ≥ 2×), with the servers'
CPU per ticket beside it (the load generator shares the machine's CPUs; CPU per
ticket is the figure that drifts least with other load).

Figures only; timings are never asserted. Four runs of 2,000 tickets at the defaults:
about 10 minutes on a quiet 2-CPU machine, 15–20 under other load.

CPU per ticket counts every web process and its children (gunicorn's worker under
its master), not HAProxy, PostgreSQL or the load generator.

Run: .venv/bin/python bench/tickets/http_create.py [--tickets 2000] [--clients 8]
         [--rounds 2] [--engineers 5] [--server daphne|uvicorn|granian]
         [--processes 1] [--accounts 0] [--json out.json]
     (the peer's venv is built on first use: python3 bench/tickets/helpdesk_peer/setup.py)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Project root first (bench/tickets must not shadow project modules), bench/ for the
# harness and this directory last for loadgen and the peer's setup.
_HERE = Path(__file__).resolve().parent
_BENCH, _ROOT = _HERE.parent, _HERE.parent.parent
sys.path[:] = [
    str(_ROOT),
    *(p for p in sys.path if Path(p or ".").resolve() not in (_HERE, _BENCH, _ROOT)),
    str(_BENCH),
    str(_HERE),
    str(_ROOT / "scripts"),
]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")

import asgi_servers  # noqa: E402
import helpdesk_only  # noqa: E402  (the peer's environment and ticket count)
import loadgen  # noqa: E402
from _harness import fill_province, fresh_database, server_env, write_json  # noqa: E402
from helpdesk_peer import setup as peer  # noqa: E402

sys.path.remove(str(_HERE))  # helpdesk_only put this directory first; it stays last

PASSWORD = "Bench-Http-Pass-2026!"  # noqa: S105 (throwaway accounts on a throwaway database)
CAPACITY = 32_767
COUNTY = "999901"
TARGET = 2.0


def load() -> tuple[float, float, float]:
    return os.getloadavg()


# --- the platform ----------------------------------------------------------------------


def build(clients: int, engineers: int, accounts: int = 0) -> dict:
    """The tree, the engineers and one reporter per client; returns the usernames.
    With `accounts`, also that many more accounts in the province (fill_accounts)."""
    from accounts import services
    from accounts.models import Account, Level, Role
    from escalation.models import DutyProfile

    ministry = services.ministry_ensure()
    province = services.unit_create(
        level=Level.PROVINCE, code="990000", name="基准省", parent=ministry
    )
    if accounts:
        fill_accounts(province, accounts)
    prefecture = services.unit_create(
        level=Level.PREFECTURE, code="999900", name="基准市", parent=province
    )
    county = services.unit_create(level=Level.COUNTY, code=COUNTY, name="基准县", parent=prefecture)

    def account(username: str, unit, **kw) -> Account:
        a = Account(
            username=username,
            unit=unit,
            role=Role.STAFF,
            must_change_password=False,
            full_name=f"基准{username}",
            **kw,
        )
        a.set_password(PASSWORD)
        a.save()
        return a

    team = [
        account(f"{COUNTY}-e{e:02d}", county, is_support_engineer=True)
        for e in range(1, engineers + 1)
    ]
    DutyProfile.objects.bulk_create([DutyProfile(account=a, capacity=CAPACITY) for a in team])
    reporters = []
    for k in range(1, clients + 1):
        school = services.unit_create(
            level=Level.SCHOOL, code=f"{COUNTY}{k:04d}", name=f"基准县第{k}学校", parent=county
        )
        reporters.append(account(f"{school.code}-s1", school).username)
    return {"tier": county.pk, "engineers": [a.pk for a in team], "reporters": reporters}


def fill_accounts(province, accounts: int) -> None:
    """accounts ÷ 2 schools under 10 prefectures of 10 counties each (codes 9901xx…,
    beside the benchmark's own 基准市), two staff accounts per school, bulk-inserted
    with one shared password hash."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import Account, Role

    schools_per_county = -(-accounts // 2 // 100)
    _, _, schools = fill_province(
        province, prefectures=10, counties_per_prefecture=10, schools_per_county=schools_per_county
    )
    schools = schools[: accounts // 2]
    password = make_password(PASSWORD)
    Account.objects.bulk_create(
        [
            Account(
                username=f"{school.code}-s{k}",
                unit=school,
                role=Role.STAFF,
                must_change_password=False,
                full_name=f"{school.name}{k}",
                password=password,
            )
            for school in schools
            for k in (1, 2)
        ],
        batch_size=5000,
    )


def _tables() -> list[str]:
    from core.models import Event, EventTarget
    from escalation.models import EscalationRecord, Rotation
    from tickets.models import Ticket, TicketEvent, TicketFile

    models = (Ticket, TicketEvent, TicketFile, EscalationRecord, Rotation, Event, EventTarget)
    return [m._meta.db_table for m in models]


def platform_reset() -> None:
    """Back to the state right after build(): no ticket, event or rotation row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(_tables())} RESTART IDENTITY CASCADE")


def platform_counts(tier_id: int, engineers: list[int]) -> dict:
    from collections import Counter

    from core.models import Event
    from escalation.models import EscalationRecord
    from tickets.models import Status, Ticket, TicketEvent

    rows = list(Ticket.objects.values_list("status", "tier_id", "assignee_id"))
    per_engineer = Counter(a for s, t, a in rows if s == Status.ASSIGNED and t == tier_id)
    spread = [per_engineer.get(pk, 0) for pk in engineers]
    return {
        "tickets": len(rows),
        "assigned": sum(per_engineer.values()),
        "spread": max(spread) - min(spread) if spread else 0,
        "timeline_entries": TicketEvent.objects.count(),
        "stays": EscalationRecord.objects.count(),
        "events": Event.objects.count(),
    }


def run_platform(args, world: dict, n: int, tmp: Path) -> dict:
    from django.db import connection

    platform_reset()
    before = platform_counts(world["tier"], world["engineers"])
    connection.close()  # no idle session of ours beside the server's
    at_start = load()
    log_dir = tmp / f"platform-{n}"
    with serve(
        lambda port: asgi_servers.argv(args.server, port),
        processes=args.processes,
        server=args.server,
        cwd=_ROOT,
        env=server_env(f"benchhttp{os.getpid()}r{n}"),
        log_dir=log_dir,
        ready_path="/healthz",
    ) as (base_url, pids):
        result = _run_clients(
            lambda k: loadgen.platform_profile(base_url, world["reporters"][k], PASSWORD),
            args,
            pids,
            _backends(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
        )
    after = platform_counts(world["tier"], world["engineers"])
    created = after["tickets"] - before["tickets"]
    problems = []
    if created != result["count"]:
        problems.append(f"{created} tickets in the database, server accepted {result['count']}")
    if after["assigned"] != after["tickets"]:
        problems.append(f"{after['tickets'] - after['assigned']} tickets not assigned at the tier")
    return result | {
        "load_at_start": at_start,
        "created_in_database": created,
        "database_before": before,
        "database_after": after,
        "tracebacks": _tracebacks(log_dir),
        "problems": problems,
    }


@contextlib.contextmanager
def serve(argv_of, *, processes: int, server: str, cwd: Path, env: dict, log_dir: Path, ready_path):
    """The web processes of one system: one on a free port, or `processes` of them
    behind HAProxy (scripts/shape.py, as `make serve` runs the platform). Yields the
    URL the clients use and the pids whose CPU (with their children's) is counted."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if processes == 1:
        with loadgen.server(
            argv_of, cwd=cwd, env=env, log=log_dir / "web-1.log", ready_path=ready_path
        ) as (base_url, proc):
            yield base_url, [proc.pid]
        return
    from shape import Shape

    # Shape starts its processes in the project's directory: the peer finds its
    # modules through PYTHONPATH (peer_env).
    with Shape(
        processes=processes,
        server=server,
        argv_of=argv_of,
        env=env,
        log_dir=log_dir,
        out=lambda line: None,
    ) as shape:
        yield shape.url, [p.pid for p in shape.web]


def _tracebacks(log_dir: Path) -> int:
    return sum(p.read_text(errors="replace").count("Traceback") for p in log_dir.glob("*.log"))


# --- the peer --------------------------------------------------------------------------


def prepare_peer(users: int = 0) -> dict:
    """setup.py --reset. Its database step runs inside the peer's venv with this
    process's environment, which must not carry the platform's settings there."""
    platform_only = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "VAR_DIR", "DEBUG")
    saved = {k: os.environ.pop(k) for k in platform_only if k in os.environ}
    try:
        return peer.prepare(reset=True, users=users)
    finally:
        os.environ.update(saved)


def peer_argv(kind: str, port: int, info: dict) -> list[str]:
    """The platform's command line for `kind` (scripts/asgi_servers.py), run from the
    peer's venv: its own binary, its app, and for uvicorn the same worker options
    (helpdesk_peer/peer_uvicorn_worker.py)."""
    argv = asgi_servers.argv(kind, port, app=info["app"])
    argv[0] = str(Path(info["daphne"]).parent / Path(argv[0]).name)
    return [
        "peer_uvicorn_worker.Worker" if a == "config.uvicorn_worker.Worker" else a for a in argv
    ]


def run_helpdesk(args, n: int, tmp: Path) -> dict:
    info = prepare_peer(args.accounts)
    before = helpdesk_only.ticket_count(info["database_url"])
    at_start = load()
    log_dir = tmp / f"helpdesk-{n}"
    with serve(
        lambda port: peer_argv(args.server, port, info),
        processes=args.processes,
        server=args.server,
        cwd=Path(info["cwd"]),
        env=helpdesk_only.peer_env() | {"PYTHONPATH": info["cwd"]},
        log_dir=log_dir,
        ready_path=loadgen.HELPDESK_LOGIN,
    ) as (base_url, pids):
        result = _run_clients(
            lambda k: loadgen.helpdesk_profile(base_url, info["username"], info["password"]),
            args,
            pids,
            _backends(info["database_url"], urlsplit(info["database_url"]).path.lstrip("/")),
        )
    created = helpdesk_only.ticket_count(info["database_url"]) - before
    problems = []
    if created != result["count"]:
        problems.append(f"{created} tickets in the database, server accepted {result['count']}")
    return result | {
        "load_at_start": at_start,
        "created_in_database": created,
        "database_before": {"tickets": before},
        "tracebacks": _tracebacks(log_dir),
        "problems": problems,
    }


def _backends(url: str, database: str):
    """Reads the CPU of the PostgreSQL backends serving `database` (loadgen.backend_cpu),
    through the server's `postgres` database."""
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return loadgen.backend_cpu(admin, database)


def _run_clients(profile_of, args, pids: list[int], database_cpu=None) -> dict:
    """loadgen.run, but with one account per client where the system has several: the
    profile's login and create dispatch on the client's own index."""
    profiles = [profile_of(k) for k in range(args.clients)]
    slots = list(range(args.clients))
    lock = threading.Lock()
    first = profiles[0]

    def login(s: loadgen.Session) -> None:
        with lock:  # run() logs each client in once, from a thread of its own
            k = slots.pop(0)
        s.state["k"] = k
        profiles[k].login(s)

    def create(s: loadgen.Session, i: int) -> None:
        profiles[s.state["k"]].create(s, i)

    combined = loadgen.Profile(first.name, first.base_url, login, create, first.notes)
    return loadgen.run(
        combined,
        tickets=args.tickets,
        clients=args.clients,
        server_pid=pids,
        database_cpu=database_cpu,
    )


# --- the report ------------------------------------------------------------------------


def table(runs: list[dict]) -> None:
    head = (
        "round",
        "system",
        "load at start",
        "tickets/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "CPU ms/ticket",
        "DB CPU ms/ticket",
        "in DB",
    )
    rows = [head]
    for r in runs:
        rows.append(
            (
                str(r["round"]),
                r["kind"],
                f"{r['load_at_start'][0]:.2f}",
                f"{r['per_second']:.1f}",
                f"{r['p50_ms']:.0f}",
                f"{r['p95_ms']:.0f}",
                f"{r['p99_ms']:.0f}",
                str(r["errors"]),
                f"{r['server_cpu_ms_per_ticket']:.1f}",
                f"{r['database_cpu_ms_per_ticket']:.1f}",
                f"{r['created_in_database']:,}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print(
            "  ".join(
                c.rjust(w) if i > 1 else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000, help="tickets per run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="platform + helpdesk runs each")
    parser.add_argument("--engineers", type=int, default=5, help="support engineers at the tier")
    parser.add_argument(
        "--server",
        default=asgi_servers.chosen(),
        choices=asgi_servers.SERVERS,
        help="ASGI server of both systems (default: scripts/asgi_servers.py's choice)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="web processes per system (>1: behind HAProxy)"
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=0,
        help="also hold this many accounts (platform: ÷2 schools, 2 each; helpdesk: users)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        print(
            "FAILED: needs PostgreSQL (DATABASE_URL=postgres://…), as the peer uses",
            file=sys.stderr,
        )
        return 1

    failures: list[str] = []
    runs: list[dict] = []
    with fresh_database() as db, tempfile.TemporaryDirectory(prefix="xj-bench-http-") as tmp:
        world = build(args.clients, args.engineers, args.accounts)
        print(
            f"setup: 基准县 ({COUNTY}) with {args.engineers} engineers (capacity {CAPACITY:,}), "
            f"{args.clients} schools with a reporter each"
            + (
                f", and {args.accounts:,} more accounts (2 in each of {args.accounts // 2:,} "
                f"schools; helpdesk: {args.accounts:,} more active users)"
                if args.accounts
                else ""
            )
            + f"; peer: django-helpdesk 2.6.1 on {peer.database_url()} (reset before each run)"
        )
        shape = (
            "one web process each"
            if args.processes == 1
            else f"{args.processes} web processes each behind HAProxy (scripts/shape.py)"
        )
        print(
            f"load: {args.tickets:,} tickets per run from {args.clients} clients, "
            f"{args.rounds} round(s) of platform then helpdesk; {args.server}, {shape} "
            f"({' '.join(asgi_servers.argv(args.server, 0)[1:])}); platform HTTP_THREADS "
            f"{os.environ.get('HTTP_THREADS', 'default')}, helpdesk's psycopg pool "
            f"{'off' if os.environ.get('HELPDESK_DB_POOL') == '0' else 'on'}"
        )
        for n in range(1, args.rounds + 1):
            for kind, fn in (
                ("platform", lambda n=n: run_platform(args, world, n, Path(tmp))),
                ("helpdesk", lambda n=n: run_helpdesk(args, n, Path(tmp))),
            ):
                try:
                    r = fn() | {"round": n, "kind": kind}
                except loadgen.LoadError as exc:
                    print(f"FAILED: round {n} {kind}: {exc}", file=sys.stderr)
                    failures.append(f"round {n} {kind}: {exc}")
                    continue
                runs.append(r)
                la = ", ".join(f"{x:.2f}" for x in r["load_at_start"])
                print(f"round {n}, load average at start {la}: {loadgen.format_result(r)}")
                print(
                    f"    in the database: {r['created_in_database']:,} tickets"
                    + (
                        f", {r['database_after']['assigned']:,} assigned (spread over engineers "
                        f"{r['database_after']['spread']}), {r['database_after']['timeline_entries']:,} "
                        f"timeline entries, {r['database_after']['events']:,} events"
                        if kind == "platform"
                        else ""
                    )
                    + (
                        f"; {r['tracebacks']} traceback(s) in daphne's log"
                        if r["tracebacks"]
                        else ""
                    )
                )
                for p in r["problems"]:
                    print(f"FAILED: round {n} {kind}: {p}", file=sys.stderr)
                    failures.append(f"round {n} {kind}: {p}")

        print()
        table(runs)
        summary = summarise(runs)
        if summary:
            print(
                f"\nplatform / helpdesk tickets/s: median over rounds {summary['ratio_median']:.2f}× "
                f"(per round {', '.join(f'{x:.2f}' for x in summary['ratios'])}; "
                f"target ≥ {TARGET:g}×) — "
                + ("met" if summary["ratio_median"] >= TARGET else "NOT met")
            )
            print(
                f"server CPU per ticket, platform / helpdesk: median {summary['cpu_ratio_median']:.2f} "
                f"(platform {summary['platform_cpu_ms']:.1f} ms, helpdesk "
                f"{summary['helpdesk_cpu_ms']:.1f} ms, medians); PostgreSQL CPU per ticket: "
                f"platform {summary['platform_database_cpu_ms']:.1f} ms, helpdesk "
                f"{summary['helpdesk_database_cpu_ms']:.1f} ms"
            )
        write_json(
            {
                "database": db,
                "tickets": args.tickets,
                "clients": args.clients,
                "rounds": args.rounds,
                "engineers": args.engineers,
                "server": args.server,
                "processes": args.processes,
                "accounts": args.accounts,
                "cpus": os.cpu_count(),
                "target": TARGET,
                "runs": runs,
                **summary,
                "failures": failures,
            },
            args.json,
        )
    return 1 if failures else 0


def summarise(runs: list[dict]) -> dict:
    by = {(r["round"], r["kind"]): r for r in runs}
    pairs = [
        (by[n, "platform"], by[n, "helpdesk"])
        for n in sorted({r["round"] for r in runs})
        if (n, "platform") in by and (n, "helpdesk") in by
    ]
    if not pairs:
        return {}
    ratios = [p["per_second"] / h["per_second"] for p, h in pairs]
    cpu = [p["server_cpu_ms_per_ticket"] / h["server_cpu_ms_per_ticket"] for p, h in pairs]
    return {
        "ratios": ratios,
        "ratio_median": statistics.median(ratios),
        "cpu_ratios": cpu,
        "cpu_ratio_median": statistics.median(cpu),
        "platform_per_second": statistics.median(p["per_second"] for p, _ in pairs),
        "helpdesk_per_second": statistics.median(h["per_second"] for _, h in pairs),
        "platform_cpu_ms": statistics.median(p["server_cpu_ms_per_ticket"] for p, _ in pairs),
        "helpdesk_cpu_ms": statistics.median(h["server_cpu_ms_per_ticket"] for _, h in pairs),
        "platform_database_cpu_ms": statistics.median(
            p["database_cpu_ms_per_ticket"] for p, _ in pairs
        ),
        "helpdesk_database_cpu_ms": statistics.median(
            h["database_cpu_ms_per_ticket"] for _, h in pairs
        ),
        "platform_p95_ms": statistics.median(p["p95_ms"] for p, _ in pairs),
        "helpdesk_p95_ms": statistics.median(h["p95_ms"] for _, h in pairs),
    }


if __name__ == "__main__":
    sys.exit(main())
