"""Roll-system alert intake at volume: 1,000,000 alerts in 200 signed batches of 5,000
POSTed over HTTP to one daphne process, beside a plain COPY of the same rows into a
bare table (the ceiling), measured in the same run.

Claim (the issue): the intake (POST /api/roll/v1/alerts, ROLL_API.md) stores alerts
at least at 25 % of the rate of a plain PostgreSQL COPY of the same rows, and the
server's memory does not grow with the total volume.

PostgreSQL only (the intake and the ceiling are COPYs). On a fresh database set up
for this run alone (see _harness.py; DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/bench_roll — only the admin connection: the run's
own bench_<pid> is created and dropped there; the admin database is created, empty,
when missing, and left for the next runs). REDIS_URL defaults to
redis://127.0.0.1:6379/8: the Celery broker. No worker runs: after each commit the
intake queues `roll.tasks.sync_batch` there, and tickets and notifications are that
worker's job, not the request's. The tasks this run queued (they name batches of a
database that is dropped) are taken off the queue at the end.

Setup (not timed): a synthetic province 基准省 (990000): 10 prefectures × 10
counties × 30 schools (3,000 schools), a province manager, one support engineer per
county, and a roll key issued with `roll.services.key_issue` (its secret kept).

Data: --alerts (1,000,000) alerts in batches of --batch (5,000), generated lazily one
batch at a time from a seed per batch (the client never holds more than a batch):
the five kinds mixed, Chinese names, gender, birth dates matching grades 1–6
(grade 6 graduating, ~1/6), 18-character ID numbers of real region codes and the
birth date — right check characters from `stdnum.cn.ric.calc_check_digit`, wrong
ones on the `id_invalid` alerts, none on some `police_auth_failed` ones — roll
numbers (G + ID, J + 18 characters, or none), detected_at with +08:00, details and
related school codes.

Timed:

1. ceiling — a bare table with the problem records' columns (CREATE TABLE … AS …
   WITH NO DATA: same types, no index, no constraint), the same rows with the same
   values (as the platform should store them) COPYed through psycopg, one COPY of
   --batch rows per transaction, committed. Building the rows is not timed.
2. platform — one `daphne config.asgi:application` process; one client POSTs the
   batches one after the other on a keep-alive connection, each signed
   (X-Roll-Key, X-Roll-Timestamp, X-Roll-Signature = "sha256=" + HMAC-SHA256 of
   "{ts}.{body}"). Each response must say accepted = --batch, no duplicate, none
   rejected. Alerts per second over the POSTs (body generation and signing in the
   client are timed apart and left out), p50 / p95 per batch, and daphne's RSS
   sampled every 0.2 s (psutil): after batch 1, 10, 100 and the last, and the peak.
   If the server runs with autovacuum off, the run does what its autoanalyze would
   meanwhile (ANALYZE of the problem records past the usual threshold, every
   naptime): a table never analyzed gets another plan for the duplicate check.
   Afterwards: the table's statistics, indexes and foreign keys, and EXPLAIN
   (ANALYZE, BUFFERS) of the duplicate check for new and for stored alert ids.
3. retry — 5 of the batches POSTed again: all duplicates, nothing stored; time each.
3b. the fixed cost of a request — 20 POSTs of one new alert each, p50.
4. 2 clients — --concurrent-batches more batches (new alert ids; bodies prepared
   beforehand) POSTed by two clients at once on their own connections.
5. where the time goes — in this process, --breakdown batches of new alerts through
   the code the view runs (the signature check, json.loads, `roll.services.intake`,
   committed), timed part by part (validation, each query, the COPY, the commit),
   and one more under cProfile (top functions); they are deleted afterwards. Beside
   the median POST, the rest is the request's own cost (ASGI body, middleware, the
   thread hop, a new database connection).
6. the worker's sync (off unless --sync-batches N) — `roll.services.sync_batch` (what
   the queued task runs) for the first N batches, each timed, and an estimate for all.

Checks: every response as above; the stored records = the alerts sent; every stored
value equal to the ceiling table's (including `id_check_ok`); the batches queued for
the worker. A mismatch exits non-zero (after printing the figures). Timings are
reported, never asserted.

Run: .venv/bin/python bench/roll/intake.py                     (10–15 minutes)
     .venv/bin/python bench/roll/intake.py --alerts 50000     (a quick try)
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import hmac
import http.client
import io
import json
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

# The script's own directory (bench/roll) must not shadow the project's `roll` app, and
# bench/ holds the shared harness: project root first, bench/ last.
_HERE = Path(__file__).resolve().parent
_BENCH, _ROOT = _HERE.parent, _HERE.parent.parent
sys.path[:] = [
    str(_ROOT),
    *(p for p in sys.path if Path(p or ".").resolve() not in (_HERE, _BENCH, _ROOT)),
    str(_BENCH),
]
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_roll")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ["MFA_REQUIRED_FOR_SENIOR_MANAGERS"] = "0"

from _harness import (  # noqa: E402
    ensure_admin_database,
    fill_province,
    fmt_duration,
    fresh_database,
    insert_units,
    write_json,
)

RATIO_TARGET = 0.25
PATH = "/api/roll/v1/alerts"
PROVINCE = "990000"
CEILING_TABLE = "bench_copy_ceiling"
RETRIES = 5
RSS_EVERY = 0.2
SEED = 20261120

KINDS = (
    ("id_invalid", 20),
    ("id_duplicate", 30),
    ("identity_duplicate", 20),
    ("cross_province_duplicate", 15),
    ("police_auth_failed", 15),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲芬燕彩春菊凤洁梅琳云莲雪荣爱香月瑞佳嘉琼珍莉晶妍秋珊锦青倩婷婉瑾颖露瑶怡丹蓉君琴蕊薇梦岚馨韵悦昭冰琬茗羽宁欣浩宇轩睿泽子涵博文晨阳俊逸"
# County-level region codes that stdnum's birth-place table knows (checked at start).
REGIONS = (
    "110101",
    "110105",
    "120101",
    "130102",
    "130104",
    "130105",
    "130602",
    "140105",
    "210102",
    "310101",
    "320102",
    "330102",
    "370102",
    "410102",
    "420102",
    "430102",
    "440103",
    "500101",
    "510104",
    "610102",
)
OTHER_PROVINCES = (
    ("110000", "北京市"),
    ("130000", "河北省"),
    ("370000", "山东省"),
    ("440000", "广东省"),
)
SELF_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def tenths(times: list[float]) -> tuple[float, float]:
    """Median of the first and of the last tenth of the batches: does a batch get slower
    as the table grows?"""
    k = max(1, len(times) // 10)
    return statistics.median(times[:k]), statistics.median(times[-k:])


# --- the alerts -----------------------------------------------------------------------


def right_check(body17: str) -> str:
    # calc_check_digit() takes the whole number, check character included, and ignores
    # the last character: give it a placeholder.
    from stdnum.cn import ric

    return ric.calc_check_digit(body17 + "0")


class Alerts:
    """The alerts of batch b (0-based), the same every time they are asked for: a seed
    per batch, so any batch can be made again (the retries, the ceiling) without
    keeping any."""

    def __init__(self, schools: list[tuple[str, int, str]], size: int, today: date):
        from stdnum.cn import ric

        self.schools = schools  # (code, pk, path)
        self.size = size
        self.today = today
        self.regions = [r for r in REGIONS if ric.is_valid(self._id(r, date(2012, 3, 1), 123))]
        if len(self.regions) < 5:
            raise RuntimeError(f"stdnum knows too few of the region codes: {self.regions}")
        self.kinds = [k for k, w in KINDS for _ in range(w)]
        self.now = datetime.now().astimezone()

    @staticmethod
    def _id(region: str, born: date, seq: int) -> str:
        body = f"{region}{born:%Y%m%d}{seq:03d}"
        return body + right_check(body)

    def batch(self, b: int, count: int | None = None) -> list[dict]:
        """The alerts of batch b (its first `count` only, when given)."""
        from escalation import workhours

        rng = random.Random(SEED * 1_000_003 + b)
        tz = workhours.TZ
        start = b * self.size
        alerts = []
        for i in range(self.size if count is None else count):
            kind = rng.choice(self.kinds)
            code = self.schools[rng.randrange(len(self.schools))][0]
            grade = rng.randint(1, 6)
            born = date(self.today.year - 6 - grade, rng.randint(1, 12), rng.randint(1, 28))
            gender = rng.choice("MF")
            seq = rng.randrange(50) * 20 + rng.randrange(5) * 2 + (1 if gender == "M" else 0)
            body17 = f"{rng.choice(self.regions)}{born:%Y%m%d}{seq:03d}"
            check = right_check(body17)
            id_number: str | None = body17 + check
            roll_no = None
            other = self.schools[rng.randrange(len(self.schools))][0]
            related: list[str] = []
            if kind == "id_invalid":
                id_number = body17 + rng.choice([c for c in "0123456789X" if c != check])
                detail = "身份证号校验位错误，请核对学生身份证件"
                roll_no = (
                    "J" + "".join(rng.choice(SELF_CHARS) for _ in range(18))
                    if rng.random() < 0.5
                    else None
                )
            else:
                r = rng.random()
                if r < 0.6:
                    roll_no = "G" + id_number
                elif r < 0.8:
                    roll_no = "J" + "".join(rng.choice(SELF_CHARS) for _ in range(18))
                if kind == "id_duplicate":
                    detail = f"与学校 {other} 的学生身份证号重复"
                    related = [other]
                elif kind == "identity_duplicate":
                    detail = f"姓名、性别、出生日期与学校 {other} 的学生相同"
                    related = [other] + (
                        [self.schools[rng.randrange(len(self.schools))][0]]
                        if rng.random() < 0.2
                        else []
                    )
                elif kind == "cross_province_duplicate":
                    prov, prov_name = rng.choice(OTHER_PROVINCES)
                    elsewhere = f"{prov[:2]}{rng.randint(1, 9):02d}{rng.randint(1, 9):02d}{rng.randint(1, 50):04d}"
                    detail = f"与{prov_name}学校 {elsewhere} 的学籍重复"
                    related = [elsewhere]
                else:
                    detail = "公安部门身份核验未通过：姓名与身份证号不一致"
                    if rng.random() < 0.1:
                        id_number, roll_no = None, None
                        detail = "公安部门身份核验未通过：未登记身份证号"
            detected = (self.now - timedelta(seconds=rng.randrange(30 * 86400))).astimezone(tz)
            alerts.append(
                {
                    "alert_id": f"BR-{start + i + 1:08d}",
                    "kind": kind,
                    "school_code": code,
                    "name": rng.choice(SURNAMES)
                    + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2)))),
                    "gender": gender,
                    "birth_date": born.isoformat(),
                    "id_number": id_number,
                    "roll_no": roll_no,
                    "grade": str(grade),
                    "graduating": grade == 6,
                    "detected_at": detected.isoformat(timespec="seconds"),
                    "detail": detail,
                    "related_school_codes": related,
                }
            )
        return alerts

    def body(self, b: int, alerts: list[dict] | None = None) -> bytes:
        payload = {"batch_id": f"bench-{b + 1:05d}", "alerts": alerts or self.batch(b)}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def rows(self, alerts: list[dict], *, first_seq: int, batch_pk: int, now) -> list[tuple]:
        """The rows the platform should store for these alerts, in COLUMNS order."""
        index = {code: (pk, path) for code, pk, path in self.schools}
        rows = []
        for n, a in enumerate(alerts):
            pk, path = index[a["school_code"]]
            id_number = a["id_number"] or ""
            rows.append(
                (
                    PROVINCE,
                    a["alert_id"],
                    a["kind"],
                    pk,
                    path,
                    a["name"],
                    a["gender"],
                    date.fromisoformat(a["birth_date"]),
                    id_number,
                    (right_check(id_number[:17]) == id_number[17]) if id_number else None,
                    a["roll_no"] or "",
                    a["grade"],
                    a["graduating"],
                    datetime.fromisoformat(a["detected_at"]),
                    a["detail"],
                    a["related_school_codes"],
                    "open",
                    "",
                    "",
                    0,
                    now,
                    now,
                    first_seq + n,
                    batch_pk,
                )
            )
        return rows


# --- setup ------------------------------------------------------------------------------


def build():
    from accounts import services
    from accounts.models import Account, Level, Role
    from roll import services as roll

    t0 = time.perf_counter()
    ministry = services.ministry_ensure()
    (province,) = insert_units(
        [services.unit_build(level=Level.PROVINCE, code=PROVINCE, name="基准省", parent=ministry)]
    )
    _prefs, counties, schools = fill_province(
        province, prefectures=10, counties_per_prefecture=10, schools_per_county=30
    )
    manager = Account(
        username=f"{PROVINCE}-m1",
        password="!",
        unit=province,
        role=Role.MANAGER,
        must_change_password=False,
    )
    engineers = [
        Account(
            username=f"{c.code}-e1",
            password="!",
            unit=c,
            role=Role.STAFF,
            is_support_engineer=True,
            must_change_password=False,
        )
        for c in counties
    ]
    Account.objects.bulk_create([manager, *engineers])
    manager = Account.objects.get(username=f"{PROVINCE}-m1")
    key, secret = roll.key_issue(actor=manager, unit=province, label="bench")
    print(
        f"setup: 基准省 ({PROVINCE}): {len(_prefs)} prefectures, {len(counties)} counties, "
        f"{len(schools):,} schools; a province manager, {len(engineers)} county support "
        f"engineers; roll key {key.key_id} (scope {key.scope}), in {time.perf_counter() - t0:.1f} s"
    )
    return key, secret, [(s.code, s.pk, s.path) for s in schools]


# --- 1. the ceiling ------------------------------------------------------------------------


def checkpoint() -> None:
    """Start each phase with the WAL checkpointed, so neither inherits the other's."""
    from django.db import connection

    with contextlib.suppress(Exception), connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def ceiling(maker: Alerts, n_batches: int, *, text: bool = False) -> dict:
    """The bare COPY. `text`: psycopg's plain text COPY of the same rows (write_row, no
    types declared), shown for reference: it spends more CPU encoding each value."""
    import psycopg
    from django.db import connection
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    from roll.services import COLUMNS, copy_writer

    table = CEILING_TABLE + ("_text" if text else "")
    how = "plain text COPY, no types declared" if text else "binary COPY, the platform's call"
    part = "1b" if text else "1"
    print(f"\n== {part}. Ceiling: {how}, into a bare table, {n_batches} COPYs of {maker.size:,} ==")
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} AS SELECT {', '.join(COLUMNS)} "
            "FROM roll_problemrecord WITH NO DATA"
        )
    checkpoint()
    times = []
    related = COLUMNS.index("related_school_codes")
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        for b in range(n_batches):
            rows = maker.rows(
                maker.batch(b), first_seq=b * maker.size + 1, batch_pk=b + 1, now=timezone.now()
            )
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                if text:
                    with cur.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                        for row in rows:
                            row = list(row)
                            row[related] = Jsonb(row[related])
                            copy.write_row(row)
                else:
                    # The platform's own COPY call (binary, typed), so the ratio is what
                    # the platform adds around it, not a difference in encoding rows.
                    with copy_writer(cur, table) as write:
                        for row in rows:
                            write(row)
            times.append(time.perf_counter() - t0)
    total = sum(times)
    n = n_batches * maker.size
    result = {
        "rows": n,
        "seconds": total,
        "per_second": n / total,
        "p50_ms": pct(times, 50) * 1e3,
        "p95_ms": pct(times, 95) * 1e3,
        "first_tenth_ms": tenths(times)[0] * 1e3,
        "last_tenth_ms": tenths(times)[1] * 1e3,
    }
    print(
        f"  {n:,} rows in {total:.1f} s: {result['per_second']:,.0f} rows/s; per COPY of "
        f"{maker.size:,} (committed): p50 {ms(pct(times, 50))}, p95 {ms(pct(times, 95))}; "
        f"median of the first / last tenth {ms(tenths(times)[0])} / {ms(tenths(times)[1])} "
        f"(load average {load()})"
    )
    return result


