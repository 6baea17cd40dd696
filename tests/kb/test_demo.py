"""The demo's knowledge base: the test set's articles, published for 河北省, answer a
demo school's question."""

import pytest

from accounts import demo
from accounts.models import Account
from kb import selectors, services
from kb.models import Article


@pytest.mark.django_db
def test_the_demo_publishes_the_articles_for_the_province(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        demo.load()
    assert Article.objects.filter(published=True, unit__code="130000").count() == 50
    school = Account.objects.get(username="1301020001-s1")
    found, session = services.suggest(actor=school, text="新生身份证号提示已存在")
    assert found and found[0].title == "新增学生时提示身份证号已存在（身份证号重复）"
    assert session is not None
    # 北京市's accounts are outside 河北省: none of it reaches them
    beijing = Account.objects.filter(unit__code__startswith="11").exclude(unit__code="110000")
    assert beijing.exists()
    assert all(not selectors.published_for(a).exists() for a in beijing)
