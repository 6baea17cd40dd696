"""A writer process for test_event_order.py (not a test module): it publishes events
in transactions that wait a random moment before committing, some rolling back.

    python -m tests.core.event_writer <writer> <transactions> <group> [<group> …]

Environment: DATABASE_URL (the test database), CHANNEL_PREFIX. It prints `ready`,
waits for a line on stdin (so all writers start together), then prints one JSON line:
{"committed": [[writer, i, event id], …], "rolled_back": [[writer, i], …]}.
"""

import json
import os
import random
import sys
import time


class RolledBack(Exception):
    pass


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.db import connection, transaction

    from core import events

    # A prefix of the test's own: these pushes must reach no other run's sockets.
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["CHANNEL_PREFIX"]
    writer, count, groups = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    rng = random.Random(writer)
    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    committed, rolled_back = [], []
    for i in range(count):
        try:
            with transaction.atomic():
                [event] = events.publish_many([("test.order", {"w": writer, "i": i}, groups)])
                # Other writers insert and commit meanwhile: ids commit out of order.
                time.sleep(rng.uniform(0, 0.03))
                if rng.random() < 0.25:
                    raise RolledBack
            committed.append([writer, i, event.pk])
        except RolledBack:
            rolled_back.append([writer, i])
    print(json.dumps({"committed": committed, "rolled_back": rolled_back}), flush=True)
    connection.close()


if __name__ == "__main__":
    main()
