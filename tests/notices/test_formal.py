"""Circulars in their formal shape (issue 15, item 4): document numbers (文号) by each
unit's rule, the 主送/落款/成文日期 lines, the print view, and the acknowledgements'
files as one zip."""

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient
from django.utils import timezone, translation

from accounts.models import AuditAction, AuditEvent, Level
from notices import exports, selectors, services
from notices.models import DocNumberCounter, DocNumberRule, Notice, Status
from tests import factories
from tests.notices.helpers import draft, pdf, send
from tests.notices.test_tallies import run_together


def rule_for(actor, prefix="冀教学籍", pattern="", issuer_line="河北省教育厅"):
    return services.numbering_rule_save(
        actor=actor, prefix=prefix, pattern=pattern, issuer_line=issuer_line
    )


def this_year() -> int:
    return selectors.doc_year(timezone.now())


def to_counties(actor, **kw):
    return send(actor, to=["130000"], levels=["county"], **kw)


# --- numbering ------------------------------------------------------------------------


def test_the_default_pattern_gives_the_usual_number():
    number = selectors.format_doc_number(
        selectors.DEFAULT_DOC_PATTERN, prefix="冀教学籍", year=2026, n=12
    )
    assert number == "冀教学籍〔2026〕12号"


def test_a_unit_without_a_rule_publishes_without_a_number(people):
    notice = to_counties(people.province_manager)
    assert (notice.doc_number, notice.doc_year, notice.doc_seq) == ("", None, None)
    assert not DocNumberCounter.objects.exists()


def test_a_rule_numbers_each_published_circular_in_turn(people):
    rule_for(people.province_manager)
    year = this_year()
    first = to_counties(people.province_manager)
    second = to_counties(people.province_manager)
    assert first.doc_number == f"冀教学籍〔{year}〕1号"
    assert second.doc_number == f"冀教学籍〔{year}〕2号"
    assert (second.doc_year, second.doc_seq) == (year, 2)
    assert DocNumberCounter.objects.get(unit=people.province_manager.unit, year=year).last == 2


def test_drafts_get_no_number_and_scheduled_ones_get_theirs_when_published(people):
    rule_for(people.province_manager)
    kept = draft(people.province_manager, to=["130000"], levels=["county"])
    later = send(
        people.province_manager,
        to=["130000"],
        levels=["county"],
        publish_at=timezone.now() + timedelta(hours=2),
    )
    assert later.status == Status.SCHEDULED
    assert (kept.doc_number, later.doc_number) == ("", "")
    now = to_counties(people.province_manager)
    assert now.doc_seq == 1
    with time_machine.travel(timezone.now() + timedelta(hours=3)):
        assert services.notices_publish_due() == 1
    later.refresh_from_db()
    kept.refresh_from_db()
    assert later.doc_seq == 2 and later.doc_number.endswith("〕2号")
    assert later.signed_on == selectors.doc_date(later.published_at)
    assert kept.doc_seq is None


def test_each_unit_counts_its_own_numbers(people):
    rule_for(people.province_manager, prefix="冀教学籍")
    rule_for(people.county_manager, prefix="长教", issuer_line="")
    a = to_counties(people.province_manager)
    b = send(people.county_manager, to=["130102"], levels=["school"])
    c = to_counties(people.province_manager)
    assert [a.doc_seq, b.doc_seq, c.doc_seq] == [1, 1, 2]
    assert b.doc_number.startswith("长教〔")


def test_the_year_is_that_of_the_publish_date_in_shanghai(people):
    rule_for(people.province_manager)
    # 15:59 UTC on 31 December is 23:59 in Beijing; 16:01 is already New Year's Day.
    with time_machine.travel(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)):
        old_year = to_counties(people.province_manager)
    with time_machine.travel(datetime(2026, 12, 31, 16, 1, tzinfo=UTC)):
        new_year = to_counties(people.province_manager)
        again = to_counties(people.province_manager)
    assert old_year.doc_number == "冀教学籍〔2026〕1号"
    assert old_year.signed_on == date(2026, 12, 31)
    assert (new_year.doc_number, again.doc_number) == ("冀教学籍〔2027〕1号", "冀教学籍〔2027〕2号")
    assert new_year.signed_on == date(2027, 1, 1)


