"""Hostile text and files: bodies render inert, file names are cleaned, refused uploads
leave nothing behind."""

from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError

from core import files, markup
from notices.models import Attachment, Notice, NoticeTarget
from tests.notices.helpers import TITLE, draft, pdf, send

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x]( javascript:alert(1) )",
    "[a][1]\n\n[1]: javascript:alert(1)",
    '<a href="jav&#x09;ascript:alert(1)">y</a>',
    '<a href="javascript&colon;alert(1)">z</a>',
    "![x](javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<svg onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<scr<script>ipt>alert(1)</script>",
    '<p style="x" onclick="alert(1)">段落</p>',
    "| a |\n|:-|\n| <b onmouseover=alert(1)>1</b> |",
    "<form action=javascript:alert(1)><button>提交</button></form>",
]


class Tags(HTMLParser):
    """Every start tag with its attributes (values with entities decoded, as a browser does)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.seen: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, {k: v or "" for k, v in attrs}))


def assert_inert(html: str) -> None:
    parser = Tags()
    parser.feed(html)
    for tag, attrs in parser.seen:
        assert tag in markup.ALLOWED_TAGS, (tag, html)
        for name, value in attrs.items():
            assert not name.startswith("on"), (name, html)
            assert name in {"href", "title", "align"}, (name, html)
            url = "".join(ch for ch in value if ch.isprintable() and not ch.isspace()).lower()
            assert not url.startswith(("javascript:", "data:", "vbscript:")), (value, html)
    assert "<script" not in html.lower()
    assert "onerror" not in html.lower()
    assert "javascript:" not in html.lower()


@pytest.mark.parametrize("text", PAYLOADS)
def test_a_hostile_body_renders_inert(text):
    assert_inert(markup.render_body(text))


def test_a_saved_body_is_stored_rendered_and_inert(people):
    body = "\n\n".join(PAYLOADS[:3])
    notice = draft(people.province_manager, to=["130000"], levels=["county"], body=body)
    notice.refresh_from_db()
    assert notice.body == body
    assert_inert(notice.body_html)


def test_safe_markdown_survives_rendering():
    html = markup.render_body("**重要** 见 [通知](https://moe.gov.cn/x)\n\n- 一\n- 二")
    assert "<strong>重要</strong>" in html
    assert '<a href="https://moe.gov.cn/x">通知</a>' in html
    assert "<li>一</li>" in html


def test_a_hostile_title_is_kept_as_text_and_never_rendered(people):
    title = "<script>alert(1)</script>"
    notice = send(people.province_manager, to=["130000"], levels=["county"], title=title)
    assert notice.title == title
    assert "<script" not in notice.body_html


# --- file names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("<img src=x onerror=alert(1)>.pdf", "img src=x onerror=alert(1).pdf"),
        ('"><svg onload=alert(1)>.pdf', "svg onload=alert(1).pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\王\\通知.docx", "通知.docx"),
        ("报告\r\n.pdf", "报告.pdf"),
        ("", "file"),
    ],
)
def test_a_file_name_is_cleaned_to_an_inert_name(given, kept):
    assert files.clean_file_name(given) == kept


def test_a_hostile_file_name_is_stored_inert(people, media_files):
    notice = draft(
        people.province_manager,
        to=["130000"],
        levels=["county"],
        files=[pdf("<img src=x onerror=alert(1)>.pdf")],
    )
    attachment = notice.attachments.get()
    assert attachment.name == "img src=x onerror=alert(1).pdf"
    assert not set(attachment.name) & set("<>\"'/\\")
    (stored,) = media_files()
    assert "onerror" not in str(stored) and "<" not in str(stored)


def test_a_stored_file_never_keeps_the_uploaded_name(people, media_files):
    draft(people.province_manager, to=["130000"], levels=["county"], files=[pdf("通知.pdf")])
    (stored,) = media_files()
    assert "通知" not in stored.name and not stored.name.endswith(".pdf")


# --- refused files ------------------------------------------------------------------


def assert_nothing_stored(media_files):
    assert not Notice.objects.exists()
    assert not NoticeTarget.objects.exists()
    assert not Attachment.objects.exists()
    assert media_files() == []


def try_to_send(people, files):
    with pytest.raises(ValidationError) as refused:
        draft(people.province_manager, to=["130000"], levels=["county"], files=files)
    return " ".join(refused.value.messages)


@pytest.mark.parametrize("name", ["setup.exe", "通知.html", "x.pdf.exe", "run.HTM", "noext"])
def test_a_file_of_a_refused_type_is_refused_with_its_name(people, media_files, name):
    reason = try_to_send(people, [pdf(), pdf(name, b"MZ\x90\x00")])
    assert name in reason
    assert_nothing_stored(media_files)


def test_a_right_to_left_override_cannot_disguise_an_exe(people, media_files):
    reason = try_to_send(people, [pdf("invoice\u202efdp.exe", b"MZ")])
    assert "invoicefdp.exe" in reason
    assert_nothing_stored(media_files)


def test_an_oversize_file_is_refused_with_its_name(people, media_files, settings):
    settings.NOTICE_MAX_FILE_BYTES = 16
    reason = try_to_send(people, [pdf("small.pdf", b"x" * 16), pdf("big.pdf", b"x" * 17)])
    assert "big.pdf" in reason
    assert "small.pdf" not in reason
    assert_nothing_stored(media_files)


def test_an_empty_file_is_refused(people, media_files):
    reason = try_to_send(people, [pdf("empty.pdf", b"")])
    assert "empty.pdf" in reason
    assert_nothing_stored(media_files)


def test_more_files_than_allowed_are_refused(people, media_files, settings):
    settings.NOTICE_MAX_FILES = 2
    try_to_send(people, [pdf(f"{i}.pdf") for i in range(3)])
    assert_nothing_stored(media_files)


def test_as_many_files_as_allowed_are_stored(people, media_files, settings):
    settings.NOTICE_MAX_FILES = 2
    notice = draft(
        people.province_manager,
        to=["130000"],
        levels=["county"],
        files=[pdf(f"{i}.pdf") for i in range(2)],
    )
    assert notice.attachments.count() == 2
    assert len(media_files()) == 2


def test_files_written_before_a_failure_are_removed(people, media_files, monkeypatch):
    """The second row fails after both files were written: neither file nor row stays."""
    real_save = Attachment.save
    calls = []

    def failing_save(self, *args, **kwargs):
        calls.append(self.name)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Attachment, "save", failing_save)
    with pytest.raises(RuntimeError):
        draft(
            people.province_manager,
            to=["130000"],
            levels=["county"],
            files=[pdf("1.pdf"), pdf("2.pdf")],
        )
    assert_nothing_stored(media_files)


def test_an_empty_title_is_refused(people):
    with pytest.raises(ValidationError):
        draft(people.province_manager, to=["130000"], levels=["county"], title="   ")
    assert not Notice.objects.exists()


def test_an_overlong_title_is_refused(people):
    with pytest.raises(ValidationError):
        draft(people.province_manager, to=["130000"], levels=["county"], title=TITLE * 20)
    assert not Notice.objects.exists()
