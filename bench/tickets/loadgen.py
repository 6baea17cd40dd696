"""A small HTTP load generator for ticket creation, the same for every system measured.

A system is described by a `Profile`: `login(session)` logs one client in and leaves
the session ready to create tickets (the create form fetched once, its CSRF token
kept on the session), and `create(session, i)` POSTs ticket number i and raises
unless the server accepted it. `run()` logs C clients in (not timed), then has them
create T tickets in all, client k taking i = k, k + C, k + 2C, ..., and times each
POST.

Standard library only (neither requests nor httpx is in the platform's .venv), so
any Python runs it. Each client is one thread with its own keep-alive HTTP/1.1
connection and its own cookies, as a browser tab would have; redirects are not
followed, so a create is timed up to the server's answer to the POST and not the
page it redirects to.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit


class LoadError(Exception):
    """The server did not answer as the profile expects."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; the last one wins (Set-Cookie is read apart)
    text: str


class Session:
    """One client: its own connection (reopened when the server closes it) and cookies."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None  # kept by the profile's login step
        self.state: dict = {}  # anything else a profile needs between its steps
        self._conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, fields: dict) -> Response:
        return self.request("POST", path, fields)

    def request(self, method: str, path: str, fields: dict | None = None) -> Response:
        body = urlencode(fields, doseq=True).encode() if fields is not None else None
        headers = {"User-Agent": "xueji-bench-tickets", "Accept": "text/html"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        url = self.prefix + path
        for attempt in (1, 2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, url, body=body, headers=headers)
                raw = self._conn.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                # A kept-alive connection the server has meanwhile closed fails before
                # the request is read, so sending it once more on a new one is safe.
                if reused and attempt == 1:
                    continue
                raise
            break
        for value in raw.headers.get_all("Set-Cookie") or ():
            self._store_cookie(value)
        if raw.will_close:
            self.close()
        return Response(
            raw.status,
            {k.lower(): v for k, v in raw.getheaders()},
            data.decode(errors="replace"),
        )

    def _store_cookie(self, header: str) -> None:
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            # Django deletes a cookie by sending it empty with max-age=0. The Secure
            # flag is ignored on purpose: the benchmark speaks plain HTTP to loopback.
            if morsel.value == "" or morsel["max-age"] == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class Profile:
    name: str
    base_url: str
    login: Callable[[Session], None]
    create: Callable[[Session, int], None]
    notes: list[str] = field(default_factory=list)


# --- Helpers shared by the profiles --------------------------------------------------

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def input_value(html: str, name: str) -> str | None:
    """The value of the first <input name=...> in the page (Django renders hidden
    fields, the CSRF token among them, as plain inputs)."""
    for tag in _INPUT.findall(html):
        attrs = {m[0].lower(): m[1] or m[2] for m in _ATTR.findall(tag)}
        if attrs.get("name") == name:
            return attrs.get("value", "")
    return None


def fetch_form(session: Session, path: str) -> str:
    """GET a form page; keep its CSRF token on the session; return the page."""
    r = session.get(path)
    if r.status != 200:
        raise LoadError(f"GET {path}: {r.status} (expected the form page)")
    token = input_value(r.text, "csrfmiddlewaretoken")
    if not token:
        raise LoadError(f"GET {path}: no csrfmiddlewaretoken in the page")
    session.csrf = token
    return r.text


def form_login(session: Session, path: str, fields: dict) -> None:
    """Log in through a Django form: a successful login answers with a redirect."""
    fetch_form(session, path)
    r = session.post(path, {"csrfmiddlewaretoken": session.csrf, **fields})
    if r.status not in (301, 302, 303):
        raise LoadError(f"POST {path}: {r.status}, not the redirect of a successful login")
    # Django rotates the CSRF secret at login, so the token used above is now stale.
    session.csrf = None


def expect_redirect(r: Response, what: str) -> None:
    """Django's create views answer a valid form with a redirect (Post/Redirect/Get);
    a 200 is the form again, i.e. it was rejected."""
    if r.status not in (301, 302, 303):
        # Django's form errors: <ul class="errorlist" id="id_<field>_error"><li>…</li></ul>
        hints = [
            f"{field or 'form'}: {re.sub(r'<[^>]+>', ' ', body).strip()}"
            for field, body in _ERRORLIST.findall(r.text)
        ]
        raise LoadError(f"{what}: {r.status}" + (f" {hints[:3]}" if hints else ""))


_ERRORLIST = re.compile(
    r'<ul class="errorlist[^"]*"(?: id="id_(\w+?)_error")?[^>]*>(.*?)</ul>', re.DOTALL
)


# --- django-helpdesk 2.6.1 -----------------------------------------------------------

HELPDESK_LOGIN = "/helpdesk/login/"
# helpdesk:submit; for a staff user public.create_ticket hands it to
# staff.CreateTicketView (form TicketForm), which is what a logged-in agent uses.
HELPDESK_SUBMIT = "/helpdesk/tickets/submit/"


def helpdesk_profile(base_url: str, username: str, password: str) -> Profile:
    def login(s: Session) -> None:
        form_login(s, HELPDESK_LOGIN, {"username": username, "password": password, "next": ""})
        page = fetch_form(s, HELPDESK_SUBMIT)
        # With a single queue the form renders it as a hidden input holding its id.
        queue = input_value(page, "queue")
        if not queue:
            raise LoadError(f"GET {HELPDESK_SUBMIT}: no queue field (is a Queue set up?)")
        s.state["queue"] = queue

    def create(s: Session, i: int) -> None:
        r = s.post(
            HELPDESK_SUBMIT,
            {
                "csrfmiddlewaretoken": s.csrf,
                "queue": s.state["queue"],
                "title": f"基准工单 {i}: 学籍信息无法保存",
                "body": f"第 {i} 号基准工单。提交学籍变更时页面提示保存失败，请协助排查。",
                "priority": "3",  # the form's default, "Normal"
                "due_date": "",
                "submitter_email": "",
                "assigned_to": "",
            },
        )
        expect_redirect(r, f"POST {HELPDESK_SUBMIT} (ticket {i})")

    return Profile(
        "django-helpdesk 2.6.1",
        base_url,
        login,
        create,
        [f"staff create form {HELPDESK_SUBMIT}, login {HELPDESK_LOGIN}"],
    )


# --- The platform --------------------------------------------------------------------

PLATFORM_LOGIN = "/auth/login/"  # allauth, ACCOUNT_LOGIN_METHODS = {"username"}
PLATFORM_NEW_TICKET = "/tickets/new/"


def platform_profile(base_url: str, username: str, password: str) -> Profile:
    """The platform's ticket form (tickets.views.new)."""

    def login(s: Session) -> None:
        form_login(s, PLATFORM_LOGIN, {"login": username, "password": password})
        fetch_form(s, PLATFORM_NEW_TICKET)

    def create(s: Session, i: int) -> None:
        r = s.post(
            PLATFORM_NEW_TICKET,
            {
                "csrfmiddlewaretoken": s.csrf,
                "title": f"基准工单 {i}: 学籍信息无法保存",
                "description": f"第 {i} 号基准工单。提交学籍变更时页面提示保存失败，请协助排查。",
                "category": "other",
                "priority": "normal",
            },
        )
        expect_redirect(r, f"POST {PLATFORM_NEW_TICKET} (ticket {i})")
        # The "Ticket #N raised." flash message rides in the `messages` cookie until
        # the page the redirect leads to shows it. A browser follows the redirect and
        # the cookie is gone; this client does not, so drop it, or the messages of
        # every earlier ticket would travel (and be re-encoded) with each POST.
        s.cookies.pop("messages", None)

    return Profile(
        "platform",
        base_url,
        login,
        create,
        [f"create form {PLATFORM_NEW_TICKET}, login {PLATFORM_LOGIN}"],
    )


