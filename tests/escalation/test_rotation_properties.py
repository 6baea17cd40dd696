"""Round-robin: the pure choice (escalation.rotation) as properties, then routing on the
database — who is passed over and why, and the waiting queue draining oldest first."""

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation import rotation, selectors, services
from escalation.models import Rotation
from tests import factories
from tests.tickets.helpers import MONDAY, duty, engineer, fresh, raise_ticket, routed_entries
from tickets import services as ticket_services
from tickets.models import Status, Ticket

T0 = MONDAY.replace(hour=9)
REASONS = st.sampled_from(
    [selectors.OFF_DUTY, selectors.AWAY, selectors.OFF_SCHEDULE, selectors.AT_CAPACITY]
)

# Distinct ids, each available (None) or not (a reason).
CANDIDATES = st.dictionaries(
    keys=st.integers(min_value=1, max_value=10_000),
    values=st.one_of(st.none(), REASONS),
    min_size=0,
    max_size=12,
).map(lambda d: [rotation.Candidate(pk, why) for pk, why in d.items()])


@st.composite
def candidates_and_last(draw):
    candidates = draw(CANDIDATES)
    ids = [c.account_id for c in candidates]
    # The pointer may be anyone, nobody yet, or someone who has since left the tier.
    last = draw(
        st.one_of(st.none(), st.sampled_from(ids) if ids else st.none(), st.integers(0, 10_001))
    )
    shuffled = draw(st.permutations(candidates))
    return shuffled, last


def expected_order(candidates, last):
    """Account-id order, starting after `last` and wrapping (written independently)."""
    ids = sorted(c.account_id for c in candidates)
    if last is None:
        return ids
    start = next((i for i, pk in enumerate(ids) if pk > last), len(ids))
    return ids[start:] + ids[:start]


@settings(max_examples=150)
@given(candidates_and_last())
def test_order_after_starts_after_the_last_and_wraps(data):
    candidates, last = data
    ordered = rotation.order_after(candidates, last)
    assert [c.account_id for c in ordered] == expected_order(candidates, last)
    assert sorted(ordered, key=lambda c: c.account_id) == sorted(
        candidates, key=lambda c: c.account_id
    )


@settings(max_examples=150)
@given(candidates_and_last())
def test_pick_never_chooses_an_unavailable_candidate(data):
    candidates, last = data
    chosen, _skipped = rotation.pick(candidates, last)
    by_id = {c.account_id: c for c in candidates}
    if chosen is not None:
        assert by_id[chosen].unavailable is None


@settings(max_examples=150)
@given(candidates_and_last())
def test_pick_takes_the_first_available_after_last_and_lists_those_passed_over(data):
    candidates, last = data
    chosen, skipped = rotation.pick(candidates, last)
    why = {c.account_id: c.unavailable for c in candidates}
    order = expected_order(candidates, last)
    available = [pk for pk in order if why[pk] is None]
    if not available:
        assert chosen is None
        assert skipped == [(pk, why[pk]) for pk in order]
        return
    assert chosen == available[0]
    before = order[: order.index(chosen)]
    assert skipped == [(pk, why[pk]) for pk in before]
    assert all(reason is not None for _pk, reason in skipped)


@settings(max_examples=150)
@given(
    st.lists(st.integers(1, 500), min_size=1, max_size=10, unique=True),
    st.lists(st.integers(1, 500), max_size=10, unique=True),
    st.integers(1, 60),
    st.one_of(st.none(), st.integers(0, 501)),
)
def test_with_equal_availability_counts_differ_by_at_most_one(available, unavailable, n, last):
    unavailable = [pk for pk in unavailable if pk not in available]
    candidates = [rotation.Candidate(pk) for pk in available] + [
        rotation.Candidate(pk, selectors.AWAY) for pk in unavailable
    ]
    counts = Counter()
    for _ in range(n):
        chosen, _skipped = rotation.pick(candidates, last)
        assert chosen in available
        counts[chosen] += 1
        last = chosen
    assert sum(counts.values()) == n
    per_engineer = [counts[pk] for pk in available]
    assert max(per_engineer) - min(per_engineer) <= 1
    assert not set(counts) & set(unavailable)


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(1, 50), REASONS), max_size=10, unique_by=lambda t: t[0]))
def test_nobody_available_means_nobody_chosen_and_everyone_listed(rows):
    candidates = [rotation.Candidate(pk, why) for pk, why in rows]
    for last in (None, 0, 25, 51):
        chosen, skipped = rotation.pick(candidates, last)
        assert chosen is None
        assert sorted(skipped) == sorted(rows)
        assert [pk for pk, _ in skipped] == expected_order(candidates, last)


