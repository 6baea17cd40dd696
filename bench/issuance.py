"""Bulk issuance of one province's school accounts, against Django's default password hasher.

Claim: a province manager issues one account for each of the province's 15,000
schools (10 prefectures × 15 counties × 100 schools) in under 30 s on this machine,
because an initial code is stored as a keyed HMAC (`services.initial_code_digest`)
and not run through the deliberately slow password hasher.

Measured, on a fresh database set up for this run alone (see _harness.py):

1. ours: `services.accounts_issue_bulk(scope="schools", roles="staff")` for the whole
   province: wall time, accounts/s, against the 30 s ceiling.
2. the peer: the same kind of account created with `make_password(code)` (Django's
   default hasher, PBKDF2-SHA256) + `Account.objects.create`, in one transaction.
   Too slow for 15,000, so it runs on a sample and the time for 15,000 is
   extrapolated from it (and printed as such). The peer writes only the account
   row (no initial-code row, audit row or credential sheet), so it is a lower
   bound on what a hasher-based issuance would cost and the ratio is conservative.
3. the first log-in check: `services.initial_code_consume` with a live code, each
   call on a different freshly issued account (digest, conditional UPDATE, account
   UPDATE, audit INSERT, in one transaction), against `check_password` with the
   default hasher (the hash alone, no database).

Run: .venv/bin/python bench/issuance.py   (or bench/run_all.py for both benchmarks)
"""

from __future__ import annotations

import argparse
import sys
import time

from _harness import fill_province, fmt_duration, fresh_database, mean_time, write_json

CEILING_S = 30.0
PREFECTURES = 10
COUNTIES_PER_PREFECTURE = 15


def build_province(schools_per_county: int):
    """Ministry → 基准省 (990000) → prefectures → counties → schools, one bulk insert per level."""
    from accounts import services
    from accounts.models import Level

    ministry = services.ministry_ensure()
    province = services.unit_create(
        level=Level.PROVINCE, code="990000", name="基准省", parent=ministry
    )
    prefectures, counties, schools = fill_province(
        province,
        prefectures=PREFECTURES,
        counties_per_prefecture=COUNTIES_PER_PREFECTURE,
        schools_per_county=schools_per_county,
    )
    return province, len(prefectures), len(counties), len(schools)