# --- The run -------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run(
    profile: Profile,
    *,
    tickets: int,
    clients: int,
    server_pid: int | list[int] | None = None,
    database_cpu: Callable[[], dict[int, float]] | None = None,
) -> dict:
    """Log `clients` clients in, then create `tickets` tickets split across them.

    Returns count (tickets the server accepted), seconds (first POST sent to last
    answer), per_second, p50_ms / p95_ms / p99_ms / max_ms (per accepted POST),
    errors (POSTs refused or failed) and the first few error messages. With
    `server_pid`, also the server's CPU time (user + system) per accepted ticket:
    the load generator shares the machine's CPUs, so this is the figure it skews least.
    With `database_cpu` ({backend pid: CPU seconds so far}, e.g. backend_cpu()), also
    the database server's CPU per accepted ticket over the same span.
    """
    sessions = [Session(profile.base_url) for _ in range(clients)]
    login_errors: list[BaseException] = []

    def log_in(s: Session) -> None:
        try:
            profile.login(s)
        except BaseException as exc:  # reported below, from the main thread
            login_errors.append(exc)

    t0 = time.perf_counter()
    _run_threads([lambda s=s: log_in(s) for s in sessions])
    login_seconds = time.perf_counter() - t0
    if login_errors:
        for s in sessions:
            s.close()
        raise LoadError(f"{profile.name}: log-in failed: {login_errors[0]!r}")

    latencies: list[list[float]] = [[] for _ in sessions]
    failures: list[list[str]] = [[] for _ in sessions]
    start = threading.Barrier(clients + 1)

    def work(k: int) -> None:
        s = sessions[k]
        start.wait()
        for i in range(k, tickets, clients):
            t = time.perf_counter()
            try:
                profile.create(s, i)
            except Exception as exc:  # counted, and the client goes on
                failures[k].append(f"{type(exc).__name__}: {exc}")
                continue
            latencies[k].append(time.perf_counter() - t)

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    cpu0 = process_cpu_seconds(server_pid)
    db0 = database_cpu() if database_cpu else {}
    start.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - t0
    server_cpu = process_cpu_seconds(server_pid) - cpu0
    # Backends that started meanwhile count from zero; one that ended is missed.
    db_cpu = (
        sum(c - db0.get(pid, 0.0) for pid, c in database_cpu().items())
        if database_cpu
        else math.nan
    )
    for s in sessions:
        s.close()

    lat = sorted(x for per_client in latencies for x in per_client)
    errors = [e for per_client in failures for e in per_client]
    return {
        "system": profile.name,
        "clients": clients,
        "tickets": tickets,
        "count": len(lat),
        "seconds": seconds,
        "per_second": len(lat) / seconds if seconds else math.nan,
        "p50_ms": percentile(lat, 50) * 1e3,
        "p95_ms": percentile(lat, 95) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
        "max_ms": (lat[-1] * 1e3) if lat else math.nan,
        "errors": len(errors),
        "error_samples": errors[:3],
        "login_seconds": login_seconds,
        "server_cpu_ms_per_ticket": server_cpu / len(lat) * 1e3 if lat else math.nan,
        "database_cpu_ms_per_ticket": db_cpu / len(lat) * 1e3 if lat else math.nan,
    }


