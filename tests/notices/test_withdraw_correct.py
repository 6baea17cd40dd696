"""Withdrawing (撤回) and correcting (更正) a published notice: who may, what recipients
keep and see, what is refused afterwards, and the socket events (a real socket client
over the Redis pub/sub channel layer, as in tests/core/test_socket.py)."""

import copy
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from accounts.models import AuditAction, AuditEvent
from core.models import Event
from notices import diffs, selectors, services
from notices.models import Attachment, Notice, Receipt, Status
from tests import factories
from tests.core.sockets import frames_until, headers_for, next_frame, open_socket, publish
from tests.notices.helpers import draft, pdf, send

AUDIENCE = {"t.130100.county.all", "t.130100.school.all"}


@pytest.fixture
def notice(people):
    """石家庄's circular to its counties and schools, asking for an acknowledgement."""
    return send(
        people.prefecture_manager,
        to=["130100"],
        levels=["county", "school"],
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(days=3),
        files=(pdf("报名表.pdf"),),
    )


def withdraw(actor, notice, reason="发文有误，另行通知"):
    return services.notice_withdraw(actor=actor, notice=notice, reason=reason)


def correct(actor, notice, **kw):
    fields = {
        "title": notice.title,
        "body": "请各单位于9月30日前完成学籍注册。",
        "note": "截止日期由9月20日更正为9月30日",
    }
    fields.update(kw)
    return services.notice_correct(actor=actor, notice=notice, **fields)


def groups_of(kind):
    event = Event.objects.filter(kind=kind).latest("pk")
    return set(event.targets.values_list("group", flat=True)), event.payload


# --- withdrawing -------------------------------------------------------------------------


def test_the_author_withdraws_and_recipients_still_see_it_marked(people, notice):
    services.notice_acknowledge(account=people.county_staff, notice=notice, reply="已收到")
    services.notice_mark_read(account=people.school_staff, notice=notice)
    withdraw(people.prefecture_manager, notice)
    notice.refresh_from_db()
    assert notice.withdrawn_at is not None
    assert notice.withdrawn_by == people.prefecture_manager
    assert notice.withdraw_reason == "发文有误，另行通知"
    # Still in the inbox of everyone it reached, receipts and the reply kept.
    assert notice in selectors.received(people.sibling_staff)
    acked = Receipt.objects.get(notice=notice, account=people.county_staff)
    assert acked.acked_at is not None and acked.reply == "已收到"
    assert Receipt.objects.filter(notice=notice).count() == 2
    audit = AuditEvent.objects.get(action=AuditAction.NOTICE_WITHDRAWN)
    assert audit.actor == people.prefecture_manager
    assert audit.detail["notice"] == notice.pk
    groups, payload = groups_of("notice.withdrawn")
    assert groups == AUDIENCE | {f"acct.{people.prefecture_manager.pk}"}
    assert payload["notice"]["id"] == notice.pk
    assert payload["reason"] == "发文有误，另行通知"


def test_after_withdrawal_acknowledgements_and_reminders_are_refused(people, notice):
    withdraw(people.prefecture_manager, notice)
    notice.refresh_from_db()
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.notice_acknowledge(account=people.school_staff, notice=notice)
    assert refused.value.code == "not_current"
    assert "withdrawn" in refused.value.messages[0]
    assert not Receipt.objects.filter(notice=notice, acked_at__isnull=False).exists()
    with pytest.raises(ValidationError):
        services.notice_remind(actor=people.prefecture_manager, notice=notice, mode="unacked")
    assert not Event.objects.filter(kind="notice.reminder").exists()


def test_an_acknowledgement_from_a_page_opened_before_the_withdrawal_is_refused(people, notice):
    stale = Notice.objects.get(pk=notice.pk)  # the recipient's page, loaded before
    withdraw(people.prefecture_manager, notice)
    with pytest.raises(ValidationError) as refused:
        services.notice_acknowledge(account=people.school_staff, notice=stale)
    assert refused.value.code == "not_current"
    assert not Receipt.objects.filter(notice=notice, acked_at__isnull=False).exists()


