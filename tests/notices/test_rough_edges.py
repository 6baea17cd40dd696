"""Issue 15 (rough edges): wording on every page and on the notice form."""

from django.utils import translation
from django.utils.translation import gettext

from tests import factories


def test_the_language_menu_names_each_language_in_itself(client, db):
    html = client.get("/auth/login/").content.decode()
    assert '<option value="en">English</option>' in html
    assert '<option value="zh-hans" selected>简体中文</option>' in html
    assert "英语" not in html


def test_the_notice_form_says_formatting_in_plain_words(tree, client_for):
    html = client_for(factories.manager(tree.county)).get("/notices/new/").content.decode()
    with translation.override("zh-hans"):
        hint = gettext("Simple formatting (Markdown): **bold**, lists, tables and links.")
    assert hint.startswith("支持简单格式（Markdown）")
    assert hint in html
