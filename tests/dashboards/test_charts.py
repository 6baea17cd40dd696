"""The charts' figures (issue 16, item 2) against hand-made data on PostgreSQL: the
read rate by child unit, the ticket backlog by age and SLA compliance by week, problem
records by kind and unit, the Ministry's map; each scoped to the viewer's subtree (a
sibling's data never shown), 暂无数据 when there is nothing, and the Excel export."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from dashboards import charts
from notices import services as notice_services
from roll import selectors as roll_selectors
from tests import factories
from tests.dashboards.helpers import record, ticket
from tests.notices.helpers import send
from tests.tickets.helpers import at
from tickets import selectors as ticket_selectors

pytestmark = pytest.mark.django_db

NOW = at(2026, 3, 12, 10)  # a Thursday


def chart_json(response, chart_id):
    html = response.content.decode()
    found = re.search(
        rf'<script id="chart-data-{chart_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert found, f"no JSON for {chart_id}"
    return json.loads(found.group(1))


def sheet_rows(response):
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    book = load_workbook(BytesIO(response.content))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


# --- the data functions ---------------------------------------------------------------


def test_backlog_by_age_counts_open_tickets_in_the_subtree_by_age(tree, people):
    reporter = people.school_staff
    for hours in (2, 30, 50, 24 * 5, 24 * 10, 24 * 20):
        ticket(reporter, created_at=NOW - timedelta(hours=hours))
    ticket(reporter, created_at=NOW - timedelta(hours=3), status="resolved")
    ticket(people.sibling_school_staff, created_at=NOW - timedelta(hours=1))
    ages = ticket_selectors.backlog_by_age(tree.county, now=NOW)
    assert [n for _label, n in ages] == [1, 2, 1, 2]
    with translation.override("zh-hans"):
        labels = [label for label, _n in ticket_selectors.backlog_by_age(tree.county, now=NOW)]
    assert labels == ["1 天内", "1–3 天", "3–7 天", "7 天以上"]
    # The prefecture sees both counties; the sibling county only its own.
    assert sum(n for _l, n in ticket_selectors.backlog_by_age(tree.prefecture, now=NOW)) == 7
    assert [n for _l, n in ticket_selectors.backlog_by_age(tree.sibling, now=NOW)] == [1, 0, 0, 0]


def test_weekly_compliance_has_twelve_weeks_oldest_first_and_leaves_platform_tickets_out(
    tree, people
):
    reporter = people.school_staff
    # This week (Monday 9 March): 3 raised, 1 breached; four weeks before: 2, both met.
    ticket(reporter, created_at=at(2026, 3, 9, 8))
    ticket(reporter, created_at=at(2026, 3, 11, 23, 30), breached=True)
    ticket(reporter, created_at=at(2026, 3, 12, 9))
    ticket(reporter, created_at=at(2026, 2, 9, 0, 5))
    ticket(reporter, created_at=at(2026, 2, 15, 23, 59))
    ticket(reporter, created_at=at(2026, 3, 10), platform=True)
    ticket(people.sibling_school_staff, created_at=at(2026, 3, 10), breached=True)
    # Sunday night in China is still the week before (UTC would say Sunday 16:00).
    ticket(reporter, created_at=at(2026, 3, 8, 23, 30), breached=True)
    weeks = ticket_selectors.weekly_compliance(tree.county, weeks=12, now=NOW)
    assert len(weeks) == 12
    assert weeks[0]["week"].isoformat() == "2025-12-22"
    assert weeks[-1]["week"].isoformat() == "2026-03-09"
    last = weeks[-1]
    assert (last["created"], last["breached"], last["compliance"]) == (3, 1, 66.7)
    assert (weeks[-2]["created"], weeks[-2]["compliance"]) == (1, 0.0)
    feb9 = next(w for w in weeks if w["week"].isoformat() == "2026-02-09")
    assert (feb9["created"], feb9["compliance"]) == (2, 100.0)
    assert weeks[0]["compliance"] is None


def test_records_by_child_and_kind_and_open_by_prefix(tree):
    record(tree.school, kind="id_invalid")
    record(tree.school, kind="id_invalid", status="resolved")
    record(tree.school, kind="id_duplicate")
    record(tree.sibling_school, kind="id_duplicate")
    record(tree.muni_school, kind="police_auth_failed")
    rows = roll_selectors.by_child_and_kind(tree.prefecture)
    got = {(r["child"], r["kind"]): (r["open"], r["total"]) for r in rows}
    assert got == {
        (tree.county.path, "id_invalid"): (1, 2),
        (tree.county.path, "id_duplicate"): (1, 1),
        (tree.sibling.path, "id_duplicate"): (1, 1),
    }
    assert roll_selectors.by_child_and_kind(tree.sibling) == [
        {"child": tree.sibling_school.path, "kind": "id_duplicate", "open": 1, "total": 1}
    ]
    by_prefix = roll_selectors.open_by_prefix(tree.ministry, depth=2)
    assert by_prefix == {tree.prefecture.path: 3, tree.muni_county.path: 1}


def test_records_chart_has_a_column_per_kind_and_a_total_row(tree):
    record(tree.school, kind="id_invalid")
    record(tree.school, kind="id_invalid", status="closed")
    record(tree.sibling_school, kind="id_duplicate")
    with translation.override("zh-hans"):
        chart = charts.records(tree.prefecture)
    assert chart["kind"] == "stack" and not chart["empty"]
    assert chart["categories"] == ["长安区", "桥西区"]
    assert [s["data"] for s in chart["series"]] == [[2, 0], [0, 1]]
    assert chart["rows"] == [["长安区", 2, 0, 2, 1], ["桥西区", 0, 1, 1, 1], ["合计", 2, 1, 3, 2]]


def test_read_rate_chart_from_the_notice_statistics(tree, people):
    notice = send(people.province_manager, to=["130000"], levels=["county"])
    notice_services.notice_mark_read(account=people.county_manager, notice=notice)
    chart = charts.read_rate(people.province_manager, notice)
    assert chart["categories"] == ["石家庄市"]
    # 长安区's manager and clerk, 桥西区's manager and clerk: 1 of 4 read.
    assert chart["series"][0]["data"] == [25.0]
    assert chart["rows"] == [["石家庄市", 4, 1, 25.0, 2, 1]]
    # The prefecture's manager sees it by county.
    chart = charts.read_rate(people.prefecture_manager, notice)
    assert chart["categories"] == ["长安区", "桥西区"]
    assert chart["series"][0]["data"] == [50.0, 0.0]


def test_the_map_sums_provinces_and_lists_each_provinces_children(tree):
    record(tree.school)
    record(tree.sibling_school)
    record(tree.sibling_school, status="resolved")
    record(tree.muni_school)
    chart = charts.ministry_map(tree.ministry, "records")
    assert {p["code"]: p["value"] for p in chart["provinces"]} == {"130000": 2, "110000": 1}
    assert chart["children"]["130000"] == [{"code": "130100", "name": "石家庄市", "value": 2}]
    assert chart["children"]["110000"] == [{"code": "110101", "name": "东城区", "value": 1}]
    assert "130000" in chart["maps"] and "100000" in chart["maps"]
    ticket(factories.staff(tree.muni_school), created_at=timezone.now())
    chart = charts.ministry_map(tree.ministry, "tickets")
    assert {p["code"]: p["value"] for p in chart["provinces"]} == {"130000": 0, "110000": 1}


# --- the pages: scope, 暂无数据, export -------------------------------------------------


def test_a_county_sees_its_own_figures_never_its_siblings(tree, people, client_for):
    ticket(people.school_staff, created_at=timezone.now() - timedelta(hours=2))
    ticket(people.sibling_school_staff, created_at=timezone.now() - timedelta(days=9))
    record(tree.school, kind="id_invalid")
    record(tree.sibling_school, kind="cross_province_duplicate")
    client = client_for(people.county_manager)
    page = client.get(reverse("dashboard_tickets"))
    assert page.status_code == 200
    assert chart_json(page, "backlog")["series"][0]["data"] == [1, 0, 0, 0]
    page = client.get(reverse("dashboard_records"))
    data = chart_json(page, "records")
    assert data["categories"] == ["长安区第一中学"]
    assert "桥西区" not in page.content.decode()
    rows = sheet_rows(client.get(reverse("dashboard_records_export")))
    assert rows[1][0] == "单位" or rows[1][0] == "Unit"
    assert [r[0] for r in rows[2:]] == ["长安区第一中学", rows[-1][0]]
    assert all("桥西" not in str(c) for r in rows for c in r)


def test_empty_charts_say_no_data_not_an_empty_frame(tree, people, client_for):
    client = client_for(people.county_manager)
    for name in ("dashboard_tickets", "dashboard_records", "dashboard_read_rate"):
        html = client.get(reverse(name), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert "暂无数据" in html, name
        assert "data-chart=" not in html, name


def test_tickets_export_has_the_tables_behind_both_charts(tree, people, client_for):
    ticket(people.school_staff, created_at=timezone.now() - timedelta(days=4), breached=True)
    client = client_for(people.county_manager)
    rows = sheet_rows(client.get(reverse("dashboard_tickets_export") + "?table=backlog"))
    assert [r[1] for r in rows[2:]] == [0, 0, 1, 0]
    rows = sheet_rows(client.get(reverse("dashboard_tickets_export") + "?table=sla"))
    assert len(rows) == 2 + 12
    assert rows[-1][1:] == [1, 1, 0] or rows[-2][1:] == [1, 1, 0]
    assert client.get(reverse("dashboard_tickets_export") + "?table=nope").status_code == 404


def test_read_rate_page_offers_only_notices_whose_statistics_the_viewer_sees(
    tree, people, client_for
):
    mine = send(people.province_manager, to=["130000"], levels=["county"])
    beijing = send(people.beijing_manager, to=["110000"], levels=["county"])
    client = client_for(people.prefecture_manager)
    page = client.get(reverse("dashboard_read_rate"))
    assert page.status_code == 200
    assert chart_json(page, "read-rate")["categories"] == ["长安区", "桥西区"]
    assert client.get(reverse("dashboard_read_rate") + f"?notice={beijing.pk}").status_code == 404
    assert client.get(reverse("dashboard_read_rate") + "?notice=x").status_code == 404
    rows = sheet_rows(client.get(reverse("dashboard_read_rate_export") + f"?notice={mine.pk}"))
    assert [r[0] for r in rows[2:]] == ["长安区", "桥西区"]


def test_only_the_ministry_sees_the_map_and_the_province_export(tree, people, client_for):
    record(tree.school)
    boss = factories.manager(tree.ministry)
    client = client_for(boss)
    page = client.get(reverse("dashboard_map"))
    data = chart_json(page, "map")
    assert data["kind"] == "map" and {p["code"] for p in data["provinces"]} == {"130000", "110000"}
    rows = sheet_rows(client.get(reverse("dashboard_map_export") + "?province=130000"))
    assert rows[2:] == [["石家庄市", "130100", 1]]
    assert client.get(reverse("dashboard_map_export") + "?province=999999").status_code == 404
    province_client = client_for(people.province_manager)
    assert province_client.get(reverse("dashboard_map")).status_code == 403


def test_the_charts_link_is_shown_to_support_people_only(tree, people, client_for):
    assert 'id="nav-charts"' in client_for(people.county_manager).get("/").content.decode()
    assert 'id="nav-charts"' not in client_for(people.school_manager).get("/").content.decode()
    assert client_for(people.county_staff).get(reverse("dashboards")).status_code == 403


def test_read_rate_over_the_last_weeks_notices_is_the_weekly_reports_figure(
    tree, people, client_for
):
    first = send(people.province_manager, to=["130000"], levels=["county"])
    second = send(people.province_manager, to=["130000"], levels=["county"])
    notice_services.notice_mark_read(account=people.county_manager, notice=first)
    notice_services.notice_mark_read(account=people.county_staff, notice=second)
    notice_services.notice_mark_read(account=people.sibling_staff, notice=second)
    send(people.beijing_manager, to=["110000"], levels=["county"])
    client = client_for(people.prefecture_manager)
    page = client.get(reverse("dashboard_read_rate") + "?weeks=4")
    data = chart_json(page, "read-rate")
    # Two notices, two accounts in each county: 长安区 read 2 of 4, 桥西区 1 of 4.
    assert data["categories"] == ["长安区", "桥西区"]
    assert data["series"][0]["data"] == [50.0, 25.0]
    rows = sheet_rows(client.get(reverse("dashboard_read_rate_export") + "?weeks=4"))
    assert rows[2:] == [["长安区", 2, 4, 2, 50], ["桥西区", 2, 4, 1, 25]]
    assert client.get(reverse("dashboard_read_rate") + "?weeks=5").status_code == 404
    # A county with no notice in the window: 暂无数据.
    html = client_for(people.beijing_manager).get(
        reverse("dashboard_read_rate") + "?weeks=4", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert html.status_code == 200
