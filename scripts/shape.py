"""The production shape on one machine: N web processes behind HAProxy, plus a Celery
worker and beat, supervised by one Python object.

`make serve` (scripts/serve.py) runs it until Ctrl-C; the cross-process tests
(tests/shape/) and the benchmarks (bench/busy_day.py, bench/tickets/http_create.py)
start the same thing with `with Shape(...) as shape:`.

What it guarantees:
- every web process has its own readiness check (`/readyz` on its own port); the
  balancer sends it nothing until that answers, and checks it every second after;
- a restart (`restart(i)`, `rolling_restart()`, SIGHUP to `make serve`) first drains
  the process in HAProxy (no new request or socket reaches it), waits until the HTTP
  requests it is serving have been answered, then stops it, starts it again, waits
  for its `/readyz` and only then puts it back: no HTTP request fails. Its sockets
  close and the browsers resume on another process from their last event id;
- a process that dies is taken out of the balancer at once and started again (with a
  growing pause if it keeps dying), then put back once ready.

HAProxy is driven through its runtime API (the admin socket), not by reloading its
configuration: the drain and the return of one server are two commands.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import asgi_servers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
READY_TIMEOUT = 60.0  # seconds for a web process to answer /readyz after it starts
DRAIN_TIMEOUT = 30.0  # seconds a draining process may take to answer its requests
STOP_TIMEOUT = 20.0  # seconds for a process to exit after SIGTERM before SIGKILL
# The platform's own limits, which the balancer's must match: one table, read by
# config/settings.py too (config/limits.py; tests/shape/test_config.py and
# tests/core/test_limits.py check that they agree).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from config import limits  # noqa: E402

ROLL_MAX_BYTES = limits.ROLL_MAX_BYTES
NOTICE_MAX_FILES = limits.NOTICE_MAX_FILES


class ShapeError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def haproxy_binary(install: bool = True) -> str:
    """HAProxy from Debian's package; installed when missing and we are root (as the
    tests' Chromium is)."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if found:
        return found
    apt = shutil.which("apt-get")
    if install and apt and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run([apt, "update", "-qq"], check=True, env=env)
        subprocess.run([apt, "install", "-y", "-qq", "haproxy"], check=True, env=env)
        return haproxy_binary(install=False)
    raise ShapeError(
        "HAProxy is not installed: install Debian's `haproxy` package "
        "(`make serve` does it when run as root)."
    )


def upload_bytes() -> int:
    """The largest form the platform accepts: NOTICE_MAX_FILES attachments of
    NOTICE_MAX_FILE_MB each, plus 1 MiB for the form's fields."""
    return limits.upload_bytes(os.environ)


def body_limit(name: str, env: dict[str, str]) -> int:
    """A row of the platform's body-limit table (config/limits.py), in bytes."""
    return next(row.max_bytes for row in limits.body_limits(env) if row.name == name)


def health_host(env: dict[str, str]) -> str:
    """A Host the processes accept (the first non-wildcard ALLOWED_HOSTS entry)."""
    hosts = (env.get("ALLOWED_HOSTS") or "localhost").split(",")
    for host in hosts:
        host = host.strip()
        if host and not host.startswith(".") and host != "*":
            return host
    return "localhost"


def render_haproxy(
    *,
    bind: str,
    servers: list[tuple[str, str]],
    admin_socket: Path,
    env: dict[str, str] | None = None,
    maxconn: int | None = None,
) -> str:
    """HAProxy's configuration for these (name, "host:port") web processes."""
    env = dict(os.environ if env is None else env)
    if maxconn is None:
        # Each client connection takes two descriptors (client and server side).
        maxconn = max(1000, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 200) // 2)
    web = "\n".join(f"    server {name} {address}" for name, address in servers)
    sockets = "\n".join(
        f"    server {name} {address} track web/{name}" for name, address in servers
    )
    template = string.Template((DEPLOY / "haproxy.cfg.in").read_text(encoding="utf-8"))
    return template.substitute(
        maxconn=maxconn,
        admin_socket=admin_socket,
        errors=DEPLOY / "errors",
        bind=bind,
        roll_bytes=body_limit("roll_api", env),
        roll_mib=limits.mib(ROLL_MAX_BYTES),
        upload_bytes=body_limit("upload", env),
        upload_paths=limits.UPLOAD_PATHS,
        form_bytes=body_limit("form", env),
        max_headers=limits.HEADER_COUNT_MAX,
        bufsize=limits.HEAD_BYTES_MAX + 1024,
        header_timeout=f"{limits.header_timeout_seconds(env):g}",
        health_host=health_host(env),
        web_servers=web,
        socket_servers=sockets,
    )


