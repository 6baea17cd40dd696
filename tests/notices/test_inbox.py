"""The inbox and its filters, and the unread count behind the badge."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notices import selectors, services
from notices.models import Notice
from tests.notices.helpers import send


@pytest.fixture
def box(people):
    """Six notices reaching 长安区第一中学's staff (one read, one acknowledged) and one that
    does not reach it."""
    boss = people.province_manager
    soon = timezone.now() + timedelta(days=2)

    def to_schools(title, **kw):
        return send(boss, to=["130000"], levels=["school"], title=title, **kw)

    n = {
        "read": to_schools("已读的通知"),
        "urgent": to_schools("紧急通知", priority="urgent"),
        "ack": to_schools("需回执的通知", requires_ack=True, ack_deadline=soon),
        "overdue": to_schools("已逾期的通知", requires_ack=True, ack_deadline=soon),
        "search": to_schools("关于体检的通知", body="请组织学生**体检**。"),
        "acked": to_schools("已回执的通知", requires_ack=True, ack_deadline=soon),
    }
    send(boss, to=["130000"], levels=["county"], title="只发区县的体检通知")
    Notice.objects.filter(pk=n["overdue"].pk).update(
        ack_deadline=timezone.now() - timedelta(hours=1)
    )
    services.notice_mark_read(account=people.school_staff, notice=n["read"])
    services.notice_acknowledge(account=people.school_staff, notice=n["acked"])
    return n


def titles(account, flt="", q=""):
    return {n.title for n in selectors.inbox(account=account, flt=flt, q=q)}


def names(box, *keys):
    return {box[k].title for k in keys}


def test_the_inbox_holds_every_notice_that_reaches_the_account(people, box):
    assert titles(people.school_staff) == names(
        box, "read", "urgent", "ack", "overdue", "search", "acked"
    )


def test_the_inbox_is_newest_first_and_marks_what_was_read(people, box):
    rows = list(selectors.inbox(account=people.school_staff))
    assert rows[0] == box["acked"] and rows[-1] == box["read"]
    read = {n.title: (n.is_read, n.is_acked) for n in rows}
    assert read[box["read"].title] == (True, False)
    assert read[box["acked"].title] == (True, True)
    assert read[box["urgent"].title] == (False, False)


def test_the_unread_filter_leaves_out_what_was_read(people, box):
    assert titles(people.school_staff, "unread") == names(box, "urgent", "ack", "overdue", "search")


def test_the_ack_filter_lists_what_still_needs_an_acknowledgement(people, box):
    assert titles(people.school_staff, "ack") == names(box, "ack", "overdue")


def test_the_urgent_filter_lists_urgent_notices(people, box):
    assert titles(people.school_staff, "urgent") == names(box, "urgent")


def test_the_overdue_filter_lists_unacknowledged_notices_past_their_deadline(people, box):
    assert titles(people.school_staff, "overdue") == names(box, "overdue")


def test_searching_matches_title_and_body(people, box):
    assert titles(people.school_staff, q="体检") == names(box, "search")
    assert titles(people.school_staff, q="组织学生") == names(box, "search")
    assert titles(people.school_staff, q="没有这样的词") == set()


def test_filters_combine_with_search(people, box):
    assert titles(people.school_staff, "urgent", q="体检") == set()
    assert titles(people.school_staff, "unread", q="通知") == names(
        box, "urgent", "ack", "overdue", "search"
    )


def test_the_unread_count_counts_what_was_not_opened(people, box):
    assert selectors.unread_count(people.school_staff) == 4
    services.notice_mark_read(account=people.school_staff, notice=box["urgent"])
    assert selectors.unread_count(people.school_staff) == 3


def test_the_unread_count_is_per_account(people, box):
    assert selectors.unread_count(people.school_manager) == 6
    assert selectors.unread_count(people.county_staff) == 1
    assert selectors.unread_count(people.beijing_school_staff) == 0


def test_an_account_that_must_change_its_password_has_no_unread_count(people, box):
    people.school_manager.must_change_password = True
    assert selectors.unread_count(people.school_manager) == 0


def test_a_disabled_account_has_an_empty_inbox(people, box):
    people.school_staff.is_active = False
    assert list(selectors.inbox(account=people.school_staff)) == []
    assert selectors.unread_count(people.school_staff) == 0