def run(args) -> dict:
    from django.contrib.auth.hashers import check_password, get_hasher, make_password
    from django.db import transaction

    from accounts import services
    from accounts.models import Account, InitialCode, Role, Unit

    print("\n== Bulk issuance of one province's school accounts ==")
    t0 = time.perf_counter()
    province, n_pref, n_county, n_school = build_province(args.schools_per_county)
    mgr = Account(username="990000-m1", unit=province, role=Role.MANAGER)
    mgr.set_unusable_password()
    mgr.save()
    print(
        f"setup: {province}: {n_pref} prefectures, {n_county} counties, {n_school:,} schools, "
        f"and a province manager (built in {time.perf_counter() - t0:.1f} s, not timed below)"
    )

    # 1. ours -------------------------------------------------------------------
    t0 = time.perf_counter()
    result = services.accounts_issue_bulk(actor=mgr, root=province, scope="schools", roles="staff")
    ours_s = time.perf_counter() - t0
    issued = len(result.rows)
    if issued != n_school or InitialCode.objects.filter(batch=result.batch).count() != n_school:
        sys.exit(f"expected {n_school} accounts with a code each, got {issued}")
    ours_rate = issued / ours_s
    verdict = "within" if ours_s < CEILING_S else "OVER"
    print(
        f"ours   accounts_issue_bulk(scope=schools, roles=staff): {issued:,} accounts "
        f"in {ours_s:.2f} s = {ours_rate:,.0f} accounts/s\n"
        f"       ceiling {CEILING_S:.0f} s for a province: {verdict} it "
        f"({ours_s / CEILING_S:.0%} of the ceiling)"
    )

    # 2. the peer: Django's default password hasher -------------------------------
    hasher = get_hasher("default")
    n_peer = args.peer_sample
    sample_units = list(Unit.objects.filter(level="school").order_by("path")[:n_peer])
    codes = [services.initial_code_normalize(services.initial_code_new()) for _ in sample_units]
    t0 = time.perf_counter()
    with transaction.atomic():
        for unit, code in zip(sample_units, codes, strict=True):
            Account.objects.create(
                username=f"{unit.code}-p1",
                password=make_password(code),
                unit=unit,
                role=Role.STAFF,
                must_change_password=True,
                issued_by=mgr,
            )
    peer_s = time.perf_counter() - t0
    peer_rate = n_peer / peer_s
    peer_full_s = n_school / peer_rate
    print(
        f"peer   make_password ({hasher.algorithm}, {hasher.iterations:,} iterations, Django's "
        f"default) + Account.objects.create:\n"
        f"       {n_peer} accounts in {peer_s:.2f} s = {peer_rate:.2f} accounts/s\n"
        f"       {n_school:,} accounts at that rate: {fmt_duration(peer_full_s)} "
        f"-- EXTRAPOLATED from the {n_peer} measured accounts, not run"
    )
    ratio = ours_rate / peer_rate
    print(f"ratio  ours / peer accounts per second: {ratio:,.0f}x")

    # 3. the first log-in check ------------------------------------------------------
    n_consume = min(args.consume_sample, issued)
    step = max(1, issued // n_consume)
    rows = result.rows[::step][:n_consume]
    by_name = Account.objects.in_bulk([r.username for r in rows], field_name="username")
    pairs = [(by_name[r.username], r.code) for r in rows]
    spent = []
    consume_s = mean_time(
        lambda i: spent.append(
            services.initial_code_consume(account=pairs[i][0], code=pairs[i][1])
        ),
        n_consume,
    )
    if not all(spent):
        sys.exit(f"only {sum(spent)} of {n_consume} live initial codes were accepted")
    n_digest = 10_000
    digest_s = mean_time(lambda i: services.initial_code_digest(codes[i % n_peer]), n_digest)
    n_check = args.check_sample
    encoded = Account.objects.get(username=f"{sample_units[0].code}-p1").password
    check_s = mean_time(lambda i: check_password(codes[0], encoded), n_check)
    print(
        "first log-in check\n"
        f"ours   initial_code_consume (HMAC-SHA256 + conditional UPDATE + audit row, "
        f"one transaction), mean of {n_consume} accounts: {fmt_duration(consume_s)}\n"
        f"       of which the digest alone (initial_code_digest, mean of {n_digest:,}): "
        f"{fmt_duration(digest_s)}\n"
        f"peer   check_password ({hasher.algorithm}, {hasher.iterations:,} iterations, hash only), "
        f"mean of {n_check} calls: {fmt_duration(check_s)}\n"
        f"ratio  peer / ours time per check: {check_s / consume_s:,.0f}x"
    )
    return {
        "schools": n_school,
        "ours_seconds": ours_s,
        "ours_per_second": ours_rate,
        "ceiling_seconds": CEILING_S,
        "peer_sample": n_peer,
        "peer_seconds": peer_s,
        "peer_per_second": peer_rate,
        "peer_extrapolated_seconds": peer_full_s,
        "ratio": ratio,
        "consume_mean_seconds": consume_s,
        "consume_sample": n_consume,
        "digest_mean_seconds": digest_s,
        "check_password_mean_seconds": check_s,
        "check_sample": n_check,
        "hasher": f"{hasher.algorithm} {hasher.iterations}",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools-per-county", type=int, default=100)
    parser.add_argument("--peer-sample", type=int, default=40)
    parser.add_argument("--consume-sample", type=int, default=200)
    parser.add_argument("--check-sample", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    with fresh_database() as db:
        results = {"database": db, **run(args)}
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
