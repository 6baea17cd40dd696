"""The counters behind the statistics: kept with the receipts, equal to a recount of
them after any reads and acknowledgements, exact under concurrent readers of one
county, and summed into the same figures the receipts give when counted directly."""

import importlib
import threading
import traceback
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import scoping
from accounts.models import Level
from notices import selectors, services
from notices.models import AudienceTally, Receipt, ReceiptTally
from tests import factories
from tests.notices.helpers import send


def ack_notice(author, **kw):
    return send(author, to=["130000"], levels=["county", "school"], requires_ack=True, **kw)


def exact(notice, unit) -> dict:
    return selectors.stats_recount(notice=notice, unit=unit)


def exact_lagging_units(notice, unit) -> list:
    """Audience units under `unit` with someone to read and nobody who has, checked one
    by one."""
    return [
        u
        for u in selectors.audience_units(notice).filter(scoping.under("path", unit.path))
        if not Receipt.objects.filter(notice=notice, unit=u).exists()
        and u.accounts.filter(is_active=True).exists()
    ]


def from_stats(notice, unit) -> dict:
    _total, rows = selectors.stats(notice=notice, unit=unit)
    return {
        (r.unit.path if r.unit else unit.path): (
            r.accounts,
            r.read,
            r.acked,
            r.units,
            r.units_read,
        )
        for r in rows
    }


@pytest.fixture
def crowd(tree):
    """A province manager, and staff and managers in the counties and schools of 河北
    (two more schools in 长安区): 12 recipients of a province notice in 6 units."""
    extra = [
        factories.unit(Level.SCHOOL, f"130102000{n}", f"长安区第{n}中学", tree.county)
        for n in (2, 3)
    ]
    units = [tree.prefecture, tree.county, tree.sibling, tree.school, tree.sibling_school, *extra]
    people = [
        maker(u, username=f"p{n}-{i}")
        for n, u in enumerate(units)
        for i, maker in enumerate((factories.staff, factories.manager))
    ]
    author = factories.manager(tree.province, username="prov-boss")
    return author, [p for p in people if p.unit.level in ("county", "school")]


# --- after any reads and acknowledgements --------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=11), st.sampled_from(["read", "ack"])),
        max_size=30,
    )
)
def test_counters_equal_a_recount_after_any_reads_and_acks(crowd, tree, steps):
    author, people = crowd
    notice = ack_notice(author)  # a new notice per example: the receipts start empty
    for who, action in steps:
        account = people[who % len(people)]
        if action == "read":
            services.notice_mark_read(account=account, notice=notice)
        else:
            try:
                services.notice_acknowledge(account=account, notice=notice)
            except ValidationError:  # already acknowledged: refused, not counted
                pass
    assert selectors.receipt_tallies(notice) == selectors.receipt_tallies_recounted(notice)
    for unit in (tree.ministry, tree.province, tree.prefecture, tree.county, tree.school):
        assert from_stats(notice, unit) == {
            k: v for k, v in exact(notice, unit).items() if v[0] or v[3]
        }, unit
        lagging, _people = selectors.laggards(notice=notice, unit=unit)
        assert lagging == exact_lagging_units(notice, unit), unit


def test_rereading_and_a_refused_second_ack_count_nothing(crowd, tree):
    author, people = crowd
    notice = ack_notice(author)
    reader = people[0]  # 长安区's staff
    for _ in range(3):
        services.notice_mark_read(account=reader, notice=notice)
    services.notice_acknowledge(account=reader, notice=notice, reply="已阅")
    with pytest.raises(ValidationError):
        services.notice_acknowledge(account=reader, notice=notice, reply="再次")
    assert selectors.receipt_tallies(notice) == {tree.county.path: (1, 1, 1)}


def test_a_forwarded_notice_has_counters_of_its_own(crowd, tree):
    author, people = crowd
    notice = ack_notice(author)
    county_boss = next(p for p in people if p.unit == tree.county and p.role == "manager")
    forward = services.notice_forward(
        actor=county_boss,
        notice=notice,
        target_codes=[tree.county.code],
        levels=["school"],
        managers_only=False,
        note="请各校落实",
    )
    school_staff = next(p for p in people if p.unit == tree.school and p.role == "staff")
    services.notice_acknowledge(account=school_staff, notice=forward)
    services.notice_mark_read(account=school_staff, notice=notice)
    assert selectors.receipt_tallies(forward) == {tree.county.path: (1, 1, 1)}
    assert selectors.receipt_tallies(notice) == {tree.county.path: (1, 0, 1)}


def test_the_migration_counts_receipts_written_before_it(crowd, tree):
    author, people = crowd
    notice = ack_notice(author)
    for account in people[::2]:
        services.notice_acknowledge(account=account, notice=notice)
    for account in people[1::3]:
        services.notice_mark_read(account=account, notice=notice)
    kept = selectors.receipt_tallies(notice)
    ReceiptTally.objects.all().delete()
    migration = importlib.import_module("notices.migrations.0002_receipt_and_audience_tallies")
    migration.fill_receipt_tallies(apps, None)
    assert selectors.receipt_tallies(notice) == kept == selectors.receipt_tallies_recounted(notice)


