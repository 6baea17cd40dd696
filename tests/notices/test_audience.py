"""Who a notice reaches: subtrees filtered by level and role, checked against the author's
own subtree; drafts and scheduled notices reach nobody until they are published."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from accounts.models import Level
from core.models import Event
from notices import selectors, services
from notices.models import Notice, NoticeTarget, Status
from tests import factories
from tests.notices.helpers import draft, send


def inbox_of(account):
    return set(selectors.received(account))


def test_a_province_notice_to_counties_and_schools_reaches_them(people):
    notice = send(people.province_manager, to=["130000"], levels=["county", "school"])
    for account in (
        people.county_manager,
        people.county_staff,
        people.sibling_staff,
        people.school_staff,
        people.sibling_school_staff,
    ):
        assert selectors.reaches(notice, account), account
        assert notice in inbox_of(account), account


def test_a_province_notice_to_counties_and_schools_skips_the_prefecture(people):
    notice = send(people.province_manager, to=["130000"], levels=["county", "school"])
    for account in (people.prefecture_manager, people.prefecture_staff, people.province_manager):
        assert not selectors.reaches(notice, account), account
        assert notice not in inbox_of(account), account


def test_a_province_notice_does_not_reach_another_province(people):
    notice = send(people.province_manager, to=["130000"], levels=["county", "school"])
    for account in (people.beijing_county_staff, people.beijing_school_staff):
        assert not selectors.reaches(notice, account)
        assert notice not in inbox_of(account)


def test_the_audience_accounts_are_exactly_the_recipients(people):
    notice = send(people.province_manager, to=["130000"], levels=["county", "school"])
    assert set(selectors.audience_accounts(notice)) == {
        people.county_manager,
        people.county_staff,
        people.sibling_manager,
        people.sibling_staff,
        people.school_manager,
        people.school_staff,
        people.sibling_school_staff,
    }


def test_school_staff_cannot_read_a_managers_only_notice(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"], managers_only=True)
    assert selectors.reaches(notice, people.school_manager)
    assert not selectors.reaches(notice, people.school_staff)
    assert notice not in inbox_of(people.school_staff)
    with pytest.raises(Http404):
        selectors.notice_readable_or_404(account=people.school_staff, pk=notice.pk)
    assert set(selectors.audience_accounts(notice)) == {people.school_manager}


def test_a_target_outside_the_authors_subtree_is_refused_and_nothing_is_stored(people):
    with pytest.raises(ValidationError) as refused:
        draft(people.county_manager, to=["130102", "130104"], levels=["school"])
    assert "130104" in str(refused.value)
    assert not Notice.objects.exists()
    assert not NoticeTarget.objects.exists()


def test_an_unknown_unit_code_is_refused(people):
    with pytest.raises(ValidationError):
        draft(people.province_manager, to=["139999"], levels=["county"])
    assert not Notice.objects.exists()


def test_overlapping_targets_are_merged_into_the_wider_one(people, tree):
    notice = send(people.province_manager, to=["130102", "130000"], levels=["county"])
    assert [t.unit for t in notice.targets.all()] == [tree.province]
    assert selectors.reaches(notice, people.county_staff)


def test_an_audience_that_reaches_nobody_is_refused(people, tree):
    factories.unit(Level.COUNTY, "130105", "新华区", tree.prefecture)
    with pytest.raises(ValidationError):
        draft(people.province_manager, to=["130105"], levels=["school"])
    assert not Notice.objects.exists()
    assert not NoticeTarget.objects.exists()


def test_the_ministry_level_cannot_be_chosen(people):
    with pytest.raises(ValidationError):
        draft(people.province_manager, to=["130000"], levels=["ministry"])


def test_staff_cannot_compose(people):
    with pytest.raises(PermissionDenied):
        draft(people.county_staff, to=["130102"], levels=["school"])
    assert not Notice.objects.exists()


def test_a_draft_is_visible_only_to_its_author(people):
    notice = draft(people.province_manager, to=["130000"], levels=["county"])
    assert notice.status == Status.DRAFT
    assert selectors.notice_readable_or_404(account=people.province_manager, pk=notice.pk)
    for account in (people.county_staff, people.county_manager, people.prefecture_manager):
        assert not selectors.can_read(account, notice)
        assert notice not in inbox_of(account)
        with pytest.raises(Http404):
            selectors.notice_readable_or_404(account=account, pk=notice.pk)


def test_a_draft_announces_nothing(people):
    draft(people.province_manager, to=["130000"], levels=["county"])
    assert not Event.objects.exists()


def test_publishing_makes_the_notice_visible_and_announces_it_once(people):
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    assert notice.status == Status.PUBLISHED
    assert notice.published_at is not None
    assert notice in inbox_of(people.county_staff)
    assert list(Event.objects.values_list("kind", flat=True)) == ["notice.published"]


def test_another_manager_cannot_publish_someone_elses_draft(people):
    notice = draft(people.province_manager, to=["130000"], levels=["county"])
    with pytest.raises(PermissionDenied):
        services.notice_publish(actor=people.prefecture_manager, notice=notice)
    notice.refresh_from_db()
    assert notice.status == Status.DRAFT


def test_a_scheduled_notice_is_invisible_until_its_time_has_come(people):
    later = timezone.now() + timedelta(days=1)
    notice = send(people.province_manager, to=["130000"], levels=["county"], publish_at=later)
    assert notice.status == Status.SCHEDULED
    assert notice not in inbox_of(people.county_staff)
    assert not selectors.can_read(people.county_staff, notice)
    assert services.notices_publish_due() == 0
    assert not Event.objects.exists()

    Notice.objects.filter(pk=notice.pk).update(publish_at=timezone.now() - timedelta(minutes=1))
    assert services.notices_publish_due() == 1

    notice.refresh_from_db()
    assert notice.status == Status.PUBLISHED
    assert notice in inbox_of(people.county_staff)
    assert Event.objects.filter(kind="notice.published").count() == 1


def test_publishing_due_notices_twice_publishes_once(people):
    later = timezone.now() + timedelta(hours=2)
    notice = send(people.province_manager, to=["130000"], levels=["county"], publish_at=later)
    Notice.objects.filter(pk=notice.pk).update(publish_at=timezone.now() - timedelta(minutes=1))
    assert services.notices_publish_due() == 1
    assert services.notices_publish_due() == 0
    assert Event.objects.filter(kind="notice.published").count() == 1


def test_only_the_author_edits_a_draft(people):
    notice = draft(people.province_manager, to=["130000"], levels=["county"])
    with pytest.raises(PermissionDenied):
        draft(people.prefecture_manager, to=["130100"], levels=["county"], notice=notice)
    edited = draft(
        people.province_manager, to=["130102"], levels=["school"], title="改后", notice=notice
    )
    assert edited.pk == notice.pk
    assert [t.unit.code for t in edited.targets.all()] == ["130102"]
    assert edited.level_list == ["school"]


def test_a_published_notice_cannot_be_edited(people):
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    with pytest.raises(PermissionDenied):
        draft(people.province_manager, to=["130000"], levels=["county"], notice=notice)
