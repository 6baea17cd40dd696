"""The phone as a first-class screen (issue 15, item 1): every main page at 390×844,
as each level's manager and as a school's staff, in real Chromium.

A page fails when it scrolls sideways (the document is wider than the viewport), when
any rendered element's right edge passes the viewport (unless an ancestor clips or
scrolls it, as a scrolling table wrapper does), or when a visible text box is narrower
than four characters of its own font. Each person logs in once; the socket is answered
by a stand-in that says nothing (these pages are opened for their layout).
"""

import re

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from accounts import unit_changes
from accounts.models import Account, IssueBatch, Role
from chat import services as chat_services
from notices import services as notice_services
from roll import services as roll_services
from tests import factories
from tests.browser.pages import outside_playwright
from tickets import services as ticket_services
from tickets.models import Category

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
LONG_TOKEN = "https://xueji.example.edu.cn/roll/records/1301020001/2026/student-archive-export"

DOT = "() => getComputedStyle(document.querySelector('.menu-toggle'), '::after').content"
# Screenshots for a human to compare with the desk (test-results/ is gitignored).
SHOTS = {
    ("county", "/people/"): "phone-people.png",
    ("county", "/audit/"): "phone-audit.png",
    ("school", "/tickets/1/"): "phone-ticket.png",
    ("province", "/notices/new/"): "phone-compose.png",
}

# Everything that does not fit a phone's width, described for the failure message.
MEASURE = r"""() => {
    const vw = window.innerWidth;
    const found = [];
    const root = document.documentElement;
    if (root.scrollWidth > vw) found.push(`document scrollWidth ${root.scrollWidth} > ${vw}`);
    const clipped = (el) => {
        for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
            const ox = getComputedStyle(a).overflowX;
            if (ox !== "visible" && a.getBoundingClientRect().right <= vw + 0.5) return true;
        }
        return false;
    };
    // Rendered for the eye: not in a closed <details> (its content is laid out but skipped).
    const shown = (el) => el.checkVisibility({ visibilityProperty: true });
    const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.classList.length ? "." + [...el.classList].join(".") : "");
    for (const el of document.body.querySelectorAll("*")) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || !shown(el)) continue;
        if (r.right > vw + 0.5 && !clipped(el)) {
            found.push(`${name(el)} right edge ${Math.round(r.right)} > ${vw}: `
                + (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 40));
        }
    }
    const canvas = document.createElement("canvas").getContext("2d");
    const boxes = "input:not([type]), input[type=text], input[type=password], input[type=search],"
        + " input[type=tel], input[type=email], input[type=number], input[type=url],"
        + " input[type=date], input[type=datetime-local], textarea, select";
    for (const el of document.querySelectorAll(boxes)) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || !shown(el)) continue;
        canvas.font = getComputedStyle(el).font;
        const ch = canvas.measureText("字").width;  // the UI is Chinese: one Han character
        if (el.clientWidth < 4 * ch) {
            found.push(`${name(el)}[name=${el.name}] is ${el.clientWidth}px wide, < 4 × ${ch.toFixed(1)}px`);
        }
    }
    // Table cells squeezed below four characters (names one character per line).
    for (const cell of document.querySelectorAll("td, th")) {
        const r = cell.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || !shown(cell) || !cell.textContent.trim()) continue;
        const head = cell.closest("thead");  // kept for screen readers, 1 px and clipped
        if (head && head.getBoundingClientRect().width <= 1) continue;
        canvas.font = getComputedStyle(cell).font;
        const ch = canvas.measureText("字").width;
        const style = getComputedStyle(cell);
        const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        const text = canvas.measureText(cell.textContent.replace(/\s+/g, " ").trim()).width;
        // Narrower than four characters while its text needs more: it wraps every few.
        if (room < Math.min(4 * ch, text) - 1) {
            found.push(`${name(cell)} squeezed to ${cell.clientWidth}px: `
                + cell.textContent.replace(/\s+/g, " ").trim().slice(0, 20));
        }
    }
    return found;
}"""


