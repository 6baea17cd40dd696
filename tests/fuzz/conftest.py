"""Fuzzing runs through the real stack: a channel prefix of its own (as tests/core does)
and the people of tests/notices."""

import copy
import uuid

import pytest

from tests.notices.helpers import make_people
from tests.shared_fixtures import _fast_password_hasher, _media_root  # noqa: F401


@pytest.fixture(autouse=True)
def _own_channel_prefix(settings):
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex[:12]}:ch"
    settings.CHANNEL_LAYERS = layers


@pytest.fixture
def people(tree):
    return make_people(tree)
