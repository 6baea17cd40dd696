"""Time travel on China's calendar: working-hour arithmetic, the SLA clocks built on it
(pause, resume, reopen), and the duty-roster arithmetic. Every moment is explicit."""

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalation import selectors, services, sla, workhours
from escalation.models import DutySlot, SlaTarget
from tests import factories
from tests.tickets.helpers import SH, at, duty, engineer, fresh, raise_ticket
from tickets import services as ticket_services
from tickets.models import Status

H = 3600.0


def add(start, hours, around_clock=False):
    return workhours.add(start, hours * H, around_clock=around_clock)


def hours_between(start, end, around_clock=False):
    return workhours.between(start, end, around_clock=around_clock) / H


# --- working-hour arithmetic (pure) -----------------------------------------------


def test_outside_hours_the_clock_starts_at_the_next_working_morning():
    friday_evening = at(2026, 3, 13, 20)
    assert add(friday_evening, 0) == at(2026, 3, 16, 8)
    assert add(friday_evening, 4) == at(2026, 3, 16, 12)
    assert add(at(2026, 3, 16, 6, 30), 1) == at(2026, 3, 16, 9)
    assert hours_between(friday_evening, at(2026, 3, 16, 8)) == 0
    assert hours_between(friday_evening, at(2026, 3, 16, 12)) == 4


def test_a_working_day_is_ten_hours_and_rolls_over():
    assert add(at(2026, 3, 9, 8), 10) == at(2026, 3, 9, 18)
    assert add(at(2026, 3, 9, 17), 2) == at(2026, 3, 10, 9)
    assert add(at(2026, 3, 9, 8), 20) == at(2026, 3, 10, 18)
    assert add(at(2026, 3, 13, 17), 1) == at(2026, 3, 13, 18)
    assert hours_between(at(2026, 3, 9, 0), at(2026, 3, 16, 0)) == 50


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        # National Day 1–7 October off; Sunday 20 September and Saturday 10 October worked.
        (at(2026, 9, 30, 17), 4, at(2026, 10, 8, 11)),
        (at(2026, 10, 1, 9), 1, at(2026, 10, 8, 9)),
        (at(2026, 10, 9, 20), 1, at(2026, 10, 10, 9)),
        (at(2026, 10, 9, 17), 2, at(2026, 10, 10, 9)),
        (at(2026, 10, 10, 17), 2, at(2026, 10, 12, 9)),
        (at(2026, 9, 18, 17), 2, at(2026, 9, 20, 9)),
        # Spring Festival 15–23 February off; Saturdays 14 and 28 February worked.
        (at(2026, 2, 13, 17), 4, at(2026, 2, 14, 11)),
        (at(2026, 2, 14, 17), 2, at(2026, 2, 24, 9)),
        (at(2026, 2, 27, 17), 2, at(2026, 2, 28, 9)),
        # New Year 1–3 January off; Sunday 4 January worked.
        (at(2025, 12, 31, 17, 30), 1, at(2026, 1, 4, 8, 30)),
    ],
)
def test_holidays_and_make_up_working_days(start, hours, due):
    assert add(start, hours) == due
    assert hours_between(start, due) == pytest.approx(hours)


def test_a_holiday_week_counts_nothing():
    assert hours_between(at(2026, 10, 1), at(2026, 10, 8)) == 0
    assert hours_between(at(2026, 2, 15), at(2026, 2, 24)) == 0


def test_around_the_clock_counts_every_second_holidays_included():
    assert add(at(2026, 3, 14, 22), 2, around_clock=True) == at(2026, 3, 15, 0)
    assert add(at(2026, 9, 30, 17), 24, around_clock=True) == at(2026, 10, 1, 17)
    assert hours_between(at(2026, 3, 13, 20), at(2026, 3, 16, 8), around_clock=True) == 60


