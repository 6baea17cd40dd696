"""催办: at most once an hour per notice, by those who see its statistics."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from core import events
from core.models import Event
from notices import selectors, services
from notices.models import Notice, Reminder
from tests.notices.helpers import draft, send


@pytest.fixture
def notice(people):
    return send(people.province_manager, to=["130000"], levels=["county", "school"])


def remind(actor, notice, mode="unread"):
    return services.notice_remind(actor=actor, notice=notice, mode=mode)


def reminder_groups():
    event = Event.objects.filter(kind="notice.reminder").latest("pk")
    return set(event.targets.values_list("group", flat=True))


def test_the_author_can_remind(people, notice):
    reminder = remind(people.province_manager, notice)
    assert (reminder.sent_by, reminder.mode) == (people.province_manager, "unread")
    notice.refresh_from_db()
    assert notice.last_reminded_at is not None
    assert reminder_groups() == {"t.130000.county.all", "t.130000.school.all"}


def test_a_second_reminder_within_the_hour_is_refused_with_when_to_retry(people, notice):
    remind(people.province_manager, notice)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        remind(people.province_manager, notice)
    assert refused.value.code == "too_soon"
    minutes = re.search(r"try again in (\d+) minutes", refused.value.messages[0])
    assert minutes is not None, refused.value.messages
    assert int(minutes.group(1)) == 60
    assert Reminder.objects.count() == 1
    assert Event.objects.filter(kind="notice.reminder").count() == 1


def test_the_retry_time_counts_down(people, notice):
    remind(people.province_manager, notice)
    Notice.objects.filter(pk=notice.pk).update(
        last_reminded_at=timezone.now() - timedelta(minutes=45)
    )
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        remind(people.province_manager, notice)
    assert "try again in 15 minutes" in refused.value.messages[0]


def test_the_hour_is_per_notice_not_per_person(people, notice):
    remind(people.province_manager, notice)
    with pytest.raises(ValidationError):
        remind(people.prefecture_manager, notice)


def test_a_reminder_works_again_after_an_hour(people, notice):
    remind(people.province_manager, notice)
    Notice.objects.filter(pk=notice.pk).update(
        last_reminded_at=timezone.now() - timedelta(hours=1, minutes=1)
    )
    remind(people.province_manager, notice)
    assert Reminder.objects.count() == 2
    assert Event.objects.filter(kind="notice.reminder").count() == 2


def test_someone_who_cannot_see_the_statistics_cannot_remind(people, notice):
    for account in (people.beijing_manager, people.county_staff, people.school_staff):
        assert not selectors.can_view_stats(account, notice)
        with pytest.raises(PermissionDenied):
            remind(account, notice)
    assert not Reminder.objects.exists()
    notice.refresh_from_db()
    assert notice.last_reminded_at is None


def test_a_draft_cannot_be_reminded(people):
    notice = draft(people.province_manager, to=["130000"], levels=["county"])
    with pytest.raises(PermissionDenied):
        remind(people.province_manager, notice)


def test_reminding_of_acknowledgements_needs_a_notice_that_asks_for_them(people, notice):
    with pytest.raises(ValidationError):
        remind(people.province_manager, notice, mode="unacked")
    notice.refresh_from_db()
    assert notice.last_reminded_at is None
    assert not Reminder.objects.exists()


def test_an_unknown_reminder_mode_is_refused(people, notice):
    with pytest.raises(ValidationError):
        remind(people.province_manager, notice, mode="everyone")


def test_reminding_of_acknowledgements_works_when_they_are_asked_for(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"], requires_ack=True)
    assert remind(people.province_manager, notice, mode="unacked").mode == "unacked"


def test_a_manager_along_the_audience_reminds_only_its_own_part(people, notice):
    remind(people.county_manager, notice)
    assert reminder_groups() == {"t.130102.county.all", "t.130102.school.all"}


def test_a_reminder_applies_only_to_those_who_have_not_read(people, notice):
    remind(people.province_manager, notice)
    payload = Event.objects.get(kind="notice.reminder").payload
    services.notice_mark_read(account=people.county_staff, notice=notice)
    assert not selectors.reminder_applies(people.county_staff, payload)
    assert selectors.reminder_applies(people.sibling_staff, payload)


def test_a_reminder_of_acknowledgements_applies_to_those_who_only_read(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"], requires_ack=True)
    services.notice_mark_read(account=people.school_staff, notice=notice)
    services.notice_acknowledge(account=people.sibling_school_staff, notice=notice)
    remind(people.province_manager, notice, mode="unacked")
    payload = Event.objects.get(kind="notice.reminder").payload
    assert selectors.reminder_applies(people.school_staff, payload)
    assert not selectors.reminder_applies(people.sibling_school_staff, payload)


def test_a_replayed_reminder_is_left_out_for_those_who_have_read(people, notice):
    services.notice_mark_read(account=people.county_staff, notice=notice)
    remind(people.province_manager, notice)
    kinds = [f["type"] for f in events.replay(people.county_staff, 0)]
    assert kinds == ["notice.published"]
    kinds = [f["type"] for f in events.replay(people.sibling_staff, 0)]
    assert kinds == ["notice.published", "notice.reminder"]
