"""School additions, renames and closures through approval (issue 15, item 6):
accounts.unit_changes and what the other apps do when the tree changes."""

from __future__ import annotations

import threading
from io import BytesIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from openpyxl import Workbook, load_workbook

from accounts import scoping, services
from accounts import unit_changes as changes
from accounts.models import (
    Account,
    AuditAction,
    AuditEvent,
    IssueKind,
    Level,
    Role,
    Unit,
    UnitChange,
    UnitChangeKind,
    UnitChangeStatus,
)
from chat import selectors as chat_selectors
from chat import services as chat_services
from chat.models import Room, RoomKind
from notices import selectors as notice_selectors
from notices.models import AudienceTally
from roll import selectors as roll_selectors
from roll import services as roll_services
from roll.models import ProblemRecord, RecordStatus
from tests import factories
from tests.accounts.helpers import is_logged_in, log_in
from tests.notices.helpers import send
from tests.roll.helpers import alert
from tests.tickets.helpers import engineer, raise_ticket
from tickets import selectors as ticket_selectors
from tickets import services as ticket_services
from tickets.models import EventKind, Status

NEW_CODE = "1301020099"


@pytest.fixture
def people(tree):
    m, s = factories.manager, factories.staff
    return type(
        "People",
        (),
        {
            "ministry": m(tree.ministry, username="moe-boss"),
            "province": m(tree.province, username="prov-boss"),
            "prefecture": m(tree.prefecture, username="pref-boss"),
            "prefecture_staff": s(tree.prefecture, username="pref-clerk"),
            "county": m(tree.county, username="county-boss"),
            "county_staff": s(tree.county, username="county-clerk"),
            "sibling": m(tree.sibling, username="sibling-boss"),
            "school_manager": m(tree.school, username="school-boss"),
            "school_staff": s(tree.school, username="school-clerk"),
            "sibling_school_staff": s(tree.sibling_school, username="sibling-school-clerk"),
        },
    )


def _propose_close(people, tree, reason="并入长安区第二中学"):
    return changes.propose(
        actor=people.county, kind=UnitChangeKind.CLOSE, unit=tree.school, reason=reason
    )


def _propose_add(people, code=NEW_CODE, name="长安区实验小学", school_type="小学"):
    return changes.propose(
        actor=people.county, kind=UnitChangeKind.ADD, code=code, name=name, school_type=school_type
    )


def _approve(actor, change):
    return changes.decide(actor=actor, change_id=change.pk, approve=True)


def _actions(**filters) -> list[str]:
    return list(AuditEvent.objects.filter(**filters).values_list("action", flat=True))


# --- a school closed through approval ---------------------------------------------------------


def test_school_closed_through_approval_disables_accounts_and_they_cannot_log_in(tree, people):
    change = _propose_close(people, tree)
    assert change.status == UnitChangeStatus.PENDING
    assert change.old_name == tree.school.name
    assert Unit.objects.get(pk=tree.school.pk).closed_at is None  # nothing before approval

    change = _approve(people.prefecture, change)

    school = Unit.objects.get(pk=tree.school.pk)
    assert change.status == UnitChangeStatus.APPROVED and change.decided_by == people.prefecture
    assert school.closed_at is not None
    assert not Account.objects.filter(unit=school, is_active=True).exists()
    for account in (people.school_manager, people.school_staff):
        assert not is_logged_in(log_in(account.username, factories.PASSWORD))
    # Everything is in the audit log, in the school's place of the tree.
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCOUNT_DISABLED, target=people.school_staff
    ).exists()
    assert set(_actions(unit=school)) >= {
        AuditAction.UNIT_CHANGE_PROPOSED,
        AuditAction.UNIT_CHANGE_APPROVED,
        AuditAction.UNIT_CLOSED,
        AuditAction.ACCOUNT_DISABLED,
    }
    closed = AuditEvent.objects.get(action=AuditAction.UNIT_CLOSED)
    assert closed.detail["accounts_disabled"] == 2 and closed.actor == people.prefecture
    # A closed school's accounts stay disabled, and it gets no new ones.
    people.school_staff.refresh_from_db()
    with pytest.raises(ValidationError):
        services.account_set_active(actor=people.county, account=people.school_staff, active=True)
    with pytest.raises(PermissionDenied):
        services.account_issue(actor=people.county, unit=school, role=Role.STAFF)
    assert not scoping.can_issue(people.county, school, Role.MANAGER)