def test_a_rule_change_keeps_the_numbers_given_and_continues_the_count(people):
    rule_for(people.province_manager, prefix="冀教学籍")
    before = to_counties(people.province_manager)
    rule_for(people.province_manager, prefix="冀教基", pattern="{prefix}字〔{year}〕第{n}号")
    after = to_counties(people.province_manager)
    before.refresh_from_db()
    year = this_year()
    assert before.doc_number == f"冀教学籍〔{year}〕1号"
    assert after.doc_number == f"冀教基字〔{year}〕第2号"


def test_without_the_rule_numbering_stops_and_resumes_the_count_when_set_again(people):
    rule_for(people.province_manager)
    to_counties(people.province_manager)
    assert services.numbering_rule_delete(actor=people.province_manager) is True
    assert services.numbering_rule_delete(actor=people.province_manager) is False
    unnumbered = to_counties(people.province_manager)
    rule_for(people.province_manager)
    resumed = to_counties(people.province_manager)
    assert unnumbered.doc_number == ""
    assert resumed.doc_seq == 2


def test_a_forward_is_numbered_by_the_forwarding_unit(people):
    rule_for(people.province_manager)
    rule_for(people.county_manager, prefix="长教", issuer_line="长安区教育局")
    original = to_counties(people.province_manager)
    forward = services.notice_forward(
        actor=people.county_manager,
        notice=original,
        target_codes=["130102"],
        levels=["school"],
        managers_only=False,
        note="请各校落实。",
    )
    assert forward.doc_number == f"长教〔{this_year()}〕1号"
    assert forward.issuer_line == "长安区教育局"
    assert forward.main_recipients == "长安区"
    original.refresh_from_db()
    assert original.doc_seq == 1


def test_a_correction_keeps_the_number_of_the_notice_it_corrects(people):
    """A correction (`corrects` set) carries the old number's text (issue 15, B2's
    service copies it) and takes no new number from the counter."""
    rule_for(people.province_manager)
    old = to_counties(people.province_manager)
    new = draft(people.province_manager, to=["130000"], levels=["county"])
    Notice.objects.filter(pk=new.pk).update(corrects=old, version=2, doc_number=old.doc_number)
    new.refresh_from_db()
    new = services.notice_publish(actor=people.province_manager, notice=new)
    assert new.status == Status.PUBLISHED
    assert (new.doc_number, new.doc_seq) == (old.doc_number, None)
    assert DocNumberCounter.objects.get(unit=old.author_unit).last == 1


def test_the_platforms_own_notices_take_no_number(people, tree):
    rule_for(people.province_manager)
    notice = services.notice_publish_system(
        author_unit=tree.province,
        title="问题学籍提醒",
        body="请处理。",
        targets=[tree.county],
        levels=[Level.COUNTY],
    )
    assert notice.doc_number == ""
    assert not DocNumberCounter.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishers_of_one_unit_get_distinct_numbers(tree):
    """Eight managers of one unit publish at the same moment, with no counter row yet:
    the row is created once and each takes the next number (PostgreSQL: INSERT … ON
    CONFLICT DO NOTHING, then SELECT … FOR UPDATE)."""
    managers = [factories.manager(tree.province, username=f"boss{i}") for i in range(8)]
    rule_for(managers[0])
    drafts = [draft(m, to=["130000"], levels=["county"]) for m in managers]

    def job(manager, notice):
        return lambda: services.notice_publish(actor=manager, notice=notice)

    failures = run_together([job(m, d) for m, d in zip(managers, drafts, strict=True)])
    assert not failures, failures[0]
    numbers = sorted(Notice.objects.values_list("doc_seq", flat=True))
    assert numbers == list(range(1, 9))
    assert len(set(Notice.objects.values_list("doc_number", flat=True))) == 8
    assert DocNumberCounter.objects.get().last == 8