# --- 2.–4. the platform over HTTP ------------------------------------------------------------


class Client:
    """One keep-alive connection to daphne, signing each POST as the roll system does."""

    def __init__(self, port: int, key_id: str, secret: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.key_id, self.secret = key_id, secret.encode()

    def headers(self, body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        digest = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "X-Roll-Key": self.key_id,
            "X-Roll-Timestamp": stamp,
            "X-Roll-Signature": "sha256=" + digest,
        }

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict, float]:
        t0 = time.perf_counter()
        self.conn.request("POST", PATH, body, headers)
        response = self.conn.getresponse()
        raw = response.read()
        seconds = time.perf_counter() - t0
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"raw": raw[:500].decode(errors="replace")}
        return response.status, data, seconds

    def close(self) -> None:
        self.conn.close()


def expect(b: int, status: int, data: dict, *, accepted: int, duplicates: int) -> str | None:
    """What is wrong with a response, or None."""
    if status != 200:
        return f"batch {b + 1}: HTTP {status} {str(data)[:300]}"
    if (data.get("accepted"), data.get("duplicates"), len(data.get("rejected") or [])) != (
        accepted,
        duplicates,
        0,
    ):
        rejected = data.get("rejected") or []
        return (
            f"batch {b + 1}: accepted {data.get('accepted')}, duplicates "
            f"{data.get('duplicates')}, rejected {len(rejected)} (first: {rejected[:2]}); "
            f"expected {accepted} / {duplicates} / 0"
        )
    return None


