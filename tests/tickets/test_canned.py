"""Canned replies (常用回复, issue 16): kept per support tier by its engineers and
managers, offered in the reply box to the engineers of that tier and of every tier
below it, cleaned as ticket replies are (plain text, escaped when shown)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from tests import factories
from tests.tickets.helpers import raise_ticket
from tickets import selectors, services
from tickets.models import CannedReply

pytestmark = pytest.mark.django_db

URL = "/tickets/canned/"


def _post(client, **data):
    return client.post(URL, {"action": "save", **data})


def test_an_engineer_adds_edits_and_deletes_its_tiers_canned_replies(desk, client_for):
    client = client_for(desk.eng1)
    response = _post(client, title="转学流程", shortcut="zhuanxue", body="请在系统中发起转学申请。")
    assert response.status_code == 302
    reply = CannedReply.objects.get()
    assert (reply.tier, reply.shortcut, reply.created_by) == (
        desk.eng1.unit,
        "/zhuanxue",
        desk.eng1,
    )
    page = client.get(URL).content.decode()
    assert "/zhuanxue" in page and "转学流程" in page
    # A colleague of the same tier edits it (the id in the body).
    response = _post(
        client_for(desk.eng2),
        id=reply.pk,
        title="转学流程（新）",
        shortcut="/zhuanxue",
        body="新的正文",
    )
    assert response.status_code == 302
    reply.refresh_from_db()
    assert (reply.title, reply.body) == ("转学流程（新）", "新的正文")
    response = client.post(URL, {"action": "delete", "id": reply.pk})
    assert response.status_code == 302 and not CannedReply.objects.exists()


def test_bad_canned_replies_are_refused_with_a_reason(desk, client_for):
    client = client_for(desk.eng1)
    for data, reason in [
        ({"title": "x", "shortcut": "有中文", "body": "b"}, "快捷指令"),
        ({"title": "x", "shortcut": "/a b", "body": "b"}, "快捷指令"),
        ({"title": "x", "shortcut": "/ok", "body": "   "}, "正文"),
    ]:
        response = _post(client, **data)
        assert response.status_code == 200
        assert reason in response.content.decode()
    assert not CannedReply.objects.exists()
    _post(client, title="a", shortcut="/dup", body="b")
    response = _post(client, title="b", shortcut="/DUP", body="c")
    assert "/dup" in response.content.decode() and CannedReply.objects.count() == 1
    with pytest.raises(ValidationError):
        services.canned_save(actor=desk.eng1, title="t", body="x" * 4001, shortcut="/long")


def test_html_in_a_canned_reply_is_kept_as_text_and_escaped(desk, client_for):
    services.canned_save(
        actor=desk.eng1, title="<b>粗</b>", body="<script>alert(1)</script>", shortcut="/x"
    )
    page = client_for(desk.eng1).get(URL).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_who_keeps_canned_replies(desk, tree, client_for):
    county_manager = factories.manager(tree.county)
    assert _post(client_for(county_manager), title="t", shortcut="/m", body="b").status_code == 302
    # Staff who are not engineers, and schools, keep none.
    for outsider in (desk.county_staff, desk.reporter, factories.manager(tree.school)):
        assert client_for(outsider).get(URL).status_code == 403
        assert _post(client_for(outsider), title="t", shortcut="/n", body="b").status_code == 403
    assert CannedReply.objects.count() == 1
    # Another tier's reply cannot be changed or deleted through its id.
    mine = CannedReply.objects.get()
    response = _post(client_for(desk.sibling_eng), id=mine.pk, title="改", shortcut="/m", body="改")
    assert response.status_code == 302
    client_for(desk.prov_eng).post(URL, {"action": "delete", "id": mine.pk})
    mine.refresh_from_db()
    assert mine.title == "t"
    with pytest.raises(PermissionDenied):
        services.canned_delete(actor=desk.sibling_eng, pk=mine.pk)


def test_a_tiers_replies_serve_its_subtree(desk, tree):
    province = services.canned_save(actor=desk.prov_eng, title="省", body="省级", shortcut="/sheng")
    county = services.canned_save(actor=desk.eng1, title="县", body="县级", shortcut="/xian")
    sibling = services.canned_save(actor=desk.sibling_eng, title="邻", body="邻县", shortcut="/lin")
    assert list(selectors.canned_for(desk.eng1)) == [county, province]  # nearest tier first
    assert list(selectors.canned_for(desk.prov_eng)) == [province]
    assert list(selectors.canned_for(desk.sibling_eng)) == [sibling, province]
    assert list(selectors.canned_for(desk.beijing_eng)) == []
    assert list(selectors.canned_for(desk.reporter)) == []
    assert list(selectors.canned_kept(desk.eng1)) == [county]


def test_the_reply_box_offers_them_to_support_never_to_the_reporter(desk, client_for):
    services.canned_save(actor=desk.prov_eng, title="省", body="省级正文", shortcut="/sheng")
    ticket = raise_ticket(desk.reporter)
    url = reverse("ticket_detail", args=[ticket.pk])
    page = client_for(desk.eng1).get(url).content.decode()
    assert 'id="canned-replies"' in page and 'id="canned-open"' in page
    data = page.split('id="canned-replies" type="application/json">')[1].split("</script>")[0]
    assert json.loads(data) == [
        {"shortcut": "/sheng", "title": "省", "body": "省级正文", "tier": desk.prov_eng.unit.name}
    ]
    assert "canned.js" in page
    reporter_page = client_for(desk.reporter).get(url).content.decode()
    assert "canned-replies" not in reporter_page and "省级正文" not in reporter_page
