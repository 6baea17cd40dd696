"""The audit log: logins, failures and downloads recorded; managers read their subtree's part."""

import pytest

from accounts import services
from accounts.models import AuditEvent
from tests import factories
from tests.accounts.helpers import log_in


def test_a_failed_login_is_recorded_with_the_ip(county_staff):
    log_in(county_staff.username, "wrong-password")
    event = AuditEvent.objects.get(action="login.failed")
    assert event.target == county_staff
    assert event.ip == "127.0.0.1"
    assert event.detail["username"] == county_staff.username
    assert event.unit_path == county_staff.unit.path


def test_a_failed_login_for_an_unknown_username_is_recorded(db):
    log_in("nobody-here", "wrong-password")
    event = AuditEvent.objects.get(action="login.failed")
    assert event.target is None and event.detail == {"username": "nobody-here"}


def test_the_password_tried_is_not_recorded(county_staff):
    log_in(county_staff.username, "Secret-Guess-42")
    event = AuditEvent.objects.get(action="login.failed")
    assert "Secret-Guess-42" not in str(event.detail)


def test_a_successful_login_is_recorded(county_staff):
    log_in(county_staff.username, factories.PASSWORD)
    event = AuditEvent.objects.get(action="login.succeeded")
    assert (event.actor, event.target, event.ip) == (county_staff, county_staff, "127.0.0.1")


def test_a_login_with_an_initial_code_is_recorded(county_manager, tree):
    row = services.account_issue(actor=county_manager, unit=tree.county, role="staff").rows[0]
    log_in(row.username, row.code)
    actions = set(
        AuditEvent.objects.filter(target_username=row.username).values_list("action", flat=True)
    )
    assert {"account.issued", "login.initial_code", "login.succeeded"} <= actions


def test_downloading_a_credential_sheet_is_recorded(county_manager, tree, client_for):
    batch = services.account_issue(actor=county_manager, unit=tree.school, role="staff").batch
    client_for(county_manager).get(f"/people/batches/{batch.pk}/sheet.xlsx")
    event = AuditEvent.objects.get(action="sheet.downloaded")
    assert (event.actor, event.unit) == (county_manager, tree.school)
    assert event.detail == {"batch": batch.pk, "accounts": 1}


def test_managers_see_only_their_subtrees_events(
    county_manager, county_staff, sibling_staff, client_for
):
    log_in(county_staff.username, "wrong-password")
    log_in(sibling_staff.username, "wrong-password")
    html = client_for(county_manager).get("/audit/").content.decode()
    assert county_staff.username in html
    assert sibling_staff.username not in html


def test_a_province_manager_sees_its_counties_events(
    province_manager, county_staff, sibling_staff, client_for
):
    log_in(county_staff.username, "wrong-password")
    log_in(sibling_staff.username, "wrong-password")
    html = client_for(province_manager).get("/audit/").content.decode()
    assert county_staff.username in html and sibling_staff.username in html


def test_an_audit_row_cannot_be_changed(county_staff):
    log_in(county_staff.username, "wrong-password")
    event = AuditEvent.objects.get()
    event.action = "login.succeeded"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        AuditEvent.objects.update(action="login.succeeded")
    assert AuditEvent.objects.get().action == "login.failed"


def test_an_audit_row_cannot_be_deleted(county_staff):
    log_in(county_staff.username, "wrong-password")
    with pytest.raises(TypeError):
        AuditEvent.objects.get().delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(action="login.failed").delete()
    assert AuditEvent.objects.count() == 1


def test_failed_logins_for_unknown_usernames_show_in_the_ministrys_log(tree, client_for):
    log_in("nobody-here", "wrong-password")
    ministry_manager = factories.manager(tree.ministry)
    html = client_for(ministry_manager).get("/audit/").content.decode()
    assert (
        "nobody-here" in html or AuditEvent.objects.get(action="login.failed").unit == tree.ministry
    )
    assert AuditEvent.objects.get(action="login.failed").unit == tree.ministry
