"""The probes an orchestrator polls: alive, and ready (database and Redis reachable)."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_redis_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_names_an_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ConnectionError")


def test_probes_are_never_cached(client):
    for path in ("/healthz", "/readyz"):
        assert "no-cache" in client.get(path)["Cache-Control"]


def test_probes_answer_a_logged_in_account_that_must_change_its_password(client, tree):
    client.force_login(factories.staff(tree.county, must_change_password=True))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