class RssSampler(threading.Thread):
    """daphne's resident set size every RSS_EVERY seconds; the peak."""

    def __init__(self, pid: int):
        import psutil

        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self.samples = 0
        self.halt = threading.Event()

    def now(self) -> int:
        rss = self.proc.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def run(self) -> None:
        while not self.halt.wait(RSS_EVERY):
            with contextlib.suppress(Exception):
                self.now()
                self.samples += 1

    def stop(self) -> None:
        self.halt.set()
        self.join()


class AutoAnalyze(threading.Thread):
    """When the server runs with autovacuum off, what its autoanalyze would do for the
    problem records while the intake fills the table: every autovacuum_naptime, ANALYZE
    once more than autovacuum_analyze_threshold + scale_factor × rows have changed.
    Without it the table is never analyzed, and the duplicate check gets the plan for a
    table without statistics: it reads every record of the province, each batch."""

    def __init__(self, table: str):
        super().__init__(daemon=True)
        self.table = table
        self.halt = threading.Event()
        self.runs: list[tuple[int, float]] = []  # (rows changed, seconds)
        self.needed = False
        self.error: str | None = None

    def setup(self) -> bool:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            show = {k: conn.execute(f"SHOW {k}").fetchone()[0] for k in self.SETTINGS}
        self.needed = show["autovacuum"] == "off"
        self.naptime = _seconds(show["autovacuum_naptime"])
        self.threshold = int(show["autovacuum_analyze_threshold"])
        self.scale = float(show["autovacuum_analyze_scale_factor"])
        return self.needed

    SETTINGS = (
        "autovacuum",
        "autovacuum_naptime",
        "autovacuum_analyze_threshold",
        "autovacuum_analyze_scale_factor",
    )

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
                while not self.halt.wait(self.naptime):
                    changed, tuples = conn.execute(
                        "SELECT s.n_mod_since_analyze, c.reltuples FROM pg_stat_user_tables s "
                        "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = %s",
                        [self.table],
                    ).fetchone()
                    if changed > self.threshold + self.scale * max(tuples, 0):
                        t0 = time.perf_counter()
                        conn.execute(f"ANALYZE {self.table}")
                        self.runs.append((changed, time.perf_counter() - t0))
        except Exception as e:  # reported, not fatal: the figures say what ran
            self.error = repr(e)

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join()


