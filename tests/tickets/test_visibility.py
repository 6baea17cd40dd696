"""Who sees a ticket, who sees its internal entries, and who may work it."""

import pytest
from django.core.exceptions import PermissionDenied

from escalation import services as escalation
from tests import factories
from tests.tickets.helpers import MONDAY, engineer, fresh, raise_ticket
from tickets import selectors, services
from tickets.models import TicketEvent

T0 = MONDAY.replace(hour=9)


@pytest.fixture
def ticket(desk):
    """A ticket with a public reply, an internal note and routing entries."""
    t = raise_ticket(desk.reporter, now=T0)
    services.ticket_reply(actor=desk.eng1, ticket=t, body="请提供截图", now=T0)
    services.ticket_reply(actor=desk.eng2, ticket=t, body="疑似模板版本过旧", internal=True, now=T0)
    return fresh(t)


def kinds(actor, ticket):
    return [e.kind for e in selectors.timeline(actor, ticket)]


def test_the_reporter_never_sees_internal_notes_or_routing(desk, ticket):
    assert TicketEvent.objects.filter(ticket=ticket, kind="routed", internal=True).exists()
    assert TicketEvent.objects.filter(ticket=ticket, kind="note", internal=True).exists()
    seen = list(selectors.timeline(desk.reporter, ticket))
    assert [e.kind for e in seen] == ["created", "reply", "status"]
    assert not any(e.internal for e in seen)
    assert all("疑似模板版本过旧" not in e.body_html for e in seen)
    assert not selectors.can_see_internal(desk.reporter, ticket)


@pytest.mark.parametrize("who", ["eng1", "eng2", "prov_eng"])
def test_support_people_above_the_reporter_see_everything(desk, ticket, who):
    actor = getattr(desk, who)
    assert kinds(actor, ticket) == ["created", "routed", "reply", "status", "note"]
    assert selectors.can_see_internal(actor, ticket)


def test_a_note_is_never_shown_to_the_reporter_even_after_later_replies(desk, ticket):
    services.ticket_reply(actor=desk.reporter, ticket=ticket, body="截图见附件", now=T0)
    services.ticket_transition(
        actor=desk.eng1, ticket=ticket, action="resolve", text="已修复", now=T0
    )
    reporter_view = selectors.timeline(desk.reporter, ticket)
    assert not reporter_view.filter(kind__in=["note", "routed", "warning"]).exists()
    assert reporter_view.filter(kind="reply").count() == 3


def test_the_reporter_cannot_write_an_internal_note(desk, ticket):
    with pytest.raises(PermissionDenied):
        services.ticket_reply(actor=desk.reporter, ticket=ticket, body="x", internal=True)
    assert TicketEvent.objects.filter(ticket=ticket, kind="note").count() == 1


def test_an_engineer_of_another_county_cannot_view(desk, ticket):
    other = desk.sibling_eng
    assert not selectors.can_view(other, ticket)
    assert not selectors.can_work(other, ticket)
    assert not selectors.visible_tickets(other).filter(pk=ticket.pk).exists()
    assert not selectors.search(other, q=str(ticket.pk)).exists()
    for internal in (False, True):
        with pytest.raises(PermissionDenied):
            services.ticket_reply(actor=other, ticket=ticket, body="看看", internal=internal)


def test_an_engineer_of_another_province_cannot_view(desk, ticket):
    assert not selectors.can_view(desk.beijing_eng, ticket)
    assert not selectors.visible_tickets(desk.beijing_eng).exists()


def test_a_county_engineer_sees_only_its_own_countys_tickets(desk, tree):
    mine = raise_ticket(desk.reporter, now=T0)
    other_reporter = factories.staff(tree.sibling_school)
    theirs = raise_ticket(other_reporter, now=T0)
    assert set(selectors.visible_tickets(desk.eng1)) == {mine}
    assert set(selectors.visible_tickets(desk.sibling_eng)) == {theirs}
    assert set(selectors.visible_tickets(desk.prov_eng)) == {mine, theirs}
    assert set(selectors.visible_tickets(desk.reporter)) == {mine}
    assert set(selectors.visible_tickets(other_reporter)) == {theirs}


def test_after_escalation_the_county_still_views_but_no_longer_works(desk, ticket, tree):
    escalation.escalate(actor=desk.eng1, ticket=ticket, reason="需要省级处理", now=T0)
    ticket = fresh(ticket)
    assert ticket.tier == tree.province
    for eng in (desk.eng1, desk.eng2):
        assert selectors.can_view(eng, ticket)
        assert not selectors.can_work(eng, ticket)
        assert selectors.visible_tickets(eng).filter(pk=ticket.pk).exists()
    with pytest.raises(PermissionDenied):
        services.ticket_reply(actor=desk.eng1, ticket=ticket, body="我来回复")
    with pytest.raises(PermissionDenied):
        services.ticket_transition(actor=desk.eng1, ticket=ticket, action="resolve", text="好了")
    with pytest.raises(PermissionDenied):
        escalation.escalate(actor=desk.eng1, ticket=ticket, reason="再升")
    # Internal notes stay open to support people who can see the ticket.
    services.ticket_reply(actor=desk.eng1, ticket=ticket, body="背景：上周已重置", internal=True)
    assert selectors.can_work(desk.prov_eng, ticket)