def test_a_withdrawn_notice_no_longer_counts_as_unread_or_pending(people, notice):
    assert selectors.unread_count(people.school_staff) == 1
    withdraw(people.prefecture_manager, notice)
    assert selectors.unread_count(people.school_staff) == 0
    for flt in ("unread", "ack", "overdue"):
        assert list(selectors.inbox(account=people.school_staff, flt=flt)) == [], flt
    assert list(selectors.inbox(account=people.school_staff)) == [notice]


def test_a_manager_of_the_authors_unit_may_withdraw(people, notice, tree):
    colleague = factories.manager(tree.prefecture, username="pref-boss-2")
    assert selectors.can_withdraw(colleague, notice)
    withdraw(colleague, notice)
    notice.refresh_from_db()
    assert notice.withdrawn_by == colleague


@pytest.mark.parametrize(
    "who",
    ["prefecture_staff", "county_manager", "school_staff", "province_manager", "beijing_manager"],
)
def test_others_may_not_withdraw_or_correct(people, notice, who):
    actor = getattr(people, who)
    assert not selectors.can_withdraw(actor, notice)
    assert not selectors.can_correct(actor, notice)
    with pytest.raises(PermissionDenied):
        withdraw(actor, notice)
    with pytest.raises(PermissionDenied):
        correct(actor, notice)
    notice.refresh_from_db()
    assert notice.withdrawn_at is None and notice.superseded_at is None
    assert not Event.objects.filter(kind__in=["notice.withdrawn", "notice.corrected"]).exists()


@pytest.mark.parametrize("reason", ["", "   ", "错了", "x" * 501])
def test_a_missing_short_or_long_reason_is_refused_and_nothing_is_written(people, notice, reason):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        withdraw(people.prefecture_manager, notice, reason=reason)
    assert "reason" in refused.value.messages[0]
    notice.refresh_from_db()
    assert notice.withdrawn_at is None
    assert not Event.objects.filter(kind="notice.withdrawn").exists()
    assert not AuditEvent.objects.filter(action=AuditAction.NOTICE_WITHDRAWN).exists()


def test_a_notice_is_withdrawn_once(people, notice):
    withdraw(people.prefecture_manager, notice)
    stale = Notice.objects.get(pk=notice.pk)
    stale.withdrawn_at = None  # a second tab's stale copy
    with pytest.raises(ValidationError) as refused:
        withdraw(people.prefecture_manager, stale)
    assert refused.value.code == "withdrawn"
    assert Event.objects.filter(kind="notice.withdrawn").count() == 1


def test_drafts_and_scheduled_notices_are_not_withdrawn_but_edited(people):
    later = timezone.now() + timedelta(days=1)
    scheduled = send(people.prefecture_manager, to=["130100"], levels=["county"], publish_at=later)
    assert scheduled.status == Status.SCHEDULED
    assert not selectors.can_withdraw(people.prefecture_manager, scheduled)
    with pytest.raises(PermissionDenied):
        withdraw(people.prefecture_manager, scheduled)
    # Cancelling the schedule: editing returns it to a draft.
    assert selectors.can_edit(people.prefecture_manager, scheduled)
    again = draft(people.prefecture_manager, to=["130100"], levels=["county"], notice=scheduled)
    assert again.status == Status.DRAFT


# --- correcting --------------------------------------------------------------------------


