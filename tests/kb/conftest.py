import pytest

from tests.shared_fixtures import _fast_password_hasher, _media_root  # noqa: F401
from tests.tickets.helpers import make_desk


@pytest.fixture
def desk(tree):
    return make_desk(tree)
