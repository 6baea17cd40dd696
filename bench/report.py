"""bench/RESULTS.md: one table of every benchmark's headline figures, from their --json.

Each benchmark script writes its figures with `--json FILE`; `run_all.py` keeps the
last run's file of each under bench/results/ (with a `_run` entry it adds: the date,
the commit, the command, the machine and the load average at the start and end of
that benchmark) and calls `write()` to rebuild RESULTS.md from them. No Django here:
this only reads JSON, so `run_all.py --report-only` rebuilds the report anywhere.

The rows are the declarative list ROWS below: one `Row` per figure, naming the JSON
key of the figure, of its peer or ceiling (a key or a fixed number), of the ratio
the benchmark computed itself (else figure ÷ peer), the target and its direction,
and the unit. A new benchmark adds its rows there and nowhere else. A key the JSON
does not have gives "not run" in that row, never an error; a benchmark without a
saved file gives "not run in this report".

Keys are dotted paths into the JSON: `publish.ratio`; `{workers}` is filled from the
same JSON's top level; `*` takes every item of a list (or every value of a dict) and
`kind=platform` keeps the list items whose `kind` is `platform`, so
`rounds.*.b.per_second` is one value per round. A value is a number, a list of
numbers (one per round: median [min–max] of n), or a dict with median/min/max;
`total=True` sums the values instead (items lost, over every round).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
REPORT = HERE / "RESULTS.md"

NOT_RUN = "not run in this report"


@dataclass(frozen=True)
class Stat:
    """A figure: its median and range over n rounds (n = 1 for a single value)."""

    median: float
    lo: float
    hi: float
    n: int = 1

    @classmethod
    def of(cls, value) -> Stat | None:
        if isinstance(value, Stat):
            return value
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float):
            return None if math.isnan(value) else cls(value, value, value, 1)
        if isinstance(value, dict) and isinstance(value.get("median"), int | float):
            m = value["median"]
            return cls(m, value.get("min", m), value.get("max", m), value.get("n", 0) or 0)
        if isinstance(value, list):
            value = [v for v in value if v is not None]
            nums = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
            if nums and len(nums) == len(value):
                return cls(statistics.median(nums), min(nums), max(nums), len(nums))
        return None

    def scaled(self, k: float) -> Stat:
        return Stat(self.median * k, self.lo * k, self.hi * k, self.n)

    def over(self, other: Stat) -> Stat | None:
        """This ÷ other, median over median (no per-round pairing known)."""
        if not other.median:
            return None
        r = self.median / other.median
        return Stat(r, r, r, 1)


@dataclass(frozen=True)
class Target:
    """`op` is ">=", "<=" or "=="; `on` says whether it bounds the ratio or the figure
    (in the row's display unit, after `scale`)."""

    op: str
    value: float
    on: str = "ratio"

    def met(self, x: float) -> bool:
        if self.op == ">=":
            return x >= self.value
        if self.op == "<=":
            return x <= self.value
        if self.op == "==":
            return math.isclose(x, self.value, rel_tol=1e-9, abs_tol=1e-12)
        raise ValueError(f"unknown target operator {self.op!r}")


@dataclass(frozen=True)
class Row:
    bench: str  # the name in run_all.BENCHMARKS
    label: str  # may use {key} of the JSON's top level, e.g. {schools:,}
    figure: str  # JSON path of the figure
    unit: str = ""  # "s" (shown as µs / ms / s), "ms", "%", or a word such as "tickets/s"
    scale: float = 1.0  # figure × scale is in `unit` (e.g. 1e3 for seconds shown in ms)
    peer: str | float | None = None  # JSON path of the peer or ceiling, or a fixed ceiling
    peer_label: str = ""  # what the peer is: "django-helpdesk 2.6.1", "ceiling", …
    ratio: str | None = None  # JSON path of the benchmark's own ratio, else figure ÷ peer
    ratio_unit: str = "×"  # "×" or "%"
    target: Target | None = None
    figure_range: str | None = None  # JSON path of [min, max] when the figure has none
    total: bool = False  # the figure is the sum of the values (items lost over all rounds)
    rounds: str | None = None  # JSON path of the rounds (a count or a list of them)
    note: str = ""  # shown in the note column (how it was run, what is not comparable)


def T(op: str, value: float, on: str = "ratio") -> Target:  # noqa: N802 (a short constructor)
    return Target(op, value, on)


# --- the rows -------------------------------------------------------------------------
# Targets are the or the benchmark's own (its docstring / RATIO_TARGET); a row
# without one says "—". Keep them in step with the scripts when they change.

ROWS: list[Row] = [
    # issuance.py: ours and the plain-Django peer interleaved, --rounds rounds.
    Row(
        "issuance.py",
        "bulk issuance of a province, {schools:,} school accounts",
        "ours_rounds",
        "s",
        peer="ceiling_seconds",
        peer_label="ceiling",
        target=T("<=", 1.0),
        rounds="rounds",
    ),
    Row(
        "issuance.py",
        "bulk issuance: ours vs the same work done plainly",
        "ours_rounds",
        "s",
        peer="peer_rounds",
        peer_label="{peer}",
        ratio="ratio_rounds",
        rounds="rounds",
        note="ratio of seconds, per round",
    ),
    Row(
        "issuance.py",
        "first log-in: initial_code_consume vs the plain peer's",
        "consume_mean_seconds",
        "s",
        peer="peer_consume_mean_seconds",
        peer_label="{peer}",
        note="means of {consume_sample} calls each; one pass",
    ),
    Row(
        "issuance.py",
        "first log-in: initial_code_consume vs check_password",
        "consume_mean_seconds",
        "s",
        peer="check_password_mean_seconds",
        peer_label="check_password ({hasher})",
        note="means of {consume_sample} / {check_sample} calls; one pass",
    ),
    # tree_import.py: no peer, single run.
    Row(
        "tree_import.py",
        "national division tree import, {units:,} units",
        "first_seconds",
        "s",
        note="single run; no peer",
    ),
    Row(
        "tree_import.py",
        "re-import (creates and renames nothing)",
        "second_seconds",
        "s",
        peer="first_seconds",
        peer_label="first import",
        note="single run",
    ),
    # notices.py
    Row(
        "notices.py",
        "publish to the 30 provinces vs to one school",
        "publish.national_rounds",
        "s",
        peer="publish.one_rounds",
        peer_label="one school",
        ratio="publish.ratio_rounds",
        ratio_unit="",
        target=T("<=", 1.5),
        rounds="publish.runs",
        note="interleaved rounds (one school, national, Ministry)",
    ),
    Row(
        "notices.py",
        "publish to the 30 provinces vs naive per-recipient fan-out",
        "publish.national_seconds",
        "s",
        peer="publish.naive_seconds",
        peer_label="naive fan-out, {publish[naive_rows]:,} rows",
        rounds="publish.runs",
    ),
    Row(
        "notices.py",
        "inbox first page (10,000 notices)",
        "inbox.page_seconds",
        "s",
        peer="inbox.floor_seconds",
        peer_label="floor: bare ORDER BY … LIMIT 20",
        rounds="inbox.runs",
    ),
    *(
        Row(
            "notices.py",
            f"statistics of the national notice: {who}",
            f"stats.{key}_seconds",
            "s",
            peer="stats.floor_seconds",
            peer_label="floor: count(*) of the receipts",
            figure_range=f"stats.{key}_range",
            target=T("<=", 0.3, "figure"),
            rounds="stats.runs",
        )
        for key, who in (
            ("ministry", "the Ministry"),
            ("province", "a province"),
            ("county", "a county"),
        )
    ),
    # chat/run.py: 3 interleaved rounds of platform, tutorial, raw at each N.
    *(
        row
        for n in (100, 500, 1000)
        for row in (
            Row(
                "chat/run.py",
                f"chat fan-out, N = {n:,} in one room: deliveries/s",
                f"runs.{n}.stats.platform.throughput",
                "deliveries/s",
                peer=f"runs.{n}.stats.tutorial.throughput",
                peer_label="Channels tutorial chat",
                ratio=f"runs.{n}.throughput_ratio",
                target=T(">=", 3.0),
                rounds=f"runs.{n}.rounds.platform",
            ),
            Row(
                "chat/run.py",
                f"chat fan-out, N = {n:,}: deliveries/s vs raw websockets",
                f"runs.{n}.stats.platform.throughput",
                "deliveries/s",
                peer=f"runs.{n}.stats.raw.throughput",
                peer_label="ceiling: raw websockets broadcast",
                rounds=f"runs.{n}.rounds.platform",
            ),
            Row(
                "chat/run.py",
                f"chat fan-out, N = {n:,}: delivery p99",
                f"runs.{n}.stats.platform.p99_ms",
                "ms",
                peer=f"runs.{n}.stats.tutorial.p99_ms",
                peer_label="Channels tutorial chat",
                ratio=f"runs.{n}.p99_ratio",
                target=T("<=", 1.5) if n == 500 else None,
                rounds=f"runs.{n}.rounds.platform",
            ),
            Row(
                "chat/run.py",
                f"chat fan-out, N = {n:,}: deliveries lost, all rounds",
                f"runs.{n}.rounds.platform.*.lost",
                "",
                total=True,
                target=T("==", 0, "figure"),
                rounds=f"runs.{n}.rounds.platform",
            ),
        )
    ),
    # tickets/pages.py: A then B (B is A plus the history), so no interleaved rounds
    # for the pages; the exports run --export-runs interleaved rounds in each scenario.
    *(
        Row(
            "tickets/pages.py",
            f"ticket page p95, {{tickets_b:,}} vs {{tickets_a:,}} tickets: {label}",
            f"pages.{key}.b.p95",
            "s",
            peer=f"pages.{key}.a.p95",
            peer_label="{tickets_a:,} tickets",
            ratio=f"pages.{key}.ratio",
            ratio_unit="",
            target=None if key == "floor" else T("<=", 2.0),
            note="p95 of {runs} requests per page, pages interleaved; A then B, no rounds",
        )
        for key, label in (
            ("mine_school", "my tickets, a school"),
            ("queue", "my queue, county engineer"),
            ("queue_province", "my queue, province engineer"),
            ("tier_county", "tier queue, county engineer"),
            ("tier_province", "tier queue, province engineer"),
            ("dash_county", "dashboard, county manager"),
            ("dash_province", "dashboard, province manager"),
            ("all_county", "tickets in my area, county engineer"),
            ("floor", "floor: SELECT … ORDER BY id LIMIT 30"),
        )
    ),
    *(
        row
        for key, label in (
            ("open_county", "export of open tickets, county manager"),
            ("open_province", "export of open tickets, province manager"),
            ("all_county", "export of all tickets, county manager"),
            ("all_province", "export of all tickets, province manager"),
        )
        for row in (
            Row(
                "tickets/pages.py",
                f"{label}: time per 1,000 rows, {{tickets_b:,}} vs {{tickets_a:,}} tickets",
                f"exports.{key}.b.per_1000_rows",
                "s",
                peer=f"exports.{key}.a.per_1000_rows",
                peer_label=f"{{tickets_a:,}} tickets ({{exports[{key}][a][rows]:,}} rows)",
                ratio=f"exports.{key}.ratio",
                ratio_unit="",
                target=T("<=", 2.0),
                note=f"medians of interleaved rounds; B has {{exports[{key}][b][rows]:,}} rows",
            ),
            Row(
                "tickets/pages.py",
                f"{label}, {{tickets_b:,}} tickets: the export vs its own SELECT",
                f"exports.{key}.b",
                "s",
                peer=f"exports.{key}.b.ceiling",
                peer_label="ceiling: the SELECT of the same rows",
                note="interleaved rounds, median [min–max]",
            ),
        )
    ),
    # tickets/routing.py: interleaved rounds (a, b, c, ceiling[, e8, e1]).
    Row(
        "tickets/routing.py",
        "ticket routing: {workers} tiers at once vs one process",
        "rounds.*.b.per_second",
        "tickets/s",
        peer="rounds.*.c.per_second",
        peer_label="one process",
        ratio="ratios.b_over_c",
        target=T(">=", 1.7),
        rounds="rounds",
    ),
    Row(
        "tickets/routing.py",
        "ticket routing: one tier from {workers} counties vs one process",
        "rounds.*.a.per_second",
        "tickets/s",
        peer="rounds.*.c.per_second",
        peer_label="one process",
        ratio="ratios.a_over_c",
        rounds="rounds",
    ),
    Row(
        "tickets/routing.py",
        "ticket routing: one process vs bare INSERTs",
        "rounds.*.c.per_second",
        "tickets/s",
        peer="rounds.*.ceiling.per_second",
        peer_label="ceiling: bare Ticket INSERTs, {workers} processes",
        ratio="ratios.c_over_ceiling",
        ratio_unit="%",
        rounds="rounds",
    ),
    Row(
        "tickets/routing.py",
        "routing, 50 ms of work after publishing: {workers} tiers vs one process",
        "rounds.*.e8.per_second",
        "tickets/s",
        peer="rounds.*.e1.per_second",
        peer_label="one process",
        ratio="ratios.e8_over_e1",
        target=T(">=", 6.0),
        rounds="rounds",
        note="run_all passes --after-publish-ms 50",
    ),
    Row(
        "tickets/routing.py",
        "rotation row held per turn, one process",
        "rounds.*.c.lock_held_mean",
        "ms",
        scale=1e3,
        target=T("<=", 2.0, "figure"),
        rounds="rounds",
    ),
    Row(
        "tickets/routing.py",
        "rotation row held per turn, {workers} processes at one tier",
        "rounds.*.a.lock_held_mean",
        "ms",
        scale=1e3,
        target=T("<=", 2.0, "figure"),
        rounds="rounds",
        note="client-side round trip (upper bound)",
    ),
    Row(
        "tickets/routing.py",
        "double assignments (one tier, {workers} processes)",
        "parallel_check.double_assignments",
        "",
        target=T("==", 0, "figure"),
    ),
    # tickets/sweep.py: medians of --runs sweeps, parts run once each.
    Row(
        "tickets/sweep.py",
        "idle SLA sweep, {idle[large]:,} vs {idle[small]:,} open tickets",
        "idle.many.seconds",
        "s",
        peer="idle.few.seconds",
        peer_label="{idle[small]:,} open tickets",
        ratio="idle.ratio",
        ratio_unit="",
        note="medians of --runs sweeps each, not interleaved; about 1 expected, no limit set",
    ),
    Row(
        "tickets/sweep.py",
        "sweep escalating {escalate[breached]:,} breached tickets",
        "escalate.per_second",
        "escalations/s",
        note="single run; no peer",
    ),
    Row(
        "tickets/sweep.py",
        "two sweeps at once: escalations vs breached tickets",
        "race.escalated",
        "escalations",
        peer="race.breached",
        peer_label="breached (exactly once each)",
        target=T("==", 1.0),
        note="single run",
    ),
    Row(
        "tickets/sweep.py",
        "ticket creations failed during a sweep",
        "race_with_creation.failed",
        "",
        target=T("==", 0, "figure"),
        note="single run",
    ),
    # roll/intake.py: single run, the ceiling in the same run.
    Row(
        "roll/intake.py",
        "roll alert intake, {platform[alerts]:,} alerts over HTTP",
        "platform.per_second",
        "alerts/s",
        peer="ceiling.per_second",
        peer_label="ceiling: binary COPY of the same rows",
        ratio="ratio",
        ratio_unit="%",
        target=T(">=", 0.25),
        note="single run (the script has no rounds)",
    ),
    Row(
        "roll/intake.py",
        "roll alert intake vs plain text COPY",
        "platform.per_second",
        "alerts/s",
        peer="ceiling_text.per_second",
        peer_label="psycopg text COPY",
        ratio="ratio_text",
        ratio_unit="%",
        note="single run",
    ),
    Row(
        "roll/intake.py",
        "daphne RSS peak during the intake",
        "platform.rss_peak_mib",
        "MiB",
        note="single run; bounded, not growing with volume, is the claim",
    ),
    # tickets/http_create.py: platform and helpdesk alternate, --rounds rounds.
    Row(
        "tickets/http_create.py",
        "HTTP ticket creation, {clients} clients, {processes} {server} process(es) each",
        "runs.kind=platform.per_second",
        "tickets/s",
        peer="runs.kind=helpdesk.per_second",
        peer_label="django-helpdesk 2.6.1, same server and processes",
        ratio="ratios",
        target=T(">=", 2.0),
        rounds="rounds",
        note="+{accounts:,} extra accounts in both databases",
    ),
    Row(
        "tickets/http_create.py",
        "HTTP ticket creation: server CPU per ticket",
        "runs.kind=platform.server_cpu_ms_per_ticket",
        "ms",
        peer="runs.kind=helpdesk.server_cpu_ms_per_ticket",
        peer_label="django-helpdesk 2.6.1",
        ratio="cpu_ratios",
        rounds="rounds",
    ),
    Row(
        "tickets/http_create.py",
        "HTTP ticket creation: p95 per request",
        "runs.kind=platform.p95_ms",
        "ms",
        peer="runs.kind=helpdesk.p95_ms",
        peer_label="django-helpdesk 2.6.1",
        rounds="rounds",
    ),
    # events_overlap.py: 4 configurations interleaved, --rounds rounds.
    Row(
        "events_overlap.py",
        "events, publish + 50 ms before commit: {workers} places vs 1",
        "ours.{workers}.per_second",
        "events/s",
        peer="ours.1.per_second",
        peer_label="1 place",
        ratio="ours.ratio",
        target=T(">=", 6.0),
        rounds="rounds",
    ),
    Row(
        "events_overlap.py",
        "the same with the old shared lock to commit",
        "old.{workers}.per_second",
        "events/s",
        peer="old.1.per_second",
        peer_label="1 place",
        ratio="old.ratio",
        rounds="rounds",
        note="the old design, same run; stays near 1×",
    ),
]


# servers.py: daphne, uvicorn, granian as one process each, interleaved per part.
SERVER_PARTS = {
    "create": ("HTTP ticket creation", "tickets/s"),
    "inbox": ("the inbox page", "pages/s"),
    "connect": ("socket connect", "connects/s"),
    "fanout": ("chat fan-out", "deliveries/s"),
    "bare": ("a bare ASGI app (the server alone)", "requests/s"),
}
ROWS += [
    row
    for part, (what, unit) in SERVER_PARTS.items()
    for kind in ("uvicorn", "granian")
    for row in (
        Row(
            "servers.py",
            f"ASGI server, {what}: {kind}",
            f"runs.{part}.{kind}.*.per_second",
            unit,
            peer=f"runs.{part}.daphne.*.per_second",
            peer_label="daphne, same run",
            rounds=f"runs.{part}.{kind}",
            note="one process each; the load generator shares the 2 CPUs",
        ),
        Row(
            "servers.py",
            f"ASGI server, {what}: {kind}, server CPU per item",
            f"runs.{part}.{kind}.*.cpu_ms",
            "s",
            scale=1e-3,
            peer=f"runs.{part}.daphne.*.cpu_ms",
            peer_label="daphne, same run",
            rounds=f"runs.{part}.{kind}",
            note="the serving process's user + system CPU",
        ),
    )
]
ROWS += [
    Row(
        "servers.py",
        "ASGI servers: errors, every part, server and round",
        "runs.*.*.*.errors",
        rounds="options.rounds",
        total=True,
        target=T("==", 0, "figure"),
    ),
    Row(
        "servers.py",
        "ASGI servers: items lost, every part, server and round",
        "runs.*.*.*.lost",
        rounds="options.rounds",
        total=True,
        target=T("==", 0, "figure"),
    ),
]
# middleware.py: CPU per request by layer, in-process; no peer (servers.py's bare app is
# the server's own floor).
ROWS += [
    Row(
        "middleware.py",
        f"CPU per request through every layer, {kind}",
        f"median_us.{kind}.total",
        "µs",
        figure_range=f"range_us.{kind}.total",
        rounds="rounds",
        note="in-process, one request at a time; no peer; the layers in the script's table",
    )
    for kind in ("GET /healthz", "GET /tickets/new/", "POST /tickets/new/")
]
# busy_day.py: 1 and 2 web processes interleaved at the same offered load.
ROWS += [
    Row(
        "busy_day.py",
        "a province's busy day: pages and forms/s, 2 web processes vs 1",
        "runs.processes=2.http_steady.per_second",
        "requests/s",
        peer="runs.processes=1.http_steady.per_second",
        peer_label="1 web process",
        target=T(">=", 1.7),
        rounds="runs.processes=2",
        note="same offered load on both (grows only if 1 process saturates); all runs of a shape",
    ),
    Row(
        "busy_day.py",
        "a province's busy day: pages and forms p99, 2 web processes vs 1",
        "runs.processes=2.http_steady.p99_ms",
        "ms",
        peer="runs.processes=1.http_steady.p99_ms",
        peer_label="1 web process",
        rounds="runs.processes=2",
    ),
    Row(
        "busy_day.py",
        "a province's busy day: web CPU per page, 2 web processes vs 1",
        "summary.2p x1.web_cpu_ms_per_http",
        "ms",
        peer="summary.1p x1.web_cpu_ms_per_http",
        peer_label="1 web process",
        rounds="runs.processes=2",
    ),
    *(
        Row(
            "busy_day.py",
            f"a province's busy day, {shape}: chat delivery p99",
            f"runs.processes={n}.chat.p99_ms",
            "ms",
            rounds=f"runs.processes={n}",
        )
        for n, shape in ((1, "1 web process"), (2, "2 web processes"))
    ),
    *(
        Row(
            "busy_day.py",
            f"a province's busy day, {shape}: notice delivery p99",
            f"runs.processes={n}.notice.p99_ms",
            "ms",
            rounds=f"runs.processes={n}",
        )
        for n, shape in ((1, "1 web process"), (2, "2 web processes"))
    ),
    Row(
        "busy_day.py",
        "a province's busy day: errors, every action and run",
        "runs.*.actions.*.errors",
        rounds="args.rounds",
        total=True,
        target=T("==", 0, "figure"),
    ),
    Row(
        "busy_day.py",
        "a province's busy day: chat deliveries lost, every run",
        "runs.*.chat.lost",
        rounds="args.rounds",
        total=True,
        target=T("==", 0, "figure"),
    ),
    Row(
        "busy_day.py",
        "a province's busy day: notice deliveries lost, every run",
        "runs.*.notice.lost",
        rounds="args.rounds",
        total=True,
        target=T("==", 0, "figure"),
    ),
]


# --- reading the JSON ------------------------------------------------------------------


def lookup(data, path: str):
    """The value at a dotted `path` (see the module's docstring), or None."""
    try:
        path = path.format(**{k: v for k, v in data.items() if not isinstance(v, dict | list)})
    except (KeyError, IndexError, ValueError, AttributeError):
        return None
    values, many = [data], False
    for part in path.split("."):
        nxt = []
        for v in values:
            if part == "*":
                many = True
                if isinstance(v, list):
                    nxt += v
                elif isinstance(v, dict):
                    nxt += list(v.values())
            elif "=" in part and isinstance(v, list):
                many = True
                k, want = part.split("=", 1)
                nxt += [x for x in v if isinstance(x, dict) and str(x.get(k)) == want]
            elif isinstance(v, dict) and part in v:
                nxt.append(v[part])
            elif isinstance(v, list) and part.isdigit() and int(part) < len(v):
                nxt.append(v[int(part)])
        values = nxt
    if many:
        flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
        return flat or None
    return values[0] if values else None


def stat(data, path: str | None, range_path: str | None = None) -> Stat | None:
    if path is None:
        return None
    s = Stat.of(lookup(data, path))
    if s is not None and range_path:
        rng = lookup(data, range_path)
        if isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, int | float) for x in rng):
            s = Stat(s.median, rng[0], rng[1], s.n)
    return s


