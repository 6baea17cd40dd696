"""Real concurrency, real transactions: tickets raised from many threads at once are
each assigned exactly once and evenly; two sweeps racing escalate each breach once.

PostgreSQL serialises assignment on the tier's Rotation row (one conditional UPDATE
of its pointer per turn) and escalation on the ticket row lock plus the (ticket,
tier, round) constraint; SQLite serialises whole write transactions (BEGIN IMMEDIATE,
a 20 s busy timeout). Both must hold."""

import threading
import traceback
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_save

from escalation import services
from escalation.models import EntryKind, EscalationRecord, Rotation
from tests import factories
from tests.tickets.helpers import MONDAY, duty, engineer
from tickets import services as ticket_services
from tickets.models import Status, Ticket, TicketEvent

pytestmark = pytest.mark.django_db(transaction=True)

T0 = MONDAY.replace(hour=9)


def run_together(jobs, timeout=120):
    """Start every job at the same moment, each in its own thread with its own database
    connection (closed at the end); return the results and the failures."""
    start = threading.Barrier(len(jobs))
    results, failures = [None] * len(jobs), []

    def run(n, job):
        try:
            start.wait(timeout=30)
            results[n] = job()
        except Exception:  # reported by the caller, with the thread's own traceback
            failures.append(f"thread {n}: {traceback.format_exc()}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, job)) for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results, failures


THREADS = 8
PER_THREAD = 25


def test_tickets_raised_at_once_are_each_assigned_once_and_evenly(tree):
    team = [engineer(tree.county, username=f"eng-{n}") for n in range(5)]
    for e in team:
        duty(e, capacity=500)
    reporters = [factories.staff(tree.school) for _ in range(THREADS)]

    def raise_many(reporter):
        def job():
            return [
                ticket_services.ticket_create(
                    actor=reporter,
                    title=f"并发 {n}",
                    description="同时提交",
                    category="fault",
                    now=T0,
                ).pk
                for n in range(PER_THREAD)
            ]

        return job

    results, failures = run_together([raise_many(r) for r in reporters])
    assert failures == [], "\n".join(failures)
    created = [pk for pks in results for pk in pks]
    total = THREADS * PER_THREAD
    assert len(created) == len(set(created)) == total

    tickets = Ticket.objects.filter(tier=tree.county)
    assert tickets.count() == total
    assert not tickets.filter(assignee__isnull=True).exists()
    assert set(tickets.values_list("status", flat=True)) == {Status.ASSIGNED}
    # Assigned once: exactly one routing decision per ticket, each choosing someone.
    routed = TicketEvent.objects.filter(kind="routed", ticket__in=tickets)
    assert routed.count() == total
    assert Counter(routed.values_list("ticket_id", flat=True)).most_common(1)[0][1] == 1
    assert not routed.filter(data__chosen="").exists()

    counts = Counter(tickets.values_list("assignee__username", flat=True))
    assert set(counts) == {e.username for e in team}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sorted(counts.values()) == [total // len(team)] * len(team)

    # Each decision took one numbered turn, none twice, none missing; in the order of
    # their turns the engineers come round strictly in turn, and the pointer is the last.
    turns = sorted(routed.values_list("data__turn", "data__chosen"))
    assert [turn for turn, _ in turns] == list(range(1, total + 1))
    names = [e.username for e in team]
    assert [chosen for _, chosen in turns] == [names[n % len(names)] for n in range(total)]
    rotation = Rotation.objects.get(tier=tree.county)
    assert (rotation.last_account_id, rotation.turns) == (team[(total - 1) % len(team)].pk, total)
    assert EscalationRecord.objects.filter(kind=EntryKind.OPENED).count() == total


def test_the_rotation_row_is_free_while_a_ticket_is_being_written(tree):
    """A ticket takes its turn before its transaction: while that transaction is still
    open, another session sees the turn committed and (PostgreSQL) the tier's rotation
    row not locked, and the ticket still gets the engineer of its turn."""
    team = [engineer(tree.county, username=f"eng-{n}") for n in range(3)]
    reporter = factories.staff(tree.school)
    seen = []

    def look_from_another_session(sender, instance, created, **kwargs):
        # post_save runs inside the ticket's own transaction, not yet committed.
        if not created or seen:
            return
        other = connection.copy()  # a session of its own (a Django connection wrapper)
        try:
            with other.cursor() as cur:
                sql = "SELECT last_account_id FROM escalation_rotation WHERE tier_id = %s"
                if other.vendor == "postgresql":
                    sql += " FOR UPDATE NOWAIT"  # fails if the row were held
                cur.execute(sql, [tree.county.pk])
                seen.append(cur.fetchone())
        finally:
            other.close()

    post_save.connect(look_from_another_session, sender=Ticket)
    try:
        ticket_services.ticket_create(
            actor=reporter, title="卡住", description="x", category="fault", now=T0
        )
    finally:
        post_save.disconnect(look_from_another_session, sender=Ticket)
    assert seen == [(team[0].pk,)]  # its turn taken and committed, the row not held
    later = ticket_services.ticket_create(
        actor=reporter, title="其后", description="x", category="fault", now=T0
    )
    assert later.assignee == team[1]
    assert Ticket.objects.get(title="卡住").assignee == team[0]


BREACHED = 30


def test_two_sweeps_at_once_escalate_each_breach_exactly_once(tree):
    engineer(tree.county, username="county-eng")
    prov = engineer(tree.province, username="prov-eng")
    duty(prov, capacity=500)
    reporter = factories.staff(tree.school)
    tickets = [
        ticket_services.ticket_create(
            actor=reporter, title=f"超时 {n}", description="无人响应", category="fault", now=T0
        )
        for n in range(BREACHED)
    ]
    now = T0 + timedelta(hours=5)  # the 4-hour response target has passed for all

    results, failures = run_together([lambda: services.sweep(now=now)] * 2)
    assert failures == [], "\n".join(failures)
    assert sum(r["escalated"] for r in results) == BREACHED
    assert sum(r["warned"] for r in results) == BREACHED

    for t in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        assert (t.tier_id, t.hop, t.breached, t.assignee_id) == (tree.province.pk, 2, True, prov.pk)
        records = list(EscalationRecord.objects.filter(ticket=t).order_by("hop"))
        assert [r.kind for r in records] == [EntryKind.OPENED, EntryKind.BREACH]
        assert TicketEvent.objects.filter(ticket=t, kind="escalated").count() == 1
        assert TicketEvent.objects.filter(ticket=t, kind="warning").count() == 1

    # And a third sweep later finds nothing left to do at that moment.
    assert services.sweep(now=now)["escalated"] == 0
