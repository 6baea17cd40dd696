"""The happy path end to end on the service layer: raise → routed → reply → wait →
reporter answers → resolve → reopen → close with a rating."""

import pytest

from escalation import services as escalation
from tests import factories
from tickets import selectors, services
from tickets.models import Status


@pytest.fixture
def people(tree):
    eng1 = factories.staff(tree.county, is_support_engineer=True)
    eng2 = factories.staff(tree.county, is_support_engineer=True)
    reporter = factories.staff(tree.school)
    return eng1, eng2, reporter


def test_ticket_round_trip(tree, people, django_capture_on_commit_callbacks):
    eng1, eng2, reporter = people
    t = services.ticket_create(
        actor=reporter, title="无法登录", description="提示密码错误", category="account"
    )
    assert t.tier_id == tree.county.pk
    assert t.assignee_id == eng1.pk and t.status == Status.ASSIGNED
    t2 = services.ticket_create(
        actor=reporter, title="导入失败", description="Excel", category="import"
    )
    assert t2.assignee_id == eng2.pk
    services.ticket_reply(actor=eng1, ticket=t, body="请提供截图")
    t.refresh_from_db()
    assert t.status == Status.IN_PROGRESS and t.first_response_at is not None
    services.ticket_reply(actor=eng1, ticket=t, body="内部说明", internal=True)
    assert not selectors.timeline(reporter, t).filter(internal=True).exists()
    assert selectors.timeline(eng1, t).filter(internal=True).exists()
    services.ticket_transition(actor=eng1, ticket=t, action="wait", text="请回复")
    t.refresh_from_db()
    assert t.status == Status.WAITING and t.resolution_due is None
    services.ticket_reply(actor=reporter, ticket=t, body="已上传")
    t.refresh_from_db()
    assert t.status == Status.IN_PROGRESS and t.resolution_due is not None
    services.ticket_transition(actor=eng1, ticket=t, action="resolve", text="已重置")
    services.ticket_transition(actor=reporter, ticket=t, action="reopen", text="又不行了")
    t.refresh_from_db()
    assert t.status == Status.IN_PROGRESS and t.assignee_id == eng1.pk
    services.ticket_transition(actor=eng1, ticket=t, action="resolve", text="好了")
    services.ticket_transition(actor=reporter, ticket=t, action="close", rating=5)
    t.refresh_from_db()
    assert t.status == Status.CLOSED and t.rating == 5


def test_escalate_and_send_back(tree, people):
    eng1, _eng2, reporter = people
    prov_eng = factories.staff(tree.province, is_support_engineer=True)
    t = services.ticket_create(actor=reporter, title="x", description="y", category="fault")
    escalation.escalate(actor=eng1, ticket=t, reason="需要省级处理")
    t.refresh_from_db()
    assert t.tier_id == tree.province.pk and t.assignee_id == prov_eng.pk
    escalation.send_back(actor=prov_eng, ticket=t, guidance="请先重置缓存")
    t.refresh_from_db()
    assert t.tier_id == tree.county.pk and t.round == 1
    escalation.escalate(actor=eng1, ticket=t, reason="仍然不行")
    t.refresh_from_db()
    assert t.tier_id == tree.province.pk and t.hop == 4
