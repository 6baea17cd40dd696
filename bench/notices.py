"""Notices at national scale: publishing, the inbox, and a national notice's statistics.

Measured, on a fresh database set up for this run alone (see _harness.py), in a
synthetic national tree: the Ministry, 30 provinces × 10 prefectures × 10 counties
× 100 schools = 300,000 schools, one staff account per school and a Ministry manager
(built with `services.unit_build` + `bulk_create`, not timed with the figures).

1. Publishing cost. `services.notice_save` + `services.notice_publish` (no
   attachments; the Channels push after commit included) of a notice to ONE school
   versus to the WHOLE country (the 30 province codes, level school): --rounds (7)
   interleaved rounds after a warm-up, each publishing to one school, the country
   and the country via the Ministry's code; the ratio national / one school is taken
   in each round, median [range]; target ≤ 1.5. Beside it the
   naive peer, a per-recipient fan-out: the recipients' ids (the audience query)
   and one row per recipient inserted into a temporary table
   `naive_inbox(notice_id, account_id)` (COPY on PostgreSQL, executemany in batches
   of 5,000 on SQLite), committed; median of 3 after a warm-up.
2. Inbox. A county staff account whose county receives 10,000 published notices
   (bulk-inserted, levels "county,school", spread over a year) among 2,000 to other
   provinces it must not see, with receipts for a third of them:
   `selectors.inbox(...)[:20]`, the same with `flt="unread"` and
   `selectors.unread_count`, median of 20 each, against the floor a page cannot
   beat: `SELECT id FROM notices_notice ORDER BY published_at DESC LIMIT 20`.
3. Statistics. One national notice (all provinces, level school) with
   --stats-receipts receipts (1,000,000 by default on PostgreSQL, 200,000 on SQLite),
   spread over enough staff accounts per school to hold them (4 per school = 1.2M
   accounts for 1M), ~10% acknowledged; their counters (ReceiptTally) filled once
   from them, as the migration does. Checked first: the counters equal a recount,
   and the Ministry's rows equal an exact count from the receipts and the tree.
   Timed in --stats-runs interleaved rounds (default 5) after a warm-up, medians and
   ranges: `selectors.stats(notice, unit)` and the whole statistics page (GET through
   Django's test Client, logged in: stats, drill-down lists, template) for the
   Ministry, one province and one county, beside the ceiling
   `SELECT count(*) FROM notices_receipt WHERE notice_id = …`; then the audience
   recount (AudienceTally) that a request pays at most every 5 minutes per notice.
2b. The inbox of part 2 timed again after part 3, when notices_receipt is large.

Figures only, beside their peer or ceiling; no timing is asserted. The script exits
non-zero when the data come out wrong (e.g. the inbox shows a notice it must not).
`--explain` also prints the query plans (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN
QUERY PLAN on SQLite) of the inbox and statistics queries.

Run: .venv/bin/python bench/notices.py   (--schools-per-county 5 for a quick try)
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

# This file is named like the project's `notices` app, and Python puts the script's
# directory first on sys.path (as does Celery's Django fix-up, with the current
# directory, when run from bench/): move bench/ behind the project root and import
# the app's (empty) package now, so that `notices` is the app from here on.
_HERE, _ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent
sys.path[:] = [
    str(_ROOT),
    *(p for p in sys.path if Path(p or ".").resolve() not in (_HERE, _ROOT)),
    str(_HERE),
]
import notices  # noqa: E402

assert Path(notices.__file__).resolve().parent == _ROOT / "notices", notices.__file__

from _harness import fill_province, fmt_duration, fresh_database, insert_units, write_json  # noqa: E402

PROVINCES = 30
PREFECTURES_PER_PROVINCE = 10
COUNTIES_PER_PREFECTURE = 10
RATIO_TARGET = 1.5
INBOX_VISIBLE = 10_000
INBOX_HIDDEN = 2_000
BATCH = 20_000


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return fmt_duration(seconds) if seconds < 1e-3 else f"{seconds * 1e3:,.1f} ms"


def times_x(ratio: float) -> str:
    return f"{ratio:,.2f}x" if ratio < 10 else f"{ratio:,.0f}x"


def median_of(fn, runs: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median seconds of `runs` calls of fn() after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def spread(times: list[float]) -> str:
    return f"min {ms(min(times))}, max {ms(max(times))}"


def batched(items, size):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- the synthetic national tree --------------------------------------------------


def staff_account(unit_id: int, code: str, n: int):
    from accounts.models import Account, Role

    # "!" is an unusable password: make_password(None) would cost a random string each.
    return Account(
        username=f"{code}-s{n}",
        password="!",
        unit_id=unit_id,
        role=Role.STAFF,
        must_change_password=False,
    )


def build_tree(schools_per_county: int) -> dict:
    """Ministry → 30 provinces → 10 prefectures → 10 counties → schools, and one staff
    account per school; inserted province by province, one bulk insert per level."""
    from accounts import services
    from accounts.models import Account, Level, Role

    t0 = time.perf_counter()
    ministry = services.ministry_ensure()
    provinces = insert_units(
        [
            services.unit_build(
                level=Level.PROVINCE,
                code=f"{11 + p:02d}0000",
                name=f"基准省{p + 1:02d}",
                parent=ministry,
            )
            for p in range(PROVINCES)
        ]
    )
    counties_all, n_school, unit_s, account_s = [], 0, 0.0, 0.0
    for province in provinces:
        t1 = time.perf_counter()
        _prefectures, counties, schools = fill_province(
            province,
            prefectures=PREFECTURES_PER_PROVINCE,
            counties_per_prefecture=COUNTIES_PER_PREFECTURE,
            schools_per_county=schools_per_county,
        )
        t2 = time.perf_counter()
        Account.objects.bulk_create(
            [staff_account(s.pk, s.code, 1) for s in schools], batch_size=2000
        )
        unit_s += t2 - t1
        account_s += time.perf_counter() - t2
        counties_all += counties
        n_school += len(schools)
    manager = Account(
        username="000000-m1",
        password="!",
        unit=ministry,
        role=Role.MANAGER,
        must_change_password=False,
    )
    manager.save()
    total = time.perf_counter() - t0
    n_county = len(counties_all)
    print(
        f"setup: Ministry + {PROVINCES} provinces + {PROVINCES * PREFECTURES_PER_PROVINCE} "
        f"prefectures + {n_county:,} counties + {n_school:,} schools "
        f"({schools_per_county} per county), {n_school:,} school staff accounts and a "
        f"Ministry manager in {total:.1f} s (units {unit_s:.1f} s, accounts {account_s:.1f} s; "
        "not timed below)"
    )
    middle = counties_all[len(counties_all) // 2]
    return {
        "ministry": ministry,
        "provinces": provinces,
        "manager": manager,
        "one_school_code": f"{middle.code}{max(1, schools_per_county // 2):04d}",
        "county": counties_all[0],
        "schools": n_school,
        "schools_per_county": schools_per_county,
        "setup_seconds": total,
    }


def analyze() -> None:
    """PostgreSQL: refresh the planner's statistics after a bulk load, as autovacuum
    would soon do. (SQLite deployments do not run ANALYZE; neither does this.)"""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --- 1. publishing ------------------------------------------------------------------


def part_publish(tree: dict, args) -> dict:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from core import events
    from core.models import Event
    from notices import selectors, services
    from notices.models import Status

    print(f"\n== 1. Publishing cost: one school versus the whole country (load {load()}) ==")
    mgr = tree["manager"]
    province_codes = [p.code for p in tree["provinces"]]
    n_school = tree["schools"]

    # Time the Channels push (events.push_many, run on commit) inside each publish.
    original_push = events.push_many
    push_times: list[float] = []

    def timed_push(routed):
        t0 = time.perf_counter()
        original_push(routed)
        push_times.append(time.perf_counter() - t0)

    events.push_many = timed_push
    counter = iter(range(10**9))
    parts: dict[str, list[tuple[float, float, float]]] = {}

    def publish(label: str, codes: list[str]):
        def run():
            del push_times[:]
            t0 = time.perf_counter()
            notice = services.notice_save(
                actor=mgr,
                title=f"基准通知 {next(counter)}",
                body="关于做好学籍管理工作的通知。\n\n- 请各校**按时**核对学籍信息。",
                priority="normal",
                requires_ack=False,
                ack_deadline=None,
                publish_at=None,
                target_codes=codes,
                levels=["school"],
                managers_only=False,
            )
            t1 = time.perf_counter()
            services.notice_publish(actor=mgr, notice=notice)
            t2 = time.perf_counter()
            parts.setdefault(label, []).append((t1 - t0, t2 - t1, sum(push_times)))
            return notice

        return run

    variants = {
        "one": ("ONE school", publish("one", [tree["one_school_code"]])),
        "national": (f"the {len(province_codes)} provinces", publish("national", province_codes)),
        "ministry": ("the Ministry's own code", publish("ministry", [tree["ministry"].code])),
    }
    try:
        # One warm-up each (also counts queries and groups), then the runs interleaved
        # so that drift in the machine's load falls on all three alike.
        queries, groups = {}, {}
        for key, (_label, fn) in variants.items():
            with CaptureQueriesContext(connection) as ctx:
                notice = fn()
            queries[key] = len(ctx.captured_queries)
            groups[key] = notice.targets.count() * len(notice.level_list) + 1
            parts[key].clear()
            event = Event.objects.order_by("-pk").first()
            if (
                notice.status != Status.PUBLISHED
                or event.payload["notice"]["id"] != notice.pk
                or event.targets.count() != groups[key]
                or len(push_times) != 1
            ):
                sys.exit(f"publishing to {key} did not store and push one event to its groups")
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.runs):
            for key, (_label, fn) in variants.items():
                t0 = time.perf_counter()
                notice = fn()
                times[key].append(time.perf_counter() - t0)
                if key == "national":
                    national_notice = notice
    finally:
        events.push_many = original_push
    med = {k: statistics.median(v) for k, v in times.items()}
    # Each round ran every variant once, back to back: its own ratio, then median [range].
    round_ratios = [n / o for n, o in zip(times["national"], times["one"], strict=True)]
    ratio = statistics.median(round_ratios)
    verdict = "within" if ratio <= RATIO_TARGET else "OVER"
    audience = selectors.audience_accounts(national_notice).count()

    def breakdown(key):
        saves, publishes, pushes = zip(*parts[key], strict=True)
        return (
            f"notice_save {ms(statistics.median(saves))}, notice_publish "
            f"{ms(statistics.median(publishes))} of which the push "
            f"{ms(statistics.median(pushes))}"
        )

    for key, (label, _fn) in variants.items():
        print(
            f"ours   publish to {label}: {ms(med[key])} (median of {args.runs} rounds; "
            f"{spread(times[key])})\n"
            f"       {breakdown(key)}; {queries[key]} queries, {groups[key]} group sends"
        )
    print(
        f"ratio  national (provinces) / one school, per round: {ratio:.2f} "
        f"[{min(round_ratios):.2f}–{max(round_ratios):.2f}] over {args.runs} interleaved rounds "
        f"(target ≤ {RATIO_TARGET}: {verdict} it); national via the Ministry's code / one "
        f"school: {med['ministry'] / med['one']:.2f}; load now {load()}"
    )

    # The naive peer: a row per recipient. ---------------------------------------------
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE naive_inbox (notice_id bigint, account_id bigint)")
    recipients_s: list[float] = []

    def fan_out():
        t0 = time.perf_counter()
        with transaction.atomic():
            ids = list(selectors.audience_accounts(national_notice).values_list("pk", flat=True))
            t1 = time.perf_counter()
            with connection.cursor() as cursor:
                if pg:
                    with cursor.cursor.copy(
                        "COPY naive_inbox (notice_id, account_id) FROM STDIN"
                    ) as copy:
                        for pk in ids:
                            copy.write_row((national_notice.pk, pk))
                else:
                    for chunk in batched(ids, 5000):
                        cursor.executemany(
                            "INSERT INTO naive_inbox (notice_id, account_id) VALUES (%s, %s)",
                            [(national_notice.pk, pk) for pk in chunk],
                        )
        recipients_s.append(t1 - t0)
        with connection.cursor() as cursor:  # not timed: empty it for the next run
            cursor.execute("SELECT count(*) FROM naive_inbox")
            inserted = cursor.fetchone()[0]
            cursor.execute("DELETE FROM naive_inbox")
        if inserted != audience:
            sys.exit(f"the naive fan-out wrote {inserted} rows for {audience} recipients")

    def timed_fan_out():
        t0 = time.perf_counter()
        fan_out()
        return time.perf_counter() - t0

    timed_fan_out()  # warm-up
    recipients_s.clear()
    naive_times = [timed_fan_out() for _ in range(args.naive_runs)]
    naive = statistics.median(naive_times)
    how = "COPY" if pg else "executemany in batches of 5,000"
    print(
        f"peer   naive per-recipient fan-out of the national notice: {audience:,} rows "
        f"({how} into a temp table, one transaction): {ms(naive)} (median of "
        f"{args.naive_runs}; {spread(naive_times)})\n"
        f"       of which the recipients' ids (audience query): "
        f"{ms(statistics.median(recipients_s))}; the notice row and event are not counted, "
        "and the temp table has no index (and no WAL on PostgreSQL): a lower bound"
    )
    print(f"ratio  naive fan-out / ours national: {times_x(naive / med['national'])}")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE naive_inbox")
    if audience != n_school:
        sys.exit(f"the national notice reaches {audience} accounts, expected {n_school}")
    return {
        "one_seconds": med["one"],
        "national_seconds": med["national"],
        "ministry_code_seconds": med["ministry"],
        "ratio": ratio,
        "ratio_min": min(round_ratios),
        "ratio_max": max(round_ratios),
        "ratio_rounds": round_ratios,
        "one_range": [min(times["one"]), max(times["one"])],
        "national_range": [min(times["national"]), max(times["national"])],
        "one_rounds": times["one"],
        "national_rounds": times["national"],
        "ratio_target": RATIO_TARGET,
        "queries_one": queries["one"],
        "queries_national": queries["national"],
        "groups_one": groups["one"],
        "groups_national": groups["national"],
        "naive_seconds": naive,
        "naive_rows": audience,
        "naive_ratio": naive / med["national"],
        "runs": args.runs,
    }


# --- 2. the inbox --------------------------------------------------------------------


def part_inbox(tree: dict, args) -> dict:
    from django.utils import timezone

    from accounts.models import Account, Role, Unit
    from notices import selectors
    from notices.models import Notice, NoticeTarget, Receipt, Status

    print(f"\n== 2. Inbox of a county account (load {load()}) ==")
    t0 = time.perf_counter()
    county = tree["county"]
    prefecture = county.parent
    province = prefecture.parent
    own = [tree["ministry"], province, prefecture, county]
    others = [p for p in tree["provinces"] if p.pk != province.pk]
    account = Account(
        username=f"{county.code}-s1",
        password="!",
        unit=county,
        role=Role.STAFF,
        must_change_password=False,
    )
    account.save()
    mgr = tree["manager"]
    now = timezone.now()
    year = timedelta(days=365)
    total = INBOX_VISIBLE + INBOX_HIDDEN
    notices, target_units = [], []
    every = total // INBOX_HIDDEN  # every sixth is for other provinces, interleaved in time
    for i in range(total):
        hidden = i % every == every - 1
        notices.append(
            Notice(
                author=mgr,
                author_unit=tree["ministry"],
                title=f"通知 {i}",
                body="",
                body_html="",
                status=Status.PUBLISHED,
                published_at=now - year * (i / total),
                levels="county,school",
                created_at=now - year * (i / total),
            )
        )
        target_units.append((others[i % len(others)] if hidden else own[i % len(own)],))
    visible_flags = [t[0] in own for t in target_units]
    n_visible = sum(visible_flags)
    if n_visible != INBOX_VISIBLE:  # keep exactly 10,000 visible and 2,000 hidden
        sys.exit(f"built {n_visible} visible notices, expected {INBOX_VISIBLE}")
    Notice.objects.bulk_create(notices, batch_size=2000)
    NoticeTarget.objects.bulk_create(
        [
            NoticeTarget(notice=n, unit=u, path=u.path)
            for n, units in zip(notices, target_units, strict=True)
            for u in units
        ],
        batch_size=2000,
    )
    visible = [n for n, v in zip(notices, visible_flags, strict=True) if v]
    Receipt.objects.bulk_create(
        [
            Receipt(
                notice=n,
                account=account,
                unit=county,
                unit_path=county.path,
                read_at=n.published_at + timedelta(hours=1),
            )
            for n in visible[::3]
        ],
        batch_size=2000,
    )
    analyze()
    n_read = len(visible[::3])
    account = Account.objects.select_related("unit").get(pk=account.pk)
    print(
        f"setup: {county} ({Unit.objects.get(pk=county.pk).path}); {INBOX_VISIBLE:,} notices "
        f"to it, its prefecture, province or the Ministry (levels county,school) and "
        f"{INBOX_HIDDEN:,} to other provinces, over a year; {n_read:,} receipts "
        f"({time.perf_counter() - t0:.1f} s, not timed below)"
    )

    # Right data first.
    first_page = [n.pk for n in selectors.inbox(account=account)[:20]]
    expected = [n.pk for n in sorted(visible, key=lambda n: (n.published_at, n.pk), reverse=True)]
    read_pks = {n.pk for n in visible[::3]}
    unread_expected = [n.pk for n in visible if n.pk not in read_pks]
    if first_page != expected[:20]:
        sys.exit("the inbox's first page is not the 20 newest notices the account receives")
    if selectors.inbox(account=account).count() != INBOX_VISIBLE:
        sys.exit(f"the inbox holds {selectors.inbox(account=account).count()} notices")
    unread = selectors.unread_count(account)
    if unread != INBOX_VISIBLE - n_read or unread != len(unread_expected):
        sys.exit(f"unread_count is {unread}, expected {INBOX_VISIBLE - n_read}")
    unread_page = list(selectors.inbox(account=account, flt="unread")[:20])
    if any(n.is_read for n in unread_page) or len(unread_page) != 20:
        sys.exit("the unread filter shows a read notice")

    tree["inbox_account"] = account
    return {"visible": INBOX_VISIBLE, "hidden": INBOX_HIDDEN, **time_inbox(account, args)}


def time_inbox(account, args) -> dict:
    """Time the inbox's first page, its unread page and the unread count, and the floor."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notices import selectors
    from notices.models import Notice, Receipt

    runs = args.inbox_runs
    page, page_t = median_of(lambda: list(selectors.inbox(account=account)[:20]), runs)
    unread_p, unread_t = median_of(
        lambda: list(selectors.inbox(account=account, flt="unread")[:20]), runs
    )
    unread = selectors.unread_count(account)
    count, count_t = median_of(lambda: selectors.unread_count(account), runs)

    def bare():
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM notices_notice ORDER BY published_at DESC LIMIT 20")
            cursor.fetchall()

    floor, floor_t = median_of(bare, runs)
    with CaptureQueriesContext(connection) as ctx:
        list(selectors.inbox(account=account)[:20])
    page_sql = ctx.captured_queries[-1]["sql"]

    def raw_page():
        with connection.cursor() as cursor:
            cursor.execute(page_sql)
            cursor.fetchall()

    raw, raw_t = median_of(raw_page, runs)
    print(
        f"floor  SELECT id FROM notices_notice ORDER BY published_at DESC LIMIT 20 "
        f"({Notice.objects.count():,} notices, {Receipt.objects.count():,} receipts in all): "
        f"{ms(floor)} (median of {runs}; {spread(floor_t)})"
    )
    for label, value, values in (
        ("inbox(account)[:20], first page", page, page_t),
        ('inbox(account, flt="unread")[:20]', unread_p, unread_t),
        (f"unread_count(account) = {unread:,}", count, count_t),
    ):
        print(
            f"ours   {label}: {ms(value)} (median of {runs}; {spread(values)}) = "
            f"{times_x(value / floor)} the floor"
        )
        if label.endswith("first page"):
            print(
                f"       of which the page's SQL, run raw (no ORM): {ms(raw)} "
                f"(median of {runs}; {spread(raw_t)})"
            )
    if args.explain:
        explain("inbox first page", lambda: list(selectors.inbox(account=account)[:20]))
        explain(
            "inbox unread page",
            lambda: list(selectors.inbox(account=account, flt="unread")[:20]),
        )
        explain("unread_count", lambda: selectors.unread_count(account))
    return {
        "page_seconds": page,
        "unread_page_seconds": unread_p,
        "unread_count_seconds": count,
        "floor_seconds": floor,
        "runs": runs,
    }