def test_closed_school_leaves_region_rooms(tree, people):
    chat_services.region_rooms_ensure(people.school_staff)
    county_room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county)
    assert people.school_staff in chat_selectors.room_members(county_room)
    # A room of the school itself, made by hand earlier, is archived under its name.
    school_room = Room.objects.create(
        kind=RoomKind.REGION, unit=tree.school, name=tree.school.name, levels="school"
    )

    _approve(people.prefecture, _propose_close(people, tree))

    members = set(chat_selectors.room_members(county_room))
    assert people.school_staff not in members and people.school_manager not in members
    assert people.county_staff in members
    school_room.refresh_from_db()
    assert school_room.name != tree.school.name and tree.school.name in school_room.name
    # Even an account of the closed school switched back on by hand is not a member.
    Account.objects.filter(pk=people.school_staff.pk).update(is_active=True)
    assert people.school_staff not in set(chat_selectors.room_members(county_room))


def test_closed_school_leaves_audiences_and_a_closure_recounts(tree, people):
    # A notice to the prefecture's schools, counted before the closure.
    before = send(people.province, to=[tree.prefecture.code], levels=["school"])
    notice_selectors.audience_counted(before)
    bucket = AudienceTally.objects.get(notice=before, path=tree.county.path)
    assert (bucket.units, bucket.accounts) == (1, 2)

    _approve(people.prefecture, _propose_close(people, tree))

    # The closure dropped the stored counts; the next look counts without the school.
    assert not AudienceTally.objects.filter(notice=before).exists()
    notice_selectors.audience_counted(before)
    assert not AudienceTally.objects.filter(notice=before, path=tree.county.path).exists()
    sibling = AudienceTally.objects.get(notice=before, path=tree.sibling.path)
    assert (sibling.units, sibling.accounts) == (1, 1)
    # A new notice to the county does not count the closed school.
    after = send(people.county, to=[tree.county.code], levels=["county", "school"])
    assert set(notice_selectors.audience_units(after)) == {tree.county}
    assert set(notice_selectors.audience_accounts(after)) == {people.county, people.county_staff}
    assert not notice_selectors.reaches_someone([tree.county], ["school"])


def test_closed_school_open_tickets_pass_to_the_county(tree, people):
    county_engineer = engineer(tree.county, username="county-eng")
    ticket = raise_ticket(people.school_staff)
    done = raise_ticket(people.school_staff, title="已解决的问题")
    ticket_services.ticket_transition(
        actor=county_engineer, ticket=done, action="resolve", text="已处理"
    )
    assert ticket.tier == tree.county
    assert not ticket_selectors.reporter_side(people.county_staff, ticket)

    _approve(people.prefecture, _propose_close(people, tree))

    ticket.refresh_from_db()
    assert ticket.status in (Status.NEW, Status.ASSIGNED)
    # The county stands on the reporter side now: it sees the ticket among its own…
    assert ticket in ticket_selectors.my_tickets(people.county_staff)
    assert ticket_selectors.reporter_side(people.county_staff, ticket)
    assert ticket_selectors.can_view(people.county_staff, ticket)
    # …and its engineers still work it, the county being its tier.
    assert ticket_selectors.can_work(county_engineer, ticket)
    # The hand-over is on the timeline (open tickets only), shown to the reporter side.
    entry = ticket.events.get(kind=EventKind.ROUTED, data__handed_over=True)
    assert not entry.internal
    assert entry.data["to_unit"] == tree.county.name
    assert not done.events.filter(data__handed_over=True).exists()
    # A sibling county is no part of it.
    sibling_staff = factories.staff(tree.sibling, username="sibling-clerk")
    assert not ticket_selectors.can_view(sibling_staff, ticket)
    assert ticket not in ticket_selectors.visible_tickets(sibling_staff)
    # The county answers for the reporter.
    ticket_services.ticket_reply(
        actor=people.county_staff, ticket=ticket, body="学校已撤并，由区县跟进。"
    )
    client = Client()
    client.force_login(people.county_staff, backend="accounts.backends.PasswordBackend")
    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert f"{tree.school.name} 已撤销：工单移交 {tree.county.name}" in page