# --- the rule: who sets it, what it accepts, the audit ----------------------------------


def test_setting_the_rule_is_audited_with_before_and_after(people):
    rule_for(people.province_manager, issuer_line="")
    rule_for(people.province_manager, issuer_line="")  # unchanged: no second entry
    rule_for(people.province_manager, prefix="冀教基", issuer_line="")
    services.numbering_rule_delete(actor=people.province_manager)
    events = list(
        AuditEvent.objects.filter(action=AuditAction.NOTICE_NUMBERING_CHANGED).order_by("pk")
    )
    assert len(events) == 3
    assert events[0].detail["before"] is None
    assert events[0].detail["after"]["pattern"] == selectors.DEFAULT_DOC_PATTERN
    assert events[1].detail["before"]["prefix"] == "冀教学籍"
    assert events[1].detail["after"]["prefix"] == "冀教基"
    assert events[2].detail["after"] is None
    assert {e.unit_id for e in events} == {people.province_manager.unit_id}
    assert {e.actor_id for e in events} == {people.province_manager.pk}


def test_staff_may_not_set_the_rule(people):
    with pytest.raises(PermissionDenied):
        rule_for(people.county_staff)
    assert not DocNumberRule.objects.exists()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"prefix": " "}, "abbreviation"),
        ({"prefix": "冀{教}"}, "braces"),
        ({"prefix": "冀" * 31}, "longer than 30"),
        ({"pattern": "{prefix}〔{year}〕号"}, "{n}"),
        ({"pattern": "{n}-{n}"}, "{n}"),
        ({"pattern": "{prefix}{month}{n}"}, "{month}"),
        ({"pattern": "{prefix}{year{n}"}, "brace"),
        ({"pattern": "{prefix}〔{year}〕{n}号}"}, "brace"),
        ({"prefix": "冀" * 30, "pattern": "{prefix}{prefix}〔{year}〕{n}号"}, "longer than 60"),
        ({"issuer_line": "河北\n省"}, "one line"),
    ],
)
def test_a_bad_rule_is_refused_with_its_reason(people, fields, words):
    values = {"prefix": "冀教学籍", "pattern": "", "issuer_line": ""} | fields
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.numbering_rule_save(actor=people.province_manager, **values)
    assert any(words in m for m in refused.value.messages), refused.value.messages
    assert not DocNumberRule.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.NOTICE_NUMBERING_CHANGED).exists()