class Admin:
    """HAProxy's runtime API over its admin socket: one command per connection."""

    def __init__(self, path: Path):
        self.path = path

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def set_state(self, name: str, state: str) -> None:
        """ready / drain / maint, in both backends (the sockets one tracks web's health)."""
        for backend in ("web", "sockets"):
            answer = self.command(f"set server {backend}/{name} state {state}").strip()
            if answer:
                raise ShapeError(f"haproxy: set server {backend}/{name} state {state}: {answer}")

    def stats(self) -> dict[tuple[str, str], dict[str, str]]:
        """`show stat` as {(backend, server): {column: value}}."""
        lines = self.command("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        rows = {}
        for line in lines[1:]:
            if line:
                row = dict(zip(header, line.split(","), strict=False))
                rows[row["pxname"], row["svname"]] = row
        return rows

    def http_in_flight(self, name: str) -> int:
        """HTTP requests the process is serving now (sockets have their own backend)."""
        row = self.stats().get(("web", name), {})
        return int(row.get("scur") or 0) + int(row.get("qcur") or 0)

    def status(self, name: str) -> str:
        return self.stats().get(("web", name), {}).get("status", "")


def ready(port: int, host: str, timeout: float = 2.0, http_host: str = "localhost") -> bool:
    request = urllib.request.Request(f"http://{host}:{port}/readyz", headers={"Host": http_host})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback
            return answer.status == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)
    restarting: bool = False  # a planned restart: the supervisor leaves it alone
    next_start: float = 0.0  # after repeated crashes, not before this

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_group(self) -> None:
        """SIGKILL the process and everything it started (each process leads its own
        session: gunicorn's worker is a child of its master, and a master that died
        leaves its worker holding the port)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class Shape:
    """N web processes behind HAProxy (+ worker and beat), started and kept running.

    `argv_of(port)` gives a web process's command line (default: the chosen ASGI
    server serving the platform); `env` is the environment of every process (default:
    this one's)."""

    def __init__(
        self,
        processes: int = 2,
        *,
        server: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        worker: bool = False,
        beat: bool = False,
        argv_of: Callable[[int], list[str]] | None = None,
        worker_concurrency: int = 2,
        out: Callable[[str], None] = print,
    ):
        if processes < 1:
            raise ShapeError("at least one web process")
        self.server = server or asgi_servers.chosen()
        self.host = host
        self.port = port or free_port(host)
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        self.log_dir = Path(log_dir or ROOT / "var" / "serve")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.out = out
        argv_of = argv_of or (lambda p: asgi_servers.argv(self.server, p))
        self.web = []
        for i in range(processes):
            web_port = free_port()
            self.web.append(
                Process(f"w{i + 1}", argv_of(web_port), self.log_dir / f"web-{i + 1}.log", web_port)
            )
        bindir = Path(sys.executable).parent
        self.others = []
        if worker:
            self.others.append(
                Process(
                    "worker",
                    [str(bindir / "celery"), "-A", "config", "worker", "-l", "INFO",
                     "--concurrency", str(worker_concurrency)],
                    self.log_dir / "worker.log",
                )
            )  # fmt: skip
        if beat:
            self.others.append(
                Process(
                    "beat",
                    [str(bindir / "celery"), "-A", "config", "beat", "-l", "INFO",
                     "--schedule", str(self.log_dir / "celerybeat-schedule")],
                    self.log_dir / "beat.log",
                )
            )  # fmt: skip
        self.admin_socket = self.log_dir / "haproxy.sock"
        self.admin = Admin(self.admin_socket)
        self.haproxy: Process | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/"

    def __enter__(self) -> Shape:
        try:
            self.start()
        except BaseException:
            self.stop()  # what did start: a failed start leaves nothing running
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        raise_open_files_limit()
        binary = haproxy_binary()
        for process in self.web:
            self._spawn(process)
        for process in self.web:
            self._wait_ready(process)
        for process in self.others:
            self._spawn(process)
        config = self.log_dir / "haproxy.cfg"
        config.write_text(
            render_haproxy(
                bind=f"{self.host}:{self.port}",
                servers=[(p.name, f"127.0.0.1:{p.port}") for p in self.web],
                admin_socket=self.admin_socket,
                env=self.env,
            ),
            encoding="utf-8",
        )
        with contextlib.suppress(FileNotFoundError):
            self.admin_socket.unlink()
        self.haproxy = Process(
            "haproxy", [binary, "-db", "-f", str(config)], self.log_dir / "haproxy.log"
        )
        self._spawn(self.haproxy)
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready(self.port, self.host, http_host=health_host(self.env)):
            if not self.haproxy.alive():
                raise ShapeError(f"haproxy exited:\n{tail(self.haproxy.log)}")
            if time.monotonic() > deadline:
                raise ShapeError(f"the balancer did not answer /readyz:\n{tail(self.haproxy.log)}")
            time.sleep(0.1)
        self._watcher = threading.Thread(
            target=self._supervise, name="shape-supervisor", daemon=True
        )
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        everything = [*self.web, *self.others] + ([self.haproxy] if self.haproxy else [])
        for process in everything:
            if process.alive():
                process.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in everything:
            if process.proc is None:
                continue
            try:
                process.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            process.kill_group()

    # --- restarts ---------------------------------------------------------------------

    def restart(self, i: int) -> None:
        """Restart web process i without failing an HTTP request (see the module doc)."""
        process = self.web[i]
        with self._lock:
            process.restarting = True
        try:
            self.admin.set_state(process.name, "drain")
            deadline = time.monotonic() + DRAIN_TIMEOUT
            # Two quiet readings in a row: a request may be between HAProxy and the server.
            quiet = 0
            while quiet < 2 and time.monotonic() < deadline:
                quiet = quiet + 1 if self.admin.http_in_flight(process.name) == 0 else 0
                time.sleep(0.05)
            self.admin.set_state(process.name, "maint")
            self._terminate(process)
            self._spawn(process)
            self._wait_ready(process)
            self.admin.set_state(process.name, "ready")
            self._wait_up(process)
        finally:
            with self._lock:
                process.restarting = False

    def rolling_restart(self) -> None:
        for i in range(len(self.web)):
            self.out(f"restarting {self.web[i].name} (port {self.web[i].port})")
            self.restart(i)

    def kill(self, i: int) -> None:
        """SIGKILL web process i, as a crash would; the supervisor brings it back."""
        process = self.web[i]
        if process.alive():
            process.kill_group()

    # --- internals --------------------------------------------------------------------

    def _spawn(self, process: Process) -> None:
        log = process.log.open("ab")
        process.proc = subprocess.Popen(
            process.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        process.starts += 1

    def _terminate(self, process: Process) -> None:
        if not process.alive():
            return
        process.proc.send_signal(signal.SIGTERM)
        try:
            process.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        process.kill_group()  # and whatever it left behind

    def _wait_ready(self, process: Process) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready(process.port, "127.0.0.1", http_host=health_host(self.env)):
            if not process.alive():
                raise ShapeError(
                    f"{process.name} exited with {process.proc.returncode}:\n{tail(process.log)}"
                )
            if time.monotonic() > deadline:
                raise ShapeError(f"{process.name} did not become ready:\n{tail(process.log)}")
            time.sleep(0.1)

    def _wait_up(self, process: Process) -> None:
        """Until HAProxy's own check has seen the process up again."""
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.admin.status(process.name).startswith("UP"):
            if time.monotonic() > deadline:
                raise ShapeError(f"haproxy did not take {process.name} back")
            time.sleep(0.05)

    def _supervise(self) -> None:
        """Start again whatever died, web processes through the balancer's maintenance."""
        while not self._stop.wait(0.2):
            for process in [*self.web, *self.others]:
                with self._lock:
                    if process.restarting or process.alive() or self._stop.is_set():
                        continue
                    process.restarting = True
                threading.Thread(target=self._revive, args=(process,), daemon=True).start()
            if self.haproxy is not None and not self.haproxy.alive() and not self._stop.is_set():
                self.out(f"haproxy exited with {self.haproxy.proc.returncode}; starting it again")
                self._spawn(self.haproxy)

    def _revive(self, process: Process) -> None:
        try:
            code = process.proc.returncode if process.proc else None
            process.exits.append(code)
            self.out(f"{process.name} exited with {code}; starting it again")
            is_web = process.port is not None
            if is_web:
                with contextlib.suppress(OSError, ShapeError):
                    self.admin.set_state(process.name, "maint")
            # Crashing again and again: wait 1, 2, 4 … 30 s between starts.
            recent = [c for c in process.exits[-5:] if c is not None]
            pause = min(30.0, 0.5 * 2 ** max(0, len(recent) - 1)) if len(process.exits) > 1 else 0
            process.kill_group()  # what it left behind (a worker holding its port)
            if self._stop.wait(pause):
                return
            self._spawn(process)
            if is_web:
                self._wait_ready(process)
                self.admin.set_state(process.name, "ready")
        except Exception as exc:  # keep supervising: the next round tries again
            self.out(f"could not restart {process.name}: {exc}")
        finally:
            with self._lock:
                process.restarting = False


def raise_open_files_limit() -> None:
    """Thousands of sockets need thousands of descriptors, in HAProxy and in each web
    process: raise the soft limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


if __name__ == "__main__":
    # `make test` and `make serve`: HAProxy present (installed when missing and root).
    print(haproxy_binary())