def test_a_province_engineer_views_county_tickets_without_working_them(desk, ticket):
    assert selectors.can_view(desk.prov_eng, ticket)
    assert selectors.can_see_internal(desk.prov_eng, ticket)
    assert not selectors.can_work(desk.prov_eng, ticket)
    assert selectors.visible_tickets(desk.prov_eng).filter(pk=ticket.pk).exists()
    with pytest.raises(PermissionDenied):
        services.ticket_reply(actor=desk.prov_eng, ticket=ticket, body="省里回复")


def test_managers_above_the_reporter_view(desk, ticket, tree):
    for unit in (tree.county, tree.prefecture, tree.province, tree.ministry):
        boss = factories.manager(unit)
        assert selectors.can_view(boss, ticket), unit
        assert selectors.can_see_internal(boss, ticket), unit
    assert selectors.can_work(factories.manager(tree.county), ticket)
    assert not selectors.can_work(factories.manager(tree.province), ticket)
    for unit in (tree.sibling, tree.sibling_school, tree.municipality, tree.muni_county):
        assert not selectors.can_view(factories.manager(unit), ticket), unit


@pytest.mark.parametrize("who", ["county_staff", "colleague"])
def test_plain_staff_who_did_not_raise_it_cannot_view(desk, ticket, who):
    actor = getattr(desk, who)
    assert not selectors.can_view(actor, ticket)
    assert not selectors.visible_tickets(actor).exists()
    with pytest.raises(PermissionDenied):
        services.ticket_reply(actor=actor, ticket=ticket, body="我也遇到了")


def test_plain_staff_see_their_own_tickets_only(desk, ticket):
    own = raise_ticket(desk.county_staff, now=T0)
    assert list(selectors.visible_tickets(desk.county_staff)) == [own]


def test_a_reporter_who_manages_the_county_never_sees_internal_notes_of_its_own_ticket(desk, tree):
    boss = factories.manager(tree.county)
    t = raise_ticket(boss, now=T0)
    assert fresh(t).tier == tree.county
    services.ticket_reply(actor=desk.eng1, ticket=t, body="局长的工单，谨慎处理", internal=True)
    assert selectors.can_view(boss, t)
    assert not selectors.can_see_internal(boss, t)
    assert not selectors.can_work(boss, t)
    seen = selectors.timeline(boss, t)
    assert not seen.filter(internal=True).exists()
    assert TicketEvent.objects.filter(ticket=t, internal=True).count() >= 2
    with pytest.raises(PermissionDenied):
        services.ticket_reply(actor=boss, ticket=t, body="内部", internal=True)
    with pytest.raises(PermissionDenied):
        services.ticket_transition(actor=boss, ticket=t, action="resolve", text="自己解决")
    with pytest.raises(PermissionDenied):
        escalation.escalate(actor=boss, ticket=t, reason="自己升级")
    # As the reporter it may still reply publicly.
    services.ticket_reply(actor=boss, ticket=t, body="补充", now=T0)


def test_an_engineer_reporting_at_its_own_tier_cannot_work_its_ticket(desk, tree):
    t = raise_ticket(desk.eng1, now=T0)
    t = fresh(t)
    assert t.tier == tree.county
    # Routed to a colleague: the reporter could not work its own ticket.
    assert t.assignee == desk.eng2
    assert not selectors.can_work(desk.eng1, t)
    assert not selectors.can_see_internal(desk.eng1, t)
    assert selectors.can_work(desk.eng2, t)


def test_a_disabled_account_sees_nothing(desk, ticket):
    desk.eng1.is_active = False
    desk.eng1.save(update_fields=["is_active"])
    assert not selectors.can_view(desk.eng1, ticket)
    assert not selectors.visible_tickets(desk.eng1).exists()
    desk.reporter.is_active = False
    desk.reporter.save(update_fields=["is_active"])
    assert not selectors.can_view(desk.reporter, ticket)


def test_province_reporter_ticket_is_invisible_to_county_engineers(desk, tree):
    clerk = factories.staff(tree.province)
    t = raise_ticket(clerk, now=T0)
    assert fresh(t).tier == tree.province
    assert not selectors.can_view(desk.eng1, t)
    assert selectors.can_work(desk.prov_eng, t)
    assert not selectors.can_view(engineer(tree.prefecture), t)