def _fill(text: str, data: dict) -> str:
    try:
        return text.format(**data)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return re.sub(r"\{[^}]*\}", "…", text)


# --- formatting ------------------------------------------------------------------------


def _decimals(x: float) -> int:
    """Decimals to show a figure of this size with about three significant digits."""
    a = abs(x)
    if a >= 100 or a == 0:
        return 0 if a >= 1000 or a == 0 else 1
    return max(0, 2 - math.floor(math.log10(a)))


def _num(x: float, decimals: int) -> str:
    return f"{x:,.{decimals}f}"


def _duration_scale(seconds: float) -> tuple[float, str]:
    a = abs(seconds)
    if a < 1e-3:
        return 1e6, "µs"
    if a < 1:
        return 1e3, "ms"
    return 1.0, "s"


def fmt_stat(s: Stat, unit: str, ratio: bool = False) -> str:
    if unit == "s":
        k, unit = _duration_scale(s.median)
        s = s.scaled(k)
    if unit == "%":
        s, unit = s.scaled(100), "%"
    exact = not ratio and all(float(v).is_integer() for v in (s.median, s.lo, s.hi))
    d = 0 if exact else _decimals(s.median)
    if (ratio or unit in ("×", "")) and not exact and 0.1 <= abs(s.median) < 100:
        d = 2  # ratios: two decimals (small ones keep three significant digits)
    body = _num(s.median, d)
    if s.lo != s.hi:
        body += f" [{_num(s.lo, d)}–{_num(s.hi, d)}]"
    if unit in ("%", "×", ""):
        return body + unit
    return f"{body} {unit}"


