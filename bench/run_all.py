"""Run every benchmark, each in its own process on its own fresh database, then summarise.

    .venv/bin/python bench/run_all.py                 # SQLite + embedded Redis, in a temp dir
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/run_all.py             # a throwaway bench_<pid> database there

Exits non-zero only when a benchmark fails to run; timings are reported, never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import fmt_duration

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["issuance.py", "tree_import.py"]


def main() -> int:
    results, failed = {}, []
    with tempfile.TemporaryDirectory(prefix="xj-bench-results-") as tmp:
        for name in BENCHMARKS:
            out = Path(tmp) / f"{name}.json"
            proc = subprocess.run(
                [sys.executable, str(HERE / name), "--json", str(out)], check=False
            )
            if proc.returncode != 0 or not out.exists():
                failed.append(f"{name} (exit {proc.returncode})")
                continue
            results[name] = json.loads(out.read_text())
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
                f"same with {r['hasher'].split()[0]} (default hasher)",
                f"{fmt_duration(r['peer_extrapolated_seconds'])} ({r['peer_per_second']:.2f}/s)",
                f"extrapolated from {r['peer_sample']}",
            ),
            ("  ratio ours / default hasher", f"{r['ratio']:,.0f}x", ""),
            (
                "first log-in: initial_code_consume",
                fmt_duration(r["consume_mean_seconds"]),
                f"mean of {r['consume_sample']}",
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
    if results:
        print(f"database: {db['backend']} ({db['version']})")
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