def _world():
    tree = factories.small_tree()
    p = {
        "ministry": factories.manager(tree.ministry, full_name="教育部管理员"),
        "province": factories.manager(tree.province, full_name="河北省学籍管理员"),
        "county": factories.manager(tree.county, full_name="长安区学籍管理员"),
        "school_manager": factories.manager(tree.school, full_name="长安区第一中学教务主任"),
        "school": factories.staff(tree.school, full_name="欧阳晓明"),
        "engineer": factories.staff(tree.county, is_support_engineer=True, full_name="县工程师"),
    }
    levels = ["province", "prefecture", "county", "school"]
    notice = notice_services.notice_publish(
        actor=p["province"],
        notice=notice_services.notice_save(
            actor=p["province"],
            title="关于做好2026年秋季学期学籍信息核查与异动材料报送工作的通知",
            body=f"请各县区于本月底前完成核查。详见 {LONG_TOKEN}\n\n" + "学籍核查。" * 80,
            priority="urgent",
            requires_ack=True,
            ack_deadline=None,
            publish_at=None,
            target_codes=[tree.province.code],
            levels=levels,
            managers_only=False,
        ),
    )
    notice_services.notice_acknowledge(
        account=p["school"], notice=notice, reply=f"已收到，附件见 {LONG_TOKEN}", files=[]
    )
    ticket = ticket_services.ticket_create(
        actor=p["school"],
        title="学生转学后学籍系统中仍显示原学校，无法办理异动审批",
        description=f"学籍号 G130102200901011234 转出后仍在原校。截图：{LONG_TOKEN}",
        category=Category.OTHER,
    )
    ticket_services.ticket_reply(actor=p["engineer"], ticket=ticket, body="已转省级核查。")
    room = chat_services.topic_room_create(
        actor=p["county"],
        name="长安区学籍管理员工作群（2026秋季学期）",
        rules=[],
        usernames=[p["school"].username, p["school_manager"].username, p["engineer"].username],
    )
    for body in ("各校请于周五前提交核查表。", f"模板在这里 {LONG_TOKEN}", "收到" * 60):
        chat_services.message_post(account=p["county"], room=room, body=body)
    chat_services.message_post(account=p["school"], room=room, body="收到，谢谢！")
    account_services.account_issue(
        actor=p["county"],
        unit=tree.school,
        role=Role.STAFF,
        full_name="司马相如",
        phone="13800138000",
    )
    batch = IssueBatch.objects.order_by("-pk").first()
    roll_services.key_issue(actor=p["province"], unit=tree.province, label="省学籍系统对接密钥")
    # A school proposed by the county, waiting for the province on /school-changes/.
    unit_changes.propose(
        actor=p["county"],
        kind="add",
        code="1301029001",
        name="石家庄市长安区育才实验小学（东校区）",
        school_type="小学",
        reason="2026年秋季新建校区，已取得办学许可。",
    )
    return tree, p, notice, ticket, room, batch


def _pages(tree, p, notice, ticket, room, batch):
    """(person, [paths]) for each level; every path must answer 200."""
    engineer = p["engineer"].pk
    common = [
        "/",
        "/notices/",
        "/chat/",
        f"/chat/search/?q={'收到'}",
        "/chat/direct/",
        "/tickets/new/",
        "/units/",
        "/profile/",
        "/help/",
    ]
    manager = common + [
        "/notices/sent/",
        "/notices/new/",
        "/notices/numbering/",
        "/people/",
        "/people/issue/",
        "/people/register/?since=2020-01-01",
        "/audit/",
        "/tickets/all/",
        "/tickets/dashboard/",
        "/support/roster/",
        "/auth/password/change/",
    ]
    return [
        ("ministry", manager + ["/roll/", "/support/settings/"]),
        (
            "province",
            manager
            + [
                f"/notices/{notice.pk}/",
                f"/notices/{notice.pk}/print/",
                f"/notices/{notice.pk}/withdraw/",
                f"/notices/{notice.pk}/correct/",
                f"/notices/{notice.pk}/stats/",
                f"/notices/{notice.pk}/replies/",
                "/school-changes/",
                "/roll/",
                "/roll/keys/",
                "/support/settings/",
                f"/support/roster/{engineer}/",
            ],
        ),
        (
            "county",
            manager
            + [
                f"/chat/{room.pk}/",
                "/school-changes/",
                f"/people/{p['school'].pk}/move/",
                f"/people/batches/{batch.pk}/",
                f"/units/{tree.school.code}/",
                f"/support/roster/{engineer}/",
                "/roll/",
                f"/roll/units/{tree.school.code}/",
                f"/tickets/{ticket.pk}/",
            ],
        ),
        (
            "school_manager",
            common
            + [
                "/notices/sent/",
                "/notices/new/",
                "/people/",
                "/people/issue/",
                "/audit/",
                f"/chat/{room.pk}/",
                f"/notices/{notice.pk}/",
                "/roll/",
            ],
        ),
        (
            "school",
            common
            + [
                f"/notices/{notice.pk}/",
                f"/notices/{notice.pk}/print/",
                f"/chat/{room.pk}/",
                "/tickets/",
                f"/tickets/{ticket.pk}/",
                "/roll/",
                "/auth/password/change/",
            ],
        ),
        ("engineer", ["/tickets/queue/", "/tickets/tier/", f"/tickets/{ticket.pk}/"]),
    ]


def _log_in(page, username):
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page.locator("body[data-account-id]")).to_be_attached()


def _context(browser, live_server, viewport):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=viewport)
    context.set_default_timeout(15_000)
    return context


def _open(page):
    page.route_web_socket("**/ws/**", lambda ws: None)
    return page


