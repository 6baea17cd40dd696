"""The home page's to-dos (issue 15, item 5): what needs me now, section by section, and
for managers the child units that lag behind; nothing from outside my scope; empty
states; and a page whose query count does not grow with the data behind it."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Level
from chat import services as chat_services
from chat import todo as chat_todo
from chat.models import Room, RoomKind
from escalation.models import DutyProfile
from notices import services as notice_services
from notices import todo as notice_todo
from notices.models import Notice
from notices.selectors import audience_counted
from roll import todo as roll_todo
from roll.models import ProblemRecord
from tests import factories
from tests.notices.helpers import make_people, send
from tests.tickets.helpers import engineer, raise_ticket
from tickets import todo as ticket_todo
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)


@pytest.fixture
def people(tree):
    return make_people(tree)


def ack_notice(author, *, to, levels=("school",), hours=48, title="请回执", **kw):
    return send(
        author,
        to=to,
        levels=levels,
        title=title,
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(hours=hours),
        **kw,
    )


def overdue(notice, *, days=1):
    Notice.objects.filter(pk=notice.pk).update(ack_deadline=timezone.now() - timedelta(days=days))


def record(school, *, graduating=False, name="张三", days=1, status="open"):
    n = next(_seq)
    return ProblemRecord.objects.create(
        scope="130000",
        alert_id=f"T-{n}",
        kind="id_duplicate",
        school=school,
        school_path=school.path,
        name=name,
        grade="9" if graduating else "7",
        graduating=graduating,
        detected_at=timezone.now() - timedelta(days=days),
        status=status,
        change_seq=10_000 + n,
        batch_id=1,
    )


def school(county, code, name=None):
    return factories.unit(Level.SCHOOL, code, name or f"学校{code}", county)


def home(client_for, account):
    response = client_for(account).get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


# --- acknowledgements ---------------------------------------------------------------


def test_acks_due_soonest_first_with_overdue_marked(tree, people, client_for):
    author = people.province_manager
    later = ack_notice(author, to=["130000"], hours=72, title="晚截止")
    sooner = ack_notice(author, to=["130000"], hours=24, title="早截止")
    late = ack_notice(author, to=["130000"], hours=24, title="已过期")
    overdue(late)
    no_deadline = send(author, to=["130000"], levels=["school"], title="无期限", requires_ack=True)
    data = notice_todo.acks_due(people.school_staff)
    assert [n.pk for n in data["items"]] == [late.pk, sooner.pk, later.pk, no_deadline.pk]
    assert [n.overdue for n in data["items"]] == [True, False, False, False]
    page = home(client_for, people.school_staff)
    assert f'data-notice="{late.pk}"' in page
    assert reverse("notice_detail", args=[late.pk]) in page


def test_acks_leave_out_acknowledged_withdrawn_superseded_and_no_ack(tree, people):
    author = people.province_manager
    acked = ack_notice(author, to=["130000"], title="已回执")
    notice_services.notice_acknowledge(account=people.school_staff, notice=acked)
    withdrawn = ack_notice(author, to=["130000"], title="已撤回")
    Notice.objects.filter(pk=withdrawn.pk).update(withdrawn_at=timezone.now())
    superseded = ack_notice(author, to=["130000"], title="已更正")
    Notice.objects.filter(pk=superseded.pk).update(superseded_at=timezone.now())
    send(author, to=["130000"], levels=["school"], title="无需回执")
    pending = ack_notice(author, to=["130000"], title="待回执")
    data = notice_todo.acks_due(people.school_staff)
    assert [n.pk for n in data["items"]] == [pending.pk]
    assert data["count"] == 1


def test_acks_beyond_the_limit_are_counted(tree, people):
    for i in range(notice_todo.ACK_LIMIT + 3):
        ack_notice(people.province_manager, to=["130000"], hours=10 + i)
    data = notice_todo.acks_due(people.school_staff)
    assert len(data["items"]) == notice_todo.ACK_LIMIT
    assert (data["count"], data["more"]) == (notice_todo.ACK_LIMIT + 3, 3)


def test_acks_of_another_county_do_not_appear(tree, people):
    ack_notice(people.province_manager, to=["130104"], title="桥西区的通知")
    assert notice_todo.acks_due(people.school_staff)["count"] == 0
    assert notice_todo.acks_due(people.sibling_school_staff)["count"] == 1


# --- tickets --------------------------------------------------------------------------


@pytest.fixture
def desk(tree):
    eng = engineer(tree.county, username="county-eng")
    return eng


def test_reporter_sees_tickets_waiting_for_reply_and_confirmation(tree, people, desk):
    from tickets import services

    reporter = people.school_staff
    asked = raise_ticket(reporter, title="需要补充材料")
    solved = raise_ticket(reporter, title="已解决待确认")
    quiet = raise_ticket(reporter, title="处理中")
    asked, solved = Ticket.objects.get(pk=asked.pk), Ticket.objects.get(pk=solved.pk)
    assert asked.assignee_id == desk.pk
    services.ticket_transition(actor=desk, ticket=asked, action="wait", text="请上传截图")
    services.ticket_transition(actor=desk, ticket=solved, action="resolve", text="已修复")
    data = ticket_todo.waiting_on(reporter)
    assert [(t.pk, t.why) for t in data["items"]] == [(asked.pk, "reply"), (solved.pk, "confirm")]
    assert quiet.pk not in [t.pk for t in data["items"]]
    assert ticket_todo.waiting_on(people.school_manager)["count"] == 0


def test_engineer_sees_assigned_nearest_sla_first_and_the_unassigned_queue(tree, people, desk):
    first = raise_ticket(people.school_staff, title="一")
    urgent = raise_ticket(people.school_staff, title="二", priority="urgent")
    DutyProfile.objects.update_or_create(account=desk, defaults={"on_duty": False})
    waiting = raise_ticket(people.school_staff, title="三")
    assert Ticket.objects.get(pk=waiting.pk).assignee_id is None
    data = ticket_todo.waiting_on(desk)
    assigned = [t.pk for t in data["items"] if t.why == "assigned"]
    assert assigned == [urgent.pk, first.pk]
    assert [t.pk for t in data["items"] if t.why == "queue"] == [waiting.pk]
    other = engineer(tree.sibling, username="sibling-eng")
    assert ticket_todo.waiting_on(other)["count"] == 0


# --- problem records ------------------------------------------------------------------


def test_school_sees_open_records_graduating_first(tree, people, client_for):
    old = record(tree.school, days=9, name="甲")
    grad = record(tree.school, graduating=True, days=1, name="乙")
    record(tree.school, status="resolved", name="丙")
    record(tree.sibling_school, graduating=True, name="丁")
    data = roll_todo.open_records(people.school_staff)
    assert [r.pk for r in data["items"]] == [grad.pk, old.pk]
    assert (data["count"], data["graduating"]) == (2, 1)
    page = home(client_for, people.school_staff)
    assert f'data-record="{grad.pk}"' in page and "丁" not in page


def test_county_gets_a_count_and_staff_above_the_school_none(tree, people):
    record(tree.school, graduating=True)
    record(tree.sibling_school)
    data = roll_todo.open_records(people.county_manager)
    assert (data["count"], data["graduating"], data["items"]) == (1, 1, [])
    assert roll_todo.open_records(people.county_staff) is None


# --- chat -----------------------------------------------------------------------------


def test_unread_rooms_with_counts_and_unread_mentions(tree, people):
    for account in (people.school_staff, people.county_staff):
        chat_services.region_rooms_ensure(account)
    room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county)
    chat_services.message_post(account=people.county_staff, room=room, body="大家好")
    chat_services.message_post(
        account=people.county_staff, room=room, body="@school-clerk 请核对问题学籍"
    )
    data = chat_todo.unread(people.school_staff)
    assert [(r["room"].pk, r["unread"]) for r in data["rooms"]] == [(room.pk, 2)]
    assert [m.body for m in data["mentions"]] == ["@school-clerk 请核对问题学籍"]
    chat_services.mark_read(account=people.school_staff, room=room, seq=room.last_seq + 2)
    data = chat_todo.unread(people.school_staff)
    assert (data["count"], data["mentions"]) == (0, [])


def test_mentions_are_found_where_the_database_cannot_search_json(tree, people, monkeypatch):
    """SQLite (the embedded default) has no JSON containment: the unread messages are
    looked through instead."""
    for account in (people.school_staff, people.county_staff):
        chat_services.region_rooms_ensure(account)
    room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county)
    chat_services.message_post(account=people.county_staff, room=room, body="@school-clerk 请看")
    chat_services.message_post(account=people.county_staff, room=room, body="@county-boss 请看")
    monkeypatch.setattr(connection.features, "supports_json_field_contains", False)
    mentions = chat_todo.unread(people.school_staff)["mentions"]
    assert [m.body for m in mentions] == ["@school-clerk 请看"]


# --- empty states ---------------------------------------------------------------------


def test_nothing_to_do_shows_the_overall_and_each_sections_empty_state(tree, people, client_for):
    page = home(client_for, people.school_staff)
    assert 'id="todo-none"' in page
    for section in ("todo-acks", "todo-tickets", "todo-records", "todo-chat"):
        assert f'id="{section}"' in page
    assert page.count('class="empty"') >= 4
    assert 'id="todo-lag"' not in page


def test_something_to_do_hides_the_overall_empty_state(tree, people, client_for):
    ack_notice(people.province_manager, to=["130000"])
    page = home(client_for, people.school_staff)
    assert 'id="todo-none"' not in page


# --- managers: the child units that lag -----------------------------------------------


def test_county_manager_sees_lagging_schools_most_behind_first(tree, people, desk, client_for):
    behind = tree.school
    on_time = school(tree.county, "1301020002", "准时学校")
    closed = school(tree.county, "1301020003", "已撤并学校")
    factories.staff(behind, username="behind-2")
    done = factories.staff(on_time, username="on-time")
    factories.staff(closed, username="closed-1")
    notice = ack_notice(people.county_manager, to=["130102"])
    notice_services.notice_acknowledge(account=done, notice=notice)
    overdue(notice)
    from accounts.models import Unit

    Unit.objects.filter(pk=closed.pk).update(closed_at=timezone.now())
    record(behind, graduating=True)
    record(closed)
    raise_ticket(people.school_staff)
    manager = Unit.objects.get(pk=tree.county.pk)
    people.county_manager.unit = manager
    lag = notice_todo.lagging_units(people.county_manager)
    # The school's two staff and its manager: three accounts have not acknowledged.
    assert [(r["unit"].code, r["missing"], r["notice"]) for r in lag["rows"]] == [
        (behind.code, 3, notice.pk)
    ]
    records = roll_todo.lagging_units(people.county_manager)
    assert [(r["unit"].code, r["open"], r["graduating"]) for r in records["rows"]] == [
        (behind.code, 1, 1)
    ]
    tickets = ticket_todo.lagging_units(people.county_manager)
    assert [(r["unit"].code, r["open"]) for r in tickets["rows"]] == [(behind.code, 1)]
    page = home(client_for, people.county_manager)
    stats = reverse("notice_stats", args=[notice.pk]) + f"?unit={behind.code}"
    assert stats in page
    assert reverse("roll_unit", args=[behind.code]) in page
    assert f"{reverse('ticket_all')}?status=open&amp;unit={behind.code}" in page
    assert closed.name not in page


def test_province_manager_lag_comes_from_the_tallies(tree, people):
    other = factories.unit(Level.PREFECTURE, "130200", "唐山市", tree.province)
    other_county = factories.unit(Level.COUNTY, "130202", "路南区", other)
    other_school = school(other_county, "1302020001")
    factories.staff(other_school, username="ts-1")
    notice = ack_notice(people.province_manager, to=["130000"])
    notice_services.notice_acknowledge(account=people.school_staff, notice=notice)
    overdue(notice)
    lag = notice_todo.lagging_units(people.province_manager)
    # 石家庄: the 长安区 school's manager, 桥西区's school staff (the 长安区 staff acked).
    assert [(r["unit"].code, r["missing"]) for r in lag["rows"]] == [("130100", 2), ("130200", 1)]
    assert notice_todo.lagging_units(people.school_manager) is None
    assert notice_todo.lagging_units(people.county_staff) is None


def test_home_counts_at_most_two_uncounted_audiences_a_view(tree, people):
    from notices.models import AudienceTally

    for _ in range(3):
        overdue(ack_notice(people.province_manager, to=["130000"]))
    notice_todo.lagging_units(people.province_manager)
    counted = AudienceTally.objects.values("notice").distinct().count()
    assert counted == notice_todo.RECOUNTS_PER_VIEW
    notice_todo.lagging_units(people.province_manager)
    assert AudienceTally.objects.values("notice").distinct().count() == 3


def test_lag_leaves_out_notices_of_another_branch(tree, people):
    notice = ack_notice(people.beijing_manager, to=["110000"])
    overdue(notice)
    assert notice_todo.lagging_units(people.province_manager)["rows"] == []
    assert notice_todo.lagging_units(people.county_manager)["rows"] == []


def test_ticket_list_narrows_to_a_unit_in_my_area_only(tree, people, desk, client_for):
    mine = raise_ticket(people.school_staff, title="长安区工单")
    raise_ticket(people.sibling_school_staff, title="桥西区工单")
    client = client_for(people.county_manager)
    page = client.get(reverse("ticket_all") + f"?status=open&unit={tree.school.code}")
    rows = page.content.decode()
    assert "长安区工单" in rows and 'id="ticket-within"' in rows
    client = client_for(people.prefecture_manager)
    rows = client.get(reverse("ticket_all") + f"?unit={tree.sibling_school.code}").content.decode()
    assert "长安区工单" not in rows and "桥西区工单" in rows
    assert mine.pk
    # A unit outside my area narrows nothing (and shows nothing of it).
    client = client_for(people.sibling_manager)
    rows = client.get(reverse("ticket_all") + f"?unit={tree.school.code}").content.decode()
    assert "长安区工单" not in rows and 'id="ticket-within"' not in rows


# --- cost -----------------------------------------------------------------------------


def _grow(tree, people, size: int, start: int):
    """`size` more of everything under 长安区: schools with staff, overdue notices,
    tickets, records and chat messages."""
    author = people.county_manager
    for i in range(size):
        unit = school(tree.county, f"13010290{start + i:02d}")
        factories.staff(unit, username=f"grow-{start + i}")
        record(unit, graduating=i % 2 == 0)
        record(tree.school, graduating=i % 3 == 0)
        late = ack_notice(author, to=["130102"], title=f"逾期{start + i}")
        overdue(late, days=i + 1)
        national = ack_notice(people.province_manager, to=["130000"], title=f"省通知{start + i}")
        if i % 2:  # overdue, its audience counted as its statistics page counts it
            overdue(national, days=i + 1)
            audience_counted(national)
        raise_ticket(people.school_staff, title=f"工单{start + i}")
    room = Room.objects.get(kind=RoomKind.REGION, unit=tree.county)
    for i in range(size):
        chat_services.message_post(
            account=people.county_staff, room=room, body=f"@school-clerk 第{start + i}条"
        )


def _queries(client, url) -> int:
    client.get(url)  # warm: the first view of a session may fill caches
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_home_costs_the_same_with_more_to_do(
    tree, people, desk, django_assert_max_num_queries, client_for
):
    for account in (people.school_staff, people.county_staff):
        chat_services.region_rooms_ensure(account)
    # Past every section's limit already (each lists 5): then only the data grows.
    _grow(tree, people, 6, 0)
    viewers = (
        people.school_staff,
        people.county_manager,
        people.province_manager,
        desk,
    )
    url = reverse("home")
    small = {}
    for viewer in viewers:
        small[viewer.pk] = _queries(client_for(viewer), url)
    _grow(tree, people, 14, 20)
    for viewer in viewers:
        client = client_for(viewer)
        client.get(url)
        with django_assert_max_num_queries(small[viewer.pk]):
            client.get(url)
    page = client_for(people.county_manager).get(url).content.decode()
    assert page.count("data-unit=") >= 3
    page = client_for(people.province_manager).get(url).content.decode()
    assert 'id="lag-notices"' in page and 'data-unit="130100"' in page
