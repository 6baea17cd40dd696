"""The knowledge base's search methods measured on tests/kb/ (219 questions, 50
articles): recall@5, precision@5, MRR, hit@1 of each method of kb/search.py, printed as
the table of docs/kb-search.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/kb_search.py
    .venv/bin/python bench/kb_search.py          # SQLite: the "tokens" fallback only

A throwaway database (bench/_harness.py); on PostgreSQL pg_trgm is created there for the
trigram methods.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import fresh_database  # noqa: E402


def main(argv: list[str]) -> int:
    out = argv[argv.index("--json") + 1] if "--json" in argv else None
    with fresh_database() as db:
        from django.db import connection

        from accounts import services as account_services
        from accounts.models import Account
        from tests.kb import quality

        methods = ["tokens"]
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            methods = ["fts", "trgm", "combo", "tokens"]
        ministry = account_services.ministry_ensure()
        author = Account.objects.create(username="kb-bench", unit=ministry)
        keys = quality.install(ministry, author)
        rows = []
        runs = [(m, 0.0) for m in methods] + [(m, c) for m in methods for c in (0.3, 0.5)]
        for method, cutoff in runs:
            t0 = time.perf_counter()
            row = quality.evaluate(method, keys, cutoff=cutoff)
            row["ms_per_question"] = (time.perf_counter() - t0) * 1000 / row["questions"]
            rows.append(row)
        print(f"\n{len(keys)} articles, {rows[0]['questions']} questions, {db['backend']}\n")
        print(
            "| method | recall@5 | precision@5 | precision of shown | MRR | hit@1 | no result | ms/question |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['method']} | {r['recall@5']:.3f} | {r['precision@5']:.3f} | "
                f"{r['shown_precision']:.3f} | {r['mrr']:.3f} | {r['hit@1']:.3f} | "
                f"{r['no_result']} | {r['ms_per_question']:.1f} |"
            )
        if out:
            Path(out).write_text(json.dumps({"backend": db["backend"], "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
