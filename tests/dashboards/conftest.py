import pytest

from tests.notices.helpers import make_people


@pytest.fixture
def people(tree):
    return make_people(tree)