def process_cpu_seconds(pid: int | list[int] | None) -> float:
    """User + system CPU so far, from /proc (Linux), of a process and every process
    below it (gunicorn's worker under its master), or of several such trees; NaN
    without a pid."""
    if pid is None:
        return math.nan
    roots = [pid] if isinstance(pid, int) else list(pid)
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
    # After the command name: state, ppid, …; utime and stime are fields 14 and 15 of
    # stat(5), counted from the pid.
    children: dict[int, list[int]] = {}
    for p, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(p)
    total, todo, seen = 0, list(roots), set()
    while todo:
        p = todo.pop()
        if p in seen or p not in stats:
            continue
        seen.add(p)
        total += int(stats[p][11]) + int(stats[p][12])
        todo.extend(children.get(p, ()))
    return total / os.sysconf("SC_CLK_TCK")


def backend_cpu(admin_url: str, database: str) -> Callable[[], dict[int, float]]:
    """A reader of the CPU so far of each PostgreSQL backend connected to `database`
    (same machine: /proc), found through pg_stat_activity on `admin_url`."""
    import psycopg

    def read() -> dict[int, float]:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            pids = [
                pid
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database]
                )
            ]
        out = {}
        for pid in pids:
            try:
                out[pid] = process_cpu_seconds([pid])
            except OSError:
                continue
        return out

    return read


def _run_threads(jobs: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=job, daemon=True) for job in jobs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def format_result(r: dict) -> str:
    return (
        f"{r['system']}: {r['count']:,} tickets from {r['clients']} clients in "
        f"{r['seconds']:.2f} s = {r['per_second']:,.1f}/s; p50 {r['p50_ms']:.1f} ms, "
        f"p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms; "
        f"server CPU {r['server_cpu_ms_per_ticket']:.1f} ms/ticket"
        + (
            f", database {r['database_cpu_ms_per_ticket']:.1f} ms/ticket"
            if not math.isnan(r.get("database_cpu_ms_per_ticket", math.nan))
            else ""
        )
        + f"; errors {r['errors']}"
        + (f" (first: {r['error_samples'][0]})" if r["errors"] else "")
    )


# --- Starting a server under test ----------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def daphne_server(
    daphne: str,
    app: str,
    *,
    cwd: str | Path,
    env: dict[str, str],
    log: Path,
    ready_path: str = "/",
    timeout: float = 60.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """One daphne process on a free loopback port, with daphne's default options (the
    same for every system), its output in `log`. Yields (base URL, process) once
    `ready_path` answers over HTTP, i.e. Django is loaded, not just the port open;
    stops it at the end."""
    with server(
        lambda port: [daphne, "-b", "127.0.0.1", "-p", str(port), app],
        cwd=cwd,
        env=env,
        log=log,
        ready_path=ready_path,
        timeout=timeout,
    ) as started:
        yield started


@contextlib.contextmanager
def server(
    argv_of: Callable[[int], list[str]],
    *,
    cwd: str | Path,
    env: dict[str, str],
    log: Path,
    ready_path: str = "/",
    timeout: float = 60.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """One server process, `argv_of(port)`, on a free loopback port, its output in
    `log`. Yields (base URL, process) once `ready_path` answers over HTTP; stops it
    at the end."""
    port = free_port()
    argv = argv_of(port)
    name = Path(argv[0]).name
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise LoadError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
            try:
                probe = Session(base_url, timeout=5)
                status = probe.get(ready_path).status
                probe.close()
                if status < 500:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LoadError(f"{name} did not answer within {timeout:.0f} s:\n{_tail(log)}")
            time.sleep(0.2)
        yield base_url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"