def test_closed_school_open_problem_records_pass_to_the_county(tree, people):
    key, _secret = roll_services.key_issue(actor=people.province, unit=tree.province)
    roll_services.intake(key=key, payload={"alerts": [alert("HB-1"), alert("HB-2")]})
    records = list(ProblemRecord.objects.filter(school=tree.school).order_by("pk"))
    assert len(records) == 2
    assert not roll_selectors.can_work(people.county, records[0])

    _approve(people.prefecture, _propose_close(people, tree))

    # The county's managers (and engineers) see them and work them down; a sibling
    # county does not.
    visible = roll_selectors.visible_records(people.county)
    assert set(visible.filter(status=RecordStatus.OPEN)) == set(records)
    assert roll_selectors.can_work(people.county, records[0])
    assert not roll_selectors.can_work(people.sibling, records[0])
    n = roll_services.records_update(
        actor=people.county,
        record_ids=[r.pk for r in records],
        action="resolve",
        note="学校撤并，学生已转入长安区第二中学",
    )
    assert n == 2
    assert set(
        ProblemRecord.objects.filter(school=tree.school).values_list("status", flat=True)
    ) == {RecordStatus.RESOLVED}


def test_closed_school_page_lets_the_county_work_its_records(tree, people, client):
    key, _secret = roll_services.key_issue(actor=people.province, unit=tree.province)
    roll_services.intake(key=key, payload={"alerts": [alert("HB-1")]})
    record = ProblemRecord.objects.get(alert_id="HB-1")
    client.force_login(people.county, backend="accounts.backends.PasswordBackend")
    page = client.get(f"/roll/units/{tree.school.code}/")
    assert page.status_code == 200 and b'name="record"' not in page.content
    _approve(people.prefecture, _propose_close(people, tree))

    page = client.get(f"/roll/units/{tree.school.code}/")
    assert page.status_code == 200
    assert b'name="record"' in page.content and b'name="school"' in page.content
    response = client.post(
        "/roll/records/",
        {"record": [record.pk], "action": "start", "school": tree.school.code},
    )
    assert response.status_code == 302 and response["Location"].endswith(
        f"/roll/units/{tree.school.code}/"
    )
    record.refresh_from_db()
    assert record.status == RecordStatus.IN_PROGRESS


def test_bulk_issuance_for_every_school_skips_closed_schools(tree, people):
    _approve(people.prefecture, _propose_close(people, tree))
    with pytest.raises(ValidationError):  # the county's only school is closed
        services.accounts_issue_bulk(
            actor=people.county, root=tree.county, scope=IssueKind.SCHOOLS, roles="staff"
        )
    result = services.accounts_issue_bulk(
        actor=people.prefecture, root=tree.prefecture, scope=IssueKind.SCHOOLS, roles="manager"
    )
    assert {r.unit_code for r in result.rows} == {tree.sibling_school.code}


# --- a school added through approval ----------------------------------------------------------


def test_school_added_through_approval(tree, people):
    before = send(people.province, to=[tree.county.code], levels=["county", "school"])
    chat_services.region_rooms_ensure(people.county_staff)
    county_room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county)
    change = _propose_add(people)
    assert not Unit.objects.filter(code=NEW_CODE).exists()

    change = changes.decide(actor=people.province, change_id=change.pk, approve=True)

    school = Unit.objects.get(code=NEW_CODE)
    assert change.unit == school and change.status == UnitChangeStatus.APPROVED
    assert (school.level, school.parent, school.school_type) == (
        Level.SCHOOL,
        tree.county,
        "小学",
    )
    assert school.path == tree.county.path + NEW_CODE and school.depth == tree.county.depth + 1
    assert school.initials == services.unit_initials("长安区实验小学") == "caqsyxx"
    assert AuditAction.UNIT_ADDED in _actions(unit=school)
    # Issuance gives it accounts, with the county's other schools.
    result = services.accounts_issue_bulk(
        actor=people.county, root=tree.county, scope=IssueKind.SCHOOLS, roles="staff"
    )
    assert NEW_CODE in {r.unit_code for r in result.rows}
    newcomer = Account.objects.get(unit=school, role=Role.STAFF)
    Account.objects.filter(pk=newcomer.pk).update(must_change_password=False)
    newcomer.refresh_from_db()
    # It is in its county's region room…
    assert newcomer in set(chat_selectors.room_members(county_room))
    assert county_room in chat_selectors.rooms_of(newcomer)
    # …in the audience of a notice sent before it existed, and of a new one to the county.
    assert notice_selectors.reaches(before, newcomer)
    after = send(people.county, to=[tree.county.code], levels=["school"])
    assert notice_selectors.reaches(after, newcomer)
    assert school in set(notice_selectors.audience_units(after))
    notice_selectors.audience_counted(after)
    assert AudienceTally.objects.get(notice=after, path=tree.county.path).units == 2


