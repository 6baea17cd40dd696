"""Chat fixtures: an account at each level of `tree` (tests.notices.helpers.make_people),
their region rooms provisioned, and the socket fixtures of tests/core."""

from types import SimpleNamespace

import pytest

from chat import services
from chat.models import Room, RoomKind
from tests.core.conftest import _fast_password_hasher, _own_channel_prefix  # noqa: F401
from tests.notices.helpers import make_people


@pytest.fixture
def people(tree):
    return make_people(tree)


@pytest.fixture
def rooms(tree, people):
    """The region rooms, as the first page view or socket of each account creates them."""
    for account in (people.school_staff, people.sibling_school_staff, people.beijing_school_staff):
        services.region_rooms_ensure(account)

    def of(unit):
        return Room.objects.get(kind=RoomKind.REGION, unit=unit)

    return SimpleNamespace(
        ministry=of(tree.ministry),
        province=of(tree.province),
        prefecture=of(tree.prefecture),
        county=of(tree.county),
        sibling=of(tree.sibling),
        municipality=of(tree.municipality),
        muni_county=of(tree.muni_county),
    )
