"""Ticket creation over HTTP on the django-helpdesk peer alone.

Prepares the peer (helpdesk_peer/setup.py: its venv, a fresh database, a queue and a
staff user), serves it with one daphne process on a free loopback port, lets
--clients logged-in staff clients create --tickets tickets through the package's own
staff form, prints the figures, stops daphne, and checks that the database holds
exactly the tickets the server accepted. Figures only; exits non-zero when the peer
cannot be set up or served, or when the ticket count does not match.

Run: .venv/bin/python bench/tickets/helpdesk_only.py [--tickets 2000] [--clients 8]
(needs psycopg, which the platform's .venv has, for the final count.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
from helpdesk_peer import setup as peer  # noqa: E402


def peer_env() -> dict[str, str]:
    # Only what daphne needs: the platform's own settings (DATABASE_URL, DEBUG, ...)
    # must not leak into the peer's process.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    return env | {
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "settings",
        "HELPDESK_DATABASE_URL": peer.database_url(),
        **{
            k: os.environ[k]
            for k in ("HELPDESK_CONN_MAX_AGE", "HELPDESK_DB_POOL")
            if k in os.environ
        },
    }


def ticket_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM helpdesk_ticket").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--keep-database", action="store_true", help="do not reset the peer's database first"
    )
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()

    info = peer.prepare(reset=not args.keep_database)
    before = ticket_count(info["database_url"])
    print(f"machine: {os.cpu_count()} CPUs, load average {_load()}")
    with tempfile.TemporaryDirectory(prefix="xj-bench-helpdesk-") as tmp:
        log = Path(tmp) / "daphne.log"
        try:
            with loadgen.daphne_server(
                info["daphne"],
                info["app"],
                cwd=info["cwd"],
                env=peer_env(),
                log=log,
                ready_path=loadgen.HELPDESK_LOGIN,
            ) as (base_url, proc):
                print(f"serving: daphne pid {proc.pid} at {base_url}")
                profile = loadgen.helpdesk_profile(base_url, info["username"], info["password"])
                result = loadgen.run(
                    profile, tickets=args.tickets, clients=args.clients, server_pid=proc.pid
                )
        except loadgen.LoadError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        server_errors = log.read_text(errors="replace").count("Traceback")

    created = ticket_count(info["database_url"]) - before
    result["created_in_database"] = created
    print(loadgen.format_result(result))
    print(
        f"log-in of {args.clients} clients (not timed): {result['login_seconds']:.2f} s; "
        f"load average after: {_load()}"
    )
    print(f"tickets created in the database: {created} (server accepted {result['count']})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    if created != result["count"]:
        print("FAILED: the database does not hold the tickets the server accepted", file=sys.stderr)
        return 1
    if server_errors:
        print(f"note: {server_errors} traceback(s) in daphne's log", file=sys.stderr)
    return 0


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
