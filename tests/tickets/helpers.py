"""Builders shared by the ticket and escalation tests: explicit Asia/Shanghai times,
a support desk of engineers on `tree`, and tickets raised through the service."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from escalation.models import DutyProfile
from tests import factories
from tickets import services
from tickets.models import Ticket, TicketEvent

SH = ZoneInfo("Asia/Shanghai")

# A plain working week in 2026 (no holiday near it): Monday 9 March … Friday 13 March.
MONDAY = datetime(2026, 3, 9, tzinfo=SH)


def at(y, m, d, hh=0, mm=0, ss=0) -> datetime:
    """A wall-clock moment in China."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


def engineer(unit, **kw):
    return factories.staff(unit, is_support_engineer=True, **kw)


def duty(account, **fields) -> DutyProfile:
    profile, _ = DutyProfile.objects.update_or_create(account=account, defaults=fields)
    return profile


def make_desk(tree):
    """Two engineers at 长安区 (eng1 has the lower id, so gets the first ticket), one at
    河北省, and reporters at the 长安区 school; plus people who must not see its tickets."""
    return SimpleNamespace(
        eng1=engineer(tree.county, username="county-eng-1"),
        eng2=engineer(tree.county, username="county-eng-2"),
        prov_eng=engineer(tree.province, username="prov-eng"),
        reporter=factories.staff(tree.school, username="school-reporter"),
        colleague=factories.staff(tree.school, username="school-colleague"),
        county_staff=factories.staff(tree.county, username="county-clerk"),
        sibling_eng=engineer(tree.sibling, username="sibling-eng"),
        beijing_eng=engineer(tree.muni_county, username="bj-eng"),
    )


def raise_ticket(reporter, *, now=None, **kw) -> Ticket:
    fields = {
        "title": "学籍号无法导入",
        "description": "导入 Excel 时提示格式错误。",
        "category": "import",
        "priority": "normal",
    }
    fields.update(kw)
    return services.ticket_create(actor=reporter, now=now, **fields)


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_related("tier", "assignee", "reporter_unit").get(pk=ticket.pk)


def routed_entries(ticket: Ticket) -> list[dict]:
    return list(
        TicketEvent.objects.filter(ticket=ticket, kind="routed")
        .order_by("id")
        .values_list("data", flat=True)
    )