def _seconds(setting: str) -> float:
    units = {"ms": 0.001, "s": 1, "min": 60, "h": 3600}
    for unit, factor in units.items():
        if setting.endswith(unit) and setting[: -len(unit)].isdigit():
            return int(setting[: -len(unit)]) * factor
    return float(setting)


def start_daphne(tmp: Path):
    from tests.processes import Daphne, daphne_env

    env = daphne_env(os.environ["DATABASE_URL"], os.environ["REDIS_URL"], "benchroll")
    env["LOG_LEVEL"] = "WARNING"
    server = Daphne("roll-intake", env, tmp)
    server.start()
    return server


def platform(server, key, secret: str, maker: Alerts, n_batches: int) -> dict:
    import psutil

    print(
        f"\n== 2. Platform: {n_batches} signed POSTs of {maker.size:,} alerts, one client, "
        f"one daphne process (pid {server.proc.pid}) =="
    )
    checkpoint()
    daphne = psutil.Process(server.proc.pid)
    sampler = RssSampler(server.proc.pid)
    rss_start = sampler.now()
    cpu0 = sum(daphne.cpu_times()[:2])
    sampler.start()
    client = Client(server.port, key.key_id, secret)
    milestones = sorted({m for m in (1, 10, 100, n_batches) if m <= n_batches})
    rss_at, times, errors = {}, [], []
    prepare = 0.0
    wall0 = time.perf_counter()
    try:
        for b in range(n_batches):
            t0 = time.perf_counter()
            body = maker.body(b)
            headers = client.headers(body)
            prepare += time.perf_counter() - t0
            status, data, seconds = client.post(body, headers)
            times.append(seconds)
            problem = expect(b, status, data, accepted=maker.size, duplicates=0)
            if problem:
                errors.append(problem)
                print("  " + problem)
            if b + 1 in milestones:
                rss_at[b + 1] = sampler.now()
                print(
                    f"  after batch {b + 1:>4}: {(b + 1) * maker.size:>9,} alerts, "
                    f"{sum(times):6.1f} s of POSTs, daphne RSS {mib(rss_at[b + 1])} "
                    f"(peak so far {mib(sampler.peak)}), load average {load()}",
                    flush=True,
                )
    finally:
        wall = time.perf_counter() - wall0
        client.close()
        sampler.stop()
    cpu = sum(daphne.cpu_times()[:2]) - cpu0
    total = sum(times)
    n = n_batches * maker.size
    result = {
        "alerts": n,
        "batches": n_batches,
        "seconds": total,
        "per_second": n / total,
        "wall_seconds": wall,
        "client_prepare_seconds": prepare,
        "p50_ms": pct(times, 50) * 1e3,
        "p95_ms": pct(times, 95) * 1e3,
        "max_ms": max(times) * 1e3,
        "first_ms": times[0] * 1e3,
        "first_tenth_ms": tenths(times)[0] * 1e3,
        "last_tenth_ms": tenths(times)[1] * 1e3,
        "daphne_cpu_seconds": cpu,
        "rss_start_mib": rss_start / 2**20,
        "rss_after_mib": {str(k): v / 2**20 for k, v in rss_at.items()},
        "rss_peak_mib": sampler.peak / 2**20,
        "rss_samples": sampler.samples,
        "errors": errors,
    }
    print(
        f"  {n:,} alerts in {total:.1f} s of POSTs: {result['per_second']:,.0f} alerts/s; "
        f"per batch p50 {ms(pct(times, 50))}, p95 {ms(pct(times, 95))}, max "
        f"{ms(max(times))} (first {ms(times[0])}); median of the first / last tenth "
        f"{ms(tenths(times)[0])} / {ms(tenths(times)[1])}"
    )
    print(
        f"  wall clock {wall:.1f} s, of which {prepare:.1f} s generating and signing the "
        f"bodies in the client (not counted above); daphne CPU {cpu:.1f} s "
        f"({cpu / total:.0%} of the POST time, {cpu / n_batches * 1e3:,.0f} ms per batch)"
    )
    trail = ", ".join(f"after {k}: {mib(v)}" for k, v in rss_at.items())
    print(
        f"  daphne RSS: at start {mib(rss_start)}; {trail}; peak {mib(sampler.peak)} "
        f"({sampler.samples} samples every {RSS_EVERY} s)"
    )
    if errors:
        print(f"  {len(errors)} batches answered wrongly")
    return result


