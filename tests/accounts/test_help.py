"""Help pages (使用说明, issue 15, task E): one per role, the person's own opening by
default, Chinese by default and English through the language switch."""

import pytest

from accounts.views_people import HELP_PAGES
from tests import factories


@pytest.fixture
def people(tree):
    return {
        "school-staff": factories.staff(tree.school),
        "school-manager": factories.manager(tree.school),
        "region-manager": factories.manager(tree.county),
        "region-staff": factories.staff(tree.prefecture),
        "ministry": factories.manager(tree.ministry),
        "engineer": factories.staff(tree.county, is_support_engineer=True),
    }


HEADINGS = {
    "school-staff": [
        "用初始口令首次登录",
        "阅读通知和回执",
        "处理本校问题学籍",
        "提交工单",
        "打印通知",
    ],
    "school-manager": ["发放和管理账号", "学籍管理员备案表"],
    "region-manager": ["发布、转发和催办通知", "学校的新增、更名和撤销", "督办问题学籍"],
    "region-staff": ["阅读通知和回执", "交流"],
    "ministry": ["发布、转发和催办通知", "处理技术支持工单"],
    "engineer": ["处理技术支持工单", "值班"],
}


@pytest.mark.parametrize("role", list(HELP_PAGES))
def test_each_roles_own_page_opens_by_default_in_chinese(role, people, client_for):
    response = client_for(people[role]).get("/help/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="?for={role}" aria-current="page"' in page
    for heading in HEADINGS[role]:
        assert heading in page
    assert "使用说明" in page and "First login" not in page


@pytest.mark.parametrize("role", list(HELP_PAGES))
def test_every_page_is_reachable_from_any_role(role, people, client_for):
    page = client_for(people["school-staff"]).get(f"/help/?for={role}").content.decode()
    assert f'href="?for={role}" aria-current="page"' in page
    assert page.count('class="card help-section"') == len(HELP_PAGES[role])


def test_an_unknown_page_falls_back_to_the_own_one(people, client_for):
    page = client_for(people["ministry"]).get("/help/?for=<x>").content.decode()
    assert 'href="?for=ministry" aria-current="page"' in page


def test_english_through_the_language_switch(people, client_for):
    client = client_for(people["school-staff"])
    client.post("/i18n/setlang/", {"language": "en", "next": "/help/"})
    page = client.get("/help/").content.decode()
    assert "First login with the initial code" in page and "initial code works once" in page
    assert "用初始口令首次登录" not in page


def test_the_header_links_help_and_the_profile(people, client_for):
    page = client_for(people["school-staff"]).get("/").content.decode()
    assert 'href="/help/"' in page and 'href="/profile/"' in page


def test_help_needs_a_login(client):
    assert client.get("/help/").status_code == 302
