"""Who may open a notice, fetch its files and see its statistics."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from notices import selectors, services
from tests.notices.helpers import pdf, send


@pytest.fixture
def to_schools(people):
    """A province-wide notice to schools, with a file."""
    return send(people.province_manager, to=["130000"], levels=["school"], files=[pdf()])


def test_nobody_outside_the_audience_can_read_the_notice(people, to_schools):
    for account in (people.beijing_school_staff, people.beijing_manager, people.county_staff):
        with pytest.raises(Http404):
            selectors.notice_readable_or_404(account=account, pk=to_schools.pk)


def test_a_recipient_can_read_the_notice(people, to_schools):
    notice = selectors.notice_readable_or_404(account=people.school_staff, pk=to_schools.pk)
    assert notice == to_schools


def test_nobody_outside_the_audience_can_fetch_an_attachment(people, to_schools):
    attachment = to_schools.attachments.get()
    with pytest.raises(Http404):
        selectors.attachment_readable_or_404(
            account=people.beijing_school_staff, notice_pk=to_schools.pk, pk=attachment.pk
        )


def test_a_recipient_can_fetch_an_attachment(people, to_schools):
    attachment = to_schools.attachments.get()
    fetched = selectors.attachment_readable_or_404(
        account=people.school_staff, notice_pk=to_schools.pk, pk=attachment.pk
    )
    assert fetched == attachment
    assert fetched.file.read() == b"%PDF-1.4 test"


def test_an_attachment_is_not_reachable_through_another_notice(people, to_schools):
    other = send(people.beijing_manager, to=["110000"], levels=["school"], files=[pdf()])
    theirs = other.attachments.get()
    with pytest.raises(Http404):
        selectors.attachment_readable_or_404(
            account=people.school_staff, notice_pk=to_schools.pk, pk=theirs.pk
        )


def test_nobody_outside_the_audience_sees_statistics(people, to_schools):
    for account in (people.beijing_manager, people.beijing_school_staff):
        assert not selectors.can_view_stats(account, to_schools)


def test_recipients_who_are_staff_see_no_statistics(people, to_schools):
    assert not selectors.can_view_stats(people.school_staff, to_schools)


def test_the_author_sees_statistics_from_its_own_unit(people, tree, to_schools):
    assert selectors.can_view_stats(people.province_manager, to_schools)
    root = selectors.stats_unit_or_404(
        account=people.province_manager, notice=to_schools, code=None
    )
    assert root == tree.province


def test_a_manager_along_the_audience_sees_statistics(people, to_schools):
    assert selectors.can_view_stats(people.prefecture_manager, to_schools)
    assert selectors.can_view_stats(people.county_manager, to_schools)
    assert selectors.can_read(people.prefecture_manager, to_schools)


def test_a_managers_statistics_are_limited_to_its_subtree(people, tree, to_schools):
    viewer = people.prefecture_manager
    root = selectors.stats_unit_or_404(account=viewer, notice=to_schools, code=None)
    assert root == tree.prefecture
    assert selectors.stats_unit_or_404(account=viewer, notice=to_schools, code="130102")
    for outside in ("130000", "110101", "1101010001"):
        with pytest.raises(Http404):
            selectors.stats_unit_or_404(account=viewer, notice=to_schools, code=outside)


def test_a_managers_statistics_count_only_its_subtree(people, tree, to_schools):
    services.notice_mark_read(account=people.school_staff, notice=to_schools)
    services.notice_mark_read(account=people.sibling_school_staff, notice=to_schools)
    root = selectors.stats_root(account=people.county_manager, notice=to_schools)
    total, _rows = selectors.stats(notice=to_schools, unit=root)
    assert (total.accounts, total.read, total.units) == (2, 1, 1)


def test_a_sibling_county_manager_sees_no_statistics_of_a_notice_to_another_county(people):
    notice = send(people.prefecture_manager, to=["130102"], levels=["county", "school"])
    assert selectors.can_view_stats(people.county_manager, notice)
    assert not selectors.can_view_stats(people.sibling_manager, notice)
    assert not selectors.can_read(people.sibling_manager, notice)


def test_a_manager_above_the_author_sees_no_statistics(people):
    notice = send(people.county_manager, to=["130102"], levels=["school"])
    assert not selectors.can_view_stats(people.prefecture_manager, notice)


def test_a_reply_file_is_readable_by_its_writer_the_author_and_managers_over_it(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"], requires_ack=True)
    receipt = services.notice_acknowledge(
        account=people.school_staff, notice=notice, reply="已完成", files=[pdf("周报.pdf")]
    )
    attachment = receipt.attachments.get()
    for account in (
        people.school_staff,
        people.province_manager,
        people.prefecture_manager,
        people.county_manager,
        people.school_manager,
    ):
        got = selectors.attachment_readable_or_404(
            account=account, notice_pk=notice.pk, pk=attachment.pk
        )
        assert got == attachment, account


def test_a_reply_file_is_hidden_from_other_recipients_and_sibling_managers(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"], requires_ack=True)
    receipt = services.notice_acknowledge(
        account=people.school_staff, notice=notice, reply="已完成", files=[pdf("周报.pdf")]
    )
    attachment = receipt.attachments.get()
    for account in (people.sibling_school_staff, people.sibling_manager):
        with pytest.raises(Http404):
            selectors.attachment_readable_or_404(
                account=account, notice_pk=notice.pk, pk=attachment.pk
            )


def test_a_manager_below_every_audience_level_cannot_read_or_act_on_the_notice(people):
    """A notice to the province's counties only: a school manager sits inside the target
    subtree but nobody in its subtree is addressed."""
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    manager = people.school_manager
    assert not selectors.can_view_stats(manager, notice)
    assert not selectors.can_read(manager, notice)
    assert not selectors.can_forward(manager, notice)
    with pytest.raises(Http404):
        selectors.notice_readable_or_404(account=manager, pk=notice.pk)
    with pytest.raises(PermissionDenied):
        services.notice_remind(actor=manager, notice=notice, mode="unread")


def test_a_manager_over_part_of_the_audience_keeps_its_statistics(people):
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    assert selectors.can_view_stats(people.prefecture_manager, notice)
    assert selectors.can_view_stats(people.county_manager, notice)
