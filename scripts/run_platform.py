"""`make run`: migrate, load the demo data once, then run one web process (the chosen
ASGI server, scripts/asgi_servers.py: web + sockets),
a Celery worker and Celery beat side by side until Ctrl-C, on SQLite and an
embedded Redis unless DATABASE_URL / REDIS_URL say otherwise."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import asgi_servers  # noqa: E402  (scripts/ is on the path: this file's folder)

from config import env  # noqa: E402


def embedded_services(var: Path):
    """REDIS_URL, else a redis-server of our own on var/redis.sock (returned, to stop)."""
    embedded = None
    if not os.environ.get("REDIS_URL"):
        socket = var / "redis.sock"
        if not env.embedded_redis_alive(socket):
            embedded = env.start_embedded_redis(var)
        os.environ["REDIS_URL"] = f"unix://{socket}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    return embedded


def fresh_metrics_dir(var: Path) -> Path:
    """Prometheus' multiprocess files (core/metrics.py) start empty, before any process:
    a previous run's would be summed into this one's. Every process started from here
    inherits the directory (PROMETHEUS_MULTIPROC_DIR; settings.METRICS_DIR)."""
    import shutil

    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or var / "metrics")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def allowed_hosts(host: str) -> list[str]:
    """The hosts a browser may name for the address `make run` prints (and, bound to every
    interface, this machine's own names and addresses)."""
    hosts = ["localhost", "127.0.0.1", "[::1]"]
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - the user asked for every interface
        name = socket.gethostname()
        try:
            _, aliases, addresses = socket.gethostbyname_ex(name)
        except OSError:
            aliases, addresses = [], []
        hosts += [name, *aliases, *addresses]
    else:
        hosts.append(f"[{host}]" if ":" in host else host)
    return list(dict.fromkeys(hosts))


def prepare_database(*, demo: bool, logins: Path, static: bool = False) -> None:
    """Migrate; collect the static files (WhiteNoise serves them with DEBUG off); load
    the demo data once."""
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "--noinput", "-v", "0"], check=True)
    if static:
        subprocess.run([py, "manage.py", "collectstatic", "--noinput", "-v", "0"], check=True)
    if demo:
        subprocess.run([py, "manage.py", "load_demo", "--credentials", str(logins)], check=True)


def print_logins(logins: Path) -> None:
    if not logins.exists():
        return
    print("  demo logins (username / one-time initial code; you set a password on first login):")
    for line in logins.read_text(encoding="utf-8").splitlines()[1:]:
        level, unit, username, code = line.split("\t")
        print(f"    {level:<6} {unit:<12} {username:<16} {code}")
    print(f"  (also in {logins}; a used code needs a re-issue by the level above)")


def stop_embedded(embedded) -> None:
    if embedded is not None:
        try:
            embedded.shutdown(save=True)
        except Exception:  # noqa: S110 - the server is gone already; nothing left to stop
            pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()

    var = Path(os.environ.get("VAR_DIR", ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    embedded = embedded_services(var)
    # Plain http://127.0.0.1: no redirect to https://, no Secure cookies (unless set).
    os.environ.setdefault("HTTPS", "0")
    # DEBUG off, as deployed: the platform's own error pages (DEBUG's 404 page lists every
    # URL pattern), static files by WhiteNoise (WHITENOISE_USE_FINDERS: no collectstatic).
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("ALLOWED_HOSTS", ",".join(allowed_hosts(args.host)))

    py = sys.executable
    bindir = Path(py).parent
    logins = var / "demo-logins.tsv"
    prepare_database(demo=True, logins=logins)
    fresh_metrics_dir(var)

    procs = {
        "web": asgi_servers.argv(
            asgi_servers.chosen(), int(args.port), host=args.host, proxy_headers=False
        ),
        "worker": [
            str(bindir / "celery"),
            "-A",
            "config",
            "worker",
            "-l",
            "INFO",
            "--concurrency",
            "2",
        ],
        "beat": [
            str(bindir / "celery"),
            "-A",
            "config",
            "beat",
            "-l",
            "INFO",
            "--schedule",
            str(var / "celerybeat-schedule"),
        ],
    }
    running = {name: subprocess.Popen(cmd) for name, cmd in procs.items()}

    print("\n" + "=" * 72)
    print(f"  学籍系统沟通服务平台 running at http://{args.host}:{args.port}/")
    print(f"  database: {os.environ.get('DATABASE_URL', 'SQLite var/db.sqlite3')}")
    print(f"  redis:    {os.environ['REDIS_URL']}")
    print_logins(logins)
    print("  Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for name, proc in running.items():
            if proc.poll() is not None:
                print(
                    f"{name} exited with {proc.returncode}; stopping the platform", file=sys.stderr
                )
                stopping, code = True, 1
                break
        time.sleep(0.5)
    for proc in running.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.time() + 15
    for proc in running.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
    stop_embedded(embedded)
    print("stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