# --- on the database ------------------------------------------------------------------


@pytest.fixture
def team(tree):
    """Five county engineers, ids ascending in this order."""
    return [engineer(tree.county, username=f"eng-{n}") for n in range(5)]


@pytest.fixture
def reporter(tree):
    return factories.staff(tree.school)


def test_routing_passes_over_the_unavailable_and_says_why(tree, team, reporter):
    on1, off, away, full, on2 = team
    duty(off, on_duty=False)
    duty(away, away=True)
    duty(full, capacity=0)
    tickets = [raise_ticket(reporter, now=T0 + timedelta(minutes=n)) for n in range(6)]
    holders = Counter(fresh(t).assignee for t in tickets)
    assert holders == {on1: 3, on2: 3}
    for t in tickets:
        assert fresh(t).status == Status.ASSIGNED
    skipped = [why for t in tickets for entry in routed_entries(t) for why in entry["skipped"]]
    assert ["eng-1", "off_duty"] in skipped
    assert ["eng-2", "away"] in skipped
    assert ["eng-3", "at_capacity"] in skipped
    first = routed_entries(tickets[0])
    assert first == [
        {"cause": "opened", "tier": "长安区", "chosen": "eng-0", "skipped": [], "turn": 1},
    ]
    second = routed_entries(tickets[1])[0]
    assert (second["chosen"], second["turn"]) == ("eng-4", 2)
    assert second["skipped"] == [["eng-1", "off_duty"], ["eng-2", "away"], ["eng-3", "at_capacity"]]
    assert Rotation.objects.get(tier=tree.county).last_account_id == fresh(tickets[-1]).assignee_id


def test_a_turn_whose_ticket_is_never_stored_is_given_back(tree, team, reporter):
    first = raise_ticket(reporter, now=T0)
    with pytest.raises(RuntimeError), services.choose(tree.county, T0, reporter_id=reporter.pk):
        raise RuntimeError("the ticket's transaction failed")
    second = raise_ticket(reporter, now=T0)
    assert [fresh(first).assignee, fresh(second).assignee] == team[:2]
    assert [e["turn"] for t in (first, second) for e in routed_entries(t)] == [1, 2]
    assert Rotation.objects.get(tier=tree.county).turns == 2


def test_an_engineer_stops_getting_tickets_at_capacity(tree, team, reporter):
    for e in team[1:]:
        duty(e, on_duty=False)
    duty(team[0], capacity=2)
    tickets = [raise_ticket(reporter, now=T0) for _ in range(3)]
    assert [fresh(t).assignee for t in tickets] == [team[0], team[0], None]
    last = routed_entries(tickets[2])[0]
    assert last["chosen"] == ""
    assert ["eng-0", "at_capacity"] in last["skipped"]
    assert fresh(tickets[2]).status == Status.NEW


def test_nobody_on_duty_leaves_the_ticket_in_the_tier_queue(tree, team, reporter):
    for e in team:
        duty(e, on_duty=False)
    t = fresh(raise_ticket(reporter, now=T0))
    assert (t.tier, t.assignee, t.status) == (tree.county, None, Status.NEW)
    entry = routed_entries(t)[0]
    assert entry["chosen"] == ""
    assert entry["skipped"] == [[f"eng-{n}", "off_duty"] for n in range(5)]
    # Nobody chosen, no turn taken: the pointer has not moved (nor been created).
    assert not Rotation.objects.filter(tier=tree.county).exclude(last_account_id=None).exists()


def test_coming_on_duty_drains_the_queue_oldest_first(tree, team, reporter):
    for e in team:
        duty(e, on_duty=False)
    # Raised out of id order: the queue follows arrival at the tier, not the id.
    later = raise_ticket(reporter, now=T0 + timedelta(minutes=30))
    oldest = raise_ticket(reporter, now=T0)
    middle = raise_ticket(reporter, now=T0 + timedelta(minutes=10))
    duty(team[2], capacity=2)
    profile = services.duty_update(
        actor=team[2], engineer=team[2], on_duty=True, now=T0 + timedelta(hours=1)
    )
    assert profile.on_duty
    assert fresh(oldest).assignee == team[2]
    assert fresh(middle).assignee == team[2]
    assert fresh(later).assignee is None and fresh(later).status == Status.NEW
    drained = routed_entries(oldest)[-1]
    assert (drained["cause"], drained["chosen"]) == ("drain", "eng-2")

    services.duty_update(actor=team[3], engineer=team[3], on_duty=True)
    assert fresh(later).assignee == team[3]
    assert fresh(later).status == Status.ASSIGNED


