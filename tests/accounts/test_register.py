"""The register of roll administrators (issue 15, task E): built from the accounts of a
unit or its subtree, never a sibling's; paged; the changes since a date from the audit
log; the Excel export in the province's layout, audited."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from accounts import register, services
from accounts.models import AuditAction, AuditEvent, Role
from tests import factories
from tests.accounts.helpers import issue


@pytest.fixture
def people(tree, county_manager, prefecture_manager):
    """Accounts issued through the services (so the audit log has their dates)."""
    school_manager, _ = issue(
        county_manager, tree.school, Role.MANAGER, full_name="王老师", phone="13812345678"
    )
    school_staff, _ = issue(
        county_manager,
        tree.school,
        full_name="李老师",
        phone="0311-12345678",
        is_support_engineer=True,
    )
    sibling_staff, _ = issue(prefecture_manager, tree.sibling_school, full_name="赵老师")
    return {"manager": school_manager, "staff": school_staff, "sibling": sibling_staff}


def test_the_register_lists_the_subtrees_active_accounts_and_no_siblings(
    tree, county_manager, people, client_for
):
    services.account_set_active(actor=county_manager, account=people["staff"], active=False)
    page = client_for(county_manager).get("/people/register/").content.decode()
    assert people["manager"].username in page and "王老师" in page and "13812345678" in page
    assert "county-boss" in page  # the county's own manager
    assert people["staff"].username not in page  # disabled
    assert people["sibling"].username not in page and "赵老师" not in page
    assert "学籍管理员备案表" in page and "备案日期" in page and "尚未激活" in page


def test_rows_carry_role_phone_and_the_date_the_holder_took_the_account(
    tree, county_manager, people
):
    qs = register.register_accounts(actor=county_manager, unit=tree.school, subtree=False)
    rows = {r.username: r for r in register.register_rows(qs)}
    assert set(rows) == {people["manager"].username, people["staff"].username}
    staff = rows[people["staff"].username]
    assert (staff.role, staff.phone, staff.unit_code) == (
        "工作人员、技术支持",
        "0311-12345678",
        tree.school.code,
    )
    assert rows[people["manager"].username].role == "管理员"
    issued = AuditEvent.objects.get(action="account.issued", target=people["staff"]).created_at
    assert staff.since == issued
    # a hand-over gives the account a new holder and a new registration date
    later = timezone.now() + timedelta(days=3)
    services.account_hand_over(actor=county_manager, account=people["staff"], full_name="周老师")
    (row,) = [r for r in register.register_rows(qs.all()) if r.username == people["staff"].username]
    assert row.full_name == "周老师" and issued < row.since < later


def test_a_school_cannot_see_the_register_and_a_sibling_unit_is_404(
    tree, county_manager, county_staff, client_for
):
    assert client_for(county_staff).get("/people/register/").status_code == 403
    client = client_for(county_manager)
    assert client.get(f"/people/register/?unit={tree.sibling.code}").status_code == 404
    assert client.get(f"/people/register.xlsx?unit={tree.prefecture.code}").status_code == 404
    assert not AuditEvent.objects.filter(action="register.exported").exists()


def test_the_register_is_paged(tree, county_manager, client_for):
    for n in range(55):
        factories.staff(tree.school, username=f"s{n:03d}")
    client = client_for(county_manager)
    first = client.get("/people/register/").content.decode()
    assert "s048" in first and "s049" not in first  # county-boss is row 1
    second = client.get("/people/register/?page=2").content.decode()
    assert "s049" in second and "s054" in second and "s000" not in second


def test_changes_since_a_date_list_who_did_what_in_the_subtree(
    tree, county_manager, prefecture_manager, people, client_for
):
    staff = people["staff"]
    services.profile_update(account=staff, full_name="李老师", phone="13900000000")
    services.account_set_active(actor=county_manager, account=staff, active=False)
    services.account_set_active(actor=county_manager, account=staff, active=True)
    services.account_hand_over(actor=county_manager, account=staff, full_name="周老师")
    services.account_move(actor=prefecture_manager, account=people["sibling"], unit=tree.school)
    moved_out = factories.staff(tree.school, username="leaver")
    services.account_move(actor=prefecture_manager, account=moved_out, unit=tree.sibling_school)
    services.account_issue(actor=prefecture_manager, unit=tree.sibling_school, role=Role.STAFF)
    events = register.register_changes(
        actor=county_manager, unit=tree.county, since=timezone.localdate()
    )
    actions = [e.action for e in events]
    assert actions.count("account.moved") == 2  # in and out
    assert {"profile.changed", "account.disabled", "account.enabled", "account.handed_over"} <= set(
        actions
    )
    assert actions.count("account.issued") == 2  # the school's two, not the sibling's
    texts = {e.action: register.change_text(e) for e in events}
    assert texts["profile.changed"] == "电话：0311-12345678 → 13900000000"
    assert texts["account.handed_over"] == "李老师 → 周老师"
    # yesterday's changes are not listed from tomorrow on
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert not register.register_changes(actor=county_manager, unit=tree.county, since=tomorrow)
    page = (
        client_for(county_manager)
        .get(f"/people/register/?since={timezone.localdate():%Y-%m-%d}")
        .content.decode()
    )
    assert "李老师 → 周老师" in page and "county-boss" in page and "修改个人信息" in page


def test_the_excel_register_in_the_provinces_layout(tree, county_manager, people, client_for):
    services.profile_update(account=people["manager"], full_name="王老师", phone="13900000001")
    today = timezone.localdate()
    response = client_for(county_manager).get(
        f"/people/register.xlsx?unit={tree.county.code}&since={today:%Y-%m-%d}"
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="register-130102-')
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    ws = wb.worksheets[0]
    assert ws["A1"].value == "学籍管理员备案表"
    assert (
        "长安区" in ws["A2"].value and "130102" in ws["A2"].value and str(today) in ws["A2"].value
    )
    headers = [c.value for c in ws[3]]
    assert headers == [
        "序号",
        "单位",
        "单位代码",
        "姓名",
        "角色",
        "联系电话",
        "账号",
        "备案日期",
        "状态",
    ]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=4)]
    assert [r[0] for r in rows] == [1, 2, 3]
    by_user = {r[6]: r for r in rows}
    manager = by_user[people["manager"].username]
    assert manager[1:6] == ["长安区第一中学", "1301020001", "王老师", "管理员", "13900000001"]
    assert manager[7] == f"{today:%Y-%m-%d}" and manager[8] == "尚未激活"
    assert people["sibling"].username not in by_user
    assert ws.freeze_panes == "A4" and ws.print_title_rows == "$3:$3"
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth == 1 and ws.column_dimensions["B"].width == 30
    assert "A1:I1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["F4"].number_format == "@"  # phones stay text
    changes = wb.worksheets[1]
    assert changes["A1"].value == "学籍管理员变更情况"
    assert [c.value for c in changes[3]][:3] == ["序号", "时间", "变更"]
    change_rows = [[c.value for c in r] for r in changes.iter_rows(min_row=4)]
    assert any(r[2] == "修改个人信息" and "13812345678 → 13900000001" in r[6] for r in change_rows)
    event = AuditEvent.objects.get(action=AuditAction.REGISTER_EXPORTED)
    assert event.actor_username == "county-boss" and event.unit_path == tree.county.path
    assert event.detail == {"rows": 3, "subtree": True, "since": str(today)}


def test_the_excel_register_without_a_date_has_one_sheet_and_escapes_formulas(
    tree, county_manager, client_for
):
    factories.staff(tree.school, username="evil", full_name='=HYPERLINK("x")')
    response = client_for(county_manager).get("/people/register.xlsx?scope=unit&unit=1301020001")
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert len(wb.worksheets) == 1
    ws = wb.worksheets[0]
    assert ws["D4"].value == '=HYPERLINK("x")' and ws["D4"].data_type == "s"
    assert "仅本单位" in ws["A2"].value
