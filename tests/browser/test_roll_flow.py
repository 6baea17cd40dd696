"""Problem records end to end in real Chromium against the real ASGI app
(`daphne_server`): the roll system posts a signed batch of three alerts over HTTP;
once they are synced (what the Celery worker would do) the school's open page lists
them without a reload (graduating marked, ID number masked, a toast, the nav badge),
the school's manager reveals one ID number (audited) and resolves one record with a note; the
county manager's overview shows the school's progress, and the roll system reads the
resolution back from the signed status feed. No page logs an error or a
Content-Security-Policy violation."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from accounts.models import AuditAction, AuditEvent
from roll import services
from tests import factories
from tests.browser.pages import (
    assert_same_document,
    log_in,
    mark_document,
    outside_playwright,
    wait_for_socket,
    watched_page,
)
from tickets.models import Category, Ticket

pytestmark = pytest.mark.browser

SCHOOL_CODE = "1301020001"
SCHOOL = "长安区第一中学"
BATCH_ID = "hb-2026-11-20-0001"
GRADUATING_ID = "HB-R-0001"
INVALID_ID = "HB-R-0002"
IDENTITY_ID = "HB-R-0003"
GRADUATING_NAME = "王小明"
INVALID_NAME = "张三"
IDENTITY_NAME = "李四"
INVALID_NUMBER = "130102201203011234"  # check character wrong (it should be 5)
INVALID_MASKED = "130102********1234"
GRADUATING_NUMBER = "130102200809151238"  # check character right
GRADUATING_MASKED = "130102********1238"
NOTE = "已与家长核对，姓名性别出生日期无误，系双胞胎"
SCHOOL_NAME = "周校员"
COUNTY_NAME = "吴县管理员"
ENGINEER_NAME = "郑县工程师"
LIVE = 15_000  # ms: a bound on how long a live update may take, not a measurement

# Every page reports CSP violations on the console, where `watched_page` collects errors.

ALERTS = [
    {
        "alert_id": GRADUATING_ID,
        "kind": "id_duplicate",
        "school_code": SCHOOL_CODE,
        "name": GRADUATING_NAME,
        "gender": "M",
        "birth_date": "2008-09-15",
        "id_number": GRADUATING_NUMBER,
        "grade": "9",
        "graduating": True,
        "detected_at": "2026-11-20T08:00:00+08:00",
        "detail": "与学校 1301040001 的学生身份证号重复",
        "related_school_codes": ["1301040001"],
    },
    {
        "alert_id": INVALID_ID,
        "kind": "id_invalid",
        "school_code": SCHOOL_CODE,
        "name": INVALID_NAME,
        "gender": "M",
        "birth_date": "2012-03-01",
        "id_number": INVALID_NUMBER,
        "grade": "6",
        "graduating": False,
        "detected_at": "2026-11-20T08:01:00+08:00",
        "detail": "身份证号校验位不符",
    },
    {
        "alert_id": IDENTITY_ID,
        "kind": "identity_duplicate",
        "school_code": SCHOOL_CODE,
        "name": IDENTITY_NAME,
        "gender": "F",
        "birth_date": "2013-05-20",
        "grade": "5",
        "detected_at": "2026-11-20T08:02:00+08:00",
        "detail": "与本校另一学生姓名、性别、出生日期相同",
    },
]


def roll_api(server_url: str, key_id: str, secret: str, path: str, payload=None):
    """One signed request of the roll system over real HTTP (ROLL_API.md): POST with a
    JSON body when `payload` is given, else GET. Returns (status, decoded JSON)."""
    body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    signed = body if payload is not None else path.encode()
    signature = (
        "sha256="
        + hmac.new(secret.encode(), stamp.encode() + b"." + signed, hashlib.sha256).hexdigest()
    )
    request = urllib.request.Request(  # noqa: S310 (http only: the test's daphne)
        server_url + path,
        data=body if payload is not None else None,
        method="POST" if payload is not None else "GET",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Roll-Key": key_id,
            "X-Roll-Timestamp": stamp,
            "X-Roll-Signature": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def record_row(page: Page, alert_id: str):
    return page.locator(f'#roll-records tr[data-alert="{alert_id}"]')


def test_roll_alerts_reach_the_school_live_and_the_resolution_flows_back(
    transactional_db, daphne_server, new_daphne_context, results_dir
):
    # --- 1. The tree, a province key, the school's staff, the county's manager and engineer.
    tree = factories.small_tree()
    key, secret = services.key_issue(actor=factories.manager(tree.province), unit=tree.province)
    # The school's manager: full ID numbers only for managers (issue 14).
    school = factories.manager(tree.school, full_name=SCHOOL_NAME)
    county = factories.manager(tree.county, full_name=COUNTY_NAME)
    engineer = factories.staff(tree.county, is_support_engineer=True, full_name=ENGINEER_NAME)

    problems: list[str] = []
    school_page = watched_page(new_daphne_context(), "school", problems)
    county_page = watched_page(new_daphne_context(), "county", problems)

    # --- 2. The school keeps its (empty) list open; the county its overview.
    log_in(school_page, daphne_server.url, school.username)
    school_page.goto("/roll/")
    expect(school_page.locator("h1")).to_contain_text(SCHOOL)
    expect(school_page.locator("#roll-records")).to_have_attribute("data-school", SCHOOL_CODE)
    expect(school_page.locator("#roll-empty")).to_be_visible()
    expect(school_page.locator("#roll-badge")).to_have_text("0")
    wait_for_socket(school_page)
    mark_document(school_page)

    log_in(county_page, daphne_server.url, county.username)
    county_page.goto("/roll/")
    expect(county_page.locator("h1")).to_contain_text("长安区")
    # Every school is listed, this one with nothing yet.
    before = county_page.locator(f'#roll-progress tr[data-unit="{SCHOOL_CODE}"]')
    expect(before.locator("td.num")).to_have_text(["0", "0", "0", "0", "0", "—"])
    wait_for_socket(county_page)
    mark_document(county_page)

    # --- 3. The roll system posts a signed batch; the worker's sync runs here instead.
    status, data = roll_api(
        daphne_server.url,
        key.key_id,
        secret,
        "/api/roll/v1/alerts",
        {"batch_id": BATCH_ID, "alerts": ALERTS},
    )
    assert status == 200, data
    assert data == {"batch_id": BATCH_ID, "accepted": 3, "duplicates": 0, "rejected": []}
    assert outside_playwright(services.sync_pending) == 1

    # One problem-record ticket for the school, high priority (a graduating record),
    # with the county's engineer.
    ticket = Ticket.objects.get(category=Category.PROBLEM_RECORDS, reporter_unit=tree.school)
    assert ticket.priority == "high"
    assert ticket.tier_id == tree.county.pk
    assert ticket.assignee_id == engineer.pk

    # --- 4. The school's open page shows the records without a reload.
    expect(school_page.locator("#toasts")).to_contain_text("新的问题学籍", timeout=LIVE)
    # The toast says how many records arrived in words, not the batch's id.
    with translation.override("zh-hans"):
        arrived = gettext("{n} new problem records")
    expect(school_page.locator("#toasts")).to_contain_text(arrived.replace("{n}", "3"))
    expect(school_page.locator("#toasts")).not_to_contain_text(BATCH_ID)
    records = school_page.locator("#roll-records")
    for name in (GRADUATING_NAME, INVALID_NAME, IDENTITY_NAME):
        expect(records).to_contain_text(name, timeout=LIVE)
    expect(school_page.locator("#roll-empty")).to_have_count(0)
    expect(school_page.locator("#roll-badge")).to_have_text("3", timeout=LIVE)
    graduating = record_row(school_page, GRADUATING_ID)
    expect(graduating).to_have_class("graduating")
    expect(graduating.locator(".badge.urgent")).to_have_text("毕业年级")
    expect(record_row(school_page, INVALID_ID)).not_to_have_class("graduating")
    expect(record_row(school_page, IDENTITY_ID)).not_to_have_class("graduating")
    assert_same_document(school_page)

    # ID numbers masked, and the full ones nowhere in what the school was served.
    invalid = record_row(school_page, INVALID_ID)
    expect(invalid.locator(".masked")).to_have_text(INVALID_MASKED)
    expect(invalid).to_contain_text("校验位错误")
    expect(graduating.locator(".masked")).to_have_text(GRADUATING_MASKED)
    expect(graduating).not_to_contain_text("校验位错误")
    html = school_page.content()
    assert INVALID_NUMBER not in html and GRADUATING_NUMBER not in html
    partial = school_page.request.get("/roll/?status=open&partial=1")
    assert partial.ok
    assert INVALID_MASKED in partial.text()
    assert INVALID_NUMBER not in partial.text() and GRADUATING_NUMBER not in partial.text()
    school_page.screenshot(path=results_dir / "roll-school-live.png", full_page=True)

    # The county manager hears of the batch too.
    expect(county_page.locator("#toasts")).to_contain_text(
        arrived.replace("{n}", "3"), timeout=LIVE
    )
    assert_same_document(county_page)

    # --- 5. The school reveals one ID number: shown in full, and audited.
    assert not AuditEvent.objects.filter(action=AuditAction.ROLL_ID_UNMASKED).exists()
    invalid.locator("button.reveal").click()
    expect(invalid.locator(".masked")).to_have_text(INVALID_NUMBER)
    expect(invalid.locator("button.reveal")).to_have_count(0)
    expect(graduating.locator(".masked")).to_have_text(GRADUATING_MASKED)
    audit = AuditEvent.objects.get(action=AuditAction.ROLL_ID_UNMASKED)
    assert audit.actor_id == school.pk and audit.unit_id == tree.school.pk
    assert audit.detail["alert_id"] == INVALID_ID

    # --- 6. The school resolves one record with a note.
    record_row(school_page, IDENTITY_ID).locator('input[name="record"]').check()
    school_page.locator("#roll-note").fill(NOTE)
    school_page.locator('button[name="action"][value="resolve"]').click()
    expect(school_page).to_have_url(f"{daphne_server.url}/roll/")
    expect(school_page.locator(".messages")).to_contain_text("已更新 1 条记录。")
    expect(record_row(school_page, IDENTITY_ID)).to_have_count(0)
    expect(record_row(school_page, GRADUATING_ID)).to_have_count(1)
    expect(record_row(school_page, INVALID_ID)).to_have_count(1)
    expect(school_page.locator("#roll-badge")).to_have_text("2")

    school_page.goto("/roll/?status=all")
    resolved = record_row(school_page, IDENTITY_ID)
    expect(resolved).to_contain_text("已解决")
    expect(resolved).to_contain_text(NOTE)
    expect(resolved.locator('input[name="record"]')).to_have_count(0)  # no longer workable
    expect(record_row(school_page, GRADUATING_ID)).to_have_count(1)
    school_page.screenshot(path=results_dir / "roll-school-resolved.png", full_page=True)

    # --- 7. The county manager's overview shows the school's progress.
    county_page.reload()
    row = county_page.locator(f'#roll-progress tr[data-unit="{SCHOOL_CODE}"]')
    expect(row.locator("td").first).to_have_text(SCHOOL)
    # open, in progress, resolved, closed, graduating open, resolution rate
    expect(row.locator("td.num")).to_have_text(["2", "0", "1", "0", "1", "33.3%"])
    county_page.screenshot(path=results_dir / "roll-county-progress.png", full_page=True)

    # --- 8. The roll system reads the resolution from the feed.
    status, feed = roll_api(
        daphne_server.url, key.key_id, secret, "/api/roll/v1/alerts?status=resolved"
    )
    assert status == 200, feed
    assert [(i["alert_id"], i["status"]) for i in feed["items"]] == [(IDENTITY_ID, "resolved")]
    item = feed["items"][0]
    assert item["resolution_note"] == NOTE
    assert item["school_code"] == SCHOOL_CODE
    assert item["resolved_at"]

    # The school's ticket stays open while two records are.
    ticket.refresh_from_db()
    assert ticket.is_open

    assert problems == [], "\n".join(problems)
