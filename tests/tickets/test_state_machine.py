"""The status machine: new → assigned → in progress → waiting on reporter → resolved →
closed, reopen; who may move a ticket, what must be said, rating, and auto-close."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from escalation import services as escalation
from tests.tickets.helpers import MONDAY, duty, fresh, raise_ticket
from tickets import services
from tickets.models import Status, TicketEvent

T0 = MONDAY.replace(hour=9)

# Written out here rather than read from services.TRANSITIONS, so a change to the
# machine has to be made twice on purpose.
ALLOWED = {
    "start": {Status.ASSIGNED},
    "wait": {Status.ASSIGNED, Status.IN_PROGRESS},
    "resolve": {Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING},
    "reopen": {Status.RESOLVED},
    "close": {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED},
}
TARGET = {
    "start": Status.IN_PROGRESS,
    "wait": Status.WAITING,
    "resolve": Status.RESOLVED,
    "reopen": Status.IN_PROGRESS,
    "close": Status.CLOSED,
}
BY_REPORTER = {"reopen", "close"}
ACTION_WORDS = {
    "start": "started",
    "wait": "put on hold for the reporter",
    "resolve": "resolved",
    "reopen": "reopened",
    "close": "closed",
}


def move(actor, ticket, action, text="说明", now=None, **kw):
    return services.ticket_transition(
        actor=actor, ticket=ticket, action=action, text=text, now=now or T0, **kw
    )


def ticket_in(desk, status):
    """A ticket of desk.reporter in `status`, reached through the services."""
    if status == Status.NEW:
        for e in (desk.eng1, desk.eng2):
            duty(e, on_duty=False)
        t = raise_ticket(desk.reporter, now=T0)
        assert fresh(t).status == Status.NEW
        return fresh(t)
    t = raise_ticket(desk.reporter, now=T0)
    assert fresh(t).status == Status.ASSIGNED
    steps = {
        Status.ASSIGNED: [],
        Status.IN_PROGRESS: [("start", desk.eng1)],
        Status.WAITING: [("wait", desk.eng1)],
        Status.RESOLVED: [("resolve", desk.eng1)],
        Status.CLOSED: [("resolve", desk.eng1), ("close", desk.reporter)],
    }[status]
    for action, actor in steps:
        move(actor, t, action)
    t = fresh(t)
    assert t.status == status
    return t


def actor_for(desk, action):
    return desk.reporter if action in BY_REPORTER else desk.eng1


# --- every allowed transition, and every refused one, by the right person ----------------


@pytest.mark.parametrize(
    ("action", "source"),
    [(a, s) for a in ALLOWED for s in Status.values],
    ids=lambda v: str(v),
)
def test_each_action_from_each_state(desk, action, source):
    t = ticket_in(desk, source)
    events_before = TicketEvent.objects.filter(ticket=t).count()
    actor = actor_for(desk, action)
    if source in ALLOWED[action]:
        move(actor, t, action, now=T0 + timedelta(hours=1))
        after = fresh(t)
        assert after.status == TARGET[action]
        status_entry = TicketEvent.objects.filter(ticket=t, kind="status").latest("id")
        assert status_entry.data["old"] == source
        assert status_entry.data["new"] == after.status
        assert status_entry.actor == actor
        assert not status_entry.internal
    else:
        with translation.override("en"):
            label = str(Status(source).label)
            with pytest.raises(ValidationError) as refused:
                move(actor, t, action, now=T0 + timedelta(hours=1))
        assert refused.value.messages == [
            f"A ticket that is “{label}” cannot be {ACTION_WORDS[action]}."
        ]
        assert fresh(t).status == source
        assert TicketEvent.objects.filter(ticket=t).count() == events_before


def test_routing_assigns_a_new_ticket(desk, tree):
    t = fresh(raise_ticket(desk.reporter, now=T0))
    assert (t.status, t.tier, t.assignee) == (Status.ASSIGNED, tree.county, desk.eng1)


def test_a_ticket_nobody_can_take_stays_new_until_an_engineer_takes_it(desk):
    t = ticket_in(desk, Status.NEW)
    assert t.assignee is None
    services.ticket_assign(actor=desk.eng2, ticket=t, engineer=desk.eng2, now=T0)
    t = fresh(t)
    assert (t.status, t.assignee) == (Status.ASSIGNED, desk.eng2)


def test_the_assignee_answering_starts_work(desk):
    t = ticket_in(desk, Status.ASSIGNED)
    services.ticket_reply(actor=desk.eng1, ticket=t, body="正在处理", now=T0 + timedelta(minutes=5))
    t = fresh(t)
    assert t.status == Status.IN_PROGRESS
    assert t.first_response_at == T0 + timedelta(minutes=5)


def test_the_reporter_answering_a_waiting_ticket_puts_it_back_in_progress(desk):
    t = ticket_in(desk, Status.WAITING)
    services.ticket_reply(actor=desk.reporter, ticket=t, body="截图已上传", now=T0)
    assert fresh(t).status == Status.IN_PROGRESS


def test_a_reporter_reply_on_a_ticket_in_progress_changes_nothing(desk):
    t = ticket_in(desk, Status.IN_PROGRESS)
    services.ticket_reply(actor=desk.reporter, ticket=t, body="补充说明", now=T0)
    assert fresh(t).status == Status.IN_PROGRESS


def test_reopen_goes_back_to_whoever_resolved_it(desk):
    t = ticket_in(desk, Status.RESOLVED)
    move(desk.reporter, t, "reopen", text="又出现了")
    t = fresh(t)
    assert (t.status, t.assignee, t.resolved_at) == (Status.IN_PROGRESS, desk.eng1, None)


def test_reopen_when_the_resolver_no_longer_supports_goes_back_into_rotation(desk):
    t = ticket_in(desk, Status.RESOLVED)
    desk.eng1.is_support_engineer = False
    desk.eng1.save(update_fields=["is_support_engineer"])
    move(desk.reporter, t, "reopen", text="又出现了")
    t = fresh(t)
    assert (t.status, t.assignee) == (Status.ASSIGNED, desk.eng2)


def test_reopen_with_nobody_to_take_it_waits_in_the_tier_queue(desk):
    t = ticket_in(desk, Status.RESOLVED)
    desk.eng1.is_support_engineer = False
    desk.eng1.save(update_fields=["is_support_engineer"])
    duty(desk.eng2, away=True)
    move(desk.reporter, t, "reopen", text="又出现了")
    t = fresh(t)
    assert (t.status, t.assignee) == (Status.NEW, None)
    entry = TicketEvent.objects.filter(ticket=t, kind="status").latest("id")
    assert (entry.data["old"], entry.data["new"]) == (Status.RESOLVED, Status.NEW)
    escalation.duty_update(actor=desk.eng2, engineer=desk.eng2, away=False)
    t = fresh(t)
    assert (t.status, t.assignee) == (Status.ASSIGNED, desk.eng2)


def test_an_unknown_action_is_refused(desk):
    t = ticket_in(desk, Status.ASSIGNED)
    with pytest.raises(ValidationError):
        move(desk.eng1, t, "delete")
    assert fresh(t).status == Status.ASSIGNED


# --- the wrong person ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "action", "source"),
    [
        ("reporter", "start", Status.ASSIGNED),
        ("reporter", "wait", Status.IN_PROGRESS),
        ("reporter", "resolve", Status.IN_PROGRESS),
        ("eng1", "reopen", Status.RESOLVED),
        ("eng1", "close", Status.RESOLVED),
        ("eng2", "close", Status.IN_PROGRESS),
        ("colleague", "reopen", Status.RESOLVED),
        ("colleague", "close", Status.ASSIGNED),
        ("county_staff", "start", Status.ASSIGNED),
        ("sibling_eng", "start", Status.ASSIGNED),
        ("beijing_eng", "resolve", Status.IN_PROGRESS),
        ("prov_eng", "resolve", Status.IN_PROGRESS),
    ],
)
def test_the_wrong_person_is_refused(desk, who, action, source):
    t = ticket_in(desk, source)
    events_before = TicketEvent.objects.filter(ticket=t).count()
    with pytest.raises(PermissionDenied):
        move(getattr(desk, who), t, action)
    assert fresh(t).status == source
    assert TicketEvent.objects.filter(ticket=t).count() == events_before


def test_any_engineer_of_the_tier_may_work_the_ticket(desk):
    t = ticket_in(desk, Status.ASSIGNED)
    move(desk.eng2, t, "start")
    assert fresh(t).status == Status.IN_PROGRESS


def test_only_a_manager_hands_a_ticket_to_someone_else(desk, tree):
    from tests import factories

    t = ticket_in(desk, Status.ASSIGNED)
    with pytest.raises(PermissionDenied):
        services.ticket_assign(actor=desk.eng1, ticket=t, engineer=desk.eng2)
    boss = factories.manager(tree.county)
    services.ticket_assign(actor=boss, ticket=t, engineer=desk.eng2)
    assert fresh(t).assignee == desk.eng2
    with pytest.raises(ValidationError):
        services.ticket_assign(actor=boss, ticket=t, engineer=desk.county_staff)
    with pytest.raises(ValidationError):
        services.ticket_assign(actor=boss, ticket=t, engineer=desk.prov_eng)
    assert fresh(t).assignee == desk.eng2


def test_a_closed_ticket_cannot_be_assigned(desk):
    t = ticket_in(desk, Status.CLOSED)
    with pytest.raises(ValidationError):
        services.ticket_assign(actor=desk.eng2, ticket=t, engineer=desk.eng2)


# --- what must be said ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "source"),
    [
        ("wait", Status.IN_PROGRESS),
        ("resolve", Status.IN_PROGRESS),
        ("reopen", Status.RESOLVED),
    ],
)
@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_wait_resolve_and_reopen_need_text(desk, action, source, text):
    t = ticket_in(desk, source)
    events_before = TicketEvent.objects.filter(ticket=t).count()
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        move(actor_for(desk, action), t, action, text=text)
    assert refused.value.messages == ["The message cannot be empty."]
    assert fresh(t).status == source
    assert TicketEvent.objects.filter(ticket=t).count() == events_before


@pytest.mark.parametrize(("action", "source"), [("start", Status.ASSIGNED), ("close", Status.NEW)])
def test_start_and_close_need_no_text(desk, action, source):
    t = ticket_in(desk, source)
    move(actor_for(desk, action), t, action, text="")
    assert fresh(t).status == TARGET[action]
    assert not TicketEvent.objects.filter(ticket=t, kind="reply").exists()


def test_the_text_of_a_transition_is_a_public_reply(desk):
    t = ticket_in(desk, Status.IN_PROGRESS)
    move(desk.eng1, t, "wait", text="请提供学生身份证号")
    reply = TicketEvent.objects.filter(ticket=t, kind="reply").latest("id")
    assert "请提供学生身份证号" in reply.body_html
    assert not reply.internal
    assert reply.actor == desk.eng1


# --- a closed ticket ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "internal"), [("reporter", False), ("eng1", False), ("eng1", True), ("prov_eng", True)]
)
def test_a_closed_ticket_refuses_replies_and_notes(desk, who, internal):
    t = ticket_in(desk, Status.CLOSED)
    events_before = TicketEvent.objects.filter(ticket=t).count()
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.ticket_reply(actor=getattr(desk, who), ticket=t, body="还在吗", internal=internal)
    assert "closed" in refused.value.messages[0]
    assert TicketEvent.objects.filter(ticket=t).count() == events_before


def test_a_resolved_ticket_still_takes_a_reply(desk):
    t = ticket_in(desk, Status.RESOLVED)
    services.ticket_reply(actor=desk.reporter, ticket=t, body="谢谢")
    assert fresh(t).status == Status.RESOLVED


# --- rating ------------------------------------------------------------------------------


@pytest.mark.parametrize("stars", [1, 2, 3, 4, 5])
def test_closing_with_a_rating_of_one_to_five_stars(desk, stars):
    t = ticket_in(desk, Status.RESOLVED)
    move(desk.reporter, t, "close", rating=stars, rating_comment="  很快  ")
    t = fresh(t)
    assert (t.status, t.rating, t.rating_comment) == (Status.CLOSED, stars, "很快")
    rated = TicketEvent.objects.get(ticket=t, kind="rated")
    assert rated.data == {"rating": stars, "comment": "很快"}


@pytest.mark.parametrize("stars", [0, 6, -1, 10])
def test_closing_with_a_rating_out_of_range_is_refused_and_nothing_changes(desk, stars):
    t = ticket_in(desk, Status.RESOLVED)
    with pytest.raises(ValidationError):
        move(desk.reporter, t, "close", rating=stars)
    t = fresh(t)
    assert (t.status, t.rating) == (Status.RESOLVED, None)


def test_a_closed_ticket_is_rated_once(desk):
    t = ticket_in(desk, Status.CLOSED)
    services.ticket_rate(actor=desk.reporter, ticket=t, rating=4, comment="好")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.ticket_rate(actor=desk.reporter, ticket=t, rating=1)
    assert refused.value.messages == ["This ticket has already been rated."]
    t = fresh(t)
    assert (t.rating, t.rating_comment) == (4, "好")
    assert TicketEvent.objects.filter(ticket=t, kind="rated").count() == 1


def test_a_ticket_rated_on_closing_cannot_be_rated_again(desk):
    t = ticket_in(desk, Status.RESOLVED)
    move(desk.reporter, t, "close", rating=2)
    with pytest.raises(ValidationError):
        services.ticket_rate(actor=desk.reporter, ticket=t, rating=5)
    assert fresh(t).rating == 2


@pytest.mark.parametrize("stars", [0, 6, "5", 4.5, None])
def test_rating_must_be_a_whole_number_from_one_to_five(desk, stars):
    t = ticket_in(desk, Status.CLOSED)
    with pytest.raises(ValidationError):
        services.ticket_rate(actor=desk.reporter, ticket=t, rating=stars)
    assert fresh(t).rating is None


@pytest.mark.parametrize("source", [Status.IN_PROGRESS, Status.RESOLVED])
def test_only_a_closed_ticket_is_rated(desk, source):
    t = ticket_in(desk, source)
    with pytest.raises(ValidationError):
        services.ticket_rate(actor=desk.reporter, ticket=t, rating=5)
    assert fresh(t).rating is None


@pytest.mark.parametrize("who", ["eng1", "colleague", "prov_eng"])
def test_only_the_reporter_rates(desk, who):
    t = ticket_in(desk, Status.CLOSED)
    with pytest.raises(PermissionDenied):
        services.ticket_rate(actor=getattr(desk, who), ticket=t, rating=5)
    assert fresh(t).rating is None


# --- auto-close ----------------------------------------------------------------------


def test_a_resolved_ticket_closes_itself_seven_days_later_not_before(desk):
    t = ticket_in(desk, Status.IN_PROGRESS)
    resolved_at = T0 + timedelta(hours=2)
    move(desk.eng1, t, "resolve", now=resolved_at)
    assert fresh(t).resolved_at == resolved_at

    early = escalation.sweep(now=resolved_at + timedelta(days=7) - timedelta(minutes=1))
    assert early["closed"] == 0
    assert fresh(t).status == Status.RESOLVED

    due = resolved_at + timedelta(days=7, minutes=1)
    assert escalation.sweep(now=due)["closed"] == 1
    t = fresh(t)
    assert (t.status, t.closed_at) == (Status.CLOSED, due)
    entry = TicketEvent.objects.filter(ticket=t, kind="status").latest("id")
    assert entry.data == {"old": "resolved", "new": "closed", "automatic": True}
    assert entry.actor is None

    assert escalation.sweep(now=due + timedelta(days=1))["closed"] == 0
    assert TicketEvent.objects.filter(ticket=t, kind="status", data__new="closed").count() == 1


def test_a_reopened_ticket_does_not_auto_close(desk):
    t = ticket_in(desk, Status.IN_PROGRESS)
    move(desk.eng1, t, "resolve", now=T0)
    move(desk.reporter, t, "reopen", text="没好", now=T0 + timedelta(days=1))
    escalation.sweep(now=T0 + timedelta(days=8))
    assert fresh(t).status != Status.CLOSED


def test_an_auto_closed_ticket_can_still_be_rated(desk):
    t = ticket_in(desk, Status.RESOLVED)
    escalation.sweep(now=fresh(t).resolved_at + timedelta(days=8))
    assert fresh(t).status == Status.CLOSED
    services.ticket_rate(actor=desk.reporter, ticket=t, rating=3)
    assert fresh(t).rating == 3
