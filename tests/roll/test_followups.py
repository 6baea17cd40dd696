"""What follows an intake (service level): one problem-record ticket per school, the
real-time event for the school and its county's managers, and the daily reminders."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core import events
from core.models import Event, EventTarget
from notices.models import Notice, NoticeTarget
from roll import services
from roll.models import IntakeBatch, ProblemRecord, Reminder
from tests import factories
from tests.roll.helpers import alert
from tickets.models import OPEN_STATUSES, Category, Priority, Status, Ticket

HB_SCHOOL, HB_SIBLING, BJ_SCHOOL = "1301020001", "1301040001", "1101010001"
CN = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def key(hebei_key):
    return hebei_key[0]


def _intake(key, alerts, *, now=None, batch_id="b"):
    result = services.intake(
        key=key, payload={"batch_id": batch_id, "alerts": alerts}, now=now or timezone.now()
    )
    assert result["rejected"] == [], result
    return result


def _tickets(school=None):
    qs = Ticket.objects.filter(category=Category.PROBLEM_RECORDS)
    return qs.filter(reporter_unit=school) if school is not None else qs


def _resolve(school, alert_ids, capture):
    pks = list(ProblemRecord.objects.filter(alert_id__in=alert_ids).values_list("pk", flat=True))
    with capture(execute=True):
        services.records_update(
            actor=factories.staff(school), record_ids=pks, action="resolve", note="已更正"
        )


# --- tickets ------------------------------------------------------------------------------------


def test_one_ticket_per_school_with_priority(tree, key, engineers):
    _intake(
        key,
        [
            alert("A1", graduating=True),
            alert("A2", kind="id_invalid"),
            alert("B1", school=HB_SIBLING),
            alert("B2", school=HB_SIBLING, kind="police_auth_failed"),
        ],
    )
    assert not _tickets().exists()  # nothing before the sync
    assert services.sync_pending() == 1
    assert _tickets().count() == 2
    school = _tickets(tree.school).get()
    sibling = _tickets(tree.sibling_school).get()
    assert school.priority == Priority.HIGH and sibling.priority == Priority.NORMAL
    assert school.is_open and sibling.is_open
    assert school.reporter_path == tree.school.path
    assert tree.school.name in school.title and "2" in school.description
    assert school.tier_id == tree.county.pk  # routed like any other ticket
    assert services.sync_pending() == 0


def test_a_second_batch_does_not_make_a_second_ticket(tree, key, engineers):
    _intake(key, [alert("A1"), alert("B1", school=HB_SIBLING)], batch_id="1")
    services.sync_pending()
    first = _tickets(tree.sibling_school).get()
    assert first.priority == Priority.NORMAL

    _intake(key, [alert("A2"), alert("B2", school=HB_SIBLING, graduating=True)], batch_id="2")
    _intake(key, [alert("A3", kind="id_invalid")], batch_id="3")
    assert services.sync_pending() == 2
    assert _tickets(tree.school).count() == 1 and _tickets(tree.sibling_school).count() == 1
    sibling = _tickets(tree.sibling_school).get()
    assert sibling.pk == first.pk
    assert sibling.priority == Priority.HIGH  # a graduating record raises it
    assert _tickets(tree.school).get().priority == Priority.NORMAL
    assert "3" in _tickets(tree.school).get().description  # A1, A2, A3 open


def test_ticket_resolves_itself_when_the_last_record_is_resolved(
    tree, key, engineers, django_capture_on_commit_callbacks
):
    _intake(key, [alert("A1", graduating=True), alert("A2"), alert("A3")])
    services.sync_pending()
    ticket = _tickets(tree.school).get()
    assert ticket.priority == Priority.HIGH

    _resolve(tree.school, ["A1"], django_capture_on_commit_callbacks)
    ticket.refresh_from_db()
    assert ticket.is_open and ticket.priority == Priority.NORMAL  # no graduating one left

    _resolve(tree.school, ["A2"], django_capture_on_commit_callbacks)
    ticket.refresh_from_db()
    assert ticket.is_open

    _resolve(tree.school, ["A3"], django_capture_on_commit_callbacks)
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED and ticket.resolved_at is not None
    assert _tickets(tree.school).count() == 1

    # The roll system sends one back: the school has an open ticket again.
    with django_capture_on_commit_callbacks(execute=True):
        services.verdict(
            key=key, payload={"alert_ids": ["A2"], "outcome": "reopened", "detail": "仍有误"}
        )
    open_tickets = _tickets(tree.school).filter(status__in=OPEN_STATUSES)
    assert open_tickets.count() == 1 and open_tickets.get().pk != ticket.pk


def test_roll_system_closing_the_last_record_resolves_the_ticket(
    tree, key, engineers, django_capture_on_commit_callbacks
):
    _intake(key, [alert("A1")])
    services.sync_pending()
    with django_capture_on_commit_callbacks(execute=True):
        services.verdict(key=key, payload={"alert_ids": ["A1"], "outcome": "verified"})
    assert _tickets(tree.school).get().status == Status.RESOLVED


def test_intake_queues_the_sync_after_commit(
    tree, key, queued_syncs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _intake(key, [alert("A1")])
    assert queued_syncs == []  # not before the commit
    for callback in callbacks:
        callback()
    assert queued_syncs == [IntakeBatch.objects.get().pk]


def test_batch_of_duplicates_needs_no_sync(tree, key, engineers):
    _intake(key, [alert("A1")], batch_id="1")
    assert services.sync_pending() == 1
    _intake(key, [alert("A1")], batch_id="1-retry")
    assert IntakeBatch.objects.filter(synced_at__isnull=True).count() == 0
    assert services.sync_pending() == 0
    # One batch announced: one event for the school, one for its county's managers.
    assert Event.objects.filter(kind="roll.alerts").count() == 2


def _alert_events() -> dict[frozenset, dict]:
    """{groups of the event: its payload} for every roll.alerts event."""
    return {
        frozenset(e.targets.values_list("group", flat=True)): e.payload
        for e in Event.objects.filter(kind="roll.alerts")
    }


# --- the real-time event ------------------------------------------------------------------------


def test_event_for_the_school_and_its_county_managers(tree, key, engineers):
    _intake(
        key,
        [alert("A1"), alert("A2"), alert("B1", school=HB_SIBLING)],
        batch_id="hb-2026-11-20-0001",
    )
    batch = IntakeBatch.objects.get()
    assert services.sync_batch(batch.pk) is True
    # Each school hears of its own records only, each county of its own schools'.
    batch_id = "hb-2026-11-20-0001"
    assert _alert_events() == {
        frozenset({f"t.{HB_SCHOOL}.school.all"}): {
            "batch": batch_id,
            "schools": {HB_SCHOOL: 2},
            "total": 2,
        },
        frozenset({f"t.{HB_SIBLING}.school.all"}): {
            "batch": batch_id,
            "schools": {HB_SIBLING: 1},
            "total": 1,
        },
        frozenset({"t.130102.county.mgr"}): {
            "batch": batch_id,
            "schools": {HB_SCHOOL: 2},
            "total": 2,
        },
        frozenset({"t.130104.county.mgr"}): {
            "batch": batch_id,
            "schools": {HB_SIBLING: 1},
            "total": 1,
        },
    }
    groups = set(
        EventTarget.objects.filter(event__kind="roll.alerts").values_list("group", flat=True)
    )
    # Those groups are the ones the school's accounts and the county's managers join.
    assert f"t.{HB_SCHOOL}.school.all" in events.groups_for(factories.staff(tree.school))
    assert "t.130102.county.mgr" in events.groups_for(factories.manager(tree.county))
    county_staff = set(events.groups_for(factories.staff(tree.county)))
    assert not county_staff & groups  # county staff are not managers
    other = set(events.groups_for(factories.staff(tree.muni_school)))
    assert not other & groups

    # Idempotent: a second call (task retried, or beat's sweep) announces nothing more.
    assert services.sync_batch(batch.pk) is False
    assert services.sync_pending() == 0
    assert Event.objects.filter(kind="roll.alerts").count() == 4
    assert _tickets().count() == 2
    batch.refresh_from_db()
    assert batch.synced_at is not None


def test_each_batch_announces_only_its_own_records(tree, key, beijing_key, engineers):
    _intake(key, [alert("A1")], batch_id="1")
    _intake(beijing_key[0], [alert("C1", school=BJ_SCHOOL)], batch_id="2")
    assert services.sync_pending() == 2
    by_batch: dict[str, set] = {}
    for e in Event.objects.filter(kind="roll.alerts"):
        by_batch.setdefault(e.payload["batch"], set()).update(
            e.targets.values_list("group", flat=True)
        )
    assert by_batch == {
        "1": {f"t.{HB_SCHOOL}.school.all", "t.130102.county.mgr"},
        "2": {f"t.{BJ_SCHOOL}.school.all", "t.110101.county.mgr"},
    }


# --- reminders ----------------------------------------------------------------------------------


def _reminder_notices():
    return Notice.objects.filter(pk__in=Reminder.objects.values("notice"))


def test_reminder_for_long_open_graduating_records(tree, key, beijing_key, engineers):
    # Noon in China, so "later the same day" stays the same day.
    now = timezone.now().astimezone(CN).replace(hour=12, minute=0, second=0, microsecond=0)
    old = now - timedelta(days=8)
    _intake(
        key,
        [alert("G1", graduating=True), alert("G2", graduating=True), alert("N1")],
        now=old,
        batch_id="old",
    )
    _intake(key, [alert("N2", school=HB_SIBLING)], now=old, batch_id="old-sibling")
    _intake(key, [alert("G3", school=HB_SIBLING, graduating=True)], now=now - timedelta(days=6))
    _intake(beijing_key[0], [alert("G4", school=BJ_SCHOOL, graduating=True)], now=now)

    assert services.reminders_send(now=now, days=7) == 1
    [notice] = _reminder_notices()
    targets = list(NoticeTarget.objects.filter(notice=notice).values_list("unit_id", flat=True))
    assert targets == [tree.school.pk]
    assert notice.levels == "school" and notice.status == "published"
    assert tree.school.name in notice.body and "2" in notice.title
    reminder = Reminder.objects.get()
    assert reminder.school_id == tree.school.pk and reminder.records == 2

    # At most once a day, however often it runs.
    assert services.reminders_send(now=now, days=7) == 0
    assert services.reminders_send(now=now + timedelta(minutes=30), days=7) == 0
    assert Notice.objects.count() == 1
    # The next day it reminds again, and by then G3 is more than seven days old too.
    tomorrow = now + timedelta(days=1, hours=1)
    assert services.reminders_send(now=tomorrow, days=7) == 2
    assert sorted(Reminder.objects.values_list("school__code", "records")) == [
        (HB_SCHOOL, 2),
        (HB_SCHOOL, 2),
        (HB_SIBLING, 1),
    ]


def test_no_reminder_once_graduating_records_are_resolved(
    tree, key, engineers, django_capture_on_commit_callbacks
):
    now = timezone.now()
    _intake(key, [alert("G1", graduating=True), alert("N1")], now=now - timedelta(days=10))
    pks = list(ProblemRecord.objects.filter(alert_id="G1").values_list("pk", flat=True))
    services.records_update(actor=factories.staff(tree.school), record_ids=pks, action="start")
    assert services.reminders_send(now=now, days=7) == 1  # in progress is still open
    _resolve(tree.school, ["G1"], django_capture_on_commit_callbacks)
    assert services.reminders_send(now=now + timedelta(days=1), days=7) == 0
    assert Reminder.objects.count() == 1


def test_reminder_days_default_from_settings(tree, key, engineers, settings):
    settings.ROLL_REMINDER_DAYS = 3
    now = timezone.now()
    _intake(key, [alert("G1", graduating=True)], now=now - timedelta(days=4))
    assert services.reminders_send(now=now) == 1
