"""The self-service profile (issue 15, task E): a person keeps their own name and phone
current; bad input is refused with a reason, each change is audited with old and new."""

import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import AuditEvent
from accounts.validators import normalize_phone


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("0311-12345678", "0311-12345678"),
        ("031112345678", "0311-12345678"),
        ("(010)87654321", "010-87654321"),
        ("0311-12345678-123", "0311-12345678-123"),
        ("0311-12345678转123", "0311-12345678-123"),
    ],
)
def test_phone_numbers_are_accepted_in_their_canonical_form(typed, kept):
    assert normalize_phone(typed) == kept


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "phone_empty"),
        ("12812345678", "phone_mobile_prefix"),
        ("1381234567", "phone_mobile_length"),
        ("138123456789", "phone_mobile_length"),
        ("tel 0311", "phone_characters"),
        ("0311-123", "phone_invalid"),
        ("311-12345678", "phone_invalid"),
    ],
)
def test_bad_phone_numbers_are_refused_with_a_reason(typed, code):
    with pytest.raises(ValidationError) as refused:
        normalize_phone(typed)
    assert refused.value.code == code


def test_the_profile_page_shows_the_account_and_links(county_staff, client_for):
    client = client_for(county_staff)
    page = client.get("/profile/").content.decode()
    assert "county-clerk" in page and "长安区" in page and "130102" in page
    assert "/auth/password/change/" in page and "/auth/2fa/" in page
    # the header's name links here
    home = client.get("/").content.decode()
    assert 'id="nav-profile" href="/profile/"' in home


def test_saving_the_profile_changes_name_and_phone_and_audits_old_and_new(county_staff, client_for):
    county_staff.full_name, county_staff.phone = "张三", "13800000000"
    county_staff.save()
    client = client_for(county_staff)
    response = client.post("/profile/", {"full_name": " 张  三丰 ", "phone": "0311 1234 5678"})
    assert response.status_code == 302
    county_staff.refresh_from_db()
    assert (county_staff.full_name, county_staff.phone) == ("张 三丰", "0311-12345678")
    event = AuditEvent.objects.get(action="profile.changed")
    assert event.target_username == event.actor_username == "county-clerk"
    assert event.unit_path == county_staff.unit.path
    assert event.detail == {
        "full_name": {"from": "张三", "to": "张 三丰"},
        "phone": {"from": "13800000000", "to": "0311-12345678"},
    }


def test_nothing_changed_writes_nothing(county_staff):
    county_staff.full_name, county_staff.phone = "张三", "13800000000"
    county_staff.save()
    services.profile_update(account=county_staff, full_name="张三", phone="138 0000 0000")
    assert not AuditEvent.objects.filter(action="profile.changed").exists()


def test_bad_input_is_refused_in_chinese_and_nothing_is_written(county_staff, client_for):
    county_staff.full_name, county_staff.phone = "张三", "13800000000"
    county_staff.save()
    client = client_for(county_staff)
    page = client.post("/profile/", {"full_name": "<b>", "phone": "12345"}).content.decode()
    assert "请填写人名" in page
    assert "手机号码为 11 位" in page
    county_staff.refresh_from_db()
    assert (county_staff.full_name, county_staff.phone) == ("张三", "13800000000")
    assert not AuditEvent.objects.filter(action="profile.changed").exists()


def test_a_name_and_a_phone_are_both_required(county_staff):
    with pytest.raises(ValidationError) as refused:
        services.profile_update(account=county_staff, full_name="  ", phone="")
    assert set(refused.value.message_dict) == {"full_name", "phone"}


def test_the_profile_needs_a_login(client):
    response = client.get("/profile/")
    assert response.status_code == 302 and response.url.startswith("/auth/login/")