def test_the_rule_page_saves_previews_and_stops(people, client_for):
    client = client_for(people.province_manager)
    page = client.get("/notices/numbering/")
    assert page.status_code == 200
    assert 'id="numbering-form"' in page.content.decode()
    saved = client.post(
        "/notices/numbering/",
        {"prefix": "冀教学籍", "pattern": "{prefix}〔{year}〕{n}号", "issuer_line": "河北省教育厅"},
    )
    assert saved.status_code == 302
    to_counties(people.province_manager)
    page = client.get("/notices/numbering/").content.decode()
    assert f"冀教学籍〔{this_year()}〕2号" in page  # the next number
    assert f"冀教学籍〔{this_year()}〕1号" in page  # the recent list
    with translation.override("en"):
        bad = client.post(
            "/notices/numbering/",
            {"prefix": "冀教学籍", "pattern": "{prefix}-{year}", "issuer_line": ""},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert bad.status_code == 200
    assert DocNumberRule.objects.get().pattern == "{prefix}〔{year}〕{n}号"
    stopped = client.post("/notices/numbering/", {"action": "delete"})
    assert stopped.status_code == 302
    assert not DocNumberRule.objects.exists()


def test_the_rule_page_refuses_staff(people, client_for):
    assert client_for(people.county_staff).get("/notices/numbering/").status_code == 403


# --- 主送, 落款, 成文日期 ----------------------------------------------------------------------


def test_publishing_fills_the_formal_lines_left_empty(people):
    rule_for(people.province_manager, issuer_line="河北省教育厅")
    notice = send(people.province_manager, to=["130102", "130104"], levels=["county"])
    assert notice.main_recipients == "长安区、桥西区"
    assert notice.issuer_line == "河北省教育厅"
    assert notice.signed_on == timezone.localdate(notice.published_at)


def test_without_a_rule_the_issuing_authority_is_the_units_name(people):
    notice = to_counties(people.province_manager)
    assert (notice.main_recipients, notice.issuer_line) == ("河北省", "河北省")


def test_typed_formal_lines_are_kept(people):
    notice = to_counties(
        people.province_manager,
        main_recipients="各市、县（市、区）教育局",
        issuer_line="河北省教育厅办公室",
        signed_on=date(2026, 12, 1),
    )
    assert notice.main_recipients == "各市、县（市、区）教育局"
    assert notice.issuer_line == "河北省教育厅办公室"
    assert notice.signed_on == date(2026, 12, 1)


def test_many_targets_shorten_the_main_recipients_with_deng():
    units = [
        SimpleNamespace(name=f"第{i:03d}号很长很长的单位名称", path=f"{i:04d}") for i in range(40)
    ]
    line = selectors.default_main_recipients(units)
    assert len(line) <= selectors.MAIN_RECIPIENTS_MAX
    assert line.endswith("等") and line.startswith("第000号")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"main_recipients": "甲" * 301}, "longer than 300"),
        ({"issuer_line": "乙" * 101}, "longer than 100"),
        ({"main_recipients": "长安区\n桥西区"}, "one line"),
    ],
)
def test_bad_formal_lines_are_refused(people, fields, words):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        draft(people.province_manager, to=["130000"], levels=["county"], **fields)
    assert any(words in m for m in refused.value.messages), refused.value.messages
    assert not Notice.objects.exists()


