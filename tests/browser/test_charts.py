"""Charts (issue 16, item 2) in real Chromium with the platform's CSP on: every chart
draws an <svg> with marks at 1280 and 390 px without sideways overflow, an empty one
says 暂无数据, the Ministry's map drills into a province (its prefectures' map, or a
bar chart of its units when no map is vendored) and back, and printing keeps the SVG.
Screenshots of each chart go to docs/screens/charts-*.png."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Level
from notices import services as notice_services
from tests import factories
from tests.browser.pages import outside_playwright, watched_page
from tests.browser.test_phone import DESK, MEASURE, PHONE
from tests.dashboards.helpers import record, ticket
from tests.notices.helpers import send

pytestmark = pytest.mark.browser

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
MARKS = "(sel) => { const s = document.querySelector(sel + ' svg'); return s ? s.querySelectorAll('path, rect').length : 0; }"


def _world():
    tree = factories.small_tree()
    guangdong = factories.unit(Level.PROVINCE, "440000", "广东省", tree.ministry)
    guangzhou = factories.unit(Level.PREFECTURE, "440100", "广州市", guangdong)
    tianhe = factories.unit(Level.COUNTY, "440106", "天河区", guangzhou)
    gz_school = factories.unit(Level.SCHOOL, "4401060001", "天河区第一中学", tianhe)
    people = {
        "ministry": factories.manager(tree.ministry, username="moe-boss"),
        "province": factories.manager(tree.province, username="prov-boss"),
        "prefecture": factories.manager(tree.prefecture, username="pref-boss"),
        "county": factories.manager(tree.county, username="county-boss"),
        "sibling": factories.manager(tree.sibling, username="sibling-boss"),
    }
    clerk = factories.staff(tree.school, username="school-clerk")
    sib_clerk = factories.staff(tree.sibling_school, username="sib-clerk")
    factories.staff(tree.county, username="county-clerk")
    notice = send(people["province"], to=["130000"], levels=["county"])
    notice_services.notice_mark_read(account=people["county"], notice=notice)
    now = timezone.now()
    for days, breached in (
        (0.2, False),
        (2, False),
        (5, True),
        (9, False),
        (30, True),
        (60, False),
    ):
        ticket(clerk, created_at=now - timedelta(days=days), breached=breached)
    ticket(sib_clerk, created_at=now - timedelta(days=1))
    kinds = ("id_invalid", "id_duplicate", "identity_duplicate", "police_auth_failed")
    for i, kind in enumerate(kinds):
        for _ in range(i + 1):
            record(tree.school, kind=kind)
        record(tree.sibling_school, kind=kind)
    record(tree.muni_school, kind="cross_province_duplicate")
    record(gz_school, kind="id_invalid")
    return people


def _log_in(page, username):
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page.locator("body[data-account-id]")).to_be_attached()


def _drawn(page, chart_id):
    box = f"#chart-{chart_id} .chart"
    expect(page.locator(f'{box}[data-chart-ready="1"] svg')).to_be_attached()
    assert page.evaluate(MARKS, box) > 3, f"{chart_id}: no marks"


def _shot(page, chart_id, name):
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.locator(f"#chart-{chart_id}").screenshot(path=str(SCREENS / name))


def _open(new_context, username, problems, viewport):
    context = new_context()
    page = watched_page(context, username, problems)
    page.set_viewport_size(viewport)
    page.route_web_socket("**/ws/**", lambda ws: None)
    _log_in(page, username)
    return page


def test_each_chart_draws_at_desk_and_phone_width_with_the_csp_on(
    transactional_db, browser, live_server, new_context
):
    people = outside_playwright(_world)
    problems: list[str] = []
    pages = {
        "/dashboards/read-rate/": ["read-rate"],
        "/dashboards/read-rate/?weeks=4": ["read-rate"],
        "/dashboards/tickets/": ["backlog", "sla"],
        "/dashboards/records/": ["records"],
    }
    for viewport in (DESK, PHONE):
        page = _open(new_context, people["province"].username, problems, viewport)
        response = page.goto("/dashboards/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator("#nav-charts")).to_be_attached()
        for url, ids in pages.items():
            page.goto(url)
            for chart_id in ids:
                _drawn(page, chart_id)
                expect(page.locator(f"#chart-table-{chart_id}")).to_be_visible()
                expect(page.locator(f"#chart-{chart_id} .chart-export a")).to_be_visible()
                if viewport is DESK:
                    suffix = "-weeks" if "weeks" in url else ""
                    _shot(page, chart_id, f"charts-{chart_id}{suffix}.png")
            assert page.evaluate(MEASURE) == [], (url, viewport)
            if viewport is PHONE and url == "/dashboards/records/":
                page.screenshot(path=str(SCREENS / "charts-records-phone.png"), full_page=True)
            if viewport is PHONE:
                width = page.evaluate(
                    "() => Math.max(...[...document.querySelectorAll('.chart svg')]"
                    ".map(s => s.getBoundingClientRect().right))"
                )
                assert width <= PHONE["width"], (url, width)
        # Printing: the SVG stays, redrawn to the printed width.
        page.goto("/dashboards/records/")
        _drawn(page, "records")
        page.emulate_media(media="print")
        page.wait_for_timeout(300)
        assert page.evaluate(MARKS, "#chart-records .chart") > 3
        expect(page.locator(".topbar")).to_be_hidden()
        if viewport is DESK:
            page.screenshot(path=str(SCREENS / "charts-records-print.png"), full_page=True)
        page.emulate_media(media="screen")
        page.context.close()
    assert problems == []


def test_an_empty_chart_says_no_data(transactional_db, browser, live_server, new_context):
    people = outside_playwright(_world)
    problems: list[str] = []
    # No notice was published at or above the Ministry: its read rate has nothing to show.
    page = _open(new_context, people["ministry"].username, problems, PHONE)
    page.goto("/dashboards/read-rate/")
    expect(page.locator("#content, main").get_by_text("暂无数据").first).to_be_visible()
    assert page.locator(".chart svg").count() == 0
    assert page.evaluate(MEASURE) == []
    assert problems == []


def test_the_ministry_map_drills_into_a_province_and_back(
    transactional_db, browser, live_server, new_context
):
    people = outside_playwright(_world)
    problems: list[str] = []
    for viewport in (DESK, PHONE):
        page = _open(new_context, people["ministry"].username, problems, viewport)
        page.goto("/dashboards/map/")
        _drawn(page, "map")
        box = page.locator("#chart-map .chart")
        expect(box).to_have_attribute("data-level", "country")
        if viewport is DESK:
            _shot(page, "map", "charts-map.png")
        assert page.evaluate(MEASURE) == []

        def click_at(page, lon, lat):
            x, y = page.evaluate(
                """([lon, lat]) => {
                    const el = document.querySelector('#chart-map .chart');
                    const chart = echarts.getInstanceByDom(el);
                    const [x, y] = chart.convertToPixel({seriesIndex: 0}, [lon, lat]);
                    const r = el.getBoundingClientRect();
                    return [r.left + x, r.top + y];
                }""",
                [lon, lat],
            )
            page.mouse.click(x, y)

        # 石家庄 in 河北: the province's own map of prefectures.
        box.scroll_into_view_if_needed()
        click_at(page, 114.5, 38.04)
        expect(box).to_have_attribute("data-level", "province")
        expect(box).to_have_attribute("data-province", "130000")
        drill = page.locator("#chart-drill")
        expect(drill.locator(".chart-drill-title")).to_have_text("河北省")
        expect(drill.locator("tbody tr")).to_have_count(1)
        expect(drill.locator("tbody")).to_contain_text("石家庄市")
        expect(page.locator("#chart-drill-export")).to_have_attribute(
            "href", "/dashboards/map.xlsx?figure=records&province=130000"
        )
        assert page.evaluate(MARKS, "#chart-map .chart") > 3
        if viewport is DESK:
            _shot(page, "map", "charts-map-hebei.png")
        assert page.evaluate(MEASURE) == []
        page.locator(".chart-back").click()
        expect(box).to_have_attribute("data-level", "country")
        # 广州 in 广东: no vendored map, a bar chart of its units.
        click_at(page, 113.28, 23.13)
        expect(box).to_have_attribute("data-province", "440000")
        expect(drill.locator("tbody")).to_contain_text("广州市")
        assert page.evaluate(MARKS, "#chart-map .chart") > 3
        # From the keyboard: a province's name in the table opens it as well.
        page.locator("#chart-table-map").get_by_role("link", name="北京市").press("Enter")
        expect(box).to_have_attribute("data-province", "110000")
        expect(drill.locator("tbody")).to_contain_text("东城区")
        assert page.evaluate(MEASURE) == []
        page.context.close()
    assert problems == []