# --- the audience counts above the county ------------------------------------------------


def test_the_drill_down_above_the_county_skips_only_complete_counties(crowd, tree):
    author, people = crowd
    notice = ack_notice(author)
    for account in people:  # everybody reads: no unit lags
        services.notice_mark_read(account=account, notice=notice)
    assert selectors.laggards(notice=notice, unit=tree.province) == ([], [])
    # A school added since the audience was counted lags at once, though the stored
    # counts (within AUDIENCE_MAX_AGE) still call its county complete.
    late = factories.unit(Level.SCHOOL, "1301040009", "桥西区第九中学", tree.sibling)
    late_staff = factories.staff(late, username="late-clerk")
    # A school with nobody to read yet is not behind: it is listed apart.
    empty = factories.unit(Level.SCHOOL, "1301040008", "桥西区第八中学", tree.sibling)
    newcomer = factories.staff(tree.school, username="newcomer")
    for unit in (tree.ministry, tree.province, tree.prefecture):
        lagging, who = selectors.laggards(notice=notice, unit=unit)
        assert lagging == [late] == exact_lagging_units(notice, unit)
        assert who == [newcomer, late_staff]
        assert selectors.unstaffed_units(notice=notice, unit=unit) == ([empty], False)


# --- the audience counts above the county ------------------------------------------------


def test_the_audience_above_the_county_is_recounted_when_stale(crowd, tree):
    author, _people = crowd
    notice = ack_notice(author)
    total, _ = selectors.stats(notice=notice, unit=tree.province)
    assert total.counted_at is not None and total.accounts == 12
    factories.staff(tree.sibling_school, username="newcomer")
    # Within AUDIENCE_MAX_AGE the province's figure is the stored one; a county's is live.
    assert selectors.stats(notice=notice, unit=tree.province)[0].accounts == 12
    assert selectors.stats(notice=notice, unit=tree.sibling)[0].accounts == 5
    AudienceTally.objects.filter(notice=notice).update(
        counted_at=total.counted_at - selectors.AUDIENCE_MAX_AGE - timedelta(seconds=1)
    )
    assert selectors.stats(notice=notice, unit=tree.province)[0].accounts == 13


def test_the_page_says_when_the_audience_was_counted(crowd, tree, client_for):
    author, _people = crowd
    notice = ack_notice(author)
    page = client_for(author).get(f"/notices/{notice.pk}/stats/").content.decode()
    assert 'id="stats-counted-at"' in page
    county_page = client_for(author).get(f"/notices/{notice.pk}/stats/", {"unit": tree.county.code})
    assert 'id="stats-counted-at"' not in county_page.content.decode()


# --- concurrent readers of one county -----------------------------------------------------
# PostgreSQL: the bucket's row lock and READ COMMITTED; SQLite: one writer at a time.


def run_together(jobs, timeout=120):
    """Start every job at the same moment, each in its own thread and connection."""
    start = threading.Barrier(len(jobs))
    failures = []

    def run(job):
        try:
            start.wait(timeout=30)
            job()
        except Exception:  # reported by the caller, with the thread's own traceback
            failures.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return failures


@pytest.mark.django_db(transaction=True)
def test_concurrent_readers_of_one_county_keep_exact_counts(tree):
    author = factories.manager(tree.province, username="prov-boss")
    notice = ack_notice(author)
    # 24 readers in 长安区: 8 in each of its school, a second school and the county
    # itself, so that several first readers of one unit race each other.
    second = factories.unit(Level.SCHOOL, "1301020002", "长安区第二中学", tree.county)
    readers = [
        factories.staff(unit, username=f"r{n}-{i}")
        for n, unit in enumerate((tree.school, second, tree.county))
        for i in range(8)
    ]

    def job(account, n):
        def go():
            if n % 3 == 0:
                services.notice_acknowledge(account=account, notice=notice)
            else:
                services.notice_mark_read(account=account, notice=notice)
            services.notice_mark_read(account=account, notice=notice)  # a re-read: no count

        return go

    failures = run_together([job(a, n) for n, a in enumerate(readers)])
    assert not failures, failures[0]
    assert selectors.receipt_tallies(notice) == {tree.county.path: (24, 8, 3)}
    assert selectors.receipt_tallies_recounted(notice) == {tree.county.path: (24, 8, 3)}
    total, rows = selectors.stats(notice=notice, unit=tree.prefecture)
    assert (total.read, total.acked, total.units_read) == (24, 8, 3)
    assert [(r.unit, r.read, r.units_read) for r in rows] == [
        (tree.county, 24, 3),
        (tree.sibling, 0, 0),
    ]
