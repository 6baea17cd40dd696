"""Knowledge base: who reads and edits an article (published at a tier, read by its
subtree; drafts only by editors), cleaning, an article from a solved ticket, the ticket
form's suggestions and the deflection figure."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from kb import selectors, services
from kb.models import Article, SuggestSession
from tests import factories
from tests.tickets.helpers import raise_ticket
from tickets import services as ticket_services

pytestmark = pytest.mark.django_db


def write(
    actor,
    title="身份证号重复怎么办",
    question="录入新生时提示身份证号已存在。",
    answer="先核实是否转学。",
    publish=True,
):
    article = services.article_create(actor=actor, title=title, question=question, answer=answer)
    if publish:
        article = services.article_publish(actor=actor, article=article, publish=True)
    return article


# --- permissions ---------------------------------------------------------------------------


def test_an_article_published_at_a_county_is_read_by_its_subtree_only(tree, desk, client_for):
    article = write(desk.eng1)  # 长安区
    school_staff = desk.reporter  # 长安区第一中学
    sibling_school = factories.staff(tree.sibling_school)
    province_staff = factories.staff(tree.province)
    assert selectors.can_read(school_staff, article)
    assert selectors.can_read(desk.county_staff, article)
    assert not selectors.can_read(sibling_school, article)
    assert not selectors.can_read(province_staff, article)  # above, and no editor
    assert selectors.can_read(desk.prov_eng, article)  # an editor above it
    assert not selectors.can_read(desk.sibling_eng, article)
    url = reverse("kb_article", args=[article.pk])
    assert client_for(school_staff).get(url).status_code == 200
    assert client_for(sibling_school).get(url).status_code == 404
    listed = client_for(school_staff).get(reverse("kb_list")).content.decode()
    assert article.title in listed
    assert article.title not in client_for(sibling_school).get(reverse("kb_list")).content.decode()


def test_a_province_article_reaches_every_school_of_the_province(tree, desk):
    article = write(desk.prov_eng, title="公安认证不通过")
    assert selectors.can_read(desk.reporter, article)
    assert selectors.can_read(factories.staff(tree.sibling_school), article)
    assert not selectors.can_read(factories.staff(tree.muni_school), article)


def test_an_unpublished_article_is_hidden_from_readers(tree, desk, client_for):
    article = write(desk.eng1, publish=False)
    assert not selectors.can_read(desk.reporter, article)
    assert selectors.can_read(desk.eng2, article)
    assert (
        client_for(desk.reporter).get(reverse("kb_article", args=[article.pk])).status_code == 404
    )
    assert services.search.search(selectors.published_for(desk.reporter), "身份证号重复") == []
    # published, then withdrawn: hidden again
    services.article_publish(actor=desk.eng1, article=article, publish=True)
    assert selectors.can_read(desk.reporter, Article.objects.get(pk=article.pk))
    services.article_publish(actor=desk.eng1, article=article, publish=False)
    assert not selectors.can_read(desk.reporter, Article.objects.get(pk=article.pk))


def test_only_support_people_of_the_unit_or_above_write_and_edit(tree, desk, client_for):
    with pytest.raises(PermissionDenied):
        write(desk.reporter)
    with pytest.raises(PermissionDenied):
        write(factories.manager(tree.school))  # a school's manager uses support
    article = write(desk.eng1)
    for outsider in (desk.sibling_eng, desk.county_staff, desk.reporter):
        with pytest.raises(PermissionDenied):
            services.article_update(
                actor=outsider, article=article, title="x", question="y", answer="z"
            )
        with pytest.raises(PermissionDenied):
            services.article_publish(actor=outsider, article=article, publish=False)
    services.article_update(
        actor=desk.prov_eng, article=article, title="新标题", question="问", answer="答"
    )
    assert Article.objects.get(pk=article.pk).title == "新标题"
    edit = reverse("kb_edit", args=[article.pk])
    assert client_for(desk.reporter).get(edit).status_code == 403
    assert client_for(desk.sibling_eng).get(edit).status_code == 404
    response = client_for(desk.eng2).post(
        reverse("kb_publish", args=[article.pk]), {"action": "unpublish"}
    )
    assert response.status_code == 302
    assert not Article.objects.get(pk=article.pk).published


# --- cleaning and bad input ------------------------------------------------------------------


def test_a_script_in_the_answer_is_cleaned_away(desk, client_for):
    article = write(
        desk.eng1,
        title="<script>alert(1)</script>照片",
        answer='照片**不超过**60KB <script>alert("x")</script><img src=x onerror=alert(1)> [链接](javascript:alert(1))',
    )
    assert "<script" not in article.answer_html
    assert "onerror" not in article.answer_html
    assert "javascript:" not in article.answer_html
    assert "<strong>不超过</strong>" in article.answer_html
    page = client_for(desk.reporter).get(reverse("kb_article", args=[article.pk])).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;照片" in page  # the title is escaped


def test_empty_or_oversized_fields_are_refused_and_nothing_is_written(desk, client_for):
    with pytest.raises(ValidationError):
        services.article_create(actor=desk.eng1, title=" ", question="q", answer="a")
    with pytest.raises(ValidationError):
        services.article_create(actor=desk.eng1, title="t", question="q", answer="a" * 20001)
    response = client_for(desk.eng1).post(
        reverse("kb_new"), {"title": "t", "question": "", "answer": ""}
    )
    assert response.status_code == 200
    assert Article.objects.count() == 0


# --- an article from a solved ticket -----------------------------------------------------------


def test_a_solved_ticket_prefills_a_draft_with_personal_numbers_masked(desk, client_for):
    ticket = raise_ticket(
        desk.reporter,
        title="学生身份证号130102201001011234重复",
        description="家长电话13812345678，学生身份证号130102201001011234提示已存在。",
    )
    with pytest.raises(ValidationError):  # not solved yet
        services.draft_from_ticket(desk.eng1, ticket)
    ticket_services.ticket_reply(
        actor=desk.eng1, ticket=ticket, body="请先核实该生是否在外校有学籍，通过**转学**办理。"
    )
    ticket_services.ticket_reply(
        actor=desk.eng1, ticket=ticket, body="内部：查了省库", internal=True
    )
    ticket.refresh_from_db()
    ticket_services.ticket_transition(
        actor=desk.eng1, ticket=ticket, action="resolve", text="已解决"
    )
    ticket.refresh_from_db()
    draft = services.draft_from_ticket(desk.eng1, ticket)
    assert "130102201001011234" not in draft["title"] + draft["question"]
    assert "13812345678" not in draft["question"]
    assert "通过转学办理" in draft["answer"]
    assert "内部" not in draft["answer"]
    with pytest.raises(PermissionDenied):  # another county's engineer never sees the ticket
        services.draft_from_ticket(desk.sibling_eng, ticket)
    page = client_for(desk.eng1).get(reverse("kb_new") + f"?ticket={ticket.pk}").content.decode()
    assert "通过转学办理" in page and "13812345678" not in page
    response = client_for(desk.eng1).post(
        reverse("kb_new"),
        {
            "ticket": ticket.pk,
            "title": "身份证号重复",
            "question": draft["question"],
            "answer": draft["answer"],
        },
    )
    article = Article.objects.get()
    assert response.status_code == 302 and article.source_ticket_id == ticket.pk
    assert not article.published and article.unit_id == desk.eng1.unit_id
    assert (
        client_for(desk.sibling_eng).get(reverse("kb_new") + f"?ticket={ticket.pk}").status_code
        == 404
    )


# --- suggestions and deflection ----------------------------------------------------------------


def test_the_suggestion_endpoint_lists_readable_published_articles_only(tree, desk, client_for):
    mine = write(desk.eng1, title="学生身份证号重复的处理")
    write(desk.sibling_eng, title="身份证号重复（桥西区）")
    write(desk.eng1, title="身份证号重复（草稿）", publish=False)
    client = client_for(desk.reporter)
    data = client.get(reverse("kb_suggest"), {"q": "新生身份证号已存在，重复了"}).json()
    assert [r["id"] for r in data["results"]] == [mine.pk]
    assert data["session"]
    assert data["results"][0]["url"].endswith(f"?s={data['session']}")
    session = SuggestSession.objects.get()
    assert session.account_id == desk.reporter.pk and session.shown_at is not None
    # the next call carries the session: no second one
    again = client.get(reverse("kb_suggest"), {"q": "身份证号重复", "s": data["session"]}).json()
    assert again["session"] == data["session"] and SuggestSession.objects.count() == 1
    # nothing matches: nothing shown, no session
    empty = client.get(reverse("kb_suggest"), {"q": "天气"}).json()
    assert empty == {"session": None, "results": []}
    assert client.get(reverse("kb_suggest"), {"q": "", "s": "not-a-uuid"}).json()["results"] == []
    assert SuggestSession.objects.count() == 1


def test_the_suggestion_endpoint_needs_a_login(client):
    response = client.get(reverse("kb_suggest"), {"q": "密码"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 401


def _shown(client, q="身份证号重复"):
    return client.get(reverse("kb_suggest"), {"q": q}).json()["session"]


def test_deflection_counts_sessions_that_raised_no_ticket(
    tree, desk, client_for, client, django_user_model
):
    article = write(desk.eng1)
    school = desk.reporter
    other = factories.staff(tree.school)
    old = timezone.now() - timedelta(minutes=selectors.DEFLECT_MINUTES + 5)
    # 1: shown, article opened, no ticket (deflected)
    token = _shown(client_for(other))
    client_for(other).get(reverse("kb_article", args=[article.pk]) + f"?s={token}")
    # 2: shown, then a ticket raised (not deflected)
    _shown(client_for(school))
    raise_ticket(school)
    SuggestSession.objects.update(created_at=old)
    # 3: shown a moment ago, no ticket yet: not settled, not counted
    _shown(client_for(other))
    figures = selectors.deflection(desk.eng1)
    assert figures["shown"] == 2
    assert figures["submitted"] == 1
    assert figures["deflected"] == 1
    assert figures["opened"] == 1
    assert figures["rate"] == 0.5
    opened = SuggestSession.objects.get(token=token)
    assert opened.opened_article_id == article.pk and opened.ticket_id is None
    assert SuggestSession.objects.filter(account=school).get().ticket_id is not None
    # another county's engineer sees none of it; the page shows the figure
    assert selectors.deflection(desk.sibling_eng)["shown"] == 0
    page = client_for(desk.eng1).get(reverse("kb_list")).content.decode()
    assert 'id="kb-deflection"' in page and "50%" in page
    assert 'id="kb-deflection"' not in client_for(school).get(reverse("kb_list")).content.decode()


def test_search_on_the_list_page_and_the_ticket_form_carries_the_suggestion_hook(desk, client_for):
    write(desk.eng1, title="照片上传失败")
    client = client_for(desk.reporter)
    page = client.get(reverse("kb_list"), {"q": "照片传不上去"}).content.decode()
    assert "照片上传失败" in page
    form = client.get(reverse("ticket_new")).content.decode()
    assert f'data-kb-suggest="{reverse("kb_suggest")}"' in form
    assert "js/kb_suggest.js" in form and 'id="kb-suggest"' in form


def test_control_characters_in_what_is_typed_find_nothing_harmful(desk, client_for):
    write(desk.eng1, title="照片上传失败")
    client = client_for(desk.reporter)
    data = client.get(reverse("kb_suggest"), {"q": "照片\x00上传\x1f失败"}).json()
    assert [r["title"] for r in data["results"]] == ["照片上传失败"]
    assert client.get(reverse("kb_suggest"), {"q": "\x00"}).json()["results"] == []


def test_reads_are_counted_and_only_the_own_session_records_an_opening(tree, desk, client_for):
    article = write(desk.eng1, title="身份证号重复")
    school = desk.reporter
    token = client_for(school).get(reverse("kb_suggest"), {"q": "身份证号重复"}).json()["session"]
    other = factories.staff(tree.school)
    url = reverse("kb_article", args=[article.pk])
    client_for(other).get(url + f"?s={token}")  # someone else's token: not recorded
    assert SuggestSession.objects.get(token=token).opened_at is None
    client_for(school).get(url + f"?s={token}")
    assert SuggestSession.objects.get(token=token).opened_article_id == article.pk
    client_for(desk.eng2).get(url)  # an editor's read is not counted
    assert Article.objects.get(pk=article.pk).views == 2
    page = client_for(desk.eng1).get(url).content.decode()
    assert 'id="kb-views"' in page
    assert 'id="kb-views"' not in client_for(school).get(url).content.decode()
