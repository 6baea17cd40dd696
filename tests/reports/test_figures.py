"""The weekly figures against hand-made data (PostgreSQL)."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports import selectors
from reports.columns import COLUMNS
from tests.reports import world

pytestmark = pytest.mark.django_db


def by_key(row) -> dict:
    return {c.key: v for c, v in zip(COLUMNS, row.values, strict=True)}


@pytest.fixture
def w(db):
    return world.build()


def test_prefecture_sheet_a_row_per_county(w):
    report = selectors.weekly(w.prefecture, world.WEEK)
    assert [r.unit for r in report.rows] == [w.county, w.sibling]
    county, sibling = (by_key(r) for r in report.rows)
    assert county == {
        "notices": 2,
        # A: cm, c1, s1, s2; B: s1, s2
        "audience": 6,
        "read": 4,
        "read_rate": pytest.approx(4 / 6),
        "ack_audience": 4,
        "acked_on_time": 1,
        "ack_rate": 0.25,
        "tickets_raised": 2,
        "tickets_solved": 2,
        "tickets_escalated": 1,
        "sla_rate": 0.5,
        "records_opened": 2,
        "records_opened_grad": 1,
        "records_resolved": 2,
        "records_resolved_grad": 1,
    }
    assert sibling == {
        "notices": 1,
        "audience": 2,
        "read": 1,
        "read_rate": 0.5,
        "ack_audience": 2,
        "acked_on_time": 1,
        "ack_rate": 0.5,
        "tickets_raised": 1,
        "tickets_solved": 0,
        "tickets_escalated": 0,
        "sla_rate": 1.0,
        "records_opened": 1,
        "records_opened_grad": 1,
        "records_resolved": 0,
        "records_resolved_grad": 0,
    }
    total = by_key(report.total)
    assert total["notices"] == 2  # A reached both counties: counted once
    assert total["audience"] == 8 and total["read"] == 5
    assert total["read_rate"] == pytest.approx(5 / 8)
    assert total["ack_rate"] == pytest.approx(2 / 6)
    assert total["tickets_raised"] == 3 and total["sla_rate"] == pytest.approx(2 / 3)
    assert total["records_opened"] == 3 and total["records_resolved_grad"] == 1
    assert not report.is_empty


def test_county_drill_in_a_row_per_school_and_its_own_accounts(w):
    report = selectors.weekly(w.county, date(2026, 11, 27))  # any day of the week
    assert report.week == world.WEEK
    own, school = report.rows
    assert own.unit is None and school.unit == w.school
    assert by_key(own)["audience"] == 2 and by_key(own)["read"] == 1  # cm, c1 of A
    assert by_key(school)["audience"] == 4  # s1, s2 of A and B
    assert by_key(school)["read"] == 3
    assert by_key(school)["tickets_raised"] == 2
    assert not school.drillable
    assert by_key(report.total)["audience"] == 6


def test_province_sees_the_prefecture_as_its_child(w):
    report = selectors.weekly(w.province, world.WEEK)
    assert [r.unit for r in report.rows] == [w.prefecture]
    assert by_key(report.rows[0])["tickets_raised"] == 3
    assert report.rows[0].drillable


def test_empty_week(w):
    report = selectors.weekly(w.prefecture, date(2026, 11, 9))
    assert report.is_empty
    # every county is still listed, with nothing to count
    assert [r.unit for r in report.rows] == [w.county, w.sibling]
    assert by_key(report.total)["read_rate"] is None


def test_queries_do_not_grow_with_children(w):
    from tests import factories

    with CaptureQueriesContext(connection) as few:
        selectors.weekly(w.county, world.WEEK)
    for i in range(30):
        school = factories.unit("school", f"13010209{i:02d}", parent=w.county)
        factories.staff(school)
    with CaptureQueriesContext(connection) as many:
        report = selectors.weekly(w.county, world.WEEK)
    assert len(report.rows) == 32
    assert len(many) == len(few)


def test_notices_sharing_an_audience_each_count(w):
    """Notices of one audience shape are counted once in SQL and given to each notice."""
    # the same audience as B (the county's schools), asking for an acknowledgement
    c = world.notice(w.cm, w.county, [w.county], ["school"], world.at(26), requires_ack=True)
    world.receipt(c, w.s2, world.at(26, 11), acked=world.at(26, 12))
    # the county's managers only
    world.notice(w.pm, w.prefecture, [w.county], ["county"], world.at(27), managers_only=True)
    report = selectors.weekly(w.prefecture, world.WEEK)
    county = by_key(report.rows[0])
    assert county["notices"] == 4
    assert county["audience"] == 6 + 2 + 1  # A, B; C: s1, s2; the managers' one: cm
    assert county["read"] == 5
    assert county["ack_audience"] == 4 + 2
    assert county["acked_on_time"] == 2  # no deadline: acknowledged counts as on time
    assert by_key(report.rows[1])["notices"] == 1
    assert by_key(report.total)["notices"] == 4
