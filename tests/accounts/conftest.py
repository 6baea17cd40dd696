"""Fixtures shared by the account tests: a manager or staff account at each level of `tree`."""

import pytest

from tests import factories


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """The production hasher costs ~0.3 s a password; nothing here tests the hasher itself."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def county_manager(tree):
    return factories.manager(tree.county, username="county-boss")


@pytest.fixture
def prefecture_manager(tree):
    return factories.manager(tree.prefecture, username="pref-boss")


@pytest.fixture
def province_manager(tree):
    return factories.manager(tree.province, username="prov-boss")


@pytest.fixture
def county_staff(tree):
    return factories.staff(tree.county, username="county-clerk")


@pytest.fixture
def sibling_staff(tree):
    return factories.staff(tree.sibling, username="sibling-clerk")
