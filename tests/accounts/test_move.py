"""Moving an account to another unit (issue 15, task E): by the rules of issuance,
audited with from and to, the account's open sockets ended (its groups change)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import services
from accounts.models import AuditEvent
from core.models import Event
from tests import factories


def test_a_county_manager_moves_a_staff_account_to_a_school_and_it_is_audited(
    tree, county_manager, county_staff, client_for
):
    client = client_for(county_manager)
    response = client.post(f"/people/{county_staff.pk}/move/", {"unit_code": tree.school.code})
    assert response.status_code == 302 and response.url == f"/people/?unit={tree.school.code}"
    county_staff.refresh_from_db()
    assert county_staff.unit == tree.school
    event = AuditEvent.objects.get(action="account.moved")
    assert (event.actor_username, event.target_username) == ("county-boss", "county-clerk")
    assert event.unit_path == tree.school.path
    assert event.detail["from_code"] == tree.county.code
    assert event.detail["to_code"] == tree.school.code
    # its open sockets are told to close (they reconnect into the school's groups)
    ended = Event.objects.get(kind="session.ended")
    assert [t.group for t in ended.targets.all()] == [f"acct.{county_staff.pk}"]


def test_a_manager_account_moves_only_strictly_below_the_actor(
    tree, county_manager, prefecture_manager
):
    school_manager = factories.manager(tree.school)
    with pytest.raises(ValidationError) as refused:
        services.account_move(actor=county_manager, account=school_manager, unit=tree.county)
    assert "unit_code" in refused.value.message_dict
    # the prefecture may move it to the county (below the prefecture)
    services.account_move(actor=prefecture_manager, account=school_manager, unit=tree.county)
    school_manager.refresh_from_db()
    assert school_manager.unit == tree.county


def test_no_move_outside_the_jurisdiction_or_of_an_unmanageable_account(
    tree, county_manager, prefecture_manager, sibling_staff, client_for
):
    staff = factories.staff(tree.school)
    with pytest.raises(ValidationError):  # a sibling county is not the actor's
        services.account_move(actor=county_manager, account=staff, unit=tree.sibling)
    with pytest.raises(PermissionDenied):  # a sibling county's account
        services.account_move(actor=county_manager, account=sibling_staff, unit=tree.county)
    with pytest.raises(PermissionDenied):  # a fellow manager of its own unit: never
        services.account_move(
            actor=prefecture_manager, account=factories.manager(tree.prefecture), unit=tree.county
        )
    client = client_for(county_manager)
    assert (
        client.post(
            f"/people/{sibling_staff.pk}/move/", {"unit_code": tree.county.code}
        ).status_code
        == 404
    )
    page = client.post(
        f"/people/{staff.pk}/move/", {"unit_code": tree.sibling.code}
    ).content.decode()
    assert "您的管辖范围内没有此代码的单位" in page
    staff.refresh_from_db()
    assert staff.unit == tree.school
    assert not AuditEvent.objects.filter(action="account.moved").exists()


def test_no_move_to_a_closed_unit_or_the_same_unit(tree, county_manager):
    from django.utils import timezone

    staff = factories.staff(tree.county)
    with pytest.raises(ValidationError):
        services.account_move(actor=county_manager, account=staff, unit=tree.county)
    tree.school.closed_at = timezone.now()
    tree.school.save()
    with pytest.raises(ValidationError) as refused:
        services.account_move(actor=county_manager, account=staff, unit=tree.school)
    assert "撤销" in refused.value.message_dict["unit_code"][0]


def test_staff_cannot_move_accounts(tree, county_staff, client_for):
    other = factories.staff(tree.school)
    response = client_for(county_staff).post(
        f"/people/{other.pk}/move/", {"unit_code": tree.county.code}
    )
    assert response.status_code == 403