def test_an_addition_recounts_stored_audiences(tree, people):
    notice = send(people.province, to=[tree.province.code], levels=["school"])
    notice_selectors.audience_counted(notice)
    assert AudienceTally.objects.get(notice=notice, path=tree.county.path).units == 1
    _approve(people.prefecture, _propose_add(people))
    notice_selectors.audience_counted(notice)
    assert AudienceTally.objects.get(notice=notice, path=tree.county.path).units == 2


def test_a_code_taken_meanwhile_stops_the_approval(tree, people):
    change = _propose_add(people)
    factories.unit(Level.SCHOOL, NEW_CODE, "别处的学校", tree.sibling)
    with pytest.raises(ValidationError):
        _approve(people.prefecture, change)
    change.refresh_from_db()
    assert change.status == UnitChangeStatus.PENDING
    assert not AuditEvent.objects.filter(action=AuditAction.UNIT_CHANGE_APPROVED).exists()


# --- rename, refusal, withdrawal ---------------------------------------------------------------


def test_rename_through_approval(tree, people):
    room = Room.objects.create(
        kind=RoomKind.REGION, unit=tree.school, name=tree.school.name, levels="school"
    )
    old = tree.school.name
    change = changes.propose(
        actor=people.county, kind=UnitChangeKind.RENAME, unit=tree.school, name="长安区第一高级中学"
    )
    _approve(people.province, change)
    school = Unit.objects.get(pk=tree.school.pk)
    change.refresh_from_db()
    assert school.name == "长安区第一高级中学"
    assert school.initials == services.unit_initials("长安区第一高级中学")
    assert change.old_name == old and change.name == school.name
    room.refresh_from_db()
    assert room.name == school.name
    event = AuditEvent.objects.get(action=AuditAction.UNIT_RENAMED)
    assert (event.detail["old_name"], event.detail["name"]) == (old, school.name)
    assert Account.objects.filter(unit=school, is_active=True).count() == 2  # nothing disabled


def test_refusal_needs_a_reason_and_changes_nothing(tree, people):
    change = _propose_close(people, tree)
    with pytest.raises(ValidationError):
        changes.decide(actor=people.prefecture, change_id=change.pk, approve=False, reason=" ")
    change = changes.decide(
        actor=people.prefecture,
        change_id=change.pk,
        approve=False,
        reason="该校仍有在校生，请先完成学生转出。",
    )
    assert change.status == UnitChangeStatus.REFUSED
    assert change.decision_reason == "该校仍有在校生，请先完成学生转出。"
    assert Unit.objects.get(pk=tree.school.pk).closed_at is None
    assert Account.objects.filter(unit=tree.school, is_active=True).count() == 2
    refused = AuditEvent.objects.get(action=AuditAction.UNIT_CHANGE_REFUSED)
    assert refused.detail["reason"] == change.decision_reason
    # A refused proposal can be decided no more; a new one may be made.
    with pytest.raises(ValidationError):
        _approve(people.prefecture, change)
    _propose_close(people, tree)


def test_withdraw_by_the_proposing_county_only(tree, people):
    change = _propose_add(people)
    with pytest.raises(PermissionDenied):
        changes.withdraw(actor=people.sibling, change_id=change.pk)
    changes.withdraw(actor=people.county, change_id=change.pk)
    change.refresh_from_db()
    assert change.status == UnitChangeStatus.WITHDRAWN
    assert AuditAction.UNIT_CHANGE_WITHDRAWN in _actions()
    with pytest.raises(ValidationError):
        _approve(people.prefecture, change)
    with pytest.raises(ValidationError):
        changes.withdraw(actor=people.county, change_id=change.pk)
    _propose_add(people)  # the code is free again


