"""Publishes --count notices, one every --every seconds, through the notices services
(stored, events published after commit), from a process of its own: the overload
benchmark's events. Each title carries "t=<perf_counter_ns> k=<index>" (the system-wide
monotonic clock, so the load generator can compute each delivery's latency).
Prints one JSON object: {"published": n}.

Run by run.py with the platform's environment (DATABASE_URL, REDIS_URL, SECRET_KEY).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from accounts.models import Account  # noqa: E402
from notices import services  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--author", required=True, help="username of a manager")
    p.add_argument("--to", required=True, help="a unit code")
    p.add_argument("--level", default="school")
    p.add_argument("--every", type=float, default=1.0)
    p.add_argument("--count", type=int, default=10)
    args = p.parse_args()
    author = Account.objects.select_related("unit").get(username=args.author)
    start, k = time.monotonic(), 0
    while k < args.count:
        notice = services.notice_save(
            actor=author,
            title=f"基准通知 t={time.perf_counter_ns()} k={k}",
            body="基准测试。",
            priority="normal",
            requires_ack=False,
            ack_deadline=None,
            publish_at=None,
            managers_only=False,
            files=(),
            target_codes=[args.to],
            levels=[args.level],
        )
        services.notice_publish(actor=author, notice=notice)
        k += 1
        time.sleep(max(0.0, start + k * args.every - time.monotonic()))
    json.dump({"published": k}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