def test_moments_in_other_zones_are_read_in_china():
    friday_evening_utc = datetime(2026, 3, 13, 12, 0, tzinfo=UTC)  # 20:00 in Beijing
    assert add(friday_evening_utc, 1) == at(2026, 3, 16, 9)
    assert add(datetime(2026, 3, 9, 1, 0, tzinfo=UTC), 1) == at(2026, 3, 9, 10)


def test_between_is_zero_when_the_end_is_not_after_the_start():
    assert workhours.between(at(2026, 3, 9, 12), at(2026, 3, 9, 10), around_clock=False) == 0
    assert workhours.between(at(2026, 3, 9, 12), at(2026, 3, 9, 12), around_clock=True) == 0


MOMENTS = st.datetimes(
    min_value=datetime(2025, 12, 20), max_value=datetime(2026, 12, 20), timezones=st.just(SH)
)


@settings(max_examples=120, deadline=None)
@given(start=MOMENTS, seconds=st.integers(min_value=0, max_value=60 * 3600))
def test_between_measures_exactly_what_add_added(start, seconds):
    due = workhours.add(start, seconds, around_clock=False)
    assert due >= start
    assert workhours.between(start, due, around_clock=False) == pytest.approx(seconds)
    local = due.astimezone(SH)
    if seconds:
        # Working time ends inside a working window, never on a day off.
        assert workhours.is_working_day(local.date())
        assert time(8) < local.time() <= time(18)


@settings(max_examples=100, deadline=None)
@given(start=MOMENTS, a=st.integers(0, 30 * 3600), b=st.integers(0, 30 * 3600))
def test_add_is_monotonic_and_composes(start, a, b):
    first = workhours.add(start, a, around_clock=False)
    both = workhours.add(start, a + b, around_clock=False)
    assert first <= both
    if b:
        assert workhours.add(first, b, around_clock=False) == both


# --- SLA clocks on tickets --------------------------------------------------------------


@pytest.fixture
def reporter(tree):
    engineer(tree.county, username="county-eng-1")
    engineer(tree.county, username="county-eng-2")
    engineer(tree.province, username="prov-eng")
    return factories.staff(tree.school)


def test_a_normal_ticket_raised_on_friday_evening_starts_counting_on_monday(reporter):
    t = fresh(raise_ticket(reporter, now=at(2026, 3, 13, 20)))
    assert t.tier_entered_at == at(2026, 3, 13, 20)
    assert t.response_due == at(2026, 3, 16, 12)  # 4 working hours from Monday 08:00
    assert t.resolution_due == at(2026, 3, 17, 18)  # 20 working hours
    assert t.breach_at == t.response_due
    assert t.warn_at == at(2026, 3, 16, 11, 12)  # 80 % of 4 hours


def test_a_low_ticket_gets_a_working_day_to_respond(reporter):
    t = fresh(raise_ticket(reporter, priority="low", now=at(2026, 3, 13, 20)))
    assert t.response_due == at(2026, 3, 16, 16)
    assert t.resolution_due == at(2026, 3, 20, 18)


@pytest.mark.parametrize(
    ("priority", "response", "resolution"), [("high", 2, 24), ("urgent", 0.5, 4)]
)
def test_high_and_urgent_count_around_the_clock(reporter, priority, response, resolution):
    raised = at(2026, 9, 30, 20)  # the eve of National Day
    t = fresh(raise_ticket(reporter, priority=priority, now=raised))
    assert t.response_due == raised + timedelta(hours=response)
    assert t.resolution_due == raised + timedelta(hours=resolution)


def test_a_normal_ticket_before_national_day(reporter):
    t = fresh(raise_ticket(reporter, now=at(2026, 9, 30, 17)))
    assert t.response_due == at(2026, 10, 8, 11)
    assert services.sweep(now=at(2026, 10, 7, 23))["escalated"] == 0
    assert fresh(t).tier.code == "130102"


