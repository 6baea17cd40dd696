"""Receipts written when people read and acknowledge, and the statistics built from them."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from core import events
from core.models import Event
from notices import selectors, services
from notices.models import Attachment, Receipt
from tests.notices.helpers import pdf, send


def ack_notice(people, **kw):
    return send(
        people.province_manager,
        to=["130000"],
        levels=["county", "school"],
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(days=3),
        **kw,
    )


# --- opening ---------------------------------------------------------------------


def test_opening_creates_one_receipt_for_a_recipient(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"])
    receipt = services.notice_mark_read(account=people.school_staff, notice=notice)
    assert receipt.account == people.school_staff
    assert receipt.unit_path == people.school_staff.unit.path
    assert receipt.acked_at is None


def test_opening_twice_keeps_one_receipt(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"])
    first = services.notice_mark_read(account=people.school_staff, notice=notice)
    second = services.notice_mark_read(account=people.school_staff, notice=notice)
    assert first == second
    assert Receipt.objects.filter(notice=notice).count() == 1


def test_opening_leaves_no_receipt_for_a_viewer_outside_the_audience(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"])
    assert selectors.can_read(people.prefecture_manager, notice)
    for viewer in (people.prefecture_manager, people.province_manager):
        assert services.notice_mark_read(account=viewer, notice=notice) is None
    assert not Receipt.objects.exists()


# --- acknowledging -------------------------------------------------------------------


def test_acknowledging_stores_the_reply_and_the_file(people, media_files):
    notice = ack_notice(people)
    receipt = services.notice_acknowledge(
        account=people.school_staff,
        notice=notice,
        reply="  本校已完成注册。 ",
        files=[pdf("周报.pdf", b"%PDF-1.4 weekly")],
    )
    receipt.refresh_from_db()
    assert receipt.reply == "本校已完成注册。"
    assert receipt.acked_at is not None
    attachment = receipt.attachments.get()
    assert (attachment.name, attachment.size) == ("周报.pdf", 15)
    assert attachment.uploaded_by == people.school_staff
    assert attachment.file.read() == b"%PDF-1.4 weekly"
    assert len(media_files()) == 1


def test_acknowledging_tells_the_author(people):
    notice = ack_notice(people)
    services.notice_acknowledge(account=people.school_staff, notice=notice)
    event = Event.objects.get(kind="notice.acknowledged")
    assert event.payload["notice"]["id"] == notice.pk
    assert list(event.targets.values_list("group", flat=True)) == [
        events.account_group(people.province_manager.pk)
    ]


def test_acknowledging_without_opening_first_also_marks_read(people):
    notice = ack_notice(people)
    services.notice_acknowledge(account=people.county_staff, notice=notice)
    receipt = Receipt.objects.get(notice=notice, account=people.county_staff)
    assert receipt.read_at is not None and receipt.acked_at is not None


def test_acknowledging_twice_is_refused_and_keeps_the_first(people, media_files):
    notice = ack_notice(people)
    services.notice_acknowledge(account=people.school_staff, notice=notice, reply="第一次")
    with pytest.raises(ValidationError):
        services.notice_acknowledge(
            account=people.school_staff, notice=notice, reply="第二次", files=[pdf()]
        )
    receipt = Receipt.objects.get(notice=notice, account=people.school_staff)
    assert receipt.reply == "第一次"
    assert not Attachment.objects.exists()
    assert media_files() == []


def test_acknowledging_a_notice_that_asks_for_none_is_refused(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"])
    with pytest.raises(ValidationError):
        services.notice_acknowledge(account=people.school_staff, notice=notice, reply="收到")
    assert not Receipt.objects.filter(acked_at__isnull=False).exists()


def test_a_non_recipient_cannot_acknowledge(people):
    notice = ack_notice(people)
    for account in (people.prefecture_manager, people.beijing_school_staff):
        with pytest.raises(PermissionDenied):
            services.notice_acknowledge(account=account, notice=notice)
    assert not Receipt.objects.exists()


def test_an_overlong_reply_is_refused_and_leaves_no_receipt(people):
    notice = ack_notice(people)
    with pytest.raises(ValidationError):
        services.notice_acknowledge(account=people.school_staff, notice=notice, reply="字" * 2001)
    assert not Receipt.objects.exists()


def test_a_refused_reply_file_leaves_no_receipt(people, media_files):
    notice = ack_notice(people)
    with pytest.raises(ValidationError):
        services.notice_acknowledge(
            account=people.school_staff, notice=notice, files=[pdf("run.exe", b"MZ")]
        )
    assert not Receipt.objects.exists()
    assert media_files() == []


# --- statistics --------------------------------------------------------------------------


@pytest.fixture
def scenario(people):
    """A province notice to counties and schools (7 accounts in 4 units): in 长安区 the
    county staff acknowledges, the school staff reads and the school manager acknowledges;
    桥西区 and its school do nothing."""
    notice = ack_notice(people)
    services.notice_acknowledge(account=people.county_staff, notice=notice, reply="县已完成")
    services.notice_mark_read(account=people.school_staff, notice=notice)
    services.notice_acknowledge(account=people.school_manager, notice=notice, reply="校已完成")
    services.notice_mark_read(account=people.prefecture_manager, notice=notice)  # not a recipient
    return notice


def counts(row):
    return (row.accounts, row.read, row.acked, row.units, row.units_read)


def test_statistics_of_the_province_roll_up_into_the_prefecture(scenario, tree):
    total, rows = selectors.stats(notice=scenario, unit=tree.province)
    assert counts(total) == (7, 3, 2, 4, 2)
    assert [r.unit for r in rows] == [tree.prefecture]
    assert counts(rows[0]) == (7, 3, 2, 4, 2)


def test_statistics_of_the_prefecture_have_a_row_per_county(scenario, tree):
    total, rows = selectors.stats(notice=scenario, unit=tree.prefecture)
    assert counts(total) == (7, 3, 2, 4, 2)
    assert [r.unit for r in rows] == [tree.county, tree.sibling]
    assert counts(rows[0]) == (4, 3, 2, 2, 2)
    assert counts(rows[1]) == (3, 0, 0, 2, 0)
    assert (rows[1].unread, rows[1].unacked) == (3, 3)


def test_statistics_of_a_county_list_its_own_accounts_first(scenario, tree):
    total, rows = selectors.stats(notice=scenario, unit=tree.county)
    assert counts(total) == (4, 3, 2, 2, 2)
    assert [r.unit for r in rows] == [None, tree.school]
    assert counts(rows[0]) == (2, 1, 1, 1, 1)
    assert counts(rows[1]) == (2, 2, 1, 1, 1)


def test_statistics_leave_out_disabled_accounts(scenario, tree, people):
    people.sibling_staff.is_active = False
    people.sibling_staff.save(update_fields=["is_active"])
    total, _ = selectors.stats(notice=scenario, unit=tree.sibling)
    assert counts(total) == (2, 0, 0, 2, 0)


def test_laggards_are_the_units_and_people_who_have_not_read(scenario, tree, people):
    units, who = selectors.laggards(notice=scenario, unit=tree.prefecture)
    assert units == [tree.sibling, tree.sibling_school]
    assert who == [
        people.county_manager,
        people.sibling_manager,
        people.sibling_staff,
        people.sibling_school_staff,
    ]


def test_laggards_in_acknowledging_include_those_who_only_read(scenario, tree, people):
    units, who = selectors.laggards(notice=scenario, unit=tree.prefecture, mode="unacked")
    assert units == [tree.sibling, tree.sibling_school]
    assert who == [
        people.county_manager,
        people.school_staff,
        people.sibling_manager,
        people.sibling_staff,
        people.sibling_school_staff,
    ]


def test_laggards_are_limited_to_the_unit_asked_about(scenario, tree, people):
    units, who = selectors.laggards(notice=scenario, unit=tree.school)
    assert (units, who) == ([], [])


def test_replies_list_the_acknowledgements_under_a_unit(scenario, tree, people):
    assert [r.account for r in selectors.replies(notice=scenario, unit=tree.prefecture)] == [
        people.county_staff,
        people.school_manager,
    ]
    assert [r.reply for r in selectors.replies(notice=scenario, unit=tree.school)] == ["校已完成"]
    assert list(selectors.replies(notice=scenario, unit=tree.sibling)) == []