def fmt_target(t: Target, row: Row) -> str:
    op = {">=": "≥", "<=": "≤", "==": "="}[t.op]
    if t.on == "ratio":
        unit = row.ratio_unit
        value = f"{t.value * 100:g}%" if unit == "%" else f"{t.value:g}{unit}"
        return f"ratio {op} {value}"
    unit = row.unit
    if unit == "s":
        k, unit = _duration_scale(t.value)
        return f"{op} {t.value * k:g} {unit}"
    return f"{op} {t.value:g}" + (f" {unit}" if unit else "")


@dataclass
class Line:
    """One row of the table, formatted."""

    bench: str
    label: str
    measured: str
    peer: str
    ratio: str
    target: str
    met: str
    rounds: str
    load: str
    note: str

    def cells(self) -> list[str]:
        return [
            f"`{self.bench}`",
            self.label,
            self.measured,
            self.peer,
            self.ratio,
            self.target,
            self.met,
            self.rounds,
            self.load,
            self.note,
        ]


def _load(run: dict) -> str:
    a, b = run.get("load_start"), run.get("load_end")
    if not a:
        return "not recorded"
    if not b:
        return f"{a[0]:.2f} → ?"
    return f"{a[0]:.2f} → {b[0]:.2f}"


def line(row: Row, data: dict | None) -> Line:
    """The formatted row for one benchmark's JSON (None: not run in this report)."""
    target = fmt_target(row.target, row) if row.target else "—"
    blank = Line(row.bench, row.label, "", "", "", target, "", "", "", row.note)
    if data is None:
        blank.label = re.sub(r"\{[^}]*\}", "…", row.label)
        blank.note = re.sub(r"\{[^}]*\}", "…", row.note)
        blank.measured, blank.met = NOT_RUN, NOT_RUN
        return blank
    run = data.get("_run", {})
    blank.label, blank.note = _fill(row.label, data), _fill(row.note, data)
    blank.load = _load(run)
    if run.get("exit"):
        blank.measured = blank.met = f"failed in this run (exit {run['exit']})"
        return blank
    fig = stat(data, row.figure, row.figure_range)
    if fig is not None and row.total:
        values = lookup(data, row.figure)
        values = values if isinstance(values, list) else [fig.median]
        fig = Stat.of(float(sum(v for v in values if isinstance(v, int | float))))
    if fig is None:
        blank.measured, blank.met = "not run", "not run"
        return blank
    fig = fig.scaled(row.scale)
    blank.measured = fmt_stat(fig, row.unit)

    peer = None
    if isinstance(row.peer, int | float):
        peer = Stat.of(float(row.peer))
        blank.peer = f"{_fill(row.peer_label, data)}: {fmt_stat(peer, row.unit)}"
    elif row.peer:
        peer = stat(data, row.peer)
        if peer is None:
            blank.peer = f"{_fill(row.peer_label, data)}: not run"
        else:
            peer = peer.scaled(row.scale)
            blank.peer = f"{_fill(row.peer_label, data)}: {fmt_stat(peer, row.unit)}"

    ratio = stat(data, row.ratio) if row.ratio else None
    if ratio is None and peer is not None:
        ratio = fig.over(peer)
    if ratio is not None:
        blank.ratio = fmt_stat(ratio, row.ratio_unit, ratio=True)
    elif row.peer is not None:
        blank.ratio = "not run"

    rounds = lookup(data, row.rounds) if row.rounds else None
    n = len(rounds) if isinstance(rounds, list) else rounds if isinstance(rounds, int) else None
    n = n or max(fig.n, ratio.n if ratio else 0)
    blank.rounds = str(n) if n else "1"

    if row.target is None:
        blank.met = "—"
    else:
        judged = ratio if row.target.on == "ratio" else fig
        if judged is None:
            blank.met = "not run"
        elif row.target.met(judged.median):
            worst = judged.lo if row.target.op == ">=" else judged.hi
            blank.met = "yes" if row.target.met(worst) else "yes (median; not every round)"
        else:
            best = judged.hi if row.target.op == ">=" else judged.lo
            blank.met = "**no**" if not row.target.met(best) else "**no** (median; some rounds)"
    return blank