def test_a_freed_place_goes_to_the_oldest_waiting_ticket(
    tree, team, reporter, django_capture_on_commit_callbacks
):
    for e in team[1:]:
        duty(e, on_duty=False)
    duty(team[0], capacity=1)
    held = raise_ticket(reporter, now=T0)
    second = raise_ticket(reporter, now=T0 + timedelta(minutes=1))
    third = raise_ticket(reporter, now=T0 + timedelta(minutes=2))
    assert fresh(held).assignee == team[0]
    assert fresh(second).assignee is None
    with django_capture_on_commit_callbacks(execute=True):
        ticket_services.ticket_transition(actor=team[0], ticket=held, action="resolve", text="好")
    assert fresh(second).assignee == team[0]
    assert fresh(third).assignee is None
    with django_capture_on_commit_callbacks(execute=True):
        ticket_services.ticket_transition(actor=reporter, ticket=second, action="close")
    assert fresh(third).assignee == team[0]


def test_an_engineer_going_away_gets_no_more_tickets_but_keeps_its_own(tree, team, reporter):
    first = raise_ticket(reporter, now=T0)
    assert fresh(first).assignee == team[0]
    services.duty_update(actor=team[1], engineer=team[1], away=True)
    others = [raise_ticket(reporter, now=T0) for _ in range(3)]
    assert [fresh(t).assignee for t in others] == [team[2], team[3], team[4]]
    assert fresh(first).assignee == team[0]


def test_the_pointer_survives_between_tickets_and_wraps(tree, team, reporter):
    holders = [fresh(raise_ticket(reporter, now=T0)).assignee for _ in range(12)]
    assert holders == (team * 3)[:12]
    assert Rotation.objects.get(tier=tree.county).last_account_id == team[1].pk


def test_a_new_engineer_joins_the_rotation_in_id_order(tree, team, reporter):
    for _ in range(5):
        raise_ticket(reporter, now=T0)
    newcomer = engineer(tree.county, username="eng-new")
    holders = [fresh(raise_ticket(reporter, now=T0)).assignee for _ in range(6)]
    assert holders == [newcomer, *team]


def test_engineers_change_their_own_duty_managers_their_capacity(tree, team):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        services.duty_update(actor=team[0], engineer=team[1], on_duty=False)
    with pytest.raises(PermissionDenied):
        services.duty_update(actor=team[0], engineer=team[0], capacity=50)
    boss = factories.manager(tree.county)
    services.duty_update(actor=boss, engineer=team[0], capacity=50)
    assert selectors.profile_of(fresh_account(team[0])).capacity == 50
    with pytest.raises(ValidationError):
        services.duty_update(actor=boss, engineer=team[0], capacity=501)
    with pytest.raises(PermissionDenied):
        services.duty_update(actor=factories.manager(tree.sibling), engineer=team[0], on_duty=False)


def fresh_account(account):
    return type(account).objects.select_related("duty").get(pk=account.pk)


def test_tickets_are_never_routed_to_an_unavailable_engineer_in_bulk(tree, team, reporter):
    duty(team[0], on_duty=False)
    duty(team[2], capacity=4)
    tickets = [raise_ticket(reporter, now=T0) for _ in range(20)]
    counts = Counter(t.assignee_id for t in Ticket.objects.filter(pk__in=[t.pk for t in tickets]))
    assert counts[team[0].pk] == 0
    assert counts[team[2].pk] == 4
    rest = [counts[e.pk] for e in (team[1], team[3], team[4])]
    assert sum(rest) == 16 and max(rest) - min(rest) <= 1


def test_the_sweep_hands_waiting_tickets_to_engineers_whose_hours_begin(tree, team, reporter):
    from datetime import time

    from escalation.models import DutySlot
    from tests.tickets.helpers import at

    for e in team:
        DutySlot.objects.create(account=e, weekday=0, start=time(8), end=time(18))
    early = raise_ticket(reporter, now=at(2026, 3, 9, 7, 30))  # Monday before hours
    entry = routed_entries(early)[0]
    assert entry["chosen"] == ""
    assert entry["skipped"] == [[f"eng-{n}", "off_schedule"] for n in range(5)]
    assert services.sweep(now=at(2026, 3, 9, 7, 59))["assigned"] == 0
    assert fresh(early).assignee is None
    assert services.sweep(now=at(2026, 3, 9, 8))["assigned"] == 1
    assert fresh(early).assignee == team[0]