def test_a_correction_is_a_new_version_to_exactly_the_old_audience(people, notice):
    services.notice_acknowledge(account=people.county_staff, notice=notice)
    new = correct(people.prefecture_manager, notice, title="关于学籍注册截止日期的更正通知")
    notice.refresh_from_db()
    assert (new.version, new.corrects, new.status) == (2, notice, Status.PUBLISHED)
    assert new.author_unit == notice.author_unit
    assert (new.levels, new.managers_only) == (notice.levels, notice.managers_only)
    assert {t.path for t in new.targets.all()} == {t.path for t in notice.targets.all()}
    assert set(selectors.audience_accounts(new)) == set(selectors.audience_accounts(notice))
    assert not selectors.reaches(new, people.beijing_county_staff)
    assert not selectors.can_read(people.prefecture_staff, new)
    assert notice.superseded_at is not None and notice.withdrawn_at is None
    assert new.correction_note == "截止日期由9月20日更正为9月30日"
    # The attachment is carried over (the same stored file).
    assert [a.name for a in new.attachments.all()] == ["报名表.pdf"]
    assert new.attachments.get().file.name == notice.attachments.get().file.name
    assert AuditEvent.objects.get(action=AuditAction.NOTICE_CORRECTED).detail["corrects"] == (
        notice.pk
    )
    groups, payload = groups_of("notice.corrected")
    assert groups == AUDIENCE | {f"acct.{people.prefecture_manager.pk}"}
    assert payload["notice"]["id"] == new.pk and payload["corrects"]["id"] == notice.pk
    assert payload["notice"]["version"] == 2
    assert not Event.objects.filter(kind="notice.published", payload__notice__id=new.pk).exists()


def test_old_receipts_stay_and_the_correction_needs_fresh_reads(people, notice):
    services.notice_acknowledge(account=people.county_staff, notice=notice)
    assert selectors.unread_count(people.county_staff) == 0
    new = correct(people.prefecture_manager, notice)
    assert Receipt.objects.filter(notice=notice, account=people.county_staff).exists()
    assert not Receipt.objects.filter(notice=new).exists()
    # The old one no longer counts; the new one is unread for everyone.
    assert selectors.unread_count(people.county_staff) == 1
    assert selectors.unread_count(people.school_staff) == 1
    assert [n.pk for n in selectors.inbox(account=people.county_staff, flt="ack")] == [new.pk]
    # The old version takes no acknowledgement; the new one does.
    notice.refresh_from_db()
    with pytest.raises(ValidationError):
        services.notice_acknowledge(account=people.school_staff, notice=notice)
    receipt = services.notice_acknowledge(account=people.school_staff, notice=new)
    assert receipt.notice == new and receipt.acked_at is not None


def test_a_correction_may_replace_or_add_attachments(people, notice):
    replaced = correct(
        people.prefecture_manager, notice, files=[pdf("新报名表.pdf")], replace_files=True
    )
    assert [a.name for a in replaced.attachments.all()] == ["新报名表.pdf"]
    added = correct(people.prefecture_manager, replaced, files=[pdf("补充说明.pdf")], body="x")
    assert sorted(a.name for a in added.attachments.all()) == ["新报名表.pdf", "补充说明.pdf"]
    assert added.version == 3
    assert selectors.latest_version(notice) == added


def test_only_the_latest_version_is_corrected_and_never_a_withdrawn_one(people, notice):
    new = correct(people.prefecture_manager, notice)
    notice.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        correct(people.prefecture_manager, notice, body="再改一次")
    assert refused.value.code == "superseded"
    with pytest.raises(ValidationError):
        withdraw(people.prefecture_manager, notice)
    withdraw(people.prefecture_manager, new)
    new.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        correct(people.prefecture_manager, new, body="再改一次")
    assert refused.value.code == "withdrawn"
    assert Notice.objects.filter(corrects__isnull=False).count() == 1


