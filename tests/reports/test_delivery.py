"""The beat job: on a report day each county, prefecture and province sends its sheet
to its parent's managers, once; schools send nothing."""

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from accounts.services import system_account
from notices import selectors as notice_selectors
from notices.models import Attachment, Notice
from reports import services, tasks
from reports.models import WeeklyReport
from tests import factories
from tests.reports import world

pytestmark = pytest.mark.django_db(transaction=False)

REPORT_DAY = date(2026, 12, 3)  # Thursday after the week of 23 November


@pytest.fixture
def w(db):
    w = world.build()
    w.minm = factories.manager(w.ministry)
    return w


def _reports():
    return Notice.objects.filter(author=system_account(), title__contains="周报")


def _run(day, monkeypatch):
    """The daily beat task, its batches run in-process."""
    monkeypatch.setattr(tasks.send_batch, "delay", lambda ids, week: tasks.send_batch(ids, week))
    return tasks.send_due(day.isoformat())


def test_beat_job_sends_once_per_unit_to_the_parent(w, monkeypatch, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    assert _run(REPORT_DAY, monkeypatch) == 1
    rows = WeeklyReport.objects.filter(week=world.WEEK)
    # counties, the prefecture and the provinces; no school, not the Ministry
    assert sorted(r.unit.code for r in rows) == sorted(
        ["130102", "130104", "130100", "130000", "110000", "110101"]
    )
    assert _reports().count() == 6
    # run twice (and the next day): nothing more
    _run(REPORT_DAY, monkeypatch)
    _run(date(2026, 12, 4), monkeypatch)
    assert _reports().count() == 6 and rows.count() == 6

    county = WeeklyReport.objects.get(unit=w.county, week=world.WEEK).notice
    assert county.author_unit == w.county and county.managers_only
    # the parent's (the prefecture's) managers get it; the county's own and a school's do not
    assert notice_selectors.reaches(county, w.pm)
    assert not notice_selectors.reaches(county, w.cm)
    assert not notice_selectors.reaches(county, w.s1)
    assert not notice_selectors.reaches(county, w.provm)
    assert "长安区" in county.title and "2026-11-23" in county.title
    # one notice per parent per unit: the prefecture's managers got its two counties'
    to_prefecture = [n for n in _reports() if notice_selectors.reaches(n, w.pm)]
    assert sorted(n.author_unit.code for n in to_prefecture) == ["130102", "130104"]
    # a province reports to the Ministry's managers
    province = WeeklyReport.objects.get(unit=w.province, week=world.WEEK).notice
    assert notice_selectors.reaches(province, w.minm)

    (attachment,) = Attachment.objects.filter(notice=county)
    assert attachment.name == "weekly-130102-2026-11-23.xlsx"
    with attachment.file.open("rb") as f:
        ws = load_workbook(io.BytesIO(f.read())).active
    assert ws["A1"].value == "长安区周报表"
    assert ws.cell(row=6, column=1).value == "本单位"
    assert ws.cell(row=7, column=1).value == "长安区第一中学"


def test_not_a_report_day_sends_nothing(w, monkeypatch):
    assert _run(date(2026, 12, 2), monkeypatch) == 0
    assert _run(date(2026, 10, 1), monkeypatch) == 0  # a holiday Thursday
    assert not WeeklyReport.objects.exists()


def test_holiday_thursday_sends_the_day_before(w, monkeypatch):
    # the week of 21 September 2026 is due on Wednesday 30 September (1 October: National Day)
    assert _run(date(2026, 9, 30), monkeypatch) == 1
    assert set(WeeklyReport.objects.values_list("week", flat=True)) == {date(2026, 9, 21)}


def test_deliver_is_idempotent_and_a_failure_leaves_nothing(w, monkeypatch):
    assert services.deliver(w.county, world.WEEK) is not None
    assert services.deliver(w.county, date(2026, 11, 26)) is None  # same week
    assert WeeklyReport.objects.filter(unit=w.county).count() == 1

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.notices, "notice_publish_system", broken)
    assert services.deliver_many([w.sibling.pk], world.WEEK) == 0
    assert not WeeklyReport.objects.filter(unit=w.sibling).exists()


def test_an_empty_week_says_so(w):
    row = services.deliver(w.sibling, date(2026, 11, 9))
    assert "本周没有数据" in row.notice.body
    assert row.figures["audience"] == 0
