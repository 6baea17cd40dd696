"""Run every benchmark, each in its own process on its own fresh database, then summarise.

    .venv/bin/python bench/run_all.py                 # SQLite + embedded Redis, in a temp dir
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/run_all.py             # a throwaway bench_<pid> database there

    .venv/bin/python bench/run_all.py --only events_overlap.py,tickets/routing.py
    .venv/bin/python bench/run_all.py --report-only   # RESULTS.md from bench/results/*.json
    .venv/bin/python bench/run_all.py --summarise tickets/pages.py=pages.json …

Each benchmark's --json is kept as bench/results/<name>.json (with a `_run` entry:
date, commit, command, machine, load average at its start and end), and
bench/RESULTS.md is rebuilt from every file there (bench/report.py: one table, each
figure beside its peer or ceiling, ratio, target, met or not). OPTIONS gives each
script the arguments that make it run at least 3 interleaved rounds where it has
rounds at all.

Exits non-zero only when a benchmark fails to run; timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import report
from _harness import fmt_duration

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "issuance.py",
    "tree_import.py",
    "notices.py",
    "chat/run.py",
    "tickets/pages.py",
    "tickets/routing.py",
    "tickets/sweep.py",
    "roll/intake.py",
    "tickets/http_create.py",
    "events_overlap.py",
    "middleware.py",
    "servers.py",
    "busy_day.py",
]
# These load data with COPY, lock rows, or sit beside a PostgreSQL peer.
POSTGRES_ONLY = {
    "tickets/pages.py",
    "tickets/routing.py",
    "tickets/sweep.py",
    "roll/intake.py",
    "tickets/http_create.py",
    "events_overlap.py",
    "servers.py",
    "busy_day.py",
}
# Arguments that give each comparison ≥ 3 interleaved rounds (the scripts' defaults
# where they already do; tree_import, sweep and roll/intake have no rounds and pages
# measures A then B: RESULTS.md's note column says so).
OPTIONS: dict[str, list[str]] = {
    "issuance.py": ["--rounds", "3"],
    "notices.py": ["--rounds", "7", "--stats-runs", "5"],
    "tickets/pages.py": ["--export-runs", "3"],
    "tickets/http_create.py": ["--rounds", "3"],
    "tickets/routing.py": ["--rounds", "3", "--after-publish-ms", "50"],
    "events_overlap.py": ["--rounds", "3"],
    "chat/run.py": ["--rounds", "3"],
    "middleware.py": ["--rounds", "3"],
    "servers.py": ["--rounds", "3"],
    "busy_day.py": ["--rounds", "3"],
}
# busy_day.py keeps its world in the database its URL names (and truncates the day's
# rows there): on the run's server, in a database of its own, never the URL's. It also
# flushes the REDIS_URL db before each run (use a db of its own: the README's 13).
OWN_DATABASE = {"busy_day.py": "bench_busy_day"}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _commit() -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or None


def run_one(name: str, machine: dict, results_dir: Path) -> tuple[dict | None, int]:
    """Run one benchmark with its OPTIONS and --json; save its JSON with a `_run` entry."""
    results_dir.mkdir(parents=True, exist_ok=True)
    out = report.result_path(name, results_dir)
    tmp = out.with_suffix(".json.part")
    tmp.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / name), *OPTIONS.get(name, []), "--json", str(tmp)]
    shown = " ".join(
        ["python", f"bench/{name}", *map(shlex.quote, OPTIONS.get(name, [])), "--json", "…"]
    )
    run = {
        "name": name,
        "command": shown,
        "commit": _commit(),
        "machine": machine,
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": _load(),
    }
    print(f"\n== {name}: {shown} (load average {run['load_start']}) ==", flush=True)
    env = dict(os.environ)
    if name in OWN_DATABASE and env.get("DATABASE_URL", "").startswith("postgres"):
        parts = urlsplit(env["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + OWN_DATABASE[name]))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env)
    run |= {"seconds": round(time.perf_counter() - t0, 1), "load_end": _load()}
    data = json.loads(tmp.read_text()) if tmp.exists() else {}
    tmp.unlink(missing_ok=True)
    if proc.returncode != 0 or not data:
        run["exit"] = proc.returncode or "no JSON"
    data["_run"] = run
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    return (None if "exit" in run else data), proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated names from BENCHMARKS, e.g. issuance.py")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild bench/RESULTS.md from bench/results/*.json",
    )
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    parser.add_argument("--report", type=Path, default=report.REPORT)
    parser.add_argument(
        "--import",
        dest="imports",
        nargs=5,
        action="append",
        metavar=("NAME", "FILE", "COMMAND", "STARTED", "LOAD_START"),
        help="keep the --json of a run made by hand as NAME's result (its command, start "
        "time as 'YYYY-MM-DD HH:MM UTC' and 1-minute load at start, as they were), then "
        "rebuild the report",
    )
    args = parser.parse_args(argv)
    if args.imports:
        machine = report.machine_info()
        for name, file, command, started, load in args.imports:
            if name not in BENCHMARKS:
                parser.error(f"not in BENCHMARKS: {name}")
            data = json.loads(Path(file).read_text())
            data["_run"] = {
                "name": name,
                "command": command + " (run by hand, imported)",
                "commit": data.get("commit") or "not recorded (imported)",
                "machine": machine,
                "started": started,
                "load_start": [float(load)],
            }
            out = report.result_path(name, args.results_dir)
            out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        args.report_only = True
    if args.report_only:
        path = report.write(BENCHMARKS, args.results_dir, args.report)
        saved = report.load_results(args.results_dir)
        summarise({k: v for k, v in saved.items() if "exit" not in v.get("_run", {})})
        print(f"\nwrote {path}")
        return 0
    names = BENCHMARKS
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            parser.error(f"not in BENCHMARKS: {', '.join(unknown)}")
    results, failed = {}, []
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    machine = report.machine_info()
    for name in names:
        if name in POSTGRES_ONLY and not postgres:
            print(f"\n{name}: skipped, it needs PostgreSQL (set DATABASE_URL=postgres://…)")
            continue
        data, code = run_one(name, machine, args.results_dir)
        if data is None:
            failed.append(f"{name} (exit {code})")
            continue
        results[name] = data
    path = report.write(BENCHMARKS, args.results_dir, args.report)
    summarise(results)
    print(f"\nwrote {path}")
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


def summarise(results: dict) -> None:
    """The table of every benchmark's headline figures, from their --json output
    (also: `run_all.py --summarise name=file.json …` for runs made one by one)."""
    print("\n== Summary ==")
    rows = []
    if "issuance.py" in results:
        r = results["issuance.py"]
        db = r["database"]
        rows += [
            (
                f"bulk issuance, {r['schools']:,} school accounts",
                f"{r['ours_seconds']:.2f} s ({r['ours_per_second']:,.0f}/s)",
                f"ceiling {r['ceiling_seconds']:.0f} s",
            ),
            (
                "  peer: bulk_create + HMAC-SHA256 codes",
                f"{r['peer_seconds']:.2f} s ({r['peer_per_second']:,.0f}/s)",
                f"median of {r['rounds']} interleaved rounds",
            ),
            (
                "  ratio ours / peer seconds",
                f"{r['ratio']:.2f} [{r['ratio_range'][0]:.2f}–{r['ratio_range'][1]:.2f}]",
                "",
            ),
            (
                "first log-in: initial_code_consume",
                fmt_duration(r["consume_mean_seconds"]),
                f"mean of {r['consume_sample']}; peer "
                f"{fmt_duration(r['peer_consume_mean_seconds'])}",
            ),
            (
                "first log-in: check_password (default)",
                fmt_duration(r["check_password_mean_seconds"]),
                f"mean of {r['check_sample']}",
            ),
        ]
    if "tree_import.py" in results:
        r = results["tree_import.py"]
        db = r["database"]
        rows += [
            (
                f"national tree import, {r['units']:,} units",
                f"{r['first_seconds']:.2f} s",
                f"created {r['first_created']:,} + Ministry",
            ),
            (
                "national tree re-import",
                f"{r['second_seconds']:.2f} s",
                f"created {r['second_created']}, renamed {r['second_renamed']}",
            ),
        ]
    if "notices.py" in results:
        r = results["notices.py"]
        db = r["database"]
        if "publish" in r:
            p = r["publish"]
            rows += [
                (
                    "publish a notice to one school",
                    fmt_duration(p["one_seconds"]),
                    f"median of {p['runs']}",
                ),
                (
                    f"publish to the whole country ({r['schools']:,} schools)",
                    fmt_duration(p["national_seconds"]),
                    f"{p['groups_national']} group sends",
                ),
                (
                    "  ratio national / one school",
                    f"{p['ratio']:.2f}"
                    + (f" [{p['ratio_min']:.2f}–{p['ratio_max']:.2f}]" if "ratio_min" in p else ""),
                    f"target ≤ {p['ratio_target']}",
                ),
                (
                    f"naive fan-out, {p['naive_rows']:,} rows",
                    fmt_duration(p["naive_seconds"]),
                    f"{p['naive_ratio']:,.1f}x ours national",
                ),
            ]
        for key, label in (("inbox", ""), ("inbox_after_stats", ", after part 3")):
            if key in r:
                i = r[key]
                floor = f"floor {fmt_duration(i['floor_seconds'])}"
                rows += [
                    (
                        f"inbox first page (10,000 notices{label})",
                        fmt_duration(i["page_seconds"]),
                        floor,
                    ),
                    ("inbox unread page", fmt_duration(i["unread_page_seconds"]), floor),
                    ("unread count", fmt_duration(i["unread_count_seconds"]), floor),
                ]
        if "stats" in r:
            s = r["stats"]
            floor = f"floor count(*) {fmt_duration(s['floor_seconds'])}"
            for key, view in (
                ("ministry", "the Ministry's view, per province"),
                ("province", "a province's view, per prefecture"),
                ("county", "a county's view, per school"),
            ):
                rows.append(
                    (
                        f"stats, national notice, {s['receipts']:,} receipts: {view}",
                        fmt_duration(s[f"{key}_seconds"]),
                        floor,
                    )
                )
    if "chat/run.py" in results:
        r = results["chat/run.py"]
        db = r["database"]
        for n, run in r["runs"].items():
            for kind, row in run["rows"].items():
                if row.get("throughput") is None:
                    continue
                rows.append(
                    (
                        f"chat, {int(n):,} clients in one room: {kind}",
                        f"{row['throughput']:,.0f} deliveries/s",
                        f"p50 {row['p50_ms']:,.0f} ms, p99 {row['p99_ms']:,.0f} ms, "
                        f"lost {row['lost']:,}, {row['connected']:,} connected",
                    )
                )
            if "throughput_ratio" in run:
                rows.append(
                    (
                        "  ratio platform / tutorial",
                        f"throughput {run['throughput_ratio']:.2f}x (target ≥ 1.0)",
                        f"p99 {run['p99_ratio']:.2f}x (target ≤ 1.5 at 500)",
                    )
                )
    if "tickets/pages.py" in results:
        r = results["tickets/pages.py"]
        db = r["database"]
        for key, page in r["pages"].items():
            a, b = page["a"], page["b"]
            rows.append(
                (
                    f"ticket pages, {r['tickets_a']:,} → {r['tickets_b']:,} tickets: "
                    f"{page['label']}",
                    f"p95 {fmt_duration(a['p95'])} → {fmt_duration(b['p95'])}",
                    f"ratio {page['ratio']:.2f}"
                    + ("" if key == "floor" else f" (target ≤ {r['ratio_target']:g})"),
                )
            )
        for e in r.get("exports", {}).values():
            a, b = e["a"], e["b"]
            rows.append(
                (
                    f"ticket {e['label']}, {a['rows']:,} → {b['rows']:,} rows",
                    f"{fmt_duration(a['median'])} → {fmt_duration(b['median'])}",
                    f"per row ratio {e['ratio']:.2f} (target ≤ {e['ratio_target']:g}); "
                    f"B {b['ratio_ceiling']:.1f}x its SELECT",
                )
            )
    if "tickets/routing.py" in results:
        r = results["tickets/routing.py"]
        db = r["database"]
        par, c = r["parallel"], r["parallel_check"]
        rows.append(
            (
                f"ticket routing, {r['tickets']:,} tickets from {r['workers']} processes, one tier",
                f"{par['per_second']:,.0f} assignments/s",
                f"p50 {fmt_duration(par['p50'])}, p95 {fmt_duration(par['p95'])}, "
                f"double assignments {c['double_assignments']}, spread {c['spread']}",
            )
        )
        if "serial" in r:
            rows.append(
                (
                    "  peer: the same from 1 process",
                    f"{r['serial']['per_second']:,.0f} assignments/s",
                    f"ratio parallel / serial {r['ratio_parallel_serial']:.2f}x",
                )
            )
        rows.append(
            (
                "  ceiling: plain Ticket inserts",
                f"{r['ceiling']['per_second']:,.0f} rows/s",
                f"ours {r['ratio_ceiling']:.2f} of it",
            )
        )
    if "tickets/sweep.py" in results:
        r = results["tickets/sweep.py"]
        db = r["database"]
        if "idle" in r:
            i = r["idle"]
            rows.append(
                (
                    f"SLA sweep, nothing due: {i['small']:,} → {i['large']:,} open tickets",
                    f"{fmt_duration(i['few']['seconds'])} → {fmt_duration(i['many']['seconds'])}",
                    f"ratio {i['ratio']:.2f} (about 1 expected); pages "
                    f"{i['few']['blocks']} → {i['many']['blocks']}",
                )
            )
        if "escalate" in r:
            e = r["escalate"]
            rows.append(
                (
                    f"sweep escalating {e['breached']:,} breached tickets",
                    f"{e['per_second']:,.1f} escalations/s",
                    f"{fmt_duration(e['per_escalation_seconds'])} each, {e['queries']} queries",
                )
            )
        if "race" in r:
            e = r["race"]
            rows.append(
                (
                    f"two sweeps at once over {e['breached']:,} breached tickets",
                    f"{e['escalated']:,} escalations",
                    f"exactly once = {e['breached']:,}; {e['seconds']:.1f} s",
                )
            )
        if "full" in r:
            f = r["full"]
            rows.append(
                (
                    f"full sweep, {f['open']:,} open ({f['breached']:,} breached, "
                    f"{f['warn_due']:,} to warn)",
                    fmt_duration(f["first_seconds"]),
                    f"escalated {f['first']['escalated']:,}, warned {f['first']['warned']:,}",
                )
            )
        if "race_with_creation" in r:
            e = r["race_with_creation"]
            rows.append(
                (
                    "sweep while tickets are raised in its counties",
                    f"{e['failed']:,} of {e['created'] + e['failed']:,} creations failed",
                    "sweep " + ("FAILED" if "error" in e["sweep"] else "completed"),
                )
            )
    if "roll/intake.py" in results:
        r = results["roll/intake.py"]
        db = r["database"]
        p, c = r["platform"], r["ceiling"]
        rows += [
            (
                f"roll intake, {p['alerts']:,} alerts in {p['batches']} signed POSTs of "
                f"{r['batch']:,}",
                f"{p['per_second']:,.0f} alerts/s",
                f"p50 {p['p50_ms']:,.0f} ms, p95 {p['p95_ms']:,.0f} ms per batch",
            ),
            (
                "  ceiling: binary COPY of the same rows (the platform's call)",
                f"{c['per_second']:,.0f} rows/s",
                f"ratio {r['ratio']:.1%} (target ≥ {r['ratio_target']:.0%})",
            ),
            (
                "  psycopg's plain text COPY of the same rows",
                f"{r['ceiling_text']['per_second']:,.0f} rows/s",
                f"ratio {r['ratio_text']:.1%}",
            ),
            (
                "  daphne RSS after batch " + " / ".join(p["rss_after_mib"]),
                " / ".join(f"{v:,.0f}" for v in p["rss_after_mib"].values()) + " MiB",
                f"peak {p['rss_peak_mib']:,.0f} MiB",
            ),
        ]
        if "retry" in r:
            rows.append(
                (
                    "  a batch POSTed again (all duplicates)",
                    fmt_duration(r["retry"]["per_batch_seconds"]),
                    f"median of {r['retry']['batches']}",
                )
            )
        if "small" in r:
            rows.append(
                (
                    "  a POST of one alert (a request's fixed cost)",
                    fmt_duration(r["small"]["p50_ms"] / 1e3),
                    f"p50 of {r['small']['posts']}",
                )
            )
    if "tickets/http_create.py" in results:
        r = results["tickets/http_create.py"]
        db = r["database"]
        if "ratio_median" in r:
            rows += [
                (
                    f"HTTP ticket creation, {r['tickets']:,} tickets from {r['clients']} "
                    "clients: platform",
                    f"{r['platform_per_second']:,.1f} tickets/s",
                    f"p95 {r['platform_p95_ms']:,.0f} ms, "
                    f"server CPU {r['platform_cpu_ms']:.1f} ms/ticket",
                ),
                (
                    "  peer: django-helpdesk 2.6.1, same load",
                    f"{r['helpdesk_per_second']:,.1f} tickets/s",
                    f"p95 {r['helpdesk_p95_ms']:,.0f} ms, "
                    f"server CPU {r['helpdesk_cpu_ms']:.1f} ms/ticket",
                ),
                (
                    "  ratio platform / helpdesk",
                    f"{r['ratio_median']:.2f}x (target ≥ {r['target']:g}x)",
                    f"CPU per ticket {r['cpu_ratio_median']:.2f}x; median of {r['rounds']} rounds",
                ),
            ]
    if "events_overlap.py" in results:
        r = results["events_overlap.py"]
        db = r["database"]
        for key, label in (("ours", "sequencer (ours)"), ("old", "one lock to commit (old)")):
            if key in r:
                one, many, ratio = r[key]["1"], r[key][str(r["workers"])], r[key]["ratio"]
                rows.append(
                    (
                        f"events, publish + 50 ms before commit, {r['workers']} places vs 1: "
                        + label,
                        f"{many['per_second']['median']:,.0f} vs "
                        f"{one['per_second']['median']:,.0f} events/s",
                        f"ratio {ratio['median']:.2f}x [{ratio['min']:.2f}–{ratio['max']:.2f}]"
                        + (" (target ≥ 6x)" if key == "ours" else ""),
                    )
                )
    if results:
        print(f"database: {db['backend']} ({db['version']})")
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--summarise"]:
        pairs = (arg.split("=", 1) for arg in sys.argv[2:])
        summarise({name: json.loads(Path(f).read_text()) for name, f in pairs})
        sys.exit(0)
    sys.exit(main())