# --- 3. statistics ---------------------------------------------------------------------


def part_stats(tree: dict, args) -> dict:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Account, Unit
    from notices import selectors, services
    from notices.models import AudienceTally, Receipt, ReceiptTally

    print(f"\n== 3. Statistics of a national notice (load {load()}) ==")
    pg = connection.vendor == "postgresql"
    wanted = args.stats_receipts
    if wanted is None:
        wanted = 1_000_000 if pg else 200_000
        if not pg:
            print(
                f"SQLite: {wanted:,} receipts by default (--stats-receipts 1000000 for the "
                "full size, which takes much longer here)"
            )
    n_school = tree["schools"]
    per_school = max(1, math.ceil(wanted / n_school))
    mgr = tree["manager"]
    t0 = time.perf_counter()
    if per_school > 1:
        with transaction.atomic():
            schools = Unit.objects.filter(level="school").values_list("pk", "code")
            for chunk in batched(schools.iterator(chunk_size=BATCH), BATCH // per_school):
                Account.objects.bulk_create(
                    [
                        staff_account(pk, code, n)
                        for pk, code in chunk
                        for n in range(2, per_school + 1)
                    ],
                    batch_size=2000,
                )
    accounts_s = time.perf_counter() - t0
    notice = services.notice_save(
        actor=mgr,
        title="全国学籍核查通知",
        body="请各校于本月底前完成学籍核查。",
        priority="urgent",
        requires_ack=True,
        ack_deadline=None,
        publish_at=None,
        target_codes=[p.code for p in tree["provinces"]],
        levels=["school"],
        managers_only=False,
    )
    services.notice_publish(actor=mgr, notice=notice)
    audience = selectors.audience_accounts(notice)
    total = audience.count()
    if wanted > total:
        sys.exit(f"{wanted:,} receipts asked for, but the audience holds only {total:,}")

    # Exactly `wanted` receipts spread evenly over the audience (in id order), 10% acked.
    t1 = time.perf_counter()
    units_read: set[int] = set()
    made = 0
    rows = audience.order_by("pk").values_list("pk", "unit_id", "unit__path")
    now = notice.published_at
    with transaction.atomic():
        for chunk in batched(enumerate(rows.iterator(chunk_size=BATCH)), BATCH):
            receipts = []
            for i, (pk, unit_id, path) in chunk:
                if (i + 1) * wanted // total == i * wanted // total:
                    continue
                acked = made % 10 == 0
                receipts.append(
                    Receipt(
                        notice=notice,
                        account_id=pk,
                        unit_id=unit_id,
                        unit_path=path,
                        read_at=now,
                        acked_at=now if acked else None,
                        reply="已完成" if acked else "",
                    )
                )
                units_read.add(unit_id)
                made += 1
            Receipt.objects.bulk_create(receipts, batch_size=5000)
        # Receipts written in bulk bypass the services that keep the counters: count
        # them once here, as the migration does for receipts written before it.
        ReceiptTally.objects.bulk_create(
            [
                ReceiptTally(notice=notice, path=path, read=r, acked=a, units_read=u)
                for path, (r, a, u) in selectors.receipt_tallies_recounted(notice).items()
            ],
            batch_size=5000,
        )
    receipts_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    analyze()
    analyze_s = time.perf_counter() - t2
    n_acked = (made + 9) // 10
    print(
        f"setup: {per_school - 1} more staff account(s) per school "
        f"({(per_school - 1) * n_school:,}) in {accounts_s:.1f} s; audience {total:,} accounts; "
        f"{made:,} receipts ({n_acked:,} acknowledged) in {receipts_s:.1f} s"
        + (f"; ANALYZE {analyze_s:.1f} s" if pg else "")
        + " (not timed below)"
    )

    ministry = tree["ministry"]
    province = tree["provinces"][0]
    county = tree["county"]
    # Right data first.
    whole, rows_by_province = selectors.stats(notice=notice, unit=ministry)
    got = (whole.accounts, whole.read, whole.acked, whole.units, whole.units_read)
    want = (total, made, n_acked, n_school, len(units_read))
    if got != want or len(rows_by_province) != PROVINCES:
        sys.exit(
            f"stats(Ministry) gave (accounts, read, acked, units, units read) = {got} in "
            f"{len(rows_by_province)} rows, expected {want} in {PROVINCES}"
        )

    if selectors.receipt_tallies(notice) != selectors.receipt_tallies_recounted(notice):
        sys.exit("the counters differ from a recount of the receipts")
    exact = exact_stats(notice=notice, unit=ministry)
    if [counts(r) for r in rows_by_province] != exact:
        sys.exit("stats(Ministry) per province differs from an exact count of the receipts")

    def floor_query():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM notices_receipt WHERE notice_id = %s", [notice.pk])
            return cursor.fetchone()[0]

    client = stats_client(mgr)
    url = f"/notices/{notice.pk}/stats/"

    def page(code=None):
        response = client.get(url, {"unit": code} if code else {})
        if response.status_code != 200:
            sys.exit(f"GET {url} answered {response.status_code}")
        return response

    body = page().content.decode()
    if f'id="total-read">{made}<' not in body or f'id="total-accounts">{total}<' not in body:
        sys.exit("the statistics page does not show the receipts and the audience")

    # Interleaved rounds: in each, every variant once (after one warm-up of each), so
    # drift in the machine's load falls on all alike; medians and ranges over rounds.
    variants = {
        "floor": ("floor  SELECT count(*) FROM notices_receipt WHERE notice_id = …", floor_query),
        "ministry": (
            f"ours   stats({ministry})",
            lambda: selectors.stats(notice=notice, unit=ministry),
        ),
        "ministry_page": (f"ours   GET {url} (the Ministry, whole page)", page),
        "province": (
            f"ours   stats({province})",
            lambda: selectors.stats(notice=notice, unit=province),
        ),
        "province_page": (f"ours   GET {url}?unit={province.code}", lambda: page(province.code)),
        "county": (f"ours   stats({county})", lambda: selectors.stats(notice=notice, unit=county)),
        "county_page": (f"ours   GET {url}?unit={county.code}", lambda: page(county.code)),
    }
    for _label, fn in variants.values():
        fn()
    rounds = args.stats_runs
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for key, (_label, fn) in variants.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["floor"]
    print(
        f"{rounds} interleaved rounds after a warm-up; median (range) wall time, and this "
        "process's CPU (Python) median; the database's CPU is the rest"
    )
    results = {"receipts": made, "accounts": total, "floor_seconds": floor, "runs": rounds}
    for key, (label, _fn) in variants.items():
        ratio = "" if key == "floor" else f" = {med[key] / floor:,.1f}x the floor"
        print(
            f"{label}: {ms(med[key])} ({spread(times[key])}; Python CPU "
            f"{ms(statistics.median(cpu[key]))}){ratio}"
        )
        results[f"{key}_seconds"] = med[key]
        results[f"{key}_range"] = [min(times[key]), max(times[key])]
    for unit in (ministry, province, county):
        with CaptureQueriesContext(connection) as ctx:
            total_row, listed = selectors.stats(notice=notice, unit=unit)
        per_query = ", ".join(
            f"{kind} {float(q['time']) * 1e3:,.0f} ms"
            for kind, q in ((query_kind(q["sql"]), q) for q in ctx.captured_queries)
            if kind
        )
        print(
            f"       stats({unit}): {len(listed)} rows; {total_row.accounts:,} accounts, "
            f"{total_row.read:,} read, {total_row.acked:,} acked, {total_row.units:,} units; "
            f"{len(ctx.captured_queries)} queries ({per_query})"
        )
        if args.explain:
            explain(f"stats({unit})", lambda u=unit: selectors.stats(notice=notice, unit=u))
    for code in (None, province.code):
        with CaptureQueriesContext(connection) as ctx:
            page(code)
        if args.explain:
            explain(f"GET ?unit={code or ''}", lambda c=code: page(c))
        slow = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:4]
        print(
            f"       GET ?unit={code or ''}: {len(ctx.captured_queries)} queries; slowest "
            + ", ".join(f"{float(q['time']) * 1e3:,.0f} ms" for q in slow)
        )
    # The audience recount (AudienceTally, at most every AUDIENCE_MAX_AGE): timed apart.
    recount = []
    for _ in range(rounds):
        AudienceTally.objects.filter(notice=notice).delete()
        t0 = time.perf_counter()
        selectors.audience_counted(notice)
        recount.append(time.perf_counter() - t0)
    print(
        f"       the audience recount behind it (once per {selectors.AUDIENCE_MAX_AGE} per "
        f"notice, in the request that finds it stale): {ms(statistics.median(recount))} "
        f"({spread(recount)})"
    )
    results["audience_recount_seconds"] = statistics.median(recount)
    return results


