"""Keys for 河北 (province), 北京 (municipality) and the Ministry, and the roll system
speaking to the platform with each of them."""

import pytest
from django.test import Client

from roll import services
from tests import factories
from tests.roll.helpers import Roll
from tests.shared_fixtures import _fast_password_hasher  # noqa: F401


@pytest.fixture(autouse=True)
def queued_syncs(monkeypatch):
    """Batches handed to the worker after commit: recorded, never sent to a broker
    (tests call services.sync_pending() / sync_batch() themselves)."""
    from roll import tasks

    queued = []
    monkeypatch.setattr(tasks.sync_batch, "delay", queued.append)
    return queued


@pytest.fixture
def engineers(tree):
    """A support engineer in each county, so problem-record tickets have a first tier."""
    return [
        factories.staff(unit, is_support_engineer=True)
        for unit in (tree.county, tree.sibling, tree.muni_county)
    ]


def _issue(unit, manager_unit=None):
    mgr = factories.manager(manager_unit or unit)
    return services.key_issue(actor=mgr, unit=unit, label=f"key {unit.code}")


@pytest.fixture
def hebei_key(tree):
    return _issue(tree.province)


@pytest.fixture
def beijing_key(tree):
    return _issue(tree.municipality)


@pytest.fixture
def ministry_key(tree):
    return _issue(tree.ministry)


@pytest.fixture
def api_client():
    """The roll system has no CSRF token or session: the API must not need one."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def hebei(api_client, hebei_key):
    key, secret = hebei_key
    return Roll(api_client, key.key_id, secret)


@pytest.fixture
def beijing(api_client, beijing_key):
    key, secret = beijing_key
    return Roll(api_client, key.key_id, secret)


@pytest.fixture
def ministry(api_client, ministry_key):
    key, secret = ministry_key
    return Roll(api_client, key.key_id, secret)
