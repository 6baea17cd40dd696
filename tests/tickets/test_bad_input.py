"""Refused input: every reason listed at once, nothing stored — no ticket, no timeline
entry, no file left on disk."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from escalation import services as escalation_services
from escalation.models import EscalationRecord
from tests.tickets.helpers import MONDAY, fresh, raise_ticket
from tickets import services
from tickets.models import Ticket, TicketEvent, TicketFile

T0 = MONDAY.replace(hour=9)


def pdf(name="截图.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4 test", content_type="application/pdf")


def exe(name="修复工具.exe"):
    return SimpleUploadedFile(name, b"MZ\x90\x00", content_type="application/octet-stream")


def refused(reporter, **kw):
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        raise_ticket(reporter, now=T0, **kw)
    return caught.value.messages


def nothing_stored(media_files):
    assert Ticket.objects.count() == 0
    assert TicketEvent.objects.count() == 0
    assert TicketFile.objects.count() == 0
    assert EscalationRecord.objects.count() == 0
    assert media_files() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "Give the ticket a title."),
        ({"title": "   "}, "Give the ticket a title."),
        ({"title": "长" * 201}, "The title is limited to 200 characters."),
        ({"description": ""}, "The description cannot be empty."),
        ({"description": " \n "}, "The description cannot be empty."),
        ({"description": "x" * 20_001}, "The description is limited to 20,000 characters."),
        ({"category": "unknown"}, "Choose a category."),
        ({"category": ""}, "Choose a category."),
        ({"priority": "critical"}, "Choose a priority."),
        ({"priority": None}, "Choose a priority."),
    ],
)
def test_each_bad_field_is_refused_and_nothing_is_stored(desk, media_files, fields, message):
    assert refused(desk.reporter, files=[pdf()], **fields) == [message]
    nothing_stored(media_files)


def test_a_disallowed_file_type_is_refused_and_nothing_is_stored(desk, media_files):
    messages = refused(desk.reporter, files=[pdf(), exe()])
    assert len(messages) == 1
    assert "修复工具.exe" in messages[0] and ".exe" in messages[0]
    nothing_stored(media_files)


def test_an_empty_file_is_refused(desk, media_files):
    empty = SimpleUploadedFile("空.pdf", b"", content_type="application/pdf")
    assert refused(desk.reporter, files=[empty]) == ["空.pdf is empty."]
    nothing_stored(media_files)


def test_every_reason_is_listed_at_once(desk, media_files):
    messages = refused(
        desk.reporter,
        title="",
        description="",
        category="nope",
        priority="nope",
        files=[exe("a.exe"), exe("b.bat")],
    )
    assert messages[:4] == [
        "Give the ticket a title.",
        "The description cannot be empty.",
        "Choose a category.",
        "Choose a priority.",
    ]
    assert len(messages) == 6
    assert "a.exe" in messages[4] and "b.bat" in messages[5]
    nothing_stored(media_files)


def test_the_limits_themselves_are_accepted(desk, media_files):
    t = raise_ticket(
        desk.reporter, title="长" * 200, description="x" * 20_000, files=[pdf()], now=T0
    )
    t = fresh(t)
    assert len(t.title) == 200 and len(t.description) == 20_000
    assert TicketFile.objects.filter(ticket=t).count() == 1
    assert len(media_files()) == 1


def test_a_failure_after_the_files_are_written_removes_them(desk, media_files, monkeypatch):
    """All or nothing, files included: a fault while placing the ticket at its tier
    rolls the rows back and deletes what was already written to disk."""

    def broken(*args, **kwargs):
        raise RuntimeError("routing exploded")

    monkeypatch.setattr(escalation_services, "enter_tier", broken)
    with pytest.raises(RuntimeError):
        raise_ticket(desk.reporter, files=[pdf("一.pdf"), pdf("二.pdf")], now=T0)
    nothing_stored(media_files)


def test_a_disabled_account_cannot_raise_a_ticket(desk, media_files):
    from django.core.exceptions import PermissionDenied

    desk.reporter.is_active = False
    desk.reporter.save(update_fields=["is_active"])
    with pytest.raises(PermissionDenied):
        raise_ticket(desk.reporter, files=[pdf()], now=T0)
    nothing_stored(media_files)


# --- replies ---------------------------------------------------------------------------


@pytest.fixture
def ticket(desk):
    return raise_ticket(desk.reporter, now=T0)


@pytest.mark.parametrize("internal", [False, True])
def test_a_reply_over_twenty_thousand_characters_is_refused(desk, ticket, internal):
    before = TicketEvent.objects.filter(ticket=ticket).count()
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        services.ticket_reply(actor=desk.eng1, ticket=ticket, body="字" * 20_001, internal=internal)
    what = "The note" if internal else "The reply"
    assert caught.value.messages == [f"{what} is limited to 20,000 characters."]
    assert TicketEvent.objects.filter(ticket=ticket).count() == before
    services.ticket_reply(actor=desk.eng1, ticket=ticket, body="字" * 20_000, internal=internal)
    assert TicketEvent.objects.filter(ticket=ticket).count() > before


def test_an_empty_reply_is_refused_unless_it_carries_a_file(desk, ticket, media_files):
    before = TicketEvent.objects.filter(ticket=ticket).count()
    with pytest.raises(ValidationError):
        services.ticket_reply(actor=desk.reporter, ticket=ticket, body="  ")
    assert TicketEvent.objects.filter(ticket=ticket).count() == before
    services.ticket_reply(actor=desk.reporter, ticket=ticket, body="", files=[pdf()])
    entry = TicketEvent.objects.filter(ticket=ticket, kind="reply").latest("id")
    assert [f.name for f in entry.files.all()] == ["截图.pdf"]
    assert len(media_files()) == 1


def test_a_reply_with_a_disallowed_file_stores_nothing(desk, ticket, media_files):
    before = TicketEvent.objects.filter(ticket=ticket).count()
    with pytest.raises(ValidationError):
        services.ticket_reply(actor=desk.reporter, ticket=ticket, body="见附件", files=[exe()])
    assert TicketEvent.objects.filter(ticket=ticket).count() == before
    assert TicketFile.objects.count() == 0
    assert media_files() == []


def test_a_transition_text_over_the_limit_is_refused(desk, ticket):
    with pytest.raises(ValidationError):
        services.ticket_transition(
            actor=desk.eng1, ticket=ticket, action="resolve", text="x" * 20_001
        )
    assert fresh(ticket).status == "assigned"


def test_a_hostile_reply_is_stored_inert(desk, ticket):
    services.ticket_reply(
        actor=desk.reporter, ticket=ticket, body="<script>alert(1)</script>[x](javascript:alert(1))"
    )
    html = TicketEvent.objects.filter(ticket=ticket, kind="reply").latest("id").body_html
    assert "<script" not in html.lower()
    assert "javascript:" not in html.lower()