def counts(row) -> tuple:
    return (row.accounts, row.read, row.acked, row.units, row.units_read)


def exact_stats(*, notice, unit) -> list[tuple]:
    """Per child of `unit`, counted from the tree and the receipts directly."""
    from notices import selectors

    return [v for _k, v in sorted(selectors.stats_recount(notice=notice, unit=unit).items())]


def stats_client(account):
    """A test Client logged in as `account`: the whole request (session, middleware,
    context processors, template), as a browser's would be served."""
    from django.conf import settings
    from django.test import Client

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(account)
    return client


def query_kind(sql: str) -> str:
    """A short name for one of stats()'s grouped queries (empty for the small ones)."""
    if "GROUP BY" not in sql:
        return ""
    if 'FROM "notices_receipt"' in sql:
        return "receipts"
    if 'FROM "notices_receipttally"' in sql:
        return "read counters"
    if 'FROM "notices_audiencetally"' in sql:
        return "audience counts"
    if 'FROM "accounts_account"' in sql:
        return "accounts"
    return "units"


def explain(label: str, fn) -> None:
    """Print the plan of every query fn() runs: EXPLAIN ANALYZE on PostgreSQL, EXPLAIN
    QUERY PLAN on SQLite (the SQL is the one the ORM sent, literals inlined)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    pg = connection.vendor == "postgresql"
    for q in ctx.captured_queries:
        sql = q["sql"]
        if not sql.lstrip().upper().startswith("SELECT") or (
            "GROUP BY" not in sql and "LIMIT" not in sql and "COUNT(" not in sql.upper()
        ):
            continue
        short = sql if len(sql) <= 300 else sql[:300] + " …"
        print(f"-- plan: {label} ({float(q['time']) * 1e3:,.1f} ms)\n   {short}")
        with connection.cursor() as cursor:
            cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN ") + sql)
            for row in cursor.fetchall():
                print("   " + (row[0] if pg else row[-1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--schools-per-county",
        type=int,
        default=100,
        help="100 = 300,000 schools (the issue's size); 5 for a quick try",
    )
    parser.add_argument(
        "--rounds",
        "--runs",
        dest="runs",
        type=int,
        default=7,
        help="interleaved publishing rounds (each: one school, national, Ministry; at least 5)",
    )
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--inbox-runs", type=int, default=20)
    parser.add_argument(
        "--stats-runs", type=int, default=5, help="interleaved rounds of part 3 (at least 3)"
    )
    parser.add_argument(
        "--stats-receipts",
        type=int,
        default=None,
        help="receipts of the national notice (default 1,000,000 on PostgreSQL, 200,000 on SQLite)",
    )
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13")
    parser.add_argument("--explain", action="store_true", help="also print the query plans")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with fresh_database() as db:
        print("\n== Notices: publishing, inbox and statistics at national scale ==")
        tree = build_tree(args.schools_per_county)
        analyze()
        results = {
            "database": db,
            "schools": tree["schools"],
            "setup_seconds": tree["setup_seconds"],
        }
        if "1" in args.parts:
            results["publish"] = part_publish(tree, args)
        if "2" in args.parts:
            results["inbox"] = part_inbox(tree, args)
        if "3" in args.parts:
            results["stats"] = part_stats(tree, args)
        if "inbox_account" in tree and "3" in args.parts:
            print(
                f"\n== 2b. The same inbox again, now that notices_receipt also holds part 3's "
                f"receipts (load {load()}) =="
            )
            results["inbox_after_stats"] = time_inbox(tree["inbox_account"], args)
        elapsed = time.perf_counter() - started
        print(f"\nwhole run: {fmt_duration(elapsed)}; load average now {load()}")
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