def test_a_forwarding_is_withdrawn_but_not_corrected(people, notice):
    forward = services.notice_forward(
        actor=people.county_manager,
        notice=notice,
        target_codes=["130102"],
        levels=["school"],
        managers_only=False,
        note="请各校落实",
    )
    assert not selectors.can_correct(people.county_manager, forward)
    with pytest.raises(ValidationError) as refused:
        correct(people.county_manager, forward)
    assert refused.value.code == "forwarded"
    withdraw(people.county_manager, forward)
    forward.refresh_from_db()
    assert forward.withdrawn_at is not None
    # A withdrawn or corrected notice is not forwarded further.
    correct(people.prefecture_manager, notice)
    notice.refresh_from_db()
    assert not selectors.can_forward(people.county_manager, notice)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"note": ""}, "note on the correction"),
        ({"note": "改"}, "note on the correction"),
        ({"title": "  "}, "title is empty"),
        ({"body": "请各单位按时完成学籍注册。"}, "Nothing was changed"),
        ({"requires_ack": True, "ack_deadline": timezone.now() - timedelta(hours=1)}, "past"),
    ],
)
def test_a_bad_correction_is_refused_with_its_reason(people, notice, changes, words):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        correct(people.prefecture_manager, notice, **changes)
    assert any(words in m for m in refused.value.messages), refused.value.messages
    notice.refresh_from_db()
    assert notice.superseded_at is None
    assert Notice.objects.count() == 1
    assert Attachment.objects.count() == 1


def test_the_diff_escapes_user_text_and_marks_changes():
    html = diffs.diff_html("第一行\n截止<b>9月20日</b>\n", "第一行\n截止<b>9月30日</b>\n")
    assert "<b>" not in html
    assert "&lt;b&gt;" in html
    assert "<del>2</del><ins>3</ins>" in html
    assert html.startswith("第一行\n")


# --- pages -------------------------------------------------------------------------------


def test_the_pages_show_withdrawn_with_when_who_and_why(people, notice, client_for):
    services.notice_acknowledge(account=people.school_staff, notice=notice, reply="收到")
    withdraw(people.prefecture_manager, notice, reason="附件<有误>，请勿填报")
    page = client_for(people.school_staff).get(f"/notices/{notice.pk}/").content.decode()
    assert 'id="withdrawn-banner"' in page
    assert "附件&lt;有误&gt;，请勿填报" in page
    assert "石家庄市" in page
    assert 'id="ack-form"' not in page
    assert "收到" in page  # the reader's acknowledgement and reply are kept
    inbox = client_for(people.school_staff).get("/notices/").content.decode()
    assert 'class="withdrawn"' in inbox
    stats = client_for(people.prefecture_manager).get(f"/notices/{notice.pk}/stats/")
    assert 'id="stats-withdrawn"' in stats.content.decode()
    assert 'id="remind-form"' not in stats.content.decode()


def test_the_issuer_sees_the_buttons_others_do_not(people, notice, client_for):
    page = client_for(people.prefecture_manager).get(f"/notices/{notice.pk}/").content.decode()
    assert 'id="withdraw-link"' in page and 'id="correct-link"' in page
    page = client_for(people.county_manager).get(f"/notices/{notice.pk}/").content.decode()
    assert 'id="withdraw-link"' not in page and 'id="correct-link"' not in page


def test_the_withdraw_page_refuses_readers_and_hides_from_outsiders(people, notice, client_for):
    assert (
        client_for(people.county_manager).get(f"/notices/{notice.pk}/withdraw/").status_code == 403
    )
    assert (
        client_for(people.county_manager)
        .post(f"/notices/{notice.pk}/correct/", {"title": "x", "note": "改动说明"})
        .status_code
        == 403
    )
    outsider = client_for(people.beijing_county_staff)
    assert outsider.get(f"/notices/{notice.pk}/withdraw/").status_code == 404
    assert outsider.get(f"/notices/{notice.pk}/correct/").status_code == 404


def test_the_withdraw_form_says_what_is_missing(people, notice, client_for):
    client = client_for(people.prefecture_manager)
    response = client.post(f"/notices/{notice.pk}/withdraw/", {"reason": " "})
    assert response.status_code == 200
    assert "请填写撤回原因" in response.content.decode()
    notice.refresh_from_db()
    assert notice.withdrawn_at is None
    response = client.post(f"/notices/{notice.pk}/withdraw/", {"reason": "发文有误"})
    assert response.status_code == 302
    notice.refresh_from_db()
    assert notice.withdrawn_at is not None


