"""Only levels below mine (issue 15): the compose and forward forms offer the levels
below the author's unit; a level above it sent by hand is refused by the service with
its name; the picker marks the target codes' input."""

import pytest
from django.core.exceptions import ValidationError

from chat.forms import TopicRoomForm
from notices.forms import ForwardForm, NoticeForm
from notices.models import Notice
from tests.notices.helpers import draft, send

pytestmark = pytest.mark.django_db


def offered(form):
    return [value for value, _label in form.fields["levels"].choices]


def test_a_county_is_offered_schools_only(people):
    assert offered(NoticeForm(actor=people.county_manager)) == ["school"]
    assert offered(ForwardForm(actor=people.county_manager)) == ["school"]


def test_a_province_is_offered_the_three_levels_below(people):
    assert offered(NoticeForm(actor=people.province_manager)) == [
        "prefecture",
        "county",
        "school",
    ]
    assert offered(ForwardForm(actor=people.prefecture_manager)) == ["county", "school"]


def test_a_school_with_no_level_below_is_offered_its_own(people):
    assert offered(NoticeForm(actor=people.school_manager)) == ["school"]


def test_the_compose_page_shows_only_the_levels_below(people, client_for):
    page = client_for(people.county_manager).get("/notices/new/").content.decode()
    assert 'name="levels" value="school"' in page
    for level in ("province", "prefecture", "county", "ministry"):
        assert f'name="levels" value="{level}"' not in page
    assert 'data-unit-picker="multi"' in page
    assert "data-picker-labels" in page


def test_a_level_at_or_above_ones_own_posted_by_hand_is_refused_with_a_reason(people, client_for):
    client = client_for(people.county_manager)
    response = client.post(
        "/notices/new/",
        {
            "title": "越级通知",
            "priority": "normal",
            "target_codes": "130102",
            "levels": ["county"],
            "action": "draft",
        },
    )
    assert response.status_code == 200
    assert "只能选择本级以下的层级" in response.content.decode()
    assert not Notice.objects.exists()


def test_the_service_refuses_a_level_above_the_authors_by_name(people):
    with pytest.raises(ValidationError) as caught:
        draft(people.county_manager, to=["130102"], levels=["prefecture", "school"])
    assert "地市级" in " ".join(caught.value.messages)
    assert not Notice.objects.exists()


def test_the_service_still_lets_a_county_reach_its_own_staff(people):
    # the existing rule (a forward or notice to one's own unit's staff) is kept
    notice = send(people.county_manager, to=["130102"], levels=["county"])
    assert notice.level_list == ["county"]


def test_a_room_offers_ones_own_level_and_below(people):
    form = TopicRoomForm(actor=people.county_manager)
    assert [v for v, _l in form.fields["rule_levels"].choices] == ["county", "school"]
    assert 'data-unit-picker="multi"' in str(form["rule_units"])
