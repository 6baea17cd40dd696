"""Notifications outside the page (issue 15, static/js/notify.js) in real Chromium
against the real ASGI app (`daphne_server`): the unread count in the tab title, one
desktop notification per event while the tab is in the background, none while it is
visible or when turned off, the optional sound, and one notification for two tabs.

How the tests see the browser: the context is granted the "notifications"
permission and an init script (1) replaces window.Notification with a recorder
that keeps each construction (title, body, tag, data) and delegates `permission`
and `requestPermission` to the real one; (2) overrides `document.visibilityState`
and `document.hidden` so a test can make the page hidden (headless Chromium keeps
every page visible) and dispatches `visibilitychange`; (3) records each
`HTMLMediaElement.play` (the sound) and each tab's decision (`platform:notify`).
Events come from the services (a notice published, a ticket raised that is routed
to the reader), as the platform sends them."""

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import BrowserContext, Page, expect

from notices import services as notices
from tests import factories
from tests.browser.pages import log_in, outside_playwright, wait_for_socket, watched_page
from tickets import services as tickets

OBSERVE = """(() => {
    let state = "visible";
    Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get() { return state; } });
    Object.defineProperty(Document.prototype, "hidden", { configurable: true, get() { return state === "hidden"; } });
    window.__setVisibility = (value) => { state = value; document.dispatchEvent(new Event("visibilitychange")); };
    window.__notes = [];
    window.__decisions = [];
    window.__sounds = [];
    const Real = window.Notification;
    class Recorded extends EventTarget {
        constructor(title, options = {}) {
            super();
            this.title = title;
            this.body = options.body;
            this.tag = options.tag;
            this.data = options.data;
            window.__notes.push(this);
        }
        close() {}
        static get permission() { return Real.permission; }
        static requestPermission(...args) { return Real.requestPermission(...args); }
    }
    window.Notification = Recorded;
    document.addEventListener("platform:notify", (e) => window.__decisions.push(e.detail));
    HTMLMediaElement.prototype.play = function () { window.__sounds.push(this.src); return Promise.resolve(); };
})();"""

NOTES = (
    "() => window.__notes.map((n) => ({title: n.title, body: n.body, url: n.data && n.data.url}))"
)
LIVE = 15_000  # ms: a bound on how long a live event may take, not a measurement


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return gettext(text)


def observed_context(new_daphne_context) -> BrowserContext:
    context = new_daphne_context()
    context.grant_permissions(["notifications"])
    context.add_init_script(OBSERVE)
    return context


def open_home(page: Page) -> None:
    page.goto("/")
    wait_for_socket(page)


def turn_on_through_the_prompt(page: Page) -> None:
    ask = page.locator(".notify-ask")
    expect(ask).to_contain_text(
        zh(
            "Show a desktop notification when this tab is in the background and something arrives for you?"
        )
    )
    ask.locator("button.notify-yes").click()
    expect(ask).to_have_count(0)
    expect(page.locator("#notify-desktop")).to_be_checked()


def background_tab(new_daphne_context, server, account, problems: list[str], name="reader"):
    """A logged-in tab of `account` with desktop notifications allowed, then hidden."""
    page = watched_page(observed_context(new_daphne_context), name, problems)
    log_in(page, server.url, account.username)
    open_home(page)
    turn_on_through_the_prompt(page)
    page.evaluate("() => window.__setVisibility('hidden')")
    return page


def publish(author, unit, title: str):
    return outside_playwright(lambda: _publish(author, unit, title))


def _publish(author, unit, title: str):
    notice = notices.notice_save(
        actor=author,
        title=title,
        body="请按时报送。",
        priority="normal",
        requires_ack=False,
        ack_deadline=None,
        publish_at=None,
        target_codes=[unit.code],
        levels=["county"],
        managers_only=False,
    )
    return notices.notice_publish(actor=author, notice=notice)


def decisions(page: Page, count: int) -> list[dict]:
    """Waits until this tab has decided on `count` events, then returns the decisions."""
    page.wait_for_function(f"() => window.__decisions.length >= {count}", timeout=LIVE)
    return page.evaluate("() => window.__decisions")


