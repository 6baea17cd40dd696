"""The Celery hand-off for real: the roll API's intake queues the batch's sync on the
real broker (Redis) and a real `celery -A config worker` process does it; a worker
SIGKILLed in the middle of the roll sync and in the middle of the SLA sweep, then a new
worker and beat's periodic jobs, leave every batch synced once and every breach
escalated once."""

from __future__ import annotations

from collections import Counter

import pytest

from core.models import Event
from escalation.models import EscalationRecord
from notices.models import Notice
from roll import services as roll_services
from roll.models import ArrivalNotice, IntakeBatch
from tests import factories
from tests.faults.conftest import SCALE, roll_post, until
from tests.roll.helpers import alert, ric
from tests.tickets.helpers import MONDAY, engineer, make_desk, raise_ticket
from tickets.models import EventKind, Ticket, TicketEvent

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


# --- a worker killed in the middle of its work ------------------------------------------------

SCHOOLS = 300 * SCALE  # one roll batch touching this many schools: seconds of the worker's sync
BREACHED = 100 * SCALE  # tickets past their response deadline: seconds of the worker's sweep


def _kill_mid_way(worker, done, total: int, what: str) -> int:
    """SIGKILL the worker's process group as soon as `done()` shows its work begun;
    the committed count at the kill, which must be part of the whole."""
    until(lambda: done() > 0, f"the worker starts {what}", every=0.01)
    worker.kill()
    at_kill = done()
    assert 0 < at_kill < total, (
        f"{what}: {at_kill} of {total} done when the worker was killed; not mid-way "
        "(raise the volume so the kill lands in the middle)"
    )
    return at_kill


def test_a_worker_killed_mid_roll_sync_leaves_every_batch_synced_once(tree, web, workers, beat):
    engineer(tree.county)
    schools = [
        factories.unit("school", f"130102{n:04d}", f"长安区第{n}小学", tree.county)
        for n in range(2, SCHOOLS + 2)
    ]
    key_id, secret = _hebei_key(tree)
    codes = [s.code for s in schools]
    # Queued on the broker while no worker runs; the first worker takes it.
    status, body = roll_post(web.url, key_id, secret, {"batch_id": "big", "alerts": _alerts(codes)})
    assert (status, body.get("accepted")) == (200, SCHOOLS), body

    first = workers("w1")
    at_kill = _kill_mid_way(
        first, lambda: sum(_problem_tickets().values()), SCHOOLS, "the roll sync"
    )
    assert not IntakeBatch.objects.filter(synced_at__isnull=False).exists()

    # A new worker, and beat's minute job (the killed task's message was acked on receipt).
    second = workers("w2")
    beat("roll.tasks.sync_pending")
    until(
        lambda: IntakeBatch.objects.filter(batch_id="big", synced_at__isnull=False).exists(),
        "the new worker syncs the batch",
    )
    batch = IntakeBatch.objects.get(batch_id="big")
    # The next minute's job and a duplicate delivery of the batch's task change nothing.
    beat("roll.tasks.sync_pending")
    beat("roll.tasks.sync_batch", batch.pk)
    until(lambda: _done(second, "roll.tasks.sync_batch") == 1, "the duplicate delivery runs")
    until(lambda: _done(second, "roll.tasks.sync_pending") == 2, "the next minute's job runs")

    assert IntakeBatch.objects.get(pk=batch.pk).synced_at == batch.synced_at
    assert _problem_tickets() == Counter(codes), "one problem ticket per school"
    events = _alert_events("big")
    # One event per school and one for the county with all of them; none twice.
    assert sum(events.values()) == SCHOOLS + 1
    assert events[(tuple(sorted(codes)), SCHOOLS)] == 1
    arrivals = ArrivalNotice.objects.all()
    assert arrivals.count() == SCHOOLS + 1 and not arrivals.filter(notice__isnull=True).exists()
    assert Notice.objects.count() == 2
    print(f"roll sync: killed with {at_kill}/{SCHOOLS} schools' tickets written; 0 lost, 0 doubled")


def test_a_worker_killed_mid_sweep_leaves_every_breach_escalated_once(tree, workers, beat):
    desk = make_desk(tree)
    # Raised on a Monday morning long past: every one is past its response deadline.
    tickets = [raise_ticket(desk.reporter, now=MONDAY.replace(hour=9)) for _ in range(BREACHED)]
    pks = [t.pk for t in tickets]
    escalated = Ticket.objects.filter(pk__in=pks, hop__gt=1)

    first = workers("w1")
    beat("escalation.tasks.sweep")
    at_kill = _kill_mid_way(first, escalated.count, BREACHED, "the sweep")

    second = workers("w2")
    beat("escalation.tasks.sweep")  # the next minute, as beat sends it
    until(lambda: escalated.count() == BREACHED, "the new worker's sweep escalates the rest")
    until(lambda: _done(second, "escalation.tasks.sweep") == 1, "the sweep finishes")
    beat("escalation.tasks.sweep")  # and the minute after: nothing is due any more
    until(lambda: _done(second, "escalation.tasks.sweep") == 2, "the next sweep finishes")

    assert set(Ticket.objects.filter(pk__in=pks).values_list("hop", "tier")) == {
        (2, tree.province.pk)
    }
    # Per ticket: one breach on its timeline, its two stays (county, then province).
    breaches = Counter(
        TicketEvent.objects.filter(ticket__in=pks, kind=EventKind.BREACH).values_list(
            "ticket", flat=True
        )
    )
    assert breaches == Counter(pks), "every breach escalated exactly once"
    stays = Counter(
        EscalationRecord.objects.filter(ticket__in=pks).values_list("ticket", flat=True)
    )
    assert stays == Counter({pk: 2 for pk in pks})
    assert EscalationRecord.objects.filter(ticket__in=pks, hop=1, breached=True).count() == BREACHED
    print(f"sweep: killed with {at_kill}/{BREACHED} breaches escalated; 0 lost, 0 doubled")
