"""Prepare the django-helpdesk peer: its own virtualenv, its database, one queue and
one staff user who can log in. Idempotent; says what it did.

    python3 bench/tickets/helpdesk_peer/setup.py            # create what is missing
    python3 bench/tickets/helpdesk_peer/setup.py --reset    # and start from an empty database

Not a setuptools script. Any python3 can run it: the virtualenv step uses only the
standard library, and the database step (psycopg, Django, the helpdesk models) runs
again inside the peer's venv, so nothing of the peer ever lands in the platform's
.venv. The database is HELPDESK_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/bench_helpdesk); it is created on that server,
through its `postgres` database, when missing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VENV = Path(os.environ.get("HELPDESK_VENV", ROOT / "var" / "bench-helpdesk-venv"))
PYTHON = VENV / "bin" / "python"
DAPHNE = VENV / "bin" / "daphne"
REQUIREMENTS = HERE / "requirements.txt"
# Which requirements.txt the venv was built from: a changed pin rebuilds it.
STAMP = VENV / ".bench-requirements.sha256"

USERNAME = "bench-staff"
PASSWORD = "bench-staff-password"  # noqa: S105 (a throwaway account on a throwaway database)
QUEUE_SLUG = "bench"
QUEUE_TITLE = "Bench queue"


def database_url() -> str:
    return os.environ.get(
        "HELPDESK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_helpdesk"
    )


def ensure_venv() -> None:
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        print(f"venv: {VENV} is up to date")
        return
    if not PYTHON.exists():
        print(f"venv: creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)  # noqa: S603
    print(f"venv: installing {REQUIREMENTS.name} (the configured package index only)")
    subprocess.run(  # noqa: S603
        [str(PYTHON), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True
    )
    STAMP.write_text(want + "\n")


def prepare(reset: bool = False, users: int = 0) -> dict:
    """Everything the peer needs before daphne can serve it; returns how to reach it.
    `users`: that many extra active Django users in the database (bulk-inserted,
    one shared password hash), as a site with that many accounts has."""
    ensure_venv()
    argv = [str(PYTHON), str(Path(__file__).resolve()), "--database-step"]
    extra = [*(["--reset"] if reset else []), *(["--users", str(users)] if users else [])]
    subprocess.run([*argv, *extra], check=True, cwd=HERE)  # noqa: S603
    return {
        "daphne": str(DAPHNE),
        "cwd": str(HERE),
        "app": "asgi:application",
        "database_url": database_url(),
        "username": USERNAME,
        "password": PASSWORD,
    }


# --- The part below runs inside the peer's venv, from this directory. ---------------


def _ensure_database(reset: bool) -> None:
    import psycopg
    from psycopg import sql

    url = database_url()
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reset:
            # FORCE: a daphne left over from an interrupted run must not block the reset.
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            print(f"database: dropped {name}")
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"database: created {name} on {parts.hostname}:{parts.port or 5432}")
        else:
            print(f"database: {name} exists, kept")


def _ensure_data(users: int = 0) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from helpdesk.models import Queue, Ticket

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    call_command("migrate", verbosity=0)
    print(f"migrate: applied {len(pending)} migration(s)")

    queue, created = Queue.objects.get_or_create(
        slug=QUEUE_SLUG, defaults={"title": QUEUE_TITLE, "allow_public_submission": False}
    )
    print(f"queue: {'created' if created else 'kept'} '{queue.slug}' (id {queue.pk})")

    # is_staff is what django-helpdesk checks (HELPDESK_ALLOW_NON_STAFF_TICKET_UPDATE is
    # off by default); not a superuser, so no admin-only shortcut is taken.
    user, created = get_user_model().objects.get_or_create(
        username=USERNAME, defaults={"email": "bench-staff@example.invalid", "is_staff": True}
    )
    if created or not user.is_staff or not user.check_password(PASSWORD):
        user.is_staff = True
        user.set_password(PASSWORD)
        user.save()
        print(f"user: {'created' if created else 'reset'} staff user '{USERNAME}'")
    else:
        print(f"user: staff user '{USERNAME}' kept")
    if users:
        _ensure_users(users)
    print(f"tickets in the database: {Ticket.objects.count()}")


def _ensure_users(users: int) -> None:
    """Active users bench-user-00001… up to `users` of them, bulk-inserted."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    model = get_user_model()
    have = model.objects.filter(username__startswith="bench-user-").count()
    if have >= users:
        print(f"users: {have:,} bench users kept")
        return
    password = make_password("bench-user-password")
    model.objects.bulk_create(
        [
            model(username=f"bench-user-{k:05d}", email=f"u{k}@example.invalid", password=password)
            for k in range(have + 1, users + 1)
        ],
        batch_size=5000,
    )
    print(f"users: {users - have:,} bench users created ({users:,} in all)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reset", action="store_true", help="drop and recreate the database")
    parser.add_argument("--users", type=int, default=0, help="extra active users to hold")
    parser.add_argument("--database-step", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.database_step:
        _ensure_database(args.reset)
        _ensure_data(args.users)
    else:
        info = prepare(reset=args.reset, users=args.users)
        print(
            f"ready: cd {info['cwd']} && {info['daphne']} -b 127.0.0.1 -p 8010 {info['app']}"
            f"  (log in as {info['username']} / {info['password']})"
        )


if __name__ == "__main__":
    main()
