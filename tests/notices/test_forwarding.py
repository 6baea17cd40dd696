"""转发: a manager passes a received notice down into its own subtree with a note."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.models import Event
from notices import selectors, services
from notices.models import Notice
from tests.notices.helpers import draft, pdf, send


@pytest.fixture
def original(people):
    """A province notice to counties only, with a file."""
    return send(people.province_manager, to=["130000"], levels=["county"], files=[pdf()])


def forward(actor, notice, *, to=("130102",), levels=("school",), note="请各校于本周五前完成。"):
    return services.notice_forward(
        actor=actor,
        notice=notice,
        target_codes=list(to),
        levels=list(levels),
        managers_only=False,
        note=note,
    )


def test_school_staff_receive_the_forward_but_not_the_original(people, original):
    fwd = forward(people.county_manager, original)
    inbox = set(selectors.received(people.school_staff))
    assert fwd in inbox
    assert original not in inbox
    assert selectors.can_read(people.school_staff, fwd)
    assert not selectors.can_read(people.school_staff, original)


def test_a_forward_reaches_only_the_forwarders_part(people, original):
    fwd = forward(people.county_manager, original)
    assert not selectors.reaches(fwd, people.sibling_school_staff)
    assert not selectors.reaches(fwd, people.beijing_school_staff)


def test_a_forward_carries_the_note_and_the_original_text(people, original):
    fwd = forward(people.county_manager, original, note="  请各校于本周五前完成。 ")
    assert fwd.forward_note == "请各校于本周五前完成。"
    assert (fwd.title, fwd.body_html) == (original.title, original.body_html)
    assert fwd.author == people.county_manager
    assert fwd.forwarded_from == original


def test_a_forward_is_published_and_announced(people, original):
    before = Event.objects.count()
    fwd = forward(people.county_manager, original)
    assert fwd.published_at is not None
    event = Event.objects.order_by("-pk").first()
    assert Event.objects.count() == before + 1
    assert event.kind == "notice.published"
    assert event.payload["notice"]["id"] == fwd.pk
    assert event.payload["notice"]["forwarded"] is True


def test_the_forwards_attachments_are_the_originals(people, original):
    fwd = forward(people.county_manager, original)
    assert fwd.source == original
    assert not fwd.attachments.exists()
    attachment = original.attachments.get()
    got = selectors.attachment_readable_or_404(
        account=people.school_staff, notice_pk=fwd.pk, pk=attachment.pk
    )
    assert got == attachment


def test_a_forward_of_a_forward_still_carries_the_originals_files(people, original):
    first = forward(people.county_manager, original, levels=("county",))
    second = forward(people.county_manager, first)
    assert second.source == original
    assert selectors.forward_chain(second) == [original, first, second]


def test_the_forward_chain_lists_the_original_then_the_forward(people, original):
    fwd = forward(people.county_manager, original)
    assert selectors.forward_chain(fwd) == [original, fwd]
    assert selectors.forward_chain(original) == [original]


def test_school_staff_cannot_forward(people):
    notice = send(people.province_manager, to=["130000"], levels=["school"])
    with pytest.raises(PermissionDenied):
        forward(people.school_staff, notice, to=("1301020001",))


def test_a_manager_outside_the_audience_cannot_forward(people, original):
    assert not selectors.can_forward(people.beijing_manager, original)
    with pytest.raises(PermissionDenied):
        forward(people.beijing_manager, original, to=("110101",))


def test_forwarding_outside_ones_subtree_is_refused(people, original):
    before = Notice.objects.count()
    with pytest.raises(ValidationError):
        forward(people.county_manager, original, to=("130104",))
    with pytest.raises(ValidationError):
        forward(people.county_manager, original, to=("1301040001",))
    assert Notice.objects.count() == before


def test_a_forward_that_reaches_nobody_is_refused_and_not_stored(people, original, tree):
    before = Notice.objects.count()
    with pytest.raises(ValidationError):
        forward(people.county_manager, original, to=("130102",), levels=("prefecture",))
    assert Notice.objects.count() == before


def test_a_draft_cannot_be_forwarded(people):
    notice = draft(people.province_manager, to=["130000"], levels=["county"])
    with pytest.raises(PermissionDenied):
        forward(people.province_manager, notice)