@pytest.mark.browser
def test_background_tab_notifies_once_per_event_and_the_title_counts(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    author = factories.manager(tree.province)
    reader = factories.staff(tree.county, is_support_engineer=True)
    reporter = factories.staff(tree.school)

    problems: list[str] = []
    page = watched_page(observed_context(new_daphne_context), "reader", problems)
    log_in(page, daphne_server.url, reader.username)
    open_home(page)
    base_title = page.title()
    assert not re.match(r"^\(\d+\) ", base_title), base_title  # all counters at 0
    turn_on_through_the_prompt(page)
    page.evaluate("() => window.__setVisibility('hidden')")

    # A notice to me: one notification, with its title, sender and URL; the title counts it.
    notice = publish(author, tree.county, "关于报送学籍周报的通知")
    assert [d["action"] for d in decisions(page, 1)] == ["shown"]
    notice_url = f"/notices/{notice.pk}/"
    assert page.evaluate(NOTES) == [
        {
            "title": f"{zh('New notice')}: 关于报送学籍周报的通知",
            "body": "河北省",
            "url": notice_url,
        }
    ]
    expect(page).to_have_title(f"(1) {base_title}", timeout=LIVE)

    # A ticket routed to me: a second notification; the queue badge adds to the title.
    ticket = outside_playwright(
        lambda: tickets.ticket_create(
            actor=reporter,
            title="学籍注册页面一直转圈",
            description="提交后一直加载",
            category="account",
        )
    )
    assert ticket.assignee_id == reader.pk
    assert [d["action"] for d in decisions(page, 2)] == ["shown", "shown"]
    assert page.evaluate(NOTES)[1] == {
        "title": f"{zh('New ticket for you')}: #{ticket.pk} 学籍注册页面一直转圈",
        "body": "",
        "url": f"/tickets/{ticket.pk}/",
    }
    expect(page).to_have_title(f"(2) {base_title}", timeout=LIVE)
    assert page.evaluate("() => window.__sounds") == []  # the sound is off by default

    # Clicking the first notification opens the notice in this tab; reading it lowers
    # the count to the ticket alone.
    page.evaluate("() => window.__notes[0].dispatchEvent(new Event('click'))")
    expect(page).to_have_url(f"{daphne_server.url}{notice_url}")
    expect(page.locator("#unread-badge")).to_have_text("0")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    assert problems == []


@pytest.mark.browser
def test_no_notification_while_visible_or_when_turned_off_and_the_optional_sound(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    author = factories.manager(tree.province)
    reader = factories.staff(tree.county)

    problems: list[str] = []
    page = watched_page(observed_context(new_daphne_context), "reader", problems)
    log_in(page, daphne_server.url, reader.username)
    open_home(page)
    turn_on_through_the_prompt(page)

    # Visible: the toast only.
    publish(author, tree.county, "第一份通知")
    expect(page.locator("#toasts .toast").filter(has_text="第一份通知")).to_be_visible()
    assert [d["action"] for d in decisions(page, 1)] == ["visible"]

    # Turned off in the header's menu, sound turned on; then hidden.
    page.locator("#notify-settings summary").click()
    page.locator("#notify-desktop").uncheck()
    page.locator("#notify-sound").check()
    page.locator("#notify-settings summary").click()
    page.reload()  # the settings are kept in this browser
    wait_for_socket(page)
    expect(page.locator("#notify-desktop")).not_to_be_checked()
    expect(page.locator("#notify-sound")).to_be_checked()
    expect(page.locator(".notify-ask")).to_have_count(0)  # asked once
    page.evaluate("() => window.__setVisibility('hidden')")

    publish(author, tree.county, "第二份通知")
    assert [d["action"] for d in decisions(page, 1)] == ["off"]
    assert page.evaluate(NOTES) == []
    sounds = page.evaluate("() => window.__sounds")
    assert len(sounds) == 1 and sounds[0].endswith("/static/sounds/notify.wav"), sounds
    expect(page).to_have_title(re.compile(r"^\(2\) "))
    assert problems == []


@pytest.mark.browser
def test_two_hidden_tabs_of_one_account_notify_once(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    author = factories.manager(tree.province)
    reader = factories.staff(tree.county)

    problems: list[str] = []
    context = observed_context(new_daphne_context)  # one browser: shared cookies and storage
    first = watched_page(context, "first tab", problems)
    log_in(first, daphne_server.url, reader.username)
    open_home(first)
    turn_on_through_the_prompt(first)
    second = watched_page(context, "second tab", problems)
    open_home(second)
    expect(second.locator("#notify-desktop")).to_be_checked()
    for page in (first, second):
        page.evaluate("() => window.__setVisibility('hidden')")

    publish(author, tree.county, "两个标签页的通知")
    actions = sorted(d["action"] for page in (first, second) for d in decisions(page, 1))
    assert actions == ["other-tab", "shown"]
    notes = first.evaluate(NOTES) + second.evaluate(NOTES)
    assert [n["title"] for n in notes] == [f"{zh('New notice')}: 两个标签页的通知"]
    assert problems == []


def _mention(author, reader, unit):
    from chat import services as chat
    from chat.models import Room

    chat.region_rooms_ensure(author)
    room = Room.objects.get(unit=unit)
    chat.message_post(account=author, room=room, body=f"@{reader.username} 请看一下周报")
    return room


@pytest.mark.browser
def test_a_mention_notifies_the_background_tab_and_opens_the_room(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    reader = factories.staff(tree.county)
    author = factories.staff(tree.county, full_name="李县员")

    problems: list[str] = []
    page = background_tab(new_daphne_context, daphne_server, reader, problems)

    room = outside_playwright(lambda: _mention(author, reader, tree.county))
    assert [d["action"] for d in decisions(page, 1)] == ["shown"]
    assert page.evaluate(NOTES) == [
        {"title": f"李县员 {zh('mentioned you')}", "body": "长安区", "url": f"/chat/{room.pk}/"}
    ]
    page.evaluate("() => window.__notes[0].dispatchEvent(new Event('click'))")
    expect(page).to_have_url(f"{daphne_server.url}/chat/{room.pk}/")
    assert problems == []


def _records(province, school_code: str):
    from roll import services as roll

    key, _secret = roll.key_issue(actor=province, unit=province.unit)
    alert = {
        "alert_id": "HB-N-0001",
        "kind": "id_invalid",
        "school_code": school_code,
        "name": "张三",
        "gender": "M",
        "birth_date": "2012-03-01",
        "id_number": "130102201203011234",
        "grade": "6",
        "graduating": False,
        "detected_at": "2026-11-20T08:01:00+08:00",
        "detail": "身份证号校验位不符",
    }
    roll.intake(key=key, payload={"batch_id": "hb-notify-0001", "alerts": [alert]})
    return roll.sync_pending()


@pytest.mark.browser
def test_a_problem_record_batch_for_my_school_notifies_the_background_tab(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    province = factories.manager(tree.province)
    reader = factories.staff(tree.school)

    problems: list[str] = []
    page = background_tab(new_daphne_context, daphne_server, reader, problems, "school")

    assert outside_playwright(lambda: _records(province, tree.school.code)) == 1
    # The batch, and the day's first batch also files a notice in the inbox (roll's
    # _inbox_entries): two events, two notifications.
    assert [d["action"] for d in decisions(page, 2)] == ["shown", "shown"]
    notes = sorted(page.evaluate(NOTES), key=lambda n: n["url"])
    assert notes[1] == {
        "title": zh("{n} new problem records").replace("{n}", "1"),
        "body": "",
        "url": "/roll/",
    }
    assert notes[0]["title"] == f"{zh('New notice')}: {zh('New problem records for your school')}"
    assert problems == []


@pytest.mark.browser
def test_a_withdrawn_or_corrected_circular_notifies_a_background_tab(
    transactional_db, daphne_server, new_daphne_context
):
    tree = factories.small_tree()
    author = factories.manager(tree.province)
    reader = factories.staff(tree.county)

    problems: list[str] = []
    page = background_tab(new_daphne_context, daphne_server, reader, problems)
    first = publish(author, tree.county, "关于报送学籍周报的通知")
    second = publish(author, tree.county, "关于核对毕业年级学籍的通知")
    assert [d["action"] for d in decisions(page, 2)] == ["shown", "shown"]

    outside_playwright(
        lambda: notices.notice_withdraw(actor=author, notice=first, reason="时间安排有变，另行通知")
    )
    assert [d["action"] for d in decisions(page, 3)][2] == "shown"
    corrected = outside_playwright(
        lambda: notices.notice_correct(
            actor=author,
            notice=second,
            title="关于核对毕业年级学籍的通知（更正）",
            body="请于周五前核对。",
            note="截止日期改为周五",
        )
    )
    assert [d["action"] for d in decisions(page, 4)][3] == "shown"
    notes = page.evaluate(NOTES)[2:]
    assert notes == [
        {
            "title": f"{zh('Withdrawn')}: 关于报送学籍周报的通知",
            "body": f"{zh('Reason:')} 时间安排有变，另行通知",
            "url": f"/notices/{first.pk}/",
        },
        {
            "title": f"{zh('Corrected')}: 关于核对毕业年级学籍的通知（更正）",
            "body": f"{zh('Reason:')} 截止日期改为周五",
            "url": f"/notices/{corrected.pk}/",
        },
    ]
    assert problems == []