# --- the report ------------------------------------------------------------------------

HEAD = [
    "benchmark",
    "figure",
    "measured, median [min–max]",
    "peer / ceiling, same run",
    "ratio",
    "target",
    "met",
    "rounds",
    "load (1 min) start → end",
    "note",
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(lines: list[Line]) -> str:
    out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    out += ["| " + " | ".join(_cell(c) for c in ln.cells()) + " |" for ln in lines]
    return "\n".join(out)


def load_results(directory: Path = RESULTS_DIR) -> dict[str, dict]:
    """The saved JSON of each benchmark, by its run_all name (tickets/pages.py)."""
    out = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        name = data.get("_run", {}).get("name") or path.stem.replace("__", "/") + ".py"
        out[name] = data
    return out


def result_path(name: str, directory: Path = RESULTS_DIR) -> Path:
    return directory / (name.removesuffix(".py").replace("/", "__") + ".json")


def render(results: dict[str, dict], benchmarks: list[str], rows: list[Row] = ROWS) -> str:
    """RESULTS.md's text: the table over `benchmarks` (in that order), then the runs."""
    lines = [line(r, results.get(r.bench)) for b in benchmarks for r in rows if r.bench == b]
    missing_rows = [b for b in benchmarks if not any(r.bench == b for r in rows)]
    runs = []
    machine = {}
    for b in benchmarks:
        data = results.get(b)
        if data is None:
            runs.append(f"- `{b}`: {NOT_RUN}.")
            continue
        run = data.get("_run", {})
        machine = machine or run.get("machine", {})
        db = data.get("database", {})
        la, lb = run.get("load_start"), run.get("load_end")
        load = (
            "load average "
            + " / ".join(f"{x:.2f}" for x in la)
            + (" → " + " / ".join(f"{x:.2f}" for x in lb) if lb else "")
            if la
            else "load not recorded"
        )
        bits = [
            run.get("started", "date not recorded"),
            f"{run['seconds']:,.0f} s" if "seconds" in run else None,
            load,
            f"{db.get('backend', '?')} {db.get('version', '')}".strip() if db else None,
            f"commit {run['commit']}" if run.get("commit") else None,
            f"`{run['command']}`" if run.get("command") else None,
            f"failed (exit {run['exit']})" if run.get("exit") else None,
        ]
        runs.append(f"- `{b}`: " + "; ".join(x for x in bits if x) + ".")
    judged = [ln for ln in lines if ln.target != "—"]
    met = sum(ln.met.startswith("yes") for ln in judged)
    missed = sum(ln.met.startswith("**no**") for ln in judged)
    not_run = sum(ln.met.startswith(("not run", "failed")) for ln in judged)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmark results",
        "",
        f"Written {now} by `bench/run_all.py` from the JSON under `bench/results/` "
        "(`run_all.py --report-only` rebuilds this file from them; do not edit it by hand).",
        "",
        "Machine: " + describe_machine(machine) + ".",
        "",
        "Every figure stands beside its peer or ceiling measured in the same run of the "
        "same benchmark; the ratio is the benchmark's own (median of per-round ratios) "
        "where it computes one, else median ÷ median. Ranges are [min–max] over the rounds. "
        '`met` judges the median; "not every round" means the range crosses the target. '
        '"not run in this report": no saved JSON of that benchmark; "not run": its '
        "JSON lacks that figure. Load is the 1-minute load average at the start and end "
        "of that benchmark (2 CPUs: above 2 the figures are skewed by other work).",
        "",
        f"Targets: {met} met, {missed} missed, {not_run} not run, of "
        f"{len(judged)} rows with a target.",
        "",
        table(lines),
        "",
        "## Runs",
        "",
        *runs,
    ]
    if missing_rows:
        parts += ["", "Benchmarks without rows in bench/report.py: " + ", ".join(missing_rows)]
    return "\n".join(parts) + "\n"