def test_the_correct_form_publishes_and_the_versions_link_each_other(people, notice, client_for):
    client = client_for(people.prefecture_manager)
    form = client.get(f"/notices/{notice.pk}/correct/").content.decode()
    assert notice.title in form
    response = client.post(
        f"/notices/{notice.pk}/correct/",
        {
            "title": notice.title + "（更正）",
            "body": "请于<9月30日>前完成。",
            "note": "截止日期更正",
            "requires_ack": "on",
            "ack_deadline": (timezone.localtime() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    new = Notice.objects.get(corrects=notice)
    assert response["Location"] == f"/notices/{new.pk}/"
    reader = client_for(people.school_staff)
    old_page = reader.get(f"/notices/{notice.pk}/").content.decode()
    assert 'id="superseded-banner"' in old_page and f'href="/notices/{new.pk}/"' in old_page
    assert "第 2 版" in old_page
    new_page = reader.get(f"/notices/{new.pk}/").content.decode()
    assert "更正说明" in new_page and "截止日期更正" in new_page
    assert "<ins>（更正）</ins>" in new_page
    assert "&lt;9月30日&gt;" in new_page and "<9月30日>" not in new_page
    assert "<del>" in new_page


# --- socket events ------------------------------------------------------------------------


@pytest.fixture
def channel_prefix(settings):
    """A Redis pub/sub prefix of our own (see tests/core/conftest.py)."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex[:12]}:ch"
    settings.CHANNEL_LAYERS = layers


a_withdraw = sync_to_async(withdraw)
a_correct = sync_to_async(correct)


@pytest.mark.django_db(transaction=True)
def test_sockets_in_the_audience_hear_withdrawn_and_corrected_and_replay_them(
    people, channel_prefix
):
    boss = people.prefecture_manager
    school = headers_for(people.school_staff)
    beijing = headers_for(people.beijing_county_staff)

    async def conversation():
        socket, _ = await open_socket(school)
        outsider, _ = await open_socket(beijing)
        first = await publish(boss, to=["130100"], levels=["county", "school"], title="第一份")
        published = await next_frame(socket)
        assert published["notice"]["id"] == first.pk
        second = await publish(boss, to=["130100"], levels=["school"], title="第二份")
        assert (await next_frame(socket))["notice"]["id"] == second.pk

        await a_withdraw(boss, first)
        withdrawn = await next_frame(socket)
        assert withdrawn["type"] == "notice.withdrawn"
        assert withdrawn["notice"]["id"] == first.pk
        assert withdrawn["reason"] == "发文有误，另行通知"
        assert withdrawn["notice"]["url"] == f"/notices/{first.pk}/"

        new = await a_correct(boss, second, title="第二份（更正）")
        corrected = await next_frame(socket)
        assert corrected["type"] == "notice.corrected"
        assert (corrected["notice"]["id"], corrected["corrects"]["id"]) == (new.pk, second.pk)
        assert corrected["notice"]["url"] == f"/notices/{new.pk}/"

        # The outsider heard none of it: its first frame is a notice of its own.
        theirs = await publish(people.beijing_manager, to=["110000"], levels=["county"])
        frame = await next_frame(outsider)
        assert (frame["type"], frame["notice"]["id"]) == ("notice.published", theirs.pk)
        await outsider.disconnect()
        await socket.disconnect()

        # Resuming from before the withdrawal replays both events in order.
        again, _ = await open_socket(school, query=f"last_event_id={published['id']}")
        replayed, _ = await frames_until(again, "resumed")
        await again.disconnect()
        return withdrawn, corrected, replayed

    withdrawn, corrected, replayed = async_to_sync(conversation)()
    kinds = [(f["type"], f["id"]) for f in replayed if f["id"] > withdrawn["id"] - 1]
    assert ("notice.withdrawn", withdrawn["id"]) in kinds
    assert ("notice.corrected", corrected["id"]) in kinds
    assert [k for k, _ in kinds] == ["notice.withdrawn", "notice.corrected"]
