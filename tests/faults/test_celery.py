"""The Celery hand-off for real: the roll API's intake queues the batch's sync on the
real broker (Redis) and a real `celery -A config worker` process does it; a worker
SIGKILLed in the middle of the roll sync and in the middle of the SLA sweep, then a new
worker and beat's periodic jobs, leave every batch synced once and every breach
escalated once."""

from __future__ import annotations

from collections import Counter

import pytest

from core.models import Event
from notices.models import Notice
from roll import services as roll_services
from roll.models import ArrivalNotice, IntakeBatch
from tests import factories
from tests.faults.conftest import roll_post, until
from tests.roll.helpers import alert, ric
from tests.tickets.helpers import engineer
from tickets.models import Ticket

pytestmark = pytest.mark.faults


def _hebei_key(tree):
    key, secret = roll_services.key_issue(
        actor=factories.manager(tree.province), unit=tree.province, label="faults"
    )
    return key.key_id, secret


def _alerts(codes: list[str], per_school: int = 1) -> list[dict]:
    return [
        alert(
            f"a-{code}-{n}",
            school=code,
            id_number=ric(f"130102201203{n % 100:02d}{i % 1000:03d}"),
        )
        for i, code in enumerate(codes)
        for n in range(per_school)
    ]


def _done(worker, task: str) -> int:
    """Runs of `task` the worker logged as finished."""
    return sum(
        1
        for line in worker.log.read_text().splitlines()
        if f"{task}[" in line and "succeeded" in line
    )


def _problem_tickets() -> Counter:
    """Open platform-raised tickets per school code."""
    return Counter(
        Ticket.objects.filter(raised_by_platform=True).values_list("reporter_unit__code", flat=True)
    )


def _alert_events(batch_id: str) -> Counter:
    """roll.alerts events of a batch, per unit the event addresses."""
    return Counter(
        (tuple(sorted(e.payload["schools"])), e.payload["total"])
        for e in Event.objects.filter(kind="roll.alerts", payload__batch=batch_id)
    )


def test_an_intake_over_http_is_synced_once_by_a_real_worker(tree, web, workers, beat):
    for county in (tree.county, tree.sibling):
        engineer(county)
    key_id, secret = _hebei_key(tree)
    worker = workers("w1")

    codes = [tree.school.code, tree.sibling_school.code]
    status, body = roll_post(web.url, key_id, secret, {"batch_id": "b-1", "alerts": _alerts(codes)})
    assert status == 200, body
    assert body["accepted"] == 2

    batch = until(
        lambda: IntakeBatch.objects.filter(batch_id="b-1", synced_at__isnull=False).first(),
        "the worker syncs the batch the web process queued",
    )
    assert _problem_tickets() == {tree.school.code: 1, tree.sibling_school.code: 1}
    # One event per school and one per county, each with its own counts.
    assert _alert_events("b-1") == Counter(
        {((tree.school.code,), 1): 2, ((tree.sibling_school.code,), 1): 2}
    )
    # The day's inbox entries: one notice to the two schools, one to the two counties.
    arrivals = ArrivalNotice.objects.all()
    assert arrivals.count() == 4 and not arrivals.filter(notice__isnull=True).exists()
    assert arrivals.values("notice").distinct().count() == Notice.objects.count() == 2

    # Beat's minute job finds nothing left; the batch stays synced once.
    beat("roll.tasks.sync_pending")
    until(
        lambda: _done(worker, "roll.tasks.sync_pending") == 1, "the worker runs beat's sync_pending"
    )
    assert IntakeBatch.objects.get(pk=batch.pk).synced_at == batch.synced_at
    assert _problem_tickets() == {tree.school.code: 1, tree.sibling_school.code: 1}
    assert sum(_alert_events("b-1").values()) == 4
    assert _done(worker, "roll.tasks.sync_batch") == 1