def write(benchmarks: list[str], directory: Path = RESULTS_DIR, report: Path = REPORT) -> Path:
    report.write_text(render(load_results(directory), benchmarks))
    return report


# --- the machine -------------------------------------------------------------------------


def machine_info() -> dict:
    """Cores, RAM, PostgreSQL's and Redis' versions (each None when unreachable)."""
    info: dict = {"cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal:"):
                info["ram_gib"] = round(int(ln.split()[1]) / 1024**2, 1)
        info["cpu_model"] = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            None,
        )
    except OSError:
        pass
    url = os.environ.get("DATABASE_URL", "")
    info["database_url_backend"] = "postgresql" if url.startswith("postgres") else "sqlite"
    if url.startswith("postgres"):
        try:
            import psycopg

            with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
                info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        except Exception as exc:  # noqa: BLE001 (the report says what it could not reach)
            info["postgresql"] = f"unreachable ({type(exc).__name__})"
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        try:
            import redis

            info["redis"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
        except Exception as exc:  # noqa: BLE001
            info["redis"] = f"unreachable ({type(exc).__name__})"
    else:
        try:
            out = subprocess.run(
                ["redis-server", "--version"], capture_output=True, text=True, check=False
            ).stdout
            m = re.search(r"v=(\S+)", out)
            info["redis"] = (m.group(1) + ", embedded") if m else None
        except OSError:
            info["redis"] = None
    return info


def describe_machine(m: dict) -> str:
    if not m:
        return "not recorded"
    bits = [
        f"{m.get('cpus', '?')} CPUs" + (f" ({m['cpu_model']})" if m.get("cpu_model") else ""),
        f"{m['ram_gib']:g} GiB RAM" if m.get("ram_gib") else None,
        f"PostgreSQL {m['postgresql']}" if m.get("postgresql") else "SQLite (no DATABASE_URL)",
        f"Redis {m['redis']}" if m.get("redis") else None,
        f"Python {m['python']}" if m.get("python") else None,
    ]
    return ", ".join(b for b in bits if b)
