"""Shared fixtures. Tests run on the database and Redis the environment names
(PostgreSQL and Redis in CI); a service that is named but absent fails the run."""

import os

import pytest
from django.conf import settings

from tests import factories

# The test client speaks plain HTTP: no redirect to https:// under DEBUG=0, where HTTPS
# defaults on (tests/core/test_deploy_settings.py tests the redirect itself).
settings.SECURE_SSL_REDIRECT = False
# Prometheus' multiprocess files of this run only (core/metrics.py), not var/metrics.
settings.METRICS_DIR = __import__("tempfile").mkdtemp(prefix="xj-metrics-")


def pytest_configure(config):
    if os.environ.get("CI") and not (
        os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")
    ):
        raise pytest.UsageError("CI runs need DATABASE_URL and REDIS_URL (PostgreSQL and Redis)")


@pytest.fixture(scope="session", autouse=True)
def _services_are_up(django_db_setup, django_db_blocker):
    """Fail, never skip, when the database or Redis named by the settings is absent."""
    import redis
    from django.db import connection

    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert connection.vendor == "postgresql"
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def tree(db):
    return factories.small_tree()


@pytest.fixture
def client_for(client):
    """A test client logged in as the given account."""

    def login(account):
        client.force_login(account, backend="accounts.backends.PasswordBackend")
        return client

    return login
