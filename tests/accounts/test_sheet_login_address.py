"""Issue 15 (rough edges): the credential sheet (workbook and page) carries the login
address and short first-login steps, in Chinese."""

import io

from django.utils import translation
from django.utils.translation import gettext
from openpyxl import load_workbook

from accounts import sheets
from accounts.models import IssueBatch
from tests.accounts.helpers import issue


def _steps_zh() -> list[str]:
    with translation.override("zh-hans"):
        return sheets.first_login_steps()


def _guide(response) -> list[list]:
    book = load_workbook(io.BytesIO(response.content))
    assert len(book.worksheets) == 2
    return [list(r) for r in book.worksheets[1].iter_rows(values_only=True)]


def test_the_workbook_has_the_login_address_and_the_steps(county_manager, tree, client_for):
    issue(county_manager, tree.county, full_name="韩梅梅")
    batch = IssueBatch.objects.get(issued_by=county_manager)
    response = client_for(county_manager).get(f"/people/batches/{batch.pk}/sheet.xlsx")
    assert response.status_code == 200
    rows = _guide(response)
    with translation.override("zh-hans"):
        label = gettext("Login address")
    assert label == "登录地址"
    assert rows[0] == [label, "http://testserver/auth/login/"]
    steps = _steps_zh()
    assert [r[1] for r in rows[2:]] == steps
    assert steps[0].startswith("在电脑上") and "上级单位" in steps[-1]
    # The first sheet is still one table: the header and one account.
    first = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert first.max_row == 2


def test_platform_url_wins_over_the_request(county_manager, tree, client_for, settings):
    settings.PLATFORM_URL = "https://xueji.example.cn"
    issue(county_manager, tree.county, full_name="韩梅梅")
    batch = IssueBatch.objects.get(issued_by=county_manager)
    client = client_for(county_manager)
    page = client.get(f"/people/batches/{batch.pk}/").content.decode()
    assert (
        '<span class="code" id="login-address">https://xueji.example.cn/auth/login/</span>' in page
    )
    for step in _steps_zh():
        assert f"<li>{step}</li>" in page
    rows = _guide(client.get(f"/people/batches/{batch.pk}/sheet.xlsx"))
    assert rows[0][1] == "https://xueji.example.cn/auth/login/"
