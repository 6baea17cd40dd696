"""A manager or staff account at each level of `tree`, uploads under a temporary MEDIA_ROOT."""

import pytest

from tests.notices.helpers import make_people
from tests.shared_fixtures import _fast_password_hasher, _media_root, media_files  # noqa: F401


@pytest.fixture
def people(tree):
    return make_people(tree)