def test_double_approval_applies_once(tree, people):
    change = _propose_close(people, tree)
    _approve(people.prefecture, change)
    with pytest.raises(ValidationError):
        _approve(people.province, change)
    assert AuditEvent.objects.filter(action=AuditAction.UNIT_CLOSED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.UNIT_CHANGE_APPROVED).count() == 1
    assert UnitChange.objects.get(pk=change.pk).decided_by == people.prefecture


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_apply_once():
    tree = factories.small_tree()
    county = factories.manager(tree.county, username="county-boss")
    deciders = [
        factories.manager(tree.prefecture, username="pref-boss"),
        factories.manager(tree.province, username="prov-boss"),
    ]
    factories.staff(tree.school, username="school-clerk")
    change = changes.propose(
        actor=county, kind=UnitChangeKind.CLOSE, unit=tree.school, reason="撤并"
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(actor):
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            changes.decide(actor=actor, change_id=change.pk, approve=True)
            outcomes.append("approved")
        except ValidationError:
            outcomes.append("already")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(d,)) for d in deciders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["already", "approved"]
    assert AuditEvent.objects.filter(action=AuditAction.UNIT_CLOSED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_DISABLED).count() == 1


# --- who may propose and decide ---------------------------------------------------------------


def test_who_may_decide(tree, people):
    change = _propose_close(people, tree)
    for actor in (people.school_manager, people.sibling, people.county, people.prefecture_staff):
        with pytest.raises(PermissionDenied):
            _approve(actor, change)
        with pytest.raises(PermissionDenied):
            changes.decide(actor=actor, change_id=change.pk, approve=False, reason="不同意")
    assert UnitChange.objects.get(pk=change.pk).status == UnitChangeStatus.PENDING
    assert change not in changes.to_decide(people.county)
    assert change not in changes.to_decide(people.sibling)
    for actor in (people.prefecture, people.province, people.ministry):
        assert changes.can_decide(actor, change)
        assert change in changes.to_decide(actor)
    beijing = factories.manager(tree.municipality, username="bj-boss")
    assert not changes.can_decide(beijing, change) and change not in changes.to_decide(beijing)


def test_who_may_propose(tree, people):
    for actor in (people.school_manager, people.prefecture, people.province, people.county_staff):
        with pytest.raises(PermissionDenied):
            changes.propose(actor=actor, kind=UnitChangeKind.CLOSE, unit=tree.school, reason="x")
    # Only schools of the county's own: a sibling's school is refused by its code.
    with pytest.raises(ValidationError) as refused:
        changes.propose(
            actor=people.county, kind=UnitChangeKind.CLOSE, unit=tree.sibling_school, reason="x"
        )
    assert tree.sibling_school.name not in str(refused.value)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "130102009"}, "code"),  # nine digits
        ({"code": "13010200AB"}, "code"),
        ({"code": "１３０１０２００９９"}, "code"),  # full-width digits
        ({"code": "1301020001"}, "code"),  # the existing school's
        ({"code": "130102"}, "code"),
        ({"name": ""}, "name"),
        ({"name": "长安区第一中学"}, "name"),  # an open school of the county has it
        ({"name": "校" * 101}, "name"),
        ({"school_type": "大学"}, "school_type"),
        ({"school_type": ""}, "school_type"),
    ],
)
def test_bad_additions_are_refused_with_a_reason(tree, people, fields, field):
    values = {"code": NEW_CODE, "name": "长安区实验小学", "school_type": "小学"} | fields
    with pytest.raises(ValidationError) as refused:
        changes.propose(actor=people.county, kind=UnitChangeKind.ADD, **values)
    assert field in refused.value.message_dict
    assert not UnitChange.objects.exists()


