"""Fixtures several test packages use; a package's conftest imports the ones it wants
(importing an autouse fixture into a conftest turns it on for that package only)."""

import pytest


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
