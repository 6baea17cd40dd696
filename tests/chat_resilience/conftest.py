"""Fixtures of the resilience tests: a redis-server of the test's own (killable) and
two daphnes on it and on the test database."""

import pytest

from tests import processes


@pytest.fixture
def chat_redis(tmp_path):
    """A redis-server of this test alone; stopped (and checked gone) afterwards."""
    log_dir = tmp_path / "redis"
    log_dir.mkdir()
    server = processes.RedisServer(log_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        assert server.proc.poll() is not None, "the test's redis-server is still running"


@pytest.fixture
def two_daphnes(chat_redis, transactional_db, tmp_path):
    """Daphne A and B on the test database and the test's Redis. They take
    transactional_db so they are stopped before the database is flushed."""
    env = processes.daphne_env(processes.database_url(), chat_redis.url)
    servers = [processes.Daphne(name, env, tmp_path) for name in ("A", "B")]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        codes = {server.name: server.stop() for server in servers}
    for server in servers:
        assert server.proc is None or server.proc.poll() is not None
        assert codes[server.name] == 0, (
            f"daphne {server.name} exited with {codes[server.name]} on SIGTERM "
            f"(None: it needed SIGKILL)\n{processes.tail(server.log)}"
        )
