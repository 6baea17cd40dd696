"""The publishing module: the groups an account joins, stored events, and replay."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core import events
from core.models import Event, EventTarget


def test_a_staff_account_joins_its_own_group_and_its_levels_group_along_its_path(people):
    assert events.groups_for(people.school_staff) == [
        f"acct.{people.school_staff.pk}",
        "t.000000.school.all",
        "t.130000.school.all",
        "t.130100.school.all",
        "t.130102.school.all",
        "t.1301020001.school.all",
    ]


def test_a_manager_also_joins_the_managers_groups(people):
    groups = events.groups_for(people.county_manager)
    assert "t.130000.county.mgr" in groups and "t.130102.county.mgr" in groups
    assert not any(g.endswith(".mgr") for g in events.groups_for(people.county_staff))


def test_audience_groups_are_one_per_root_and_level(tree):
    groups = events.audience_groups(
        roots=[tree.province, tree.municipality], levels=["county", "school"], managers_only=True
    )
    assert groups == [
        "t.130000.county.mgr",
        "t.130000.school.mgr",
        "t.110000.county.mgr",
        "t.110000.school.mgr",
    ]


def test_publish_stores_the_event_with_each_group_once(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as pushes:
        event = events.publish(kind="x.y", payload={"a": 1}, groups=["g1", "g2", "g1"])
    assert len(pushes) == 1
    assert sorted(EventTarget.objects.filter(event=event).values_list("group", flat=True)) == [
        "g1",
        "g2",
    ]
    # Stored without a seq and without a lock: the number comes after the commit.
    assert Event.objects.get(pk=event.pk).seq is None
    pushes[0]()
    assert event.seq == Event.objects.get(pk=event.pk).seq == 1
    assert set(EventTarget.objects.filter(event=event).values_list("seq", flat=True)) == {1}
    frame = events.frame(event)
    assert (frame["type"], frame["id"], frame["a"]) == ("x.y", event.seq, 1)


def test_seqs_follow_the_ids_of_committed_events_whoever_numbers_them(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as hooks:
        first = events.publish(kind="x.y", payload={}, groups=["g"])
        second, third = events.publish_many([("x.y", {}, ["g"]), ("x.y", {}, ["g"])])
    hooks[1]()  # the second writer's hook numbers the first writer's event too
    assert [e.seq for e in (second, third)] == [2, 3]
    assert Event.objects.get(pk=first.pk).seq == 1
    hooks[0]()  # the first writer learns the seq its events were given
    assert first.seq == 1
    assert events.sequence_pending() == {}


def test_an_event_of_a_rolled_back_change_is_neither_stored_nor_pushed(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as pushes:
        with pytest.raises(RuntimeError), transaction.atomic():
            events.publish(kind="x.y", payload={}, groups=["g"])
            raise RuntimeError("the change failed")
    assert pushes == []
    assert not Event.objects.exists()


def publish_to(account, n=1):
    published = [
        events.publish(kind="x.y", payload={"n": i}, groups=[events.account_group(account.pk)])
        for i in range(n)
    ]
    events.sequence_pending()  # what each publish's hook does after a real commit
    return list(Event.objects.filter(pk__in=[e.pk for e in published]).order_by("seq"))


def test_replay_returns_an_accounts_events_oldest_first(people):
    mine = publish_to(people.county_staff, 3)
    publish_to(people.sibling_staff, 2)
    assert [f["id"] for f in events.replay(people.county_staff, 0)] == [e.seq for e in mine]


def test_replay_starts_a_little_before_the_last_id(people, monkeypatch):
    mine = publish_to(people.county_staff, 4)
    monkeypatch.setattr(events, "REPLAY_OVERLAP", 1)
    frames = events.replay(people.county_staff, mine[2].seq)
    assert [f["id"] for f in frames] == [mine[2].seq, mine[3].seq]
    monkeypatch.setattr(events, "REPLAY_OVERLAP", 0)
    assert [f["id"] for f in events.replay(people.county_staff, mine[2].seq)] == [mine[3].seq]


def test_replay_gives_up_past_the_limit(people, monkeypatch):
    mine = publish_to(people.county_staff, 4)
    monkeypatch.setattr(events, "REPLAY_LIMIT", 3)
    assert events.replay(people.county_staff, 0) is None
    frames = events.replay(people.county_staff, mine[0].seq)
    assert [f["id"] for f in frames] == [e.seq for e in mine]  # with the overlap


def test_the_latest_id_is_the_newest_event(people):
    assert events.latest_id() == 0
    last = publish_to(people.county_staff, 2)[-1]
    assert events.latest_id() == last.seq


def test_replay_overlap_holds_only_recent_events(people):
    """Below the client's last seq, only events young enough for a push still in flight
    are sent again; older ones it already had are not resent on every resume."""
    old, recent, last = publish_to(people.county_staff, 3)
    Event.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(seconds=events.REPLAY_OVERLAP_SECONDS + 60)
    )
    newer = publish_to(people.county_staff, 1)
    frames = events.replay(people.county_staff, last.seq)
    assert [f["id"] for f in frames] == [recent.seq, last.seq, newer[0].seq]