def retry(server, key, secret: str, maker: Alerts, n_batches: int) -> dict:
    picks = sorted({round(i * (n_batches - 1) / (RETRIES - 1)) for i in range(RETRIES)})
    print(f"\n== 3. Retry: batches {', '.join(str(b + 1) for b in picks)} POSTed again ==")
    client = Client(server.port, key.key_id, secret)
    times, errors = [], []
    try:
        for b in picks:
            body = maker.body(b)
            status, data, seconds = client.post(body, client.headers(body))
            times.append(seconds)
            problem = expect(b, status, data, accepted=0, duplicates=maker.size)
            if problem:
                errors.append(problem)
                print("  " + problem)
    finally:
        client.close()
    print(
        f"  all duplicates: {'yes' if not errors else 'NO'}; per batch: "
        + ", ".join(ms(t) for t in times)
        + f" (median {ms(statistics.median(times))})"
    )
    return {"batches": len(picks), "per_batch_seconds": statistics.median(times), "errors": errors}


def small_posts(server, key, secret: str, maker: Alerts, first: int, count: int) -> dict:
    """POSTs of ONE new alert each: what any request costs whatever its size (new
    database connection, key lookup and Fernet decrypt, HMAC, the seen-signature row
    and key update with their commits, the feed lock, a 1-row COPY and its commit, the
    task queued)."""
    print(f"\n== 3b. The fixed cost of a request: {count} POSTs of one new alert each ==")
    client = Client(server.port, key.key_id, secret)
    times, errors = [], []
    try:
        for b in range(first, first + count):
            body = json.dumps(
                {"batch_id": f"one-{b}", "alerts": maker.batch(b, count=1)}, ensure_ascii=False
            ).encode()
            status, data, seconds = client.post(body, client.headers(body))
            times.append(seconds)
            problem = expect(b, status, data, accepted=1, duplicates=0)
            if problem:
                errors.append(problem)
                print("  " + problem)
    finally:
        client.close()
    print(
        f"  per request: p50 {ms(pct(times, 50))}, p95 {ms(pct(times, 95))} (min "
        f"{ms(min(times))}): a 5,000-alert batch pays this once"
    )
    return {"posts": count, "p50_ms": pct(times, 50) * 1e3, "errors": errors}


def concurrent(server, key, secret: str, maker: Alerts, first: int, count: int) -> dict:
    print(
        f"\n== 4. Two clients at once: {count} more batches of {maker.size:,} (new alert ids, "
        "bodies prepared beforehand) =="
    )
    bodies = [(b, maker.body(b)) for b in range(first, first + count)]
    lock = threading.Lock()
    queue = iter(bodies)
    times: list[float] = []
    errors: list[str] = []

    def work():
        client = Client(server.port, key.key_id, secret)
        try:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                b, body = item
                status, data, seconds = client.post(body, client.headers(body))
                problem = expect(b, status, data, accepted=maker.size, duplicates=0)
                with lock:
                    times.append(seconds)
                    if problem:
                        errors.append(problem)
        finally:
            client.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    n = count * maker.size
    result = {
        "alerts": n,
        "seconds": wall,
        "per_second": n / wall,
        "p50_ms": pct(times, 50) * 1e3,
        "p95_ms": pct(times, 95) * 1e3,
        "errors": errors,
    }
    for e in errors[:5]:
        print("  " + e)
    print(
        f"  {n:,} alerts in {wall:.1f} s: {result['per_second']:,.0f} alerts/s; per batch "
        f"p50 {ms(pct(times, 50))}, p95 {ms(pct(times, 95))} (load average {load()})"
    )
    return result


# --- 5. where the time goes -------------------------------------------------------------------


QUERY_KINDS = (
    ("accounts_unit", "schools: Unit code IN (…), the batch's school codes"),
    ("alert_id", "duplicates: ProblemRecord alert_id IN (…)"),
    ("pg_advisory_xact_lock", "feed lock: pg_advisory_xact_lock"),
    ("MAX(", "feed lock: MAX(change_seq)"),
    ("roll_intakebatch", "IntakeBatch row"),
    ("COMMIT", "COMMIT (WAL flush)"),
)


