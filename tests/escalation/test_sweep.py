"""The minute sweep: warnings at 80 %, exactly-once escalation on breach, the Ministry
alert, and manual escalation and send-back."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from core.models import Event
from escalation import services
from escalation.models import EntryKind, EscalationRecord
from tests import factories
from tests.tickets.helpers import MONDAY, engineer, fresh, raise_ticket
from tickets import selectors as ticket_selectors
from tickets import services as ticket_services
from tickets.models import Status, TicketEvent

T0 = MONDAY.replace(hour=9)  # a normal ticket raised now must answer by 13:00
RESPONSE_DUE = MONDAY.replace(hour=13)


def stints(ticket):
    return list(EscalationRecord.objects.filter(ticket=ticket).order_by("hop"))


def events(kind):
    return Event.objects.filter(kind=kind)


def groups(event):
    return set(event.targets.values_list("group", flat=True))


@pytest.fixture
def ticket(desk):
    return raise_ticket(desk.reporter, now=T0)


def test_a_response_breach_escalates_to_the_next_tier(desk, ticket, tree):
    assert fresh(ticket).response_due == RESPONSE_DUE
    assert services.sweep(now=RESPONSE_DUE - timedelta(seconds=1))["escalated"] == 0
    assert fresh(ticket).tier == tree.county

    counts = services.sweep(now=RESPONSE_DUE)
    assert counts["escalated"] == 1
    t = fresh(ticket)
    assert (t.tier, t.assignee, t.status, t.hop, t.breached) == (
        tree.province,
        desk.prov_eng,
        Status.ASSIGNED,
        2,
        True,
    )
    # A fresh stay with fresh clocks at the province.
    assert t.tier_entered_at == RESPONSE_DUE
    assert t.response_due == RESPONSE_DUE + timedelta(hours=4)
    opened, breach = stints(t)
    assert (opened.kind, opened.tier, opened.breached, opened.left_at) == (
        EntryKind.OPENED,
        tree.county,
        True,
        RESPONSE_DUE,
    )
    assert (breach.kind, breach.tier, breach.from_tier, breach.level, breach.reason) == (
        EntryKind.BREACH,
        tree.province,
        tree.county,
        "province",
        "response",
    )
    assert (breach.breached, breach.left_at, breach.hop) == (False, None, 2)
    kinds = list(TicketEvent.objects.filter(ticket=t).values_list("kind", flat=True))
    assert kinds[-3:] == ["breach", "escalated", "routed"]
    assert TicketEvent.objects.get(ticket=t, kind="breach").data == {
        "clock": "response",
        "tier": "长安区",
    }
    routed = TicketEvent.objects.filter(ticket=t, kind="routed").latest("id")
    assert (routed.data["cause"], routed.data["chosen"]) == ("breach", "prov-eng")
    assert events("ticket.assigned").filter(payload__ticket=t.pk).exists()


def test_sweeping_twice_at_the_same_moment_escalates_once(ticket):
    assert services.sweep(now=RESPONSE_DUE)["escalated"] == 1
    assert services.sweep(now=RESPONSE_DUE)["escalated"] == 0
    t = fresh(ticket)
    assert t.hop == 2
    assert [s.kind for s in stints(t)] == [EntryKind.OPENED, EntryKind.BREACH]
    assert TicketEvent.objects.filter(ticket=t, kind="escalated").count() == 1


def test_a_stale_escalation_attempt_does_nothing(ticket):
    """A sweep that read the ticket before another escalated it (hop moved on)."""
    assert services.escalate_breached(ticket.pk, 1, RESPONSE_DUE)
    assert not services.escalate_breached(ticket.pk, 1, RESPONSE_DUE)
    assert not services.escalate_breached(ticket.pk, 2, RESPONSE_DUE)
    assert fresh(ticket).hop == 2
    assert EscalationRecord.objects.filter(ticket=ticket).count() == 2


def test_an_answered_ticket_does_not_breach_on_response(desk, ticket, tree):
    ticket_services.ticket_reply(
        actor=desk.eng1, ticket=ticket, body="收到", now=RESPONSE_DUE - timedelta(minutes=1)
    )
    assert services.sweep(now=RESPONSE_DUE + timedelta(hours=1))["escalated"] == 0
    t = fresh(ticket)
    assert (t.tier, t.breached) == (tree.county, False)
    # 20 working hours from Monday 09:00: 9 on Monday, 10 on Tuesday, 1 on Wednesday.
    assert t.breach_at == t.resolution_due == MONDAY.replace(day=11, hour=9)


def test_a_resolution_breach_escalates_too(desk, ticket, tree):
    ticket_services.ticket_transition(actor=desk.eng1, ticket=ticket, action="start", now=T0)
    due = fresh(ticket).resolution_due
    assert services.sweep(now=due)["escalated"] == 1
    t = fresh(ticket)
    assert t.tier == tree.province
    assert stints(t)[1].reason == "resolution"


def test_a_breach_climbs_one_tier_per_breach(desk, ticket, tree):
    engineer(tree.ministry, username="moe-eng")
    services.sweep(now=RESPONSE_DUE)
    assert fresh(ticket).tier == tree.province
    services.sweep(now=RESPONSE_DUE + timedelta(hours=4))
    t = fresh(ticket)
    assert (t.tier, t.hop) == (tree.ministry, 3)
    assert [s.tier for s in stints(t)] == [tree.county, tree.province, tree.ministry]
    assert [s.breached for s in stints(t)] == [True, True, False]


def test_the_warning_comes_once_before_the_breach(desk, ticket):
    warn_at = T0 + timedelta(hours=3, minutes=12)  # 80 % of four hours
    assert fresh(ticket).warn_at == warn_at
    assert services.sweep(now=warn_at - timedelta(seconds=1))["warned"] == 0
    assert services.sweep(now=warn_at)["warned"] == 1
    assert services.sweep(now=warn_at + timedelta(minutes=30))["warned"] == 0
    entries = TicketEvent.objects.filter(ticket=ticket, kind="warning")
    assert [(e.internal, e.data) for e in entries] == [(True, {"clocks": ["response"]})]
    sent = events("ticket.warning")
    assert sent.count() == 1
    assert sent.get().payload["ticket"] == ticket.pk
    assert groups(sent.get()) == {f"acct.{desk.eng1.pk}"}
    t = fresh(ticket)
    assert t.response_warned and not t.resolution_warned
    assert t.breach_at == RESPONSE_DUE
    assert not ticket_selectors.timeline(desk.reporter, t).filter(kind="warning").exists()


def test_an_unassigned_tickets_warning_goes_to_the_tier(desk, tree):
    from tests.tickets.helpers import duty

    duty(desk.eng1, on_duty=False)
    duty(desk.eng2, on_duty=False)
    raise_ticket(desk.reporter, now=T0)
    services.sweep(now=T0 + timedelta(hours=3, minutes=12))
    assert groups(events("ticket.warning").get()) == {"t.130102.county.all"}


def test_the_resolution_clock_warns_on_its_own(desk, ticket):
    ticket_services.ticket_reply(actor=desk.eng1, ticket=ticket, body="在查", now=T0)
    t = fresh(ticket)
    # 80 % of 20 working hours from Monday 09:00 is Tuesday 15:00.
    assert t.warn_at == MONDAY.replace(day=10, hour=15)
    assert services.sweep(now=t.warn_at)["warned"] == 1
    assert TicketEvent.objects.get(ticket=t, kind="warning").data == {"clocks": ["resolution"]}
    assert services.sweep(now=t.warn_at + timedelta(hours=1))["warned"] == 0


def test_one_sweep_late_past_both_marks_warns_then_escalates(ticket, tree):
    counts = services.sweep(now=RESPONSE_DUE + timedelta(hours=1))
    assert (counts["warned"], counts["escalated"]) == (1, 1)
    assert fresh(ticket).tier == tree.province
    assert events("ticket.warning").count() == 1


@pytest.fixture
def at_ministry(tree):
    """No engineers below the Ministry: a ticket waits there, unassigned."""
    reporter = factories.staff(tree.school)
    t = raise_ticket(reporter, now=T0)
    assert fresh(t).tier == tree.ministry
    return t


def test_each_breached_clock_at_the_ministry_alerts_its_managers_once(at_ministry):
    assert services.sweep(now=RESPONSE_DUE)["escalated"] == 1
    for later in (RESPONSE_DUE, RESPONSE_DUE + timedelta(hours=1)):
        services.sweep(now=later)
    alerts = events("ticket.alert")
    assert alerts.count() == 1  # the first response, once
    assert alerts.get().payload["ticket"] == at_ministry.pk
    assert groups(alerts.get()) == {"t.000000.ministry.mgr"}
    # The resolution clock ran on; its breach alerts once more, then nothing is left.
    for later in (RESPONSE_DUE + timedelta(days=9), RESPONSE_DUE + timedelta(days=10)):
        services.sweep(now=later)
    assert events("ticket.alert").count() == 2
    t = fresh(at_ministry)
    assert (t.hop, t.breached, t.breach_at, t.warn_at) == (1, True, None, None)
    (stint,) = stints(t)
    assert (stint.breached, stint.alerted) == (True, True)
    breaches = TicketEvent.objects.filter(ticket=t, kind="breach").order_by("id")
    assert [e.data["clock"] for e in breaches] == ["response", "resolution"]


def test_an_escalated_ticket_breaching_at_the_ministry_alerts_once(desk, ticket, tree):
    services.escalate(actor=desk.eng1, ticket=ticket, reason="省里处理", now=T0)
    services.escalate(actor=desk.prov_eng, ticket=ticket, reason="部里处理", now=T0)
    assert fresh(ticket).tier == tree.ministry
    services.sweep(now=RESPONSE_DUE)
    services.sweep(now=RESPONSE_DUE)
    assert events("ticket.alert").count() == 1
    assert fresh(ticket).tier == tree.ministry


def test_a_ticket_waiting_on_the_reporter_never_breaches_while_paused(desk, ticket, tree):
    ticket_services.ticket_transition(
        actor=desk.eng1, ticket=ticket, action="wait", text="请提供截图", now=T0
    )
    for days in (1, 7, 30):
        counts = services.sweep(now=T0 + timedelta(days=days))
        assert counts["escalated"] == counts["warned"] == 0
    t = fresh(ticket)
    assert (t.tier, t.status, t.breached, t.hop) == (tree.county, Status.WAITING, False, 1)


# --- manual escalation and send-back -------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_manual_escalation_needs_a_reason(desk, ticket, tree, reason):
    with pytest.raises(ValidationError):
        services.escalate(actor=desk.eng1, ticket=ticket, reason=reason)
    assert fresh(ticket).tier == tree.county


def test_manual_escalation_records_who_and_why(desk, ticket, tree):
    services.escalate(actor=desk.eng2, ticket=ticket, reason="需要省级权限", now=T0)
    t = fresh(ticket)
    assert (t.tier, t.assignee, t.breached) == (tree.province, desk.prov_eng, False)
    manual = stints(t)[-1]
    assert (manual.kind, manual.actor, manual.reason, manual.from_tier) == (
        EntryKind.MANUAL,
        desk.eng2,
        "需要省级权限",
        tree.county,
    )
    entry = TicketEvent.objects.get(ticket=t, kind="escalated")
    assert entry.actor == desk.eng2


def test_only_the_current_tier_escalates(desk, ticket):
    for who in (desk.prov_eng, desk.reporter, desk.sibling_eng, desk.county_staff):
        with pytest.raises(PermissionDenied):
            services.escalate(actor=who, ticket=ticket, reason="升级")


def test_manual_escalation_is_refused_at_the_ministry(desk, ticket, tree):
    moe = engineer(tree.ministry)
    services.escalate(actor=desk.eng1, ticket=ticket, reason="升", now=T0)
    services.escalate(actor=desk.prov_eng, ticket=ticket, reason="再升", now=T0)
    assert fresh(ticket).tier == tree.ministry
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.escalate(actor=moe, ticket=ticket, reason="还要升")
    assert "last tier" in refused.value.messages[0]
    assert fresh(ticket).hop == 3


def test_a_closed_ticket_is_not_escalated(desk, ticket):
    ticket_services.ticket_transition(actor=desk.reporter, ticket=ticket, action="close")
    with pytest.raises(ValidationError):
        services.escalate(actor=desk.eng1, ticket=ticket, reason="升")


def test_send_back_returns_to_the_tier_it_came_from_with_guidance(desk, ticket, tree):
    services.escalate(actor=desk.eng1, ticket=ticket, reason="升", now=T0)
    services.send_back(
        actor=desk.prov_eng, ticket=ticket, guidance="请先核对学籍号", now=T0 + timedelta(hours=1)
    )
    t = fresh(ticket)
    assert (t.tier, t.round, t.hop, t.status) == (tree.county, 1, 3, Status.ASSIGNED)
    returned = stints(t)[-1]
    assert (returned.kind, returned.from_tier, returned.reason, returned.round) == (
        EntryKind.RETURNED,
        tree.province,
        "请先核对学籍号",
        1,
    )
    assert t.response_due == T0 + timedelta(hours=5)  # fresh clocks at the county
    assert TicketEvent.objects.filter(ticket=t, kind="returned").count() == 1


def test_send_back_from_the_ministry_goes_to_the_province_not_lower(desk, ticket, tree):
    moe = engineer(tree.ministry)
    services.escalate(actor=desk.eng1, ticket=ticket, reason="升", now=T0)
    services.escalate(actor=desk.prov_eng, ticket=ticket, reason="再升", now=T0)
    services.send_back(actor=moe, ticket=ticket, guidance="省里可处理")
    assert fresh(ticket).tier == tree.province
    # The province's stay came from the Ministry: nowhere lower to send it back to.
    with pytest.raises(ValidationError):
        services.send_back(actor=desk.prov_eng, ticket=ticket, guidance="县里处理")
    assert fresh(ticket).tier == tree.province


def test_send_back_is_refused_where_the_ticket_started(desk, ticket, tree):
    with pytest.raises(ValidationError):
        services.send_back(actor=desk.eng1, ticket=ticket, guidance="回去")
    assert fresh(ticket).hop == 1


def test_send_back_needs_guidance_and_the_current_tier(desk, ticket, tree):
    services.escalate(actor=desk.eng1, ticket=ticket, reason="升", now=T0)
    with pytest.raises(ValidationError):
        services.send_back(actor=desk.prov_eng, ticket=ticket, guidance=" ")
    with pytest.raises(PermissionDenied):
        services.send_back(actor=desk.eng1, ticket=ticket, guidance="自己拿回来")
    assert fresh(ticket).tier == tree.province


def test_a_ticket_sent_back_can_breach_and_climb_again(desk, ticket, tree):
    services.escalate(actor=desk.eng1, ticket=ticket, reason="升", now=T0)
    services.send_back(actor=desk.prov_eng, ticket=ticket, guidance="先试试", now=T0)
    assert services.sweep(now=RESPONSE_DUE)["escalated"] == 1
    t = fresh(ticket)
    assert (t.tier, t.round, t.hop) == (tree.province, 1, 4)
    assert [(s.tier.code, s.round, s.kind) for s in stints(t)] == [
        ("130102", 0, EntryKind.OPENED),
        ("130000", 0, EntryKind.MANUAL),
        ("130102", 1, EntryKind.RETURNED),
        ("130000", 1, EntryKind.BREACH),
    ]


def test_escalation_frees_the_county_engineers_place(
    desk, tree, django_capture_on_commit_callbacks
):
    from tests.tickets.helpers import duty

    duty(desk.eng1, capacity=1)
    duty(desk.eng2, on_duty=False)
    first = raise_ticket(desk.reporter, now=T0)
    waiting = raise_ticket(desk.reporter, now=T0)
    assert fresh(waiting).assignee is None
    with django_capture_on_commit_callbacks(execute=True):
        services.escalate(actor=desk.eng1, ticket=first, reason="升", now=T0)
    assert fresh(waiting).assignee == desk.eng1


def test_one_sweep_sends_every_warning_due_however_many(desk, monkeypatch):
    monkeypatch.setattr(services, "SWEEP_BATCH", 2)
    tickets = [raise_ticket(desk.reporter, priority="urgent", now=MONDAY) for _ in range(5)]
    later = max(fresh(t).warn_at for t in tickets) + timedelta(seconds=1)
    assert services.sweep(now=later)["warned"] == 5
    assert TicketEvent.objects.filter(kind="warning").count() == 5
