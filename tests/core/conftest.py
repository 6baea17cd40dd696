"""Socket tests run through the real ASGI stack and the Redis pub/sub channel layer."""

import copy
import uuid

import pytest

from tests.notices.helpers import make_people


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_channel_prefix(settings):
    """Redis pub/sub channels are shared by every database of a server: a prefix of our own
    keeps another test run's group sends (same group names) off these sockets."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex[:12]}:ch"
    settings.CHANNEL_LAYERS = layers


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(tree):
    return make_people(tree)
