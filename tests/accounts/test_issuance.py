"""Issuing accounts top-down, one at a time or in bulk, and the credential sheet."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from openpyxl import load_workbook

from accounts import services
from accounts.models import Account, AuditEvent, IssueBatch, Role
from tests import factories
from tests.accounts.helpers import is_logged_in, issue, log_in


def bulk(actor, root, scope="children", roles="manager_and_staff"):
    return services.accounts_issue_bulk(actor=actor, root=root, scope=scope, roles=roles)


def held(unit):
    """(username, role) of the accounts a unit holds, sorted."""
    return sorted(unit.accounts.values_list("username", "role"))


def test_a_manager_issues_an_account_for_a_unit_below(prefecture_manager, tree):
    account, code = issue(prefecture_manager, tree.county, full_name="王芳")
    assert (account.unit, account.role, account.full_name) == (tree.county, Role.STAFF, "王芳")
    assert account.must_change_password and not account.has_usable_password()
    assert account.issued_by == prefecture_manager
    assert code


def test_a_manager_cannot_issue_a_manager_for_its_own_unit(county_manager, tree):
    with pytest.raises(PermissionDenied):
        issue(county_manager, tree.county, Role.MANAGER)
    assert not tree.county.accounts.exclude(pk=county_manager.pk).exists()


def test_a_manager_can_issue_staff_for_its_own_unit(county_manager, tree):
    account, _code = issue(county_manager, tree.county, Role.STAFF)
    assert (account.unit, account.role) == (tree.county, Role.STAFF)


def test_a_manager_cannot_issue_outside_its_subtree(county_manager, tree):
    for unit in (tree.sibling, tree.prefecture, tree.muni_county):
        with pytest.raises(PermissionDenied):
            issue(county_manager, unit, Role.STAFF)
    assert Account.objects.count() == 1


def test_staff_cannot_issue_at_all(county_staff, tree):
    with pytest.raises(PermissionDenied):
        issue(county_staff, tree.school, Role.STAFF)
    with pytest.raises(PermissionDenied):
        bulk(county_staff, tree.county)


def test_bulk_for_children_gives_each_child_a_manager_and_a_staff(prefecture_manager, tree):
    result = bulk(prefecture_manager, tree.prefecture)
    assert result.batch.account_count == 4
    assert held(tree.county) == [("130102-m1", "manager"), ("130102-s1", "staff")]
    assert held(tree.sibling) == [("130104-m1", "manager"), ("130104-s1", "staff")]


def test_bulk_for_schools_gives_one_account_to_every_school_below(province_manager, tree):
    result = bulk(province_manager, tree.province, scope="schools", roles="staff")
    assert result.batch.account_count == 2
    assert held(tree.school) == [("1301020001-s1", "staff")]
    assert held(tree.sibling_school) == [("1301040001-s1", "staff")]
    assert not tree.muni_school.accounts.exists()


def test_bulk_skips_units_that_already_have_an_active_account_of_the_role(prefecture_manager, tree):
    issue(prefecture_manager, tree.county, Role.MANAGER)
    result = bulk(prefecture_manager, tree.prefecture)
    assert (result.batch.account_count, result.batch.skipped_count) == (3, 1)
    assert tree.county.accounts.filter(role=Role.MANAGER).count() == 1


def test_bulk_does_not_skip_a_unit_whose_account_is_disabled(prefecture_manager, tree):
    old, _code = issue(prefecture_manager, tree.county, Role.MANAGER)
    services.account_set_active(actor=prefecture_manager, account=old, active=False)
    result = bulk(prefecture_manager, tree.prefecture, roles="manager")
    assert result.batch.skipped_count == 0
    assert "130102-m2" in [r.username for r in result.rows]


def test_bulk_with_nothing_left_to_issue_is_refused(prefecture_manager, tree):
    bulk(prefecture_manager, tree.prefecture)
    batches = IssueBatch.objects.count()
    with pytest.raises(ValidationError):
        bulk(prefecture_manager, tree.prefecture)
    assert IssueBatch.objects.count() == batches


def test_bulk_under_a_unit_without_children_is_refused(county_manager, tree):
    with pytest.raises(ValidationError):
        bulk(county_manager, tree.school)


def test_usernames_are_numbered_past_existing_ones(prefecture_manager, tree):
    first, _ = issue(prefecture_manager, tree.county, Role.STAFF)
    second, _ = issue(prefecture_manager, tree.county, Role.STAFF)
    manager, _ = issue(prefecture_manager, tree.county, Role.MANAGER)
    assert [first.username, second.username, manager.username] == [
        "130102-s1",
        "130102-s2",
        "130102-m1",
    ]


def test_numbering_skips_a_name_chosen_by_hand_for_another_unit(prefecture_manager, tree):
    issue(prefecture_manager, tree.school, username="130102-s2")
    first, _ = issue(prefecture_manager, tree.county, Role.STAFF)
    second, _ = issue(prefecture_manager, tree.county, Role.STAFF)
    assert (first.username, second.username) == ("130102-s1", "130102-s3")


def test_a_chosen_username_is_used_and_must_be_free(prefecture_manager, tree):
    account, _ = issue(prefecture_manager, tree.county, username="ChangAn-Li")
    assert account.username == "changan-li"
    with pytest.raises(ValidationError):
        issue(prefecture_manager, tree.county, username="changan-LI")


def test_each_issued_account_gets_one_audit_row(prefecture_manager, tree):
    result = bulk(prefecture_manager, tree.prefecture)
    events = AuditEvent.objects.filter(action="account.issued")
    assert events.count() == 4
    assert sorted(events.values_list("target_username", flat=True)) == sorted(
        r.username for r in result.rows
    )
    assert set(events.values_list("actor_username", flat=True)) == {"pref-boss"}


# --- the credential sheet -------------------------------------------------------


def download(client, batch):
    return client.get(f"/people/batches/{batch.pk}/sheet.xlsx", HTTP_ACCEPT_LANGUAGE="en")


def sheet_rows(response):
    sheet = load_workbook(io.BytesIO(response.content)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_the_credential_sheet_lists_every_issued_account(prefecture_manager, tree, client_for):
    result = bulk(prefecture_manager, tree.prefecture)
    response = download(client_for(prefecture_manager), result.batch)
    assert response.status_code == 200
    rows = sheet_rows(response)
    assert rows[0] == [
        "Unit code",
        "Unit name",
        "Username",
        "Role",
        "Person",
        "Initial code",
        "Code expires",
    ]
    assert sorted(r[2] for r in rows[1:]) == ["130102-m1", "130102-s1", "130104-m1", "130104-s1"]
    assert ["130102", "长安区", "130102-m1", "Manager"] in [r[:4] for r in rows[1:]]


def test_the_codes_in_the_credential_sheet_log_in(prefecture_manager, tree, client_for):
    result = bulk(prefecture_manager, tree.prefecture)
    rows = sheet_rows(download(client_for(prefecture_manager), result.batch))[1:]
    assert len(rows) == 4
    for row in rows:
        assert is_logged_in(log_in(row[2], row[5]))


def test_the_batch_page_shows_the_codes_to_its_issuer(prefecture_manager, tree, client_for):
    result = bulk(prefecture_manager, tree.prefecture)
    page = client_for(prefecture_manager).get(f"/people/batches/{result.batch.pk}/")
    assert page.status_code == 200
    assert all(r.code in page.content.decode() for r in result.rows)
    assert page["Cache-Control"] == "no-store"


def test_another_manager_cannot_open_someone_elses_batch(prefecture_manager, tree, client_for):
    result = bulk(prefecture_manager, tree.prefecture)
    other = client_for(factories.manager(tree.prefecture))
    assert other.get(f"/people/batches/{result.batch.pk}/").status_code == 404
    assert download(other, result.batch).status_code == 404


def test_an_expired_sheet_is_neither_shown_nor_downloadable(prefecture_manager, tree, client_for):
    result = bulk(prefecture_manager, tree.prefecture)
    IssueBatch.objects.filter(pk=result.batch.pk).update(
        sheet_expires_at=timezone.now() - timedelta(minutes=1)
    )
    client = client_for(prefecture_manager)
    page = client.get(f"/people/batches/{result.batch.pk}/").content.decode()
    assert not any(r.code in page for r in result.rows)
    response = download(client, result.batch)
    assert response.status_code == 302
    assert response.url == f"/people/batches/{result.batch.pk}/"


def test_purging_drops_only_expired_sheets(prefecture_manager, tree):
    expired = bulk(prefecture_manager, tree.prefecture, roles="staff").batch
    fresh = bulk(prefecture_manager, tree.prefecture, roles="manager").batch
    IssueBatch.objects.filter(pk=expired.pk).update(sheet_expires_at=timezone.now())
    assert services.purge_expired_credential_sheets() == 1
    expired.refresh_from_db()
    fresh.refresh_from_db()
    assert expired.sheet is None and fresh.sheet is not None
