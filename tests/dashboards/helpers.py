"""Hand-made tickets and problem records for the charts' tests (written straight to the
tables: the figures are what is tested, not the services that write them)."""

from __future__ import annotations

import itertools
from datetime import datetime

from django.utils import timezone

from accounts import services
from roll import services as roll_services
from roll.models import IntakeBatch, ProblemRecord
from tests import factories
from tickets.models import Ticket

_seq = itertools.count(1)


def ticket(reporter, *, created_at: datetime, status="new", breached=False, platform=False):
    unit = reporter.unit
    t = Ticket.objects.create(
        reporter=reporter,
        reporter_unit=unit,
        reporter_path=unit.path,
        title="学籍号无法导入",
        description="导入时提示格式错误。",
        description_html="<p>导入时提示格式错误。</p>",
        category="import",
        status=status,
        tier=unit.parent or unit,
        created_at=created_at,
        breached=breached,
    )
    if platform:
        Ticket.objects.filter(pk=t.pk).update(raised_by_platform=True)
    return t


def _batch() -> IntakeBatch:
    batch = IntakeBatch.objects.first()
    if batch is None:
        ministry = services.ministry_ensure()
        mgr = factories.manager(ministry)
        key = roll_services.key_issue(actor=mgr, unit=ministry, label="charts")[0]
        batch = IntakeBatch.objects.create(key=key)
    return batch


def record(school, *, kind="id_invalid", status="open", detected_at=None):
    n = next(_seq)
    return ProblemRecord.objects.create(
        scope="school",
        alert_id=f"A{n}",
        kind=kind,
        school=school,
        school_path=school.path,
        name=f"学生{n}",
        detected_at=detected_at or timezone.now(),
        status=status,
        change_seq=n + 10_000_000,
        batch=_batch(),
    )