def test_sla_overrides_province_before_ministry_before_defaults(tree, reporter):
    SlaTarget.objects.create(
        unit=tree.ministry, priority="normal", response_minutes=60, resolution_minutes=600
    )
    SlaTarget.objects.create(
        unit=tree.province, priority="normal", response_minutes=120, resolution_minutes=900
    )
    monday = at(2026, 3, 9, 9)
    hebei = fresh(raise_ticket(reporter, now=monday))
    assert (hebei.response_due, hebei.resolution_due) == (at(2026, 3, 9, 11), at(2026, 3, 10, 14))
    engineer(tree.muni_county)
    beijing = fresh(raise_ticket(factories.staff(tree.muni_school), now=monday))
    assert (beijing.response_due, beijing.resolution_due) == (
        at(2026, 3, 9, 10),
        at(2026, 3, 10, 9),
    )
    high = fresh(raise_ticket(reporter, priority="high", now=monday))
    assert high.response_due == monday + timedelta(hours=2)


def test_sla_overrides_are_set_by_ministry_or_province_managers(tree):
    from django.core.exceptions import PermissionDenied, ValidationError

    hebei_boss = factories.manager(tree.province)
    services.sla_targets_set(actor=hebei_boss, unit=tree.province, targets={"low": (120, 600)})
    assert SlaTarget.objects.get(unit=tree.province, priority="low").response_minutes == 120
    assert sla.effective_targets(tree.province)["low"] == (120, 600)
    assert sla.effective_targets(tree.municipality)["low"] == (8 * 60, 50 * 60)
    for actor, unit in (
        (factories.manager(tree.county), tree.county),
        (factories.manager(tree.prefecture), tree.province),
        (hebei_boss, tree.municipality),
        (engineer(tree.province), tree.province),
        (hebei_boss, tree.ministry),
    ):
        with pytest.raises(PermissionDenied):
            services.sla_targets_set(actor=actor, unit=unit, targets={"low": (60, 600)})
    for bad in ((0, 600), (60, 0), (700, 600), (60, 60 * 24 * 91)):
        with pytest.raises(ValidationError):
            services.sla_targets_set(actor=hebei_boss, unit=tree.province, targets={"low": bad})
    assert SlaTarget.objects.count() == 1
    services.sla_targets_set(
        actor=factories.manager(tree.ministry), unit=tree.ministry, targets={"low": (60, 600)}
    )
    assert sla.effective_targets(tree.municipality)["low"] == (60, 600)
    assert sla.effective_targets(tree.province)["low"] == (120, 600)


def test_waiting_on_the_reporter_pauses_and_resuming_keeps_the_time_used(desk):
    t = raise_ticket(desk.reporter, now=at(2026, 3, 9, 8))  # Monday 08:00
    ticket_services.ticket_transition(
        actor=desk.eng1, ticket=t, action="wait", text="请补充", now=at(2026, 3, 9, 12)
    )
    t = fresh(t)
    assert t.status == Status.WAITING
    assert t.resolution_used == 4 * H
    assert (t.resolution_due, t.response_due, t.breach_at) == (None, None, None)
    assert t.first_response_at == at(2026, 3, 9, 12)

    # Two days on hold, far past the original deadline, cost nothing.
    assert services.sweep(now=at(2026, 3, 11, 9, 59))["escalated"] == 0

    ticket_services.ticket_reply(
        actor=desk.reporter, ticket=t, body="已补充", now=at(2026, 3, 11, 10)
    )
    t = fresh(t)
    assert t.status == Status.IN_PROGRESS
    # 16 of 20 working hours left from Wednesday 10:00: 8 on Wednesday, 8 on Thursday.
    assert t.resolution_due == at(2026, 3, 12, 16)
    assert t.breach_at == t.resolution_due
    assert t.warn_at == at(2026, 3, 12, 12)  # 16 hours (80 %) minus the 4 used

    assert services.sweep(now=at(2026, 3, 12, 15, 59))["escalated"] == 0
    assert fresh(t).tier.code == "130102"
    assert services.sweep(now=at(2026, 3, 12, 16))["escalated"] == 1
    assert fresh(t).tier.code == "130000"


