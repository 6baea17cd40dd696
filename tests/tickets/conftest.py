"""Ticket fixtures: fast password hashing, uploads under a temporary MEDIA_ROOT, and a
support desk on `tree` (two engineers at 长安区, one at 河北省, a reporter at its school)."""

import pytest

from tests.tickets.helpers import make_desk


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def media_files(_media_root):
    """The files stored under MEDIA_ROOT so far."""

    def files():
        return sorted(p for p in _media_root.rglob("*") if p.is_file())

    return files


@pytest.fixture
def desk(tree):
    return make_desk(tree)
