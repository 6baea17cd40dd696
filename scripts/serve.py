"""`make serve`: the production shape on this machine — WEB_PROCESSES web processes
(default: one per core) behind HAProxy, a Celery worker and beat — until Ctrl-C.

    make serve                               # on DATABASE_URL / REDIS_URL
    make serve WEB_PROCESSES=4 PORT=8080 DEMO=1
    make serve-restart                       # a rolling restart of the running shape
    .venv/bin/python scripts/serve.py --print-haproxy-config --servers 10.0.0.5:8001,10.0.0.5:8002

It migrates, collects the static files and (with DEMO=1) loads the demo data, then
hands the processes to scripts/shape.py, which restarts a process that dies and drains
one before a planned restart (docs/deployment.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import asgi_servers  # noqa: E402  (scripts/ is on the path: this file's folder)
import run_platform  # noqa: E402
import shape  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["start", "restart"], default="start")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument(
        "--processes", type=int, default=int(os.environ.get("WEB_PROCESSES") or os.cpu_count())
    )
    parser.add_argument("--server", choices=asgi_servers.SERVERS, default=asgi_servers.chosen())
    parser.add_argument("--demo", action="store_true", default=os.environ.get("DEMO") == "1")
    parser.add_argument("--print-haproxy-config", action="store_true")
    parser.add_argument(
        "--servers",
        default="",
        help="host:port,… of the web processes (with --print-haproxy-config)",
    )
    parser.add_argument("--bind", default="", help="HAProxy's bind (with --print-haproxy-config)")
    parser.add_argument("--admin-socket", default="/run/haproxy/admin.sock")
    args = parser.parse_args()

    var = Path(os.environ.get("VAR_DIR", ROOT / "var"))
    run_dir = var / "serve"
    pid_file = run_dir / "serve.pid"

    if args.print_haproxy_config:
        servers = [s.strip() for s in args.servers.split(",") if s.strip()]
        if not servers:
            parser.error("--servers host:port,… is required with --print-haproxy-config")
        print(
            shape.render_haproxy(
                bind=args.bind or f"{args.host}:{args.port}",
                servers=[(f"w{i + 1}", s) for i, s in enumerate(servers)],
                admin_socket=Path(args.admin_socket),
            )
        )
        return 0

    if args.command == "restart":
        try:
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError):
            print(f"no `make serve` is running (no live pid in {pid_file})", file=sys.stderr)
            return 1
        print(f"rolling restart asked of `make serve` (pid {pid}); its output shows the progress")
        return 0

    var.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    if "DATABASE_URL" not in os.environ:
        print(
            "DATABASE_URL is not set: serving from SQLite (var/db.sqlite3). The production "
            "shape is meant for PostgreSQL: DATABASE_URL=postgres://…",
            file=sys.stderr,
        )
    embedded = run_platform.embedded_services(var)
    os.environ.setdefault("DEBUG", "0")
    # Plain HTTP on this machine: cookies cannot be Secure until TLS is in front
    # (set SECURE_COOKIES=1 there; docs/deployment.md).
    os.environ.setdefault("SECURE_COOKIES", "0")
    # …and no redirect to https:// (HTTPS=1 where TLS is in front; docs/deployment.md).
    os.environ.setdefault("HTTPS", "0")
    logins = var / "demo-logins.tsv"
    run_platform.prepare_database(demo=args.demo, logins=logins, static=True)
    metrics_dir = run_platform.fresh_metrics_dir(var)

    the_shape = shape.Shape(
        args.processes,
        server=args.server,
        host=args.host,
        port=args.port,
        log_dir=run_dir,
        worker=True,
        beat=True,
        out=lambda line: print(line, flush=True),
    )
    stopping = threading.Event()
    restart_asked = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGHUP, lambda *_: restart_asked.set())
    try:
        the_shape.start()
    except shape.ShapeError as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        the_shape.stop()
        run_platform.stop_embedded(embedded)
        return 1
    pid_file.write_text(str(os.getpid()))

    print("\n" + "=" * 72)
    print(f"  学籍系统沟通服务平台 (production shape) at {the_shape.url}/")
    print(f"  balancer: HAProxy, config {run_dir / 'haproxy.cfg'}")
    for p in the_shape.web:
        print(f"  web {p.name}: {args.server} pid {p.pid} on 127.0.0.1:{p.port} (/readyz there)")
    for p in the_shape.others:
        print(f"  {p.name}: pid {p.pid}")
    print(f"  database: {os.environ.get('DATABASE_URL', 'SQLite var/db.sqlite3')}")
    print(f"  redis:    {os.environ['REDIS_URL']}")
    print(f"  logs:     {run_dir}/*.log")
    print(f"  metrics:  /metrics (loopback or METRICS_TOKEN), files in {metrics_dir}")
    if args.demo:
        run_platform.print_logins(logins)
    print("  `make serve-restart` restarts the web processes one by one; Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)

    while not stopping.is_set():
        if restart_asked.is_set():
            restart_asked.clear()
            started = time.monotonic()
            try:
                the_shape.rolling_restart()
                print(f"rolling restart done in {time.monotonic() - started:.1f} s", flush=True)
            except shape.ShapeError as exc:
                print(f"rolling restart failed: {exc}", flush=True)
        stopping.wait(0.5)
    print("stopping…", flush=True)
    the_shape.stop()
    pid_file.unlink(missing_ok=True)
    run_platform.stop_embedded(embedded)
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
