"""Two web processes behind HAProxy, as `make serve` runs them (scripts/shape.py), on
the pytest test database and the machine's Redis (channel-layer prefix of this test
run, so the test process's own publishes reach the processes' sockets)."""

import sys

import pytest
from django.conf import settings

from tests import processes

sys.path.insert(0, str(processes.PROJECT_DIR / "scripts"))
import shape  # noqa: E402


@pytest.fixture
def two_processes(transactional_db, tmp_path):
    """Two web processes behind the balancer; stopped before the database is flushed."""
    env = processes.daphne_env(
        processes.database_url(),
        settings.REDIS_URL,
        cache_key_prefix=settings.CACHES["default"]["KEY_PREFIX"],
    )
    the_shape = shape.Shape(2, env=env, log_dir=tmp_path, out=lambda line: None)
    try:
        the_shape.start()
        yield the_shape
    finally:
        the_shape.stop()
    for process in the_shape.web:
        assert not process.alive(), f"{process.name} still running"
