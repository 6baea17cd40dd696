"""Builders for notices: a draft saved through the service, published unless asked not to."""

from types import SimpleNamespace

from django.core.files.uploadedfile import SimpleUploadedFile

from notices import services
from tests import factories

TITLE = "关于做好2026年秋季学期学籍注册工作的通知"


def draft(actor, *, to, levels, **kw):
    fields = {
        "title": TITLE,
        "body": "请各单位按时完成学籍注册。",
        "priority": "normal",
        "requires_ack": False,
        "ack_deadline": None,
        "publish_at": None,
        "managers_only": False,
        "files": (),
    }
    fields.update(kw)
    return services.notice_save(actor=actor, target_codes=list(to), levels=list(levels), **fields)


def send(actor, *, to, levels, **kw):
    """A notice saved and published now (or scheduled, given a future `publish_at`)."""
    return services.notice_publish(actor=actor, notice=draft(actor, to=to, levels=levels, **kw))


def pdf(name="通知附件.pdf", content=b"%PDF-1.4 test"):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def make_people(tree):
    """A manager or staff account at each level of `tree`: 河北 (province, prefecture,
    长安区 and its school, 桥西区 and its school) and 北京 (municipality, 东城区, its school)."""
    m, s = factories.manager, factories.staff
    return SimpleNamespace(
        province_manager=m(tree.province, username="prov-boss"),
        prefecture_manager=m(tree.prefecture, username="pref-boss"),
        prefecture_staff=s(tree.prefecture, username="pref-clerk"),
        county_manager=m(tree.county, username="county-boss"),
        county_staff=s(tree.county, username="county-clerk"),
        sibling_manager=m(tree.sibling, username="sibling-boss"),
        sibling_staff=s(tree.sibling, username="sibling-clerk"),
        school_manager=m(tree.school, username="school-boss"),
        school_staff=s(tree.school, username="school-clerk"),
        sibling_school_staff=s(tree.sibling_school, username="sibling-school-clerk"),
        beijing_manager=m(tree.municipality, username="bj-boss"),
        beijing_county_staff=s(tree.muni_county, username="bj-county-clerk"),
        beijing_school_staff=s(tree.muni_school, username="bj-school-clerk"),
    )
