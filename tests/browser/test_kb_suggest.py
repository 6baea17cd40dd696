"""Knowledge-base suggestions in real Chromium (issue 16, F3): a school types a
ticket's title and the county's published article on the matter appears under it
(debounced fetch to /kb/suggest.json, static/js/kb_suggest.js); it opens in a new tab
and counts as opened in the suggestion session; the form fits 390 px; then an engineer
sees the deflection figure on the knowledge-base page, whose list, article and edit
pages fit 390 px too. No console error, no CSP violation."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from kb import services as kb_services
from kb.models import SuggestSession
from tests import factories
from tests.browser.pages import outside_playwright, watched_page
from tests.browser.test_phone import MEASURE, PHONE

pytestmark = pytest.mark.browser

ARTICLE = "新增学生时提示「身份证号已存在」怎么办"
OTHER = "学生照片上传失败的常见原因"


def _world():
    tree = factories.small_tree()
    engineer = factories.staff(tree.county, is_support_engineer=True, full_name="钱县工程师")
    school = factories.staff(tree.school, full_name="赵校员")
    for title, question, answer in (
        (
            ARTICLE,
            "录入新生时提示身份证号重复、已被其他学校使用。",
            "先核实该生是否在外校有学籍，有则办理转学。",
        ),
        (OTHER, "照片上传时报错或审核被退回。", "照片为JPG，不超过60KB。"),
    ):
        article = kb_services.article_create(
            actor=engineer, title=title, question=question, answer=answer
        )
        kb_services.article_publish(actor=engineer, article=article, publish=True)
    return engineer, school


def _log_in(page, username):
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(factories.PASSWORD)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()
    expect(page.locator("body[data-account-id]")).to_be_attached()


def test_a_suggested_article_appears_while_a_ticket_title_is_typed(
    transactional_db, browser, live_server
):
    engineer, school = outside_playwright(_world)
    problems: list[str] = []
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=PHONE)
    context.set_default_timeout(15_000)
    try:
        page = watched_page(context, "school", problems)
        page.route_web_socket("**/ws/**", lambda ws: None)
        _log_in(page, school.username)
        page.goto("/tickets/new/")
        box = page.locator("#kb-suggest")
        expect(box).to_be_hidden()
        page.locator("#id_title").press_sequentially("新生身份证号重复", delay=40)
        suggestion = box.get_by_role("link", name=ARTICLE)
        expect(suggestion).to_be_visible()
        expect(box.get_by_role("link", name=OTHER)).to_have_count(0)
        assert page.evaluate(MEASURE) == [], "the form overflows at 390 px"
        with context.expect_page() as opened:
            suggestion.click()
        article_page = opened.value
        expect(article_page.locator("h1")).to_have_text(ARTICLE)
        article_page.close()
        session = outside_playwright(lambda: SuggestSession.objects.get(account=school))
        assert session.shown_at is not None and session.opened_at is not None
        assert session.ticket_id is None
        page.locator("#id_title").fill("")
        expect(box).to_be_hidden()

        # the form was left: once settled it counts as deflected for the engineer
        outside_playwright(
            lambda: SuggestSession.objects.update(
                created_at=session.created_at - timedelta(hours=1)
            )
        )
        eng = watched_page(context, "engineer", problems)
        context.clear_cookies()
        eng.route_web_socket("**/ws/**", lambda ws: None)
        _log_in(eng, engineer.username)
        eng.goto("/kb/")
        expect(eng.locator("#kb-deflection")).to_contain_text("100%")
        assert eng.evaluate(MEASURE) == [], "the knowledge base overflows at 390 px"
        eng.get_by_role("link", name=ARTICLE).click()
        expect(eng.locator("h1")).to_have_text(ARTICLE)
        assert eng.evaluate(MEASURE) == [], "the article overflows at 390 px"
        eng.get_by_role("link", name="编辑").click()
        expect(eng.locator("#id_title")).to_have_value(ARTICLE)
        assert eng.evaluate(MEASURE) == [], "the edit form overflows at 390 px"
    finally:
        context.close()
    assert problems == []