def test_bad_renames_and_closures_are_refused(tree, people):
    rename = {"actor": people.county, "kind": UnitChangeKind.RENAME, "unit": tree.school}
    with pytest.raises(ValidationError):
        changes.propose(**rename, name=tree.school.name)  # the same name
    with pytest.raises(ValidationError):
        changes.propose(**rename, name="")
    with pytest.raises(ValidationError):
        changes.propose(actor=people.county, kind=UnitChangeKind.CLOSE, unit=tree.school)
    with pytest.raises(ValidationError):
        changes.propose(
            actor=people.county, kind=UnitChangeKind.CLOSE, unit=tree.county, reason="x"
        )
    _propose_close(people, tree)
    with pytest.raises(ValidationError):  # one pending change per school
        changes.propose(**rename, name="新名字")
    with pytest.raises(ValidationError):  # one pending addition per code
        _propose_add(people)
        _propose_add(people, name="另一个名字")
    assert UnitChange.objects.count() == 2


def test_a_closed_school_cannot_be_changed_again(tree, people):
    _approve(people.prefecture, _propose_close(people, tree))
    school = Unit.objects.get(pk=tree.school.pk)
    with pytest.raises(ValidationError):
        changes.propose(actor=people.county, kind=UnitChangeKind.RENAME, unit=school, name="新名字")
    assert school not in changes.open_schools(tree.county)


# --- the Excel batch ----------------------------------------------------------------------------


