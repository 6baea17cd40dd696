"""Ticket fixtures: fast password hashing, uploads under a temporary MEDIA_ROOT, and a
support desk on `tree` (two engineers at 长安区, one at 河北省, a reporter at its school)."""

import pytest

from tests.shared_fixtures import _fast_password_hasher, _media_root, media_files  # noqa: F401
from tests.tickets.helpers import make_desk


@pytest.fixture
def desk(tree):
    return make_desk(tree)
