"""The hand-down chain in a real browser: a county manager activates its account with
the initial code it was given, issues staff accounts for its schools, downloads the
credential sheet, and a school logs in with a code from that sheet."""

import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from accounts import services
from accounts.models import Account, Level, Role
from tests import factories

COUNTY_PASSWORD = "Cz#2026-roll!"
SCHOOL_PASSWORD = "Xq!7-School-Pass"
FIRST_PASSWORD_URL = re.compile(r"/password/first/")


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/auth/login/")
    page.locator('input[name="login"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    page.locator('form[action="/auth/login/"] button[type="submit"]').click()


def set_first_password(page: Page, password: str) -> None:
    page.locator("#id_new_password1").fill(password)
    page.locator("#id_new_password2").fill(password)
    page.locator("main button[type='submit']").click()


def expect_home(page: Page, live_server) -> None:
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("h1")).to_contain_text("欢迎")


@pytest.mark.browser
def test_county_manager_issues_school_accounts_handed_down_by_sheet(
    transactional_db, live_server, new_context, results_dir, tmp_path
):
    # --- 1. The province manager has issued a manager account for the county.
    tree = factories.small_tree()
    services.unit_create(
        level=Level.SCHOOL, code="1301020002", name="长安区第二小学", parent=tree.county
    )
    province_manager = factories.manager(tree.province)
    issued = services.account_issue(actor=province_manager, unit=tree.county, role=Role.MANAGER)
    county_username, county_code = issued.rows[0].username, issued.rows[0].code
    schools = {"1301020001": "长安区第一中学", "1301020002": "长安区第二小学"}

    # --- 2. The county manager logs in with the initial code and must set a password.
    county = new_context()
    page = county.new_page()
    log_in(page, county_username, county_code)
    expect(page).to_have_url(FIRST_PASSWORD_URL)
    expect(page.locator("h1")).to_have_text("设置密码")

    set_first_password(page, "abc12345")  # letters and digits, but no symbol
    expect(page).to_have_url(FIRST_PASSWORD_URL)
    refusal = page.locator(".field-error")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("密码必须包含符号")
    assert Account.objects.get(username=county_username).must_change_password

    set_first_password(page, COUNTY_PASSWORD)
    expect_home(page, live_server)
    expect(page.locator(".facts")).to_contain_text("长安区")
    assert not Account.objects.get(username=county_username).must_change_password

    # --- 3. It issues one staff account for every school in the county.
    page.goto("/people/issue/")
    bulk = page.locator("#bulk-form")
    bulk.locator('[name="bulk-unit_code"]').fill(tree.county.code)
    bulk.locator('[name="bulk-scope"]').select_option("schools")
    bulk.locator('[name="bulk-roles"]').select_option("staff")
    bulk.locator('button[type="submit"]').click()

    expect(page).to_have_url(re.compile(r"/people/batches/\d+/$"))
    expect(page.locator("h1")).to_have_text("初始口令")
    table_rows = page.locator("#codes tbody tr")
    expect(table_rows).to_have_count(len(schools))
    expect(page.locator("#codes .username")).to_have_text(
        [f"{code}-s1" for code in sorted(schools)]
    )
    shown = dict(
        zip(
            page.locator("#codes .username").all_inner_texts(),
            page.locator("#codes .initial-code").all_inner_texts(),
            strict=True,
        )
    )
    page.screenshot(path=results_dir / "issuance-batch.png", full_page=True)

    with page.expect_download() as download_info:
        page.locator("#download-sheet").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet_path = tmp_path / download.suggested_filename
    download.save_as(sheet_path)

    sheet = load_workbook(sheet_path, read_only=True).worksheets[0]
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(header) == 7
    # unit code, unit name, username, role, person, initial code, expiry
    assert {(r[0], r[1]) for r in rows} == set(schools.items())
    from_sheet = {r[2]: r[5] for r in rows}
    assert from_sheet == shown
    assert all(r[6] for r in rows)

    # --- 4. Log out; a school logs in with its code from the sheet.
    page.locator("form[action='/auth/logout/'] button").click()
    expect(page).to_have_url(re.compile(r"/auth/login/"))

    school_username = next(u for u in from_sheet if u.startswith("1301020002-"))
    school = new_context()
    page = school.new_page()
    log_in(page, school_username, from_sheet[school_username])
    expect(page).to_have_url(FIRST_PASSWORD_URL)
    expect(page.locator(".notice")).to_be_visible()

    set_first_password(page, SCHOOL_PASSWORD)
    expect_home(page, live_server)
    expect(page.locator(".facts")).to_contain_text("长安区第二小学")
    expect(page.locator(".facts")).to_contain_text("1301020002")
    page.screenshot(path=results_dir / "issuance-school-home.png", full_page=True)

    school_account = Account.objects.get(username=school_username)
    assert school_account.unit.code == "1301020002"
    assert school_account.role == Role.STAFF
    assert not school_account.must_change_password

    # The code was spent: it does not open the account a second time.
    page.locator("form[action='/auth/logout/'] button").click()
    log_in(page, school_username, from_sheet[school_username])
    expect(page).to_have_url(re.compile(r"/auth/login/"))
    expect(page.locator(".errors")).to_be_visible()
