"""The ticket and roster pages over HTTP: who sees what, and that forms do what they say."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from tickets.models import Status, Ticket


@pytest.fixture
def cast(tree):
    eng = factories.staff(tree.county, is_support_engineer=True)
    sibling_eng = factories.staff(tree.sibling, is_support_engineer=True)
    prov_eng = factories.staff(tree.province, is_support_engineer=True)
    reporter = factories.staff(tree.school)
    county_mgr = factories.manager(tree.county)
    prov_mgr = factories.manager(tree.province)
    return eng, sibling_eng, prov_eng, reporter, county_mgr, prov_mgr


def _raise(client, **extra):
    data = {
        "title": "学籍导入失败",
        "category": "import",
        "priority": "normal",
        "description": "导入 Excel 时提示第 3 行错误",
        **extra,
    }
    return client.post("/tickets/new/", data)


def test_raise_reply_and_escalate_over_http(cast, client_for, django_capture_on_commit_callbacks):
    eng, sibling_eng, prov_eng, reporter, county_mgr, prov_mgr = cast
    c = client_for(reporter)
    response = _raise(c, files=[SimpleUploadedFile("截图.png", b"\x89PNG data")])
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.pk}/"
    assert ticket.assignee == eng and ticket.files.count() == 1
    page = c.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "学籍导入失败" in page and (eng.full_name in page)

    c = client_for(eng)
    assert "学籍导入失败" in c.get("/tickets/queue/").content.decode()
    assert "学籍导入失败" in c.get("/tickets/tier/").content.decode()
    c.post(f"/tickets/{ticket.pk}/reply/", {"body": "<script>alert(1)</script>请重试"})
    c.post(f"/tickets/{ticket.pk}/reply/", {"body": "内部：疑似模板问题", "internal": "on"})
    c.post(f"/tickets/{ticket.pk}/escalate/", {"reason": "需要省级核查"})
    ticket.refresh_from_db()
    assert ticket.tier_id == prov_eng.unit_id and ticket.assignee == prov_eng

    reporter_page = client_for(reporter).get(f"/tickets/{ticket.pk}/").content.decode()
    assert "请重试" in reporter_page and "<script>alert" not in reporter_page
    assert "疑似模板问题" not in reporter_page and "需要省级核查" not in reporter_page
    assert "河北省" in reporter_page  # the reporter sees the current tier

    assert client_for(sibling_eng).get(f"/tickets/{ticket.pk}/").status_code == 404
    assert client_for(prov_eng).get(f"/tickets/{ticket.pk}/").status_code == 200
    f = ticket.files.get()
    assert client_for(sibling_eng).get(f"/tickets/{ticket.pk}/files/{f.pk}/").status_code == 404
    assert client_for(reporter).get(f"/tickets/{ticket.pk}/files/{f.pk}/").status_code == 200


def test_bad_form_keeps_nothing_and_says_why(cast, client_for):
    reporter = cast[3]
    response = _raise(client_for(reporter), title="", files=[SimpleUploadedFile("x.exe", b"MZ")])
    assert response.status_code == 200
    assert Ticket.objects.count() == 0
    body = response.content.decode()
    assert "x.exe" in body


def test_dashboard_and_export(cast, client_for):
    eng, _s, _p, reporter, county_mgr, prov_mgr = cast
    _raise(client_for(reporter))
    page = client_for(prov_mgr).get("/tickets/dashboard/")
    assert page.status_code == 200 and "石家庄市" in page.content.decode()
    export = client_for(prov_mgr).get("/tickets/all.xlsx?status=open")
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")
    assert client_for(reporter).get("/tickets/dashboard/").status_code == 403
    assert client_for(eng).get("/tickets/all.xlsx").status_code == 403


def test_roster_toggle_and_schedule(cast, client_for):
    eng, _s, _p, reporter, county_mgr, _pm = cast
    c = client_for(eng)
    assert c.get("/support/roster/").status_code == 200
    c.post(f"/support/roster/{eng.pk}/duty/", {"field": "on_duty", "value": "0"})
    _raise(client_for(reporter))
    assert Ticket.objects.get().status == Status.NEW
    assert (
        c.post(f"/support/roster/{eng.pk}/duty/", {"field": "on_duty", "value": "1"}).status_code
        == 404
    )
    c = client_for(eng)  # one test client: the reporter's login replaced the engineer's
    c.post(f"/support/roster/{eng.pk}/duty/", {"field": "on_duty", "value": "1"})
    assert Ticket.objects.get().assignee == eng
    m = client_for(county_mgr)
    bad = m.post(f"/support/roster/{eng.pk}/", {"capacity": "5", "day0": "8点到12点"})
    assert bad.status_code == 200 and "08:00-12:00" in bad.content.decode()
    ok = m.post(
        f"/support/roster/{eng.pk}/",
        {"capacity": "5", "day0": "08:00-12:00, 14:00-18:00", "day4": "22:00-02:00"},
    )
    assert ok.status_code == 302
    assert eng.duty_slots.count() == 3 and eng.duty.capacity == 5
    assert client_for(reporter).get("/support/roster/").status_code == 403


def test_sla_settings_only_for_province_and_ministry(cast, client_for):
    *_rest, county_mgr, prov_mgr = cast
    assert client_for(county_mgr).get("/support/settings/").status_code == 403
    c = client_for(prov_mgr)
    assert c.get("/support/settings/").status_code == 200
    data = {}
    for p in ("low", "normal", "high", "urgent"):
        data[f"{p}_response"], data[f"{p}_resolution"] = "60", "600"
    data["form"] = "sla"
    assert c.post("/support/settings/?unit=130000", data).status_code == 302
    data["urgent_response"] = "900"
    refused = c.post("/support/settings/?unit=130000", data).content.decode()
    assert "首次响应不能晚于解决时限" in refused or "cannot be due after" in refused
