"""/reports/weekly/: the table, drill-down, the workbook, permissions, the empty week."""

import io
from datetime import date

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from reports.columns import COLUMNS
from tests import factories
from tests.reports import world

pytestmark = pytest.mark.django_db

WEEK = "2026-11-25"  # a Wednesday of the week of 23 November


@pytest.fixture
def w(db, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    return world.build()


def page(client, **query):
    return client.get(reverse("weekly_report"), query, HTTP_ACCEPT_LANGUAGE="zh-hans")


def test_the_table_a_row_per_child_and_a_drill_in(w, client_for):
    client = client_for(w.pm)
    r = page(client, week=WEEK)
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="weekly-report"' in html and 'class="grid"' in html
    assert "2026-11-23 至 2026-11-29" in html
    assert 'data-unit="130102"' in html and 'data-unit="130104"' in html
    assert "66.7%" in html  # 长安区's read rate, 4 of 6
    assert "?unit=130102&amp;week=2026-11-23" in html  # drill into the county
    assert COLUMNS[3].zh in html  # 阅读率
    # drill in: the county's schools
    r = page(client, unit="130102", week=WEEK)
    html = r.content.decode()
    assert 'data-unit="1301020001"' in html and "本单位" in html
    assert "?unit=1301020001" not in html  # a school has no children to drill into


def test_the_workbook(w, client_for):
    client = client_for(w.pm)
    r = client.get(reverse("weekly_report_xlsx"), {"week": WEEK}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 200
    assert r["Content-Disposition"].endswith('weekly-130100-2026-11-23.xlsx"')
    ws = load_workbook(io.BytesIO(b"".join(r.streaming_content))).active
    assert ws["A1"].value == "石家庄市周报表"
    assert ws["A2"].value == "周次：2026-11-23 至 2026-11-29"
    assert ws["A3"].value == "单位：石家庄市（130100）"
    header = [c.value for c in ws[5]]
    assert header == ["单位", "代码", *[c.zh for c in COLUMNS]]
    county = [c.value for c in ws[6]]
    assert county[:5] == ["长安区", "130102", 2, 6, 4]
    assert county[5] == pytest.approx(4 / 6)
    assert ws.cell(row=6, column=6).number_format == "0.0%"
    assert [c.value for c in ws[7]][:2] == ["桥西区", "130104"]
    total = [c.value for c in ws[8]]
    assert total[:5] == ["合计", "130100", 2, 8, 5]
    assert ws.print_title_rows == "$5:$5" or ws.print_title_rows == "5:5"
    assert ws.page_setup.orientation == "landscape"


def test_empty_week_says_so(w, client_for):
    r = page(client_for(w.pm), week="2026-11-10")
    html = r.content.decode()
    assert "本周没有数据" in html
    assert 'id="weekly-report"' not in html


def test_a_siblings_report_is_not_found(w, client_for):
    client = client_for(w.cm)
    assert page(client, unit="130104", week=WEEK).status_code == 404
    assert page(client, unit="130100", week=WEEK).status_code == 404  # the parent's
    assert page(client, unit="999999", week=WEEK).status_code == 404
    r = client.get(reverse("weekly_report_xlsx"), {"unit": "130104", "week": WEEK})
    assert r.status_code == 404
    assert page(client, unit="1301020001", week=WEEK).status_code == 200


def test_staff_are_refused(w, client_for):
    assert page(client_for(w.c1), week=WEEK).status_code == 403


def test_bad_and_future_weeks_fall_back_with_a_reason(w, client_for):
    client = client_for(w.pm)
    r = page(client, week="2026-13-45")
    assert r.status_code == 200
    assert "YYYY-MM-DD" in r.content.decode()
    r = page(client, week="2099-01-01")
    assert r.status_code == 200
    assert "尚未结束" in r.content.decode()


def test_last_complete_week_by_default(w, client_for, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: date(2026, 12, 1))
    html = page(client_for(w.pm)).content.decode()
    assert "2026-11-23 至 2026-11-29" in html
    assert "下一周" not in html  # nothing newer to go to


def test_phone_menu_link_for_managers_above_school(w, client_for):
    html = client_for(w.pm).get(reverse("home")).content.decode()
    assert 'id="nav-weekly-report"' in html
    school_manager = factories.manager(w.school)
    html = client_for(school_manager).get(reverse("home")).content.decode()
    assert 'id="nav-weekly-report"' not in html


def test_a_provinces_workbook_is_a_job(w, client_for, django_capture_on_commit_callbacks):
    from core import jobs as core_jobs
    from core.models import Job

    client = client_for(w.provm)
    with django_capture_on_commit_callbacks(execute=False):
        r = client.get(reverse("weekly_report_xlsx"), {"week": WEEK})
        again = client.get(reverse("weekly_report_xlsx"), {"week": WEEK})
    (job,) = Job.objects.all()
    assert r.status_code == 302 and r["Location"] == reverse("job_detail", args=[job.pk])
    assert again["Location"] == r["Location"]  # started twice, one job
    core_jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.message
    assert job.result_name == "weekly-130000-2026-11-23.xlsx"
    with job.result.open("rb") as f:
        ws = load_workbook(io.BytesIO(f.read())).active
    assert ws["A1"].value == "河北省周报表"
    assert [c.value for c in ws[6]][:2] == ["石家庄市", "130100"]