def _workbook(rows, header=changes.COLUMNS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def test_excel_batch_all_good(tree, people):
    second = factories.unit(Level.SCHOOL, "1301020002", "长安区第二中学", tree.county)
    content = _workbook(
        [
            ["新增", NEW_CODE, "长安区实验小学", "小学", ""],
            ["新增", 1301020098, "长安区特殊教育学校", "特殊教育学校", None],
            ["更名", "1301020001", "长安区第一高级中学", "", "更名批复"],
            [None, None, None, None, None],
            ["撤销", second.code, "", "", "并入长安区第一中学"],
        ]
    )
    result = changes.propose_batch(actor=people.county, content=content)
    assert result.errors == []
    assert [c.kind for c in result.changes] == ["add", "add", "rename", "close"]
    assert result.changes[1].code == "1301020098"  # a number cell read as its digits
    assert len({c.batch for c in result.changes}) == 1 and result.changes[0].batch is not None
    assert UnitChange.objects.filter(status=UnitChangeStatus.PENDING).count() == 4
    for c in result.changes:
        _approve(people.prefecture, c)
    assert Unit.objects.filter(parent=tree.county, closed_at__isnull=True).count() == 3


def test_excel_batch_names_every_bad_row_and_stores_nothing(tree, people):
    content = _workbook(
        [
            ["新增", NEW_CODE, "长安区实验小学", "小学", ""],  # good
            ["新增", "12345", "短码学校", "小学", ""],  # row 3: code
            ["新增", NEW_CODE, "重复标识码学校", "小学", ""],  # row 4: repeats row 2
            ["新增", "1301020097", "", "大学", ""],  # row 5: name and type
            ["更名", tree.sibling_school.code, "新名字", "", ""],  # row 6: not my county
            ["撤销", "1301020001", "", "", ""],  # row 7: no reason
            ["合并", "1301020001", "", "", ""],  # row 8: unknown kind
            ["更名", "1301020001", "长安区第一中学", "", ""],  # row 9: same name
        ]
    )
    result = changes.propose_batch(actor=people.county, content=content)
    assert result.changes == []
    assert not UnitChange.objects.exists()
    by_row: dict[int, list[str]] = {}
    for e in result.errors:
        by_row.setdefault(e.row, []).append(e.column)
    assert by_row == {
        3: ["学校标识码"],
        4: ["学校标识码"],
        5: ["学校名称", "学校类型"],
        6: ["学校标识码"],
        7: ["原因"],
        8: ["变更类型"],
        9: ["学校标识码", "学校名称"],  # the school of row 7 again, and its own name
    }
    assert all(e.reason for e in result.errors)
    assert tree.sibling_school.name not in " ".join(e.reason for e in result.errors)


def test_excel_batch_refuses_a_wrong_file(tree, people):
    with pytest.raises(ValidationError):
        changes.propose_batch(actor=people.county, content=b"not a workbook")
    with pytest.raises(ValidationError):
        changes.propose_batch(
            actor=people.county, content=_workbook([["新增"]], header=["类型", "代码"])
        )
    with pytest.raises(ValidationError):
        changes.propose_batch(actor=people.county, content=_workbook([]))
    with pytest.raises(PermissionDenied):
        changes.propose_batch(actor=people.prefecture, content=_workbook([]))


def test_template_workbook_has_the_columns(tree, people, client):
    client.force_login(people.county, backend="accounts.backends.PasswordBackend")
    response = client.get("/school-changes/template.xlsx")
    assert response.status_code == 200
    ws = load_workbook(BytesIO(response.content)).worksheets[0]
    assert [c.value for c in ws[1]] == changes.COLUMNS
    # Sent back as it is, the template's example rows are refused, not proposed.
    result = changes.propose_batch(actor=people.county, content=response.content)
    assert result.errors and not UnitChange.objects.exists()


# --- pages ------------------------------------------------------------------------------------


def test_pages_propose_and_decide(tree, people, client):
    client.force_login(people.county, backend="accounts.backends.PasswordBackend")
    page = client.get("/school-changes/")
    assert page.status_code == 200
    assert b'id="add-form"' in page.content and b'id="batch-form"' in page.content
    assert tree.school.name.encode() in page.content  # a choice for rename and close
    refused = client.post(
        "/school-changes/propose/",
        {"kind": "add", "add-code": "123", "add-name": "新学校", "add-school_type": "小学"},
    )
    assert refused.status_code == 400 and "学校标识码须为 10 位数字".encode() in refused.content
    assert not UnitChange.objects.exists()
    response = client.post(
        "/school-changes/propose/",
        {
            "kind": "close",
            "close-unit": tree.school.pk,
            "close-reason": "撤并",
        },
    )
    assert response.status_code == 302
    change = UnitChange.objects.get()
    upload = client.post(
        "/school-changes/batch/",
        {"file": BytesIO(_workbook([["新增", "12", "", "", ""]]))},
    )
    assert upload.status_code == 400 and b'id="batch-errors"' in upload.content

    client.force_login(people.prefecture, backend="accounts.backends.PasswordBackend")
    page = client.get("/school-changes/")
    assert page.status_code == 200 and f'data-change="{change.pk}"'.encode() in page.content
    response = client.post(
        "/school-changes/decide/", {"change": change.pk, "decision": "refuse", "reason": ""}
    )
    assert response.status_code == 302
    assert UnitChange.objects.get().status == UnitChangeStatus.PENDING
    response = client.post("/school-changes/decide/", {"change": change.pk, "decision": "approve"})
    assert response.status_code == 302
    assert Unit.objects.get(pk=tree.school.pk).closed_at is not None

    # The sibling county cannot withdraw or decide it, staff cannot open the page.
    client.force_login(people.county_staff, backend="accounts.backends.PasswordBackend")
    assert client.get("/school-changes/").status_code == 403


def test_the_decider_and_the_county_are_told(tree, people):
    from core.models import Event

    def told(what):
        return [
            (e.payload, sorted(t.group for t in e.targets.all()))
            for e in Event.objects.filter(kind="unit.change").order_by("id")
            if e.payload["what"] == what
        ]

    change = _propose_close(people, tree)
    [(payload, groups)] = told("proposed")
    assert payload == {"what": "proposed", "county": "长安区", "name": tree.school.name, "count": 1}
    assert groups == ["t.130100.prefecture.mgr"]  # the county's parent unit's managers
    _approve(people.prefecture, change)
    [(payload, groups)] = told("approved")
    assert groups == ["t.130102.county.mgr"] and payload["name"] == tree.school.name
    refused = _propose_add(people)
    changes.decide(actor=people.province, change_id=refused.pk, approve=False, reason="重复")
    [(payload, groups)] = told("refused")
    assert groups == ["t.130102.county.mgr"] and payload["name"] == "长安区实验小学"


def test_unit_pages_mark_a_closed_school(tree, people, client):
    _approve(people.prefecture, _propose_close(people, tree))
    client.force_login(people.county, backend="accounts.backends.PasswordBackend")
    county_page = client.get(f"/units/{tree.county.code}/").content.decode()
    assert "已撤销" in county_page
    school_page = client.get(f"/units/{tree.school.code}/").content.decode()
    assert 'id="unit-closed"' in school_page
    assert "/people/issue/?unit=" not in school_page  # no issuing for a closed school