@pytest.mark.browser
def test_every_main_page_fits_a_phone(transactional_db, browser, live_server, results_dir):
    tree, p, notice, ticket, room, batch = outside_playwright(_world)
    first_login = factories.staff(tree.school, full_name="新同事")
    Account.objects.filter(pk=first_login.pk).update(must_change_password=True)
    problems: list[str] = []
    opened = 0
    context = _context(browser, live_server, PHONE)
    try:
        page = _open(context.new_page())
        for path in ("/auth/login/", "/auth/password/reset/"):
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            problems += [f"anonymous {path}: {f}" for f in page.evaluate(MEASURE)]
            opened += 1
        page.screenshot(path=str(results_dir / "phone-login.png"))
        for who, paths in _pages(tree, p, notice, ticket, room, batch):
            context.clear_cookies()
            _log_in(page, p[who].username)
            # The menu opens on the phone and its links fit too.
            toggle = page.locator(".menu-toggle")
            expect(toggle).to_be_visible()
            if who == "county":  # unread notices behind the folded menu: a dot on its button
                expect(page.locator("#unread-badge")).not_to_have_class(re.compile(r"\bzero\b"))
                assert page.evaluate(DOT) == '""'
            toggle.click()
            expect(page.locator(".mainnav a").first).to_be_visible()
            assert page.evaluate(DOT) == "none", "no dot while the menu is open"
            problems += [f"{who} / (menu open): {f}" for f in page.evaluate(MEASURE)]
            if who == "county":
                page.screenshot(path=str(results_dir / "phone-menu-open.png"))
            for path in paths:
                response = page.goto(path)
                assert response is not None and response.status == 200, (who, path)
                problems += [f"{who} {path}: {f}" for f in page.evaluate(MEASURE)]
                if (who, path) in SHOTS:
                    page.screenshot(path=str(results_dir / SHOTS[who, path]), full_page=True)
                opened += 1
        # The engineer's ticket actions, each opened: their forms fit too.
        page.goto(f"/tickets/{ticket.pk}/")
        summaries = page.locator("#ticket-actions > details > summary").all()
        assert len(summaries) >= 2, "the assignee's actions: wait, resolve, escalate"
        for summary in summaries:
            summary.click()
        problems += [f"engineer, ticket actions open: {f}" for f in page.evaluate(MEASURE)]
        # The chat at 360 px: the composer's text box and send button on screen.
        page.set_viewport_size({"width": 360, "height": 740})
        for path in ("/chat/", f"/chat/{room.pk}/", "/tickets/queue/"):
            page.goto(path)
            problems += [f"engineer 360px {path}: {f}" for f in page.evaluate(MEASURE)]
            opened += 1
        page.goto(f"/chat/{room.pk}/")
        expect(page.locator("#composer button.primary")).to_be_visible()
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(results_dir / "phone-chat-room.png"), full_page=True)
        page.goto("/notices/")
        page.screenshot(path=str(results_dir / "phone-inbox.png"), full_page=True)
        context.clear_cookies()
        _log_in_first(page, first_login.username)
        problems += [f"first login: {f}" for f in page.evaluate(MEASURE)]
        opened += 1
    finally:
        context.close()
    assert opened >= 80, opened
    assert not problems, "\n".join(problems)


def _log_in_first(page, username):
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/password/first/"))


@pytest.mark.browser
def test_desk_layout_keeps_its_menu_and_tables(transactional_db, browser, live_server, results_dir):
    """At 1280 px the menu is a row of links (no menu button) and tables stay tables."""
    tree, p, notice, ticket, room, batch = outside_playwright(_world)
    context = _context(browser, live_server, DESK)
    try:
        page = _open(context.new_page())
        _log_in(page, p["province"].username)
        expect(page.locator(".menu-toggle")).to_be_hidden()
        expect(page.locator(".mainnav a").first).to_be_visible()
        # Each menu entry on one line (they wrapped two characters per line before).
        lines = page.evaluate(
            "() => [...document.querySelectorAll('.mainnav a')].map("
            "(a) => [a.textContent.trim(), a.getClientRects().length])"
        )
        assert len(lines) >= 9 and all(n == 1 for _t, n in lines), lines
        page.goto("/people/")
        assert (
            page.evaluate("() => getComputedStyle(document.querySelector('table.grid td')).display")
            == "table-cell"
        )
        assert not page.evaluate(MEASURE)
        page.screenshot(path=str(results_dir / "desk-people.png"), full_page=True)
        # Between phone and desk (a tablet, a narrow window): tables stay tables and fit.
        problems = []
        for width in (700, 900):
            page.set_viewport_size({"width": width, "height": 900})
            for path in (
                "/",
                "/people/",
                "/audit/",
                "/tickets/all/",
                "/tickets/dashboard/",
                f"/notices/{notice.pk}/replies/",
                f"/notices/{notice.pk}/stats/",
                "/roll/keys/",
                "/support/roster/",
            ):
                page.goto(path)
                problems += [f"{width}px {path}: {f}" for f in page.evaluate(MEASURE)]
        page.set_viewport_size({"width": 1024, "height": 900})
        for path in ("/people/", "/audit/", "/tickets/all/", f"/notices/{notice.pk}/replies/"):
            page.goto(path)  # tables again: nothing sideways (a status may wrap once)
            found = page.evaluate(MEASURE)
            problems += [f"1024px {path}: {f}" for f in found if "squeezed" not in f]
        assert not problems, "\n".join(problems)
    finally:
        context.close()