def test_a_pause_right_before_the_deadline_still_leaves_a_tenth_of_the_target(desk):
    t = raise_ticket(desk.reporter, now=at(2026, 3, 9, 8))
    ticket_services.ticket_transition(
        actor=desk.eng1, ticket=t, action="wait", text="?", now=at(2026, 3, 10, 17, 54)
    )
    assert fresh(t).resolution_used == pytest.approx(19.9 * H)
    ticket_services.ticket_reply(actor=desk.reporter, ticket=t, body="!", now=at(2026, 3, 11, 9))
    assert fresh(t).resolution_due == at(2026, 3, 11, 11)  # 10 % of 20 hours


def test_a_second_pause_adds_to_the_time_used(desk):
    t = raise_ticket(desk.reporter, now=at(2026, 3, 9, 8))
    move = ticket_services.ticket_transition
    move(actor=desk.eng1, ticket=t, action="wait", text="?", now=at(2026, 3, 9, 10))
    ticket_services.ticket_reply(actor=desk.reporter, ticket=t, body="!", now=at(2026, 3, 9, 14))
    move(actor=desk.eng1, ticket=t, action="wait", text="?", now=at(2026, 3, 9, 17))
    assert fresh(t).resolution_used == 5 * H
    ticket_services.ticket_reply(actor=desk.reporter, ticket=t, body="!", now=at(2026, 3, 10, 8))
    assert fresh(t).resolution_due == at(2026, 3, 11, 13)  # 15 hours left


def test_a_reopen_long_past_the_deadline_rearms_a_full_target(desk):
    raised = at(2026, 3, 9, 9)
    t = raise_ticket(desk.reporter, now=raised)
    move = ticket_services.ticket_transition
    move(actor=desk.eng1, ticket=t, action="resolve", text="好了", now=at(2026, 3, 9, 10))
    assert fresh(t).breach_at is None
    reopened = at(2026, 3, 13, 10)  # long after the original Tuesday deadline
    move(actor=desk.reporter, ticket=t, action="reopen", text="又坏了", now=reopened)
    t = fresh(t)
    assert (t.status, t.assignee) == (Status.IN_PROGRESS, desk.eng1)
    assert t.resolution_used == 0
    assert t.resolution_due == at(2026, 3, 17, 10)  # a full 20 working hours
    assert t.breach_at == t.resolution_due
    assert services.sweep(now=reopened) == {"warned": 0, "escalated": 0, "closed": 0, "assigned": 0}
    assert services.sweep(now=reopened + timedelta(minutes=1))["escalated"] == 0
    t = fresh(t)
    assert (t.tier.code, t.breached, t.hop) == ("130102", False, 1)


def test_a_reopen_of_a_ticket_resolved_while_waiting_also_rearms(desk):
    t = raise_ticket(desk.reporter, now=at(2026, 3, 9, 9))
    move = ticket_services.ticket_transition
    move(actor=desk.eng1, ticket=t, action="wait", text="?", now=at(2026, 3, 9, 17))
    move(actor=desk.eng1, ticket=t, action="resolve", text="好了", now=at(2026, 3, 10, 9))
    move(actor=desk.reporter, ticket=t, action="reopen", text="不行", now=at(2026, 3, 12, 9))
    # 20 working hours from Thursday 09:00: 9 on Thursday, 10 on Friday, 1 on Monday.
    assert fresh(t).resolution_due == at(2026, 3, 16, 9)
    assert services.sweep(now=at(2026, 3, 12, 9, 1))["escalated"] == 0


# --- duty rosters -------------------------------------------------------------------------


def slot(weekday, start, end):
    return DutySlot(weekday=weekday, start=time(*start), end=time(*end))


MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def test_a_slot_past_midnight_runs_into_the_next_day():
    night = [slot(FRI, (22, 0), (2, 0))]  # Friday 22:00 – Saturday 02:00
    assert selectors.on_schedule(night, at(2026, 3, 13, 22))
    assert selectors.on_schedule(night, at(2026, 3, 13, 23, 59))
    assert selectors.on_schedule(night, at(2026, 3, 14, 0))
    assert selectors.on_schedule(night, at(2026, 3, 14, 1))
    assert not selectors.on_schedule(night, at(2026, 3, 14, 2))
    assert not selectors.on_schedule(night, at(2026, 3, 14, 3))
    assert not selectors.on_schedule(night, at(2026, 3, 13, 21))
    # Only Friday night: Thursday night and Saturday night are off.
    assert not selectors.on_schedule(night, at(2026, 3, 12, 23))
    assert not selectors.on_schedule(night, at(2026, 3, 13, 1))
    assert not selectors.on_schedule(night, at(2026, 3, 14, 23))


def test_a_sunday_night_slot_wraps_into_monday():
    night = [slot(SUN, (20, 0), (6, 0))]
    assert selectors.on_schedule(night, at(2026, 3, 15, 21))
    assert selectors.on_schedule(night, at(2026, 3, 16, 5, 59))
    assert not selectors.on_schedule(night, at(2026, 3, 16, 6))
    assert not selectors.on_schedule(night, at(2026, 3, 16, 21))
    assert not selectors.on_schedule(night, at(2026, 3, 17, 1))


def test_a_slot_ending_at_midnight_stops_at_midnight():
    late = [slot(WED, (18, 0), (0, 0))]
    assert selectors.on_schedule(late, at(2026, 3, 11, 23, 59))
    assert not selectors.on_schedule(late, at(2026, 3, 12, 0))
    assert not selectors.on_schedule(late, at(2026, 3, 11, 17, 59))


def test_a_lunch_break_between_two_slots():
    day = [slot(MON, (8, 0), (12, 0)), slot(MON, (14, 0), (18, 0))]
    monday = (2026, 3, 9)
    assert selectors.on_schedule(day, at(*monday, 8))
    assert selectors.on_schedule(day, at(*monday, 11, 59))
    assert not selectors.on_schedule(day, at(*monday, 12))
    assert not selectors.on_schedule(day, at(*monday, 13))
    assert selectors.on_schedule(day, at(*monday, 14))
    assert not selectors.on_schedule(day, at(*monday, 18))
    assert not selectors.on_schedule(day, at(2026, 3, 10, 9))


def test_a_subset_of_weekdays():
    mwf = [slot(d, (9, 0), (17, 0)) for d in (MON, WED, FRI)]
    week = {d: at(2026, 3, 9 + d, 10) for d in range(7)}
    assert [selectors.on_schedule(mwf, week[d]) for d in range(7)] == [
        True,
        False,
        True,
        False,
        True,
        False,
        False,
    ]


def test_slots_are_read_in_china_time():
    day = [slot(MON, (9, 0), (10, 0))]
    assert selectors.on_schedule(day, datetime(2026, 3, 9, 1, 30, tzinfo=UTC))  # 09:30 Beijing
    assert not selectors.on_schedule(day, datetime(2026, 3, 9, 9, 30, tzinfo=UTC))


@pytest.fixture
def eng(tree):
    return engineer(tree.county)


def reason(account, held=0, moment=None):
    account = type(account).objects.select_related("duty").get(pk=account.pk)
    return selectors.unavailable_reason(account, held, moment or at(2026, 3, 9, 10))


def test_no_profile_and_no_slots_means_on_duty_around_the_clock(eng):
    for moment in (at(2026, 3, 9, 10), at(2026, 3, 15, 3), at(2026, 10, 1, 12)):
        assert reason(eng, moment=moment) is None


def test_no_slots_follows_the_on_duty_switch(eng):
    duty(eng, on_duty=False)
    assert reason(eng) == selectors.OFF_DUTY
    duty(eng, on_duty=True)
    assert reason(eng, moment=at(2026, 3, 15, 3)) is None


