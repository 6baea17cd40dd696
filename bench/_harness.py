"""A fresh, throwaway database for one benchmark process, and small printing helpers.

Each benchmark runs in its own process and calls `fresh_database()` before it
imports anything from the project:

- DATABASE_URL starting with ``postgres``: a database ``bench_<pid>`` is created on
  that server (via psycopg, from the database the URL names), Django is pointed at
  it, migrated, and it is dropped at the end, whatever happens in between.
- otherwise: a SQLite file in a temporary VAR_DIR, removed at the end.

Either way VAR_DIR is a temporary directory, so the benchmark never touches ./var
(its database, secret key or embedded Redis socket, which a running `make run`
may be using). When REDIS_URL is unset the settings start an embedded Redis there;
it is shut down at the end. DEBUG is forced off so no query log is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # so the `finally` below drops the database


@contextlib.contextmanager
def fresh_database():
    """Set up Django on a new empty database, migrated; yield a short description of it."""
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    original_url = os.environ.get("DATABASE_URL", "")
    var_dir = Path(tempfile.mkdtemp(prefix="xj-bench-"))
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["DEBUG"] = "0"
    os.environ["HTTPS"] = "0"  # plain HTTP on loopback: no redirect to https://
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    pg_name = None
    admin_url = None
    try:
        if original_url.startswith("postgres"):
            import psycopg
            from psycopg import sql

            parts = urlsplit(original_url)
            admin_url = urlunsplit(parts._replace(scheme="postgresql"))
            pg_name = f"bench_{os.getpid()}"
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(pg_name)))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg_name)))
            os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + pg_name))
            where = (
                f"PostgreSQL, throwaway database {pg_name} on {parts.hostname}:{parts.port or 5432}"
            )
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
            where = f"SQLite, temporary file {var_dir / 'bench.sqlite3'}"

        import django
        from django.core.management import call_command

        django.setup()
        t0 = time.perf_counter()
        call_command("migrate", verbosity=0)
        from django.db import connection

        version = _server_version(connection)
        print(f"database: {where} ({version}); migrated in {time.perf_counter() - t0:.1f} s")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"load average {load} (other work on the machine skews the figures)"
        )
        yield {"backend": connection.vendor, "version": version}
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if pg_name is not None:
            import psycopg
            from psycopg import sql

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(pg_name)
                    )
                )
        with contextlib.suppress(Exception):
            from config import env

            if env._embedded is not None:
                env._embedded._cleanup()
        shutil.rmtree(var_dir, ignore_errors=True)
        if original_url:
            os.environ["DATABASE_URL"] = original_url


def ensure_admin_database(url: str) -> str | None:
    """The harness connects to the URL's database to create and drop the run's own;
    create that one (empty) when it does not exist. Returns its name if created."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return None
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _server_version(connection) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return "server " + cursor.fetchone()[0].split()[0]
        cursor.execute("select sqlite_version()")
        return "sqlite " + cursor.fetchone()[0]


def server_env(cache_prefix: str) -> dict[str, str]:
    """The environment of a platform web process a benchmark starts: stated in full (not
    this process's), on this run's DATABASE_URL and REDIS_URL, plain-http cookies, and a
    cache prefix of its own (the login rate limits start afresh)."""
    from django.conf import settings

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ} | {
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "0",
        "SECURE_COOKIES": "0",
        "HTTPS": "0",
        "VAR_DIR": str(settings.VAR_DIR),
        "CACHE_KEY_PREFIX": cache_prefix,
        "MFA_REQUIRED_FOR_SENIOR_MANAGERS": "0",
        **{k: os.environ[k] for k in ("DB_CONN_MAX_AGE", "HTTP_THREADS") if k in os.environ},
    }


def write_json(results: dict, path: str | None) -> None:
    """Also write the results to `path` (run_all.py reads them), when one is given."""
    if path:
        Path(path).write_text(json.dumps(results, ensure_ascii=False, indent=2))


def mean_time(fn, n: int) -> float:
    """Mean seconds per call of fn(i) for i in range(n)."""
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


def fmt_duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds:,.0f} s (about {seconds / 60:,.0f} min)"


def insert_units(units):
    """Bulk-insert built units (accounts.services.unit_build) and give them their ids."""
    from accounts.models import Unit

    Unit.objects.bulk_create(units, batch_size=2000)
    if any(u.pk is None for u in units):  # a backend that cannot return ids
        ids = dict(Unit.objects.filter(code__in=[u.code for u in units]).values_list("code", "pk"))
        for u in units:
            u.pk = u.id = ids[u.code]
    return units


def fill_province(
    province, *, prefectures: int, counties_per_prefecture: int, schools_per_county: int
):
    """Synthetic prefectures → counties → schools under `province`, one bulk insert per
    level; returns (prefectures, counties, schools)."""
    from accounts import services
    from accounts.models import Level

    prefs = insert_units(
        [
            services.unit_build(
                level=Level.PREFECTURE,
                code=f"{province.code[:2]}{f:02d}00",
                name=f"{province.name}{f:02d}市",
                parent=province,
            )
            for f in range(1, prefectures + 1)
        ]
    )
    counties = insert_units(
        [
            services.unit_build(
                level=Level.COUNTY, code=f"{p.code[:4]}{c:02d}", name=f"{p.name}{c:02d}县", parent=p
            )
            for p in prefs
            for c in range(1, counties_per_prefecture + 1)
        ]
    )
    schools = insert_units(
        [
            services.unit_build(
                level=Level.SCHOOL, code=f"{c.code}{s:04d}", name=f"{c.name}第{s}学校", parent=c
            )
            for c in counties
            for s in range(1, schools_per_county + 1)
        ]
    )
    return prefs, counties, schools