def test_the_compose_form_takes_the_formal_lines_and_the_detail_page_shows_them(people, client_for):
    rule_for(people.province_manager)
    client = client_for(people.province_manager)
    response = client.post(
        "/notices/new/",
        {
            "title": "关于学籍注册的通知",
            "body": "请按时注册。",
            "priority": "normal",
            "target_codes": "130102 130104",
            "levels": ["county"],
            "main_recipients": "各县（市、区）教育局",
            "issuer_line": "",
            "signed_on": "2026-12-04",
            "action": "publish",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    notice = Notice.objects.get()
    assert notice.main_recipients == "各县（市、区）教育局"
    assert notice.issuer_line == "河北省教育厅"
    assert notice.signed_on == date(2026, 12, 4)
    page = client.get(f"/notices/{notice.pk}/").content.decode()
    assert f'<dd id="doc-number">冀教学籍〔{this_year()}〕1号</dd>' in page
    assert '<dd id="main-recipients">各县（市、区）教育局</dd>' in page
    assert '<dd id="signed-on">2026-12-04</dd>' in page
    assert f'href="/notices/{notice.pk}/print/"' in page


def test_a_draft_shows_the_lines_it_would_get(people, client_for):
    notice = draft(people.province_manager, to=["130102"], levels=["county"])
    page = client_for(people.province_manager).get(f"/notices/{notice.pk}/").content.decode()
    assert '<dd id="main-recipients">长安区</dd>' in page
    assert 'id="formal" data-provisional="1"' in page
    assert 'id="doc-number"' not in page


def test_the_forward_form_takes_the_formal_lines(people, client_for):
    original = to_counties(people.province_manager)
    response = client_for(people.county_manager).post(
        f"/notices/{original.pk}/forward/",
        {
            "note": "请各校落实。",
            "target_codes": "130102",
            "levels": ["school"],
            "main_recipients": "区属各学校",
            "issuer_line": "长安区教育局",
            "signed_on": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    forward = Notice.objects.get(forwarded_from=original)
    assert (forward.main_recipients, forward.issuer_line) == ("区属各学校", "长安区教育局")
    assert forward.signed_on == timezone.localdate(forward.published_at)


# --- the print view ----------------------------------------------------------------------------


def test_the_print_view_lays_the_circular_out_formally(people, client_for):
    rule_for(people.province_manager, issuer_line="河北省教育厅")
    notice = to_counties(
        people.province_manager,
        body="请各地**按时**完成。\n\n<script>alert(1)</script><img src=x onerror=alert(2)>",
        signed_on=date(2026, 12, 5),
        files=[pdf("实施方案.pdf"), pdf("报名表.xlsx")],
    )
    response = client_for(people.county_staff).get(f"/notices/{notice.pk}/print/")
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        '<p class="doc-issuer" id="doc-issuer">河北省教育厅</p>' in page
    )  # the 落款 heads the sheet
    assert f'<p class="doc-number" id="doc-number">冀教学籍〔{this_year()}〕1号</p>' in page
    assert (
        '<h1 class="doc-title" id="doc-title">关于做好2026年秋季学期学籍注册工作的通知</h1>' in page
    )
    assert '<p class="doc-recipients" id="doc-recipients">河北省：</p>' in page
    assert "<strong>按时</strong>" in page
    assert "<script>alert" not in page and "onerror" not in page
    assert "<li>1. 实施方案.pdf</li><li>2. 报名表.xlsx</li>" in page
    assert '<p id="doc-issuer-line">河北省教育厅</p>' in page
    assert '<p id="doc-date">2026年12月5日</p>' in page
    # The print button is behaviour from a file: no inline script or handler.
    assert "/static/js/notice_print.js" in page
    assert "onclick" not in page and "<script>" not in page.replace("<script>alert", "")
    # Opening the printable text counts as reading it.
    assert notice.receipts.filter(account=people.county_staff).exists()


def test_the_print_view_of_a_forward_carries_its_note(people, client_for):
    original = to_counties(people.province_manager)
    forward = services.notice_forward(
        actor=people.county_manager,
        notice=original,
        target_codes=["130102"],
        levels=["school"],
        managers_only=False,
        note="请各校于本周五前完成。",
    )
    page = client_for(people.school_staff).get(f"/notices/{forward.pk}/print/").content.decode()
    assert '<div class="doc-note" id="doc-note"><p>请各校于本周五前完成。</p></div>' in page
    assert '<p class="doc-issuer" id="doc-issuer">长安区</p>' in page


@pytest.mark.parametrize("who", ["sibling_staff", "beijing_county_staff", "school_staff"])
def test_the_print_view_refuses_readers_outside_the_audience(people, client_for, who):
    notice = send(people.province_manager, to=["130102"], levels=["county"])
    response = client_for(getattr(people, who)).get(f"/notices/{notice.pk}/print/")
    assert response.status_code in (403, 404)
    assert notice.title not in response.content.decode()


def test_a_notice_published_before_the_formal_lines_gets_their_defaults(people, client_for):
    notice = send(people.province_manager, to=["130102"], levels=["county"])
    Notice.objects.filter(pk=notice.pk).update(main_recipients="", issuer_line="", signed_on=None)
    page = client_for(people.county_staff).get(f"/notices/{notice.pk}/print/").content.decode()
    assert '<p class="doc-recipients" id="doc-recipients">长安区：</p>' in page
    assert '<p id="doc-issuer-line">河北省</p>' in page
    day = selectors.doc_date(notice.published_at)
    assert f'<p id="doc-date">{day.year}年{day.month}月{day.day}日</p>' in page


def test_a_drafts_print_view_is_its_authors_alone(people, client_for):
    notice = draft(people.province_manager, to=["130102"], levels=["county"])
    assert client_for(people.county_manager).get(f"/notices/{notice.pk}/print/").status_code == 404
    page = client_for(people.province_manager).get(f"/notices/{notice.pk}/print/")
    assert page.status_code == 200
    assert 'id="doc-number"' not in page.content.decode()


def test_the_chinese_date_filter():
    from notices.templatetags.notice_tags import cn_date

    assert cn_date(date(2026, 12, 5)) == "2026年12月5日"
    assert cn_date(None) == ""


# --- the acknowledgements' files as one zip ------------------------------------------------------


def ack_files(people, media_files):
    """A province notice to counties and schools asking for a reply with files; files
    from 长安区 (two people, the same file name), its school and 桥西区."""
    notice = send(
        people.province_manager,
        to=["130000"],
        levels=["county", "school"],
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(days=3),
    )

    def ack(account, *files):
        services.notice_acknowledge(
            account=account,
            notice=notice,
            files=[SimpleUploadedFile(name, content) for name, content in files],
        )

    ack(people.county_manager, ("周报.xlsx", b"county-boss"), ("说明.txt", b"a" * 5000))
    ack(people.county_staff, ("周报.xlsx", b"county-clerk"))
    ack(people.school_staff, ("周报.xlsx", b"school"))
    ack(people.sibling_staff, ("周报.xlsx", b"sibling"))
    ack(people.sibling_manager)  # no file
    return notice


def unzip(response) -> dict[str, bytes]:
    body = b"".join(response.streaming_content)
    assert response["Content-Length"] == str(len(body))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_zip_holds_every_file_in_a_folder_per_unit(people, client_for, media_files):
    notice = ack_files(people, media_files)
    response = client_for(people.province_manager).get(f"/notices/{notice.pk}/replies.zip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    assert response["Cache-Control"] == "private, no-store"
    county = people.county_manager.full_name
    clerk = people.county_staff.full_name
    assert unzip(response) == {
        f"130102 长安区/{county}-周报.xlsx": b"county-boss",
        f"130102 长安区/{county}-说明.txt": b"a" * 5000,
        f"130102 长安区/{clerk}-周报.xlsx": b"county-clerk",
        f"1301020001 长安区第一中学/{people.school_staff.full_name}-周报.xlsx": b"school",
        f"130104 桥西区/{people.sibling_staff.full_name}-周报.xlsx": b"sibling",
    }


def test_text_is_deflated_and_compressed_formats_stored_as_they_are(people, media_files):
    notice = ack_files(people, media_files)
    spool = exports.receipt_files_zip(notice=notice, unit=notice.author_unit)
    with spool, zipfile.ZipFile(spool) as archive:
        kinds = {i.filename.rsplit(".", 1)[1]: i.compress_type for i in archive.infolist()}
        text = next(i for i in archive.infolist() if i.filename.endswith(".txt"))
    assert kinds == {"xlsx": zipfile.ZIP_STORED, "txt": zipfile.ZIP_DEFLATED}
    assert text.compress_size < text.file_size // 10  # 5,000 times "a"


def test_the_same_name_twice_is_numbered(people, client_for, media_files):
    notice = ack_files(people, media_files)
    people.county_staff.full_name = people.county_manager.full_name
    people.county_staff.save(update_fields=["full_name"])
    files = unzip(client_for(people.province_manager).get(f"/notices/{notice.pk}/replies.zip"))
    name = people.county_manager.full_name
    assert files[f"130102 长安区/{name}-周报.xlsx"] == b"county-boss"
    assert files[f"130102 长安区/{name}-周报 (2).xlsx"] == b"county-clerk"


def test_a_manager_along_the_audience_gets_its_own_part_only(people, client_for, media_files):
    notice = ack_files(people, media_files)
    client = client_for(people.county_manager)
    files = unzip(client.get(f"/notices/{notice.pk}/replies.zip"))
    assert {name.split("/")[0] for name in files} == {"130102 长安区", "1301020001 长安区第一中学"}
    # Drilled down to its school; a unit outside its subtree is refused.
    school = unzip(client.get(f"/notices/{notice.pk}/replies.zip", {"unit": "1301020001"}))
    assert list(school) == [f"1301020001 长安区第一中学/{people.school_staff.full_name}-周报.xlsx"]
    outside = client.get(f"/notices/{notice.pk}/replies.zip", {"unit": "130104"})
    assert outside.status_code == 404


@pytest.mark.parametrize("who", ["county_staff", "school_staff", "beijing_manager"])
def test_the_zip_is_refused_to_those_who_may_not_see_the_statistics(
    people, client_for, media_files, who
):
    notice = ack_files(people, media_files)
    response = client_for(getattr(people, who)).get(f"/notices/{notice.pk}/replies.zip")
    assert response.status_code in (403, 404)
    assert not getattr(response, "streaming", False)


def test_no_files_no_zip_but_a_message(people, client_for, media_files):
    notice = send(
        people.province_manager,
        to=["130000"],
        levels=["county"],
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(days=3),
    )
    services.notice_acknowledge(account=people.county_staff, notice=notice, reply="收到")
    with translation.override("en"):
        response = client_for(people.province_manager).get(
            f"/notices/{notice.pk}/replies.zip", HTTP_ACCEPT_LANGUAGE="en"
        )
    assert response.status_code == 302
    assert response["Location"] == f"/notices/{notice.pk}/replies/?unit=130000"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("nothing to download" in m for m in shown), shown


def test_too_large_a_zip_is_refused(people, client_for, media_files, monkeypatch):
    notice = ack_files(people, media_files)
    monkeypatch.setattr(exports, "ZIP_MAX_BYTES", 1000)
    with translation.override("en"):
        response = client_for(people.province_manager).get(
            f"/notices/{notice.pk}/replies.zip", HTTP_ACCEPT_LANGUAGE="en"
        )
    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("open a unit below" in m for m in shown), shown


def test_a_file_gone_from_storage_is_listed_instead(people, media_files):
    notice = ack_files(people, media_files)
    gone = notice.receipts.get(account=people.sibling_staff).attachments.get()
    gone.file.delete(save=False)
    spool = exports.receipt_files_zip(notice=notice, unit=notice.author_unit)
    with spool, zipfile.ZipFile(spool) as archive:
        names = archive.namelist()
        listed = archive.read(exports.MISSING_LIST).decode()
    assert f"130104 桥西区/{people.sibling_staff.full_name}-周报.xlsx" not in names
    assert f"130104 桥西区/{people.sibling_staff.full_name}-周报.xlsx" in listed
    assert len(names) == 5


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("a\\b:c*d?.txt", "a_b_c_d_.txt"),
        ("CON.txt", "_CON.txt"),
        ("lpt1", "_lpt1"),
        (" .hidden. ", "hidden"),
        ("tab\there\x00.pdf", "tab_here_.pdf"),
        ("...", "_"),
        ("长" * 200 + ".pdf", "长" * 116 + ".pdf"),
    ],
)
def test_names_inside_the_zip_are_safe(name, safe):
    assert exports.zip_segment(name) == safe


def test_zip_names_are_unique_regardless_of_case():
    names = exports.ZipNames()
    assert names.claim("u", "A.pdf") == "u/A.pdf"
    assert names.claim("u", "a.pdf") == "u/a (2).pdf"
    assert names.claim("u", "a.pdf") == "u/a (3).pdf"
    assert names.claim("v", "a.pdf") == "v/a.pdf"


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_zip_is_sent_in_chunks_from_an_async_iterator(tree, _media_root):
    """Django's ASGI handler reads a synchronous streaming body whole into memory; the
    zip is given to it as an asynchronous iterator over the spooled file."""
    from asgiref.sync import async_to_sync

    from tests.notices.helpers import make_people

    people = make_people(tree)
    notice = ack_files(people, None)
    client = AsyncClient()
    client.force_login(people.province_manager, backend="accounts.backends.PasswordBackend")

    async def fetch():
        response = await client.get(f"/notices/{notice.pk}/replies.zip")
        assert response.status_code == 200
        assert response.is_async
        return response, b"".join([part async for part in response.streaming_content])

    response, body = async_to_sync(fetch)()
    assert response["Content-Length"] == str(len(body))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert len(archive.namelist()) == 5