def test_away_and_off_duty(eng):
    duty(eng, away=True)
    assert reason(eng) == selectors.AWAY
    duty(eng, away=True, on_duty=False)
    assert reason(eng) == selectors.OFF_DUTY


def test_capacity_defaults_to_twenty(eng):
    assert reason(eng, held=19) is None
    assert reason(eng, held=20) == selectors.AT_CAPACITY
    duty(eng, capacity=3)
    assert reason(eng, held=2) is None
    assert reason(eng, held=3) == selectors.AT_CAPACITY
    duty(eng, capacity=0)
    assert reason(eng, held=0) == selectors.AT_CAPACITY


def test_outside_the_slots(eng):
    DutySlot.objects.create(account=eng, weekday=FRI, start=time(22), end=time(2))
    assert reason(eng, moment=at(2026, 3, 14, 1)) is None
    assert reason(eng, moment=at(2026, 3, 14, 3)) == selectors.OFF_SCHEDULE
    assert reason(eng, moment=at(2026, 3, 13, 21)) == selectors.OFF_SCHEDULE


def test_an_engineer_who_never_logged_in_is_skipped(tree):
    fresh_eng = engineer(tree.county, must_change_password=True)
    assert reason(fresh_eng) == selectors.NOT_ACTIVATED


def test_the_roster_shows_each_engineers_availability(tree):
    a = engineer(tree.county, username="a")
    b = engineer(tree.county, username="b")
    c = engineer(tree.county, username="c")
    duty(b, away=True)
    DutySlot.objects.create(account=c, weekday=MON, start=time(8), end=time(12))
    rows = selectors.roster(tree.county, at(2026, 3, 9, 13))
    assert [(r["account"], r["unavailable"]) for r in rows] == [
        (a, None),
        (b, selectors.AWAY),
        (c, selectors.OFF_SCHEDULE),
    ]
    rows = selectors.roster(tree.county, at(2026, 3, 9, 9))
    assert rows[2]["unavailable"] is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weekday=st.integers(0, 6),
    start=st.integers(0, 47),
    length=st.integers(1, 47),
    probe=st.integers(0, 7 * 48 - 1),
)
def test_a_slot_covers_exactly_its_half_hours(weekday, start, length, probe):
    """A weekly slot of `length` half-hours from `start` covers a probe moment iff the
    probe lies in that span of the week, wrapping from Sunday to Monday."""
    begin = start
    end = (start + length) % 48
    s = slot(weekday, (begin // 2, 30 * (begin % 2)), (end // 2, 30 * (end % 2)))
    moment = MON_0 + timedelta(minutes=30 * probe)
    offset = (probe - (weekday * 48 + start)) % (7 * 48)
    assert selectors.on_schedule([s], moment) == (offset < length)


MON_0 = at(2026, 3, 9)


def test_a_manager_replaces_an_engineers_slots(tree, eng):
    from django.core.exceptions import PermissionDenied, ValidationError

    boss = factories.manager(tree.county)
    rows = [(FRI, time(22), time(2)), (MON, time(8), time(12))]
    services.slots_replace(actor=boss, engineer=eng, rows=rows)
    assert reason(eng, moment=at(2026, 3, 14, 1)) is None
    assert reason(eng, moment=at(2026, 3, 9, 13)) == selectors.OFF_SCHEDULE
    with pytest.raises(ValidationError) as caught:
        services.slots_replace(
            actor=boss, engineer=eng, rows=[(7, time(8), time(9)), (MON, time(9), time(9))]
        )
    assert len(caught.value.messages) == 2
    assert DutySlot.objects.filter(account=eng).count() == 2
    for actor in (eng, factories.manager(tree.sibling)):
        with pytest.raises(PermissionDenied):
            services.slots_replace(actor=actor, engineer=eng, rows=[])
    services.slots_replace(actor=boss, engineer=eng, rows=[])
    assert reason(eng, moment=at(2026, 3, 15, 3)) is None