def breakdown(key, maker: Alerts, first: int, count: int, median_post: float) -> dict:
    """The view's work in this process, part by part: the signature check, json.loads and
    `roll.services.intake` (committed, as in the view) on batches of new alerts, which
    are deleted again afterwards; one more batch under cProfile."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from roll import auth, services
    from roll.models import IntakeBatch, RollKey

    print(
        f"\n== 5. Where a batch's time goes: {count} batches of {maker.size:,} new alerts "
        "through the view's code in this process (deleted afterwards) =="
    )
    key = RollKey.objects.select_related("unit").get(pk=key.pk)
    real_judge, real_writer, real_queue = (
        services.judge,
        services._record_writer,
        services._sync_soon,
    )
    spent = {"judge": 0.0, "insert": 0.0, "queue": 0.0}

    def judge(alert, *, today):
        t0 = time.perf_counter()
        try:
            return real_judge(alert, today=today)
        finally:
            spent["judge"] += time.perf_counter() - t0

    @contextlib.contextmanager
    def writer():
        # The COPY stream: each row written, and the end of the COPY (the last data
        # flushed and the server's answer); judging in between is timed apart.
        t0 = time.perf_counter()
        with real_writer() as write:

            def timed(row):
                t1 = time.perf_counter()
                write(row)
                spent["insert"] += time.perf_counter() - t1

            spent["insert"] += time.perf_counter() - t0
            yield timed
            t2 = time.perf_counter()
        spent["insert"] += time.perf_counter() - t2

    def queue(batch_pk):
        t0 = time.perf_counter()
        try:
            return real_queue(batch_pk)
        finally:
            spent["queue"] += time.perf_counter() - t0

    labels = [label for _match, label in QUERY_KINDS]
    parts: dict[str, list[float]] = {
        k: []
        for k in (
            "signature check (Fernet decrypt of the secret + HMAC of the body)",
            "json.loads of the body",
            "judge() of every alert (validation)",
            *labels,
            "other queries",
            "COPY into roll_problemrecord, streamed while judging (write_row + end of COPY)",
            "on commit: queue roll.tasks.sync_batch (Celery, Redis)",
            "the rest of intake() in Python (matching, rows, response)",
            "= in-process total",
        )
    }
    batch_ids = IntakeBatch.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    profile_text = ""
    services.judge, services._record_writer, services._sync_soon = judge, writer, queue
    try:
        for i, b in enumerate(range(first, first + count + 1)):
            body = maker.body(b)
            stamp = str(int(time.time()))
            spent.update(judge=0.0, insert=0.0, queue=0.0)
            t0 = time.perf_counter()
            expected = auth.sign(auth.secret_of(key), stamp, body)
            hmac.compare_digest(expected, expected)
            t1 = time.perf_counter()
            payload = json.loads(body)
            t2 = time.perf_counter()
            profiler = cProfile.Profile() if i == count else None  # the last one
            with CaptureQueriesContext(connection) as queries:
                if profiler:
                    profiler.enable()
                out = services.intake(key=key, payload=payload)
                if profiler:
                    profiler.disable()
            t3 = time.perf_counter()
            if out["accepted"] != maker.size:
                raise RuntimeError(f"breakdown batch: {out['accepted']} accepted")
            if profiler:
                stream = io.StringIO()
                stats = pstats.Stats(profiler, stream=stream)
                stats.sort_stats("tottime").print_stats(15)
                profile_text = stream.getvalue()
                continue
            by_kind = dict.fromkeys([*labels, "other queries"], 0.0)
            for q in queries.captured_queries:
                label = next((lb for m, lb in QUERY_KINDS if m in q["sql"][:400]), "other queries")
                by_kind[label] += float(q["time"])
            values = [t1 - t0, t2 - t1, spent["judge"], *by_kind.values()]
            values += [spent["insert"], spent["queue"]]
            values.append(t3 - t2 - sum(values[2:]))
            values.append(t3 - t0)
            for k, v in zip(parts, values, strict=True):
                parts[k].append(v)
    finally:
        services.judge, services._record_writer, services._sync_soon = (
            real_judge,
            real_writer,
            real_queue,
        )
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM roll_problemrecord WHERE batch_id > %s", [batch_ids])
            cursor.execute("DELETE FROM roll_intakebatch WHERE id > %s", [batch_ids])

    med = {k: statistics.median(v) for k, v in parts.items()}
    for label, seconds in med.items():
        print(f"  {label:<72} {ms(seconds):>10}  {seconds / median_post:6.1%}")
    overhead = median_post - med["= in-process total"]
    print(f"  {'median POST round trip (part 2)':<72} {ms(median_post):>10}  100.0%")
    print(
        f"  {'= the rest: the request (ASGI body, middleware, thread hop, connect)':<72} "
        f"{ms(overhead):>10}  {overhead / median_post:6.1%}"
    )
    print(
        "  (medians; % of the median POST; the POSTs ran with daphne beside this process's "
        "client, these without it: read small or negative rests as noise)"
    )
    print(f"\n  cProfile of one intake() call (top functions by own time):\n{profile_text}")
    return {"median_seconds": med, "post_seconds": median_post, "request_rest": overhead}


# --- 6. the worker's part ----------------------------------------------------------------------


def sync(count: int, n_batches: int) -> dict:
    from roll import services
    from roll.models import IntakeBatch
    from tickets.models import Ticket

    pks = list(
        IntakeBatch.objects.filter(synced_at__isnull=True)
        .order_by("received_at")
        .values_list("pk", flat=True)
    )
    count = min(count, len(pks))
    print(
        f"\n== 6. The worker's part: roll.services.sync_batch for {count} of the "
        f"{len(pks)} queued batches (tickets and notifications; not in the request) =="
    )
    times = []
    for pk in pks[:count]:
        schools = len(IntakeBatch.objects.get(pk=pk).school_ids)
        t0 = time.perf_counter()
        services.sync_batch(pk)
        times.append(time.perf_counter() - t0)
        print(f"  batch {pk}: {schools:,} schools touched, {times[-1]:.1f} s", flush=True)
    tickets = Ticket.objects.count()
    estimate = None
    if count < len(pks) and count >= 2:
        estimate = times[0] + (len(pks) - 1) * statistics.mean(times[1:])
        print(
            f"  {tickets:,} tickets now; estimate for all {len(pks)} batches: "
            f"{fmt_duration(estimate)} (the first, which opens the tickets, + the others' mean "
            f"× {len(pks) - 1})"
        )
    return {"batches": count, "seconds": times, "estimate_all_seconds": estimate}


# --- checks -----------------------------------------------------------------------------------


def check_data(expected_records: int) -> list[str]:
    from django.db import connection

    from roll.models import ProblemRecord

    problems = []
    stored = ProblemRecord.objects.count()
    print(f"\n== Checks ==\n  records stored: {stored:,} (expected {expected_records:,})")
    if stored != expected_records:
        problems.append(f"{stored:,} records stored, {expected_records:,} expected")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {CEILING_TABLE}")
        ceiling_rows = cursor.fetchone()[0]
        fields = (
            "kind, school_id, school_path, name, gender, birth_date, id_number, roll_no, "
            "grade, graduating, detected_at, detail, related_school_codes, status, change_seq"
        )
        cols = ", ".join(f"p.{f.strip()}" for f in fields.split(","))
        ccols = ", ".join(f"c.{f.strip()}" for f in fields.split(","))
        cursor.execute(
            f"""SELECT count(*) FILTER (WHERE ({cols}) IS DISTINCT FROM ({ccols})),
                       count(*) FILTER (WHERE p.id_check_ok IS DISTINCT FROM c.id_check_ok),
                       count(*) FILTER (WHERE c.id_check_ok),
                       count(*) FILTER (WHERE p.id_check_ok),
                       count(*) FILTER (WHERE c.id_check_ok = false),
                       count(*) FILTER (WHERE p.id_check_ok = false),
                       count(*)
                FROM roll_problemrecord p JOIN {CEILING_TABLE} c
                  ON c.alert_id = p.alert_id AND c.scope = p.scope"""
        )
        other, check_diff, c_right, p_right, c_wrong, p_wrong, joined = cursor.fetchone()
    print(
        f"  ceiling table rows: {ceiling_rows:,}; records matched to a ceiling row by alert id: "
        f"{joined:,}; differing in a stored field other than id_check_ok: {other:,}"
    )
    print(
        f"  id_check_ok: right check character {c_right:,}, wrong {c_wrong:,} in what was sent; "
        f"stored as right {p_right:,}, wrong {p_wrong:,}; {check_diff:,} records differ"
    )
    if other:
        problems.append(f"{other:,} records differ from the alerts sent")
    if check_diff:
        problems.append(
            f"id_check_ok wrong on {check_diff:,} of {joined:,} records "
            "(see roll.validation.check_character_ok)"
        )
    return problems


def explain(maker: Alerts, n_batches: int) -> dict:
    """The table as the intake left it (statistics, indexes, foreign keys) and the plan
    of the duplicate check, for the ids of a new batch and of a stored one."""
    from django.db import connection

    from roll.models import ProblemRecord

    table = ProblemRecord._meta.db_table
    print("\n== The table after the run, and the duplicate check's plan ==")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_live_tup, last_autoanalyze, autoanalyze_count, last_analyze "
            "FROM pg_stat_user_tables WHERE relname = %s",
            [table],
        )
        live, last_auto, auto_count, last_manual = cursor.fetchone()
        cursor.execute(
            "SELECT pg_size_pretty(pg_table_size(%s)), pg_size_pretty(pg_indexes_size(%s))",
            [table, table],
        )
        heap, indexes = cursor.fetchone()
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table]
        )
        names = [r[0] for r in cursor.fetchall()]
        cursor.execute(
            "SELECT conname, condeferred FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [table],
        )
        fks = cursor.fetchall()
        print(
            f"  {table}: {live:,} live rows, heap {heap}, {len(names)} indexes {indexes} "
            f"({', '.join(names)}); {len(fks)} foreign keys checked per row"
            f"{' at commit' if any(d for _n, d in fks) else ''}; "
            f"autoanalyze ran {auto_count} times, last {last_auto or 'never'}"
            f"{f', ANALYZE {last_manual}' if last_manual else ''}"
        )
        plans = {}
        for label, b in (("new ids", n_batches + 999), ("stored ids", n_batches // 2)):
            ids = [a["alert_id"] for a in maker.batch(b)]
            sql, params = (
                ProblemRecord.objects.filter(scope=PROVINCE, alert_id__in=ids)
                .values_list("alert_id", flat=True)
                .query.sql_with_params()
            )
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            lines = [r[0] for r in cursor.fetchall()]
            plans[label] = lines
            print(f"  duplicate check of {len(ids):,} {label} (alert_id IN …, as intake asks):")
            for line in lines:
                if "Cond:" in line or "Filter:" in line:
                    line = line[: line.find(":") + 1] + " " + line[line.find(":") + 2 :][:70] + " …"
                print("    " + line)
    return {
        "live_rows": live,
        "autoanalyze_count": auto_count,
        "indexes": names,
        "foreign_keys": [n for n, _d in fks],
        "duplicate_check_plans": plans,
    }


def celery_queue() -> tuple[object, int]:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return client, int(client.llen("celery"))


# --- main -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000, help="alerts in all")
    parser.add_argument("--batch", type=int, default=5_000, help="alerts per POST (≤ 5,000)")
    parser.add_argument(
        "--concurrent-batches",
        type=int,
        default=20,
        help="batches for the two-client figure, on top of --alerts (0: skip)",
    )
    parser.add_argument(
        "--breakdown", type=int, default=3, help="batches timed part by part in-process"
    )
    parser.add_argument(
        "--sync-batches",
        type=int,
        default=0,
        help="queued batches then run through the worker's sync_batch, timed (default 0: "
        "skip; the first batch opens ~2,400 tickets and takes minutes)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        print(f"{Path(__file__).name} needs PostgreSQL (COPY); DATABASE_URL is {url}")
        return 2
    if not 1 <= args.batch <= 5000 or args.alerts < args.batch or args.alerts % args.batch:
        parser.error("--batch between 1 and 5,000, and --alerts a multiple of it")
    n_batches = args.alerts // args.batch
    if ensure_admin_database(url):
        print(f"created the empty database {urlsplit(url).path.lstrip('/')} (left for next runs)")
    problems: list[str] = []
    results: dict = {"alerts": args.alerts, "batch": args.batch, "ratio_target": RATIO_TARGET}
    tmp = Path(tempfile.mkdtemp(prefix="xj-bench-roll-"))
    queue_client, queued_before = None, 0
    server = None
    with fresh_database() as db:
        results["database"] = db
        try:
            from django.db import connections
            from django.utils import timezone

            from escalation import workhours

            print(
                f"\n== Roll-system intake: {args.alerts:,} alerts in {n_batches} batches of "
                f"{args.batch:,} ==\nbroker (sync tasks queue here, no worker runs): "
                f"{os.environ['REDIS_URL']}"
            )
            queue_client, queued_before = celery_queue()
            key, secret, schools = build()
            today = timezone.now().astimezone(workhours.TZ).date()
            maker = Alerts(schools, args.batch, today)
            sample = maker.body(0)
            print(
                f"data: a body of {args.batch:,} alerts is {len(sample) / 2**20:.2f} MiB "
                f"({len(sample) / args.batch:.0f} bytes an alert); first alert: "
                + json.dumps(maker.batch(0)[0], ensure_ascii=False)
            )
            del sample
            results["ceiling"] = ceiling(maker, n_batches)
            results["ceiling_text"] = ceiling(maker, n_batches, text=True)
            connections.close_all()
            server = start_daphne(tmp)
            analyzer = AutoAnalyze("roll_problemrecord")
            if analyzer.setup():
                print(
                    "\nthe server runs with autovacuum off: this run does what autoanalyze "
                    f"would for roll_problemrecord (every {analyzer.naptime:g} s, ANALYZE "
                    f"after {analyzer.threshold} + {analyzer.scale:g} × rows changes)"
                )
                analyzer.start()
            try:
                results["platform"] = p = platform(server, key, secret, maker, n_batches)
            finally:
                analyzer.stop()
            if analyzer.needed:
                results["platform"]["analyze_runs"] = len(analyzer.runs)
                print(
                    f"  ANALYZE ran {len(analyzer.runs)} times during the POSTs (in its own "
                    f"connection, {sum(t for _c, t in analyzer.runs):.1f} s in all)"
                    + (f"; it failed: {analyzer.error}" if analyzer.error else "")
                )
            problems += p["errors"]
            ratio = p["per_second"] / results["ceiling"]["per_second"]
            results["ratio"] = ratio
            results["ratio_text"] = p["per_second"] / results["ceiling_text"]["per_second"]
            print(
                f"  platform / COPY ceiling: {ratio:.1%} "
                f"({'meets' if ratio >= RATIO_TARGET else 'BELOW'} the target ≥ {RATIO_TARGET:.0%});"
                f" / plain text COPY: {results['ratio_text']:.1%}"
            )
            problems += check_data(args.alerts)
            results["table"] = explain(maker, n_batches)
            results["retry"] = r = retry(server, key, secret, maker, n_batches)
            problems += r["errors"]
            small = 20
            results["small"] = sm = small_posts(
                server, key, secret, maker, n_batches + args.concurrent_batches + 100, small
            )
            problems += sm["errors"]
            if args.concurrent_batches:
                results["concurrent"] = c = concurrent(
                    server, key, secret, maker, n_batches, args.concurrent_batches
                )
                problems += c["errors"]
                from roll.models import ProblemRecord

                extra = args.concurrent_batches * args.batch + small
                if ProblemRecord.objects.count() != args.alerts + extra:
                    problems.append("the two clients' records are not all stored")
            server.stop()
            server = None
            fresh_batches = n_batches + args.concurrent_batches + small
            queued = celery_queue()[1] - queued_before
            print(
                f"\n  sync tasks queued for the worker: {queued} (batches with new alerts: "
                f"{fresh_batches}); tickets and notifications are the worker's job"
            )
            if queued != fresh_batches:
                problems.append(f"{queued} sync tasks queued, {fresh_batches} expected")
            results["queued_tasks"] = queued
            if args.breakdown:
                results["breakdown"] = breakdown(
                    key,
                    maker,
                    n_batches + args.concurrent_batches + 10,
                    args.breakdown,
                    p["p50_ms"] / 1e3,
                )
            if args.sync_batches:
                results["sync"] = sync(args.sync_batches, n_batches)
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(tmp, ignore_errors=True)
            if queue_client is not None:
                # The sync tasks this run queued name batches of a database about to be
                # dropped: take them off the head of the list (LPUSH puts them there; a
                # worker would pop from the tail), leaving anything queued before.
                ours = int(queue_client.llen("celery")) - queued_before
                if ours > 0:
                    queue_client.ltrim("celery", ours, -1)
    print("\n== Summary ==")
    c, p = results.get("ceiling"), results.get("platform")
    if c and p:
        rss = p["rss_after_mib"]
        print(
            f"  platform {p['per_second']:,.0f} alerts/s (p50 {p['p50_ms']:,.0f} ms, p95 "
            f"{p['p95_ms']:,.0f} ms per batch of {args.batch:,}); COPY ceiling "
            f"{c['per_second']:,.0f} rows/s; ratio {results['ratio']:.1%} (target ≥ 25%); "
            f"plain text COPY {results['ceiling_text']['per_second']:,.0f} rows/s, ratio "
            f"{results['ratio_text']:.1%}"
        )
        if "concurrent" in results:
            two = results["concurrent"]
            print(
                f"  two clients at once: {two['per_second']:,.0f} alerts/s = "
                f"{two['per_second'] / c['per_second']:.1%} of the (one-connection) ceiling"
            )
        print(
            "  daphne RSS "
            + ", ".join(f"after batch {k}: {v:,.0f} MiB" for k, v in rss.items())
            + f"; peak {p['rss_peak_mib']:,.0f} MiB"
        )
    for problem in problems:
        print(f"  WRONG: {problem}")
    results["problems"] = problems
    write_json(results, args.json)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
