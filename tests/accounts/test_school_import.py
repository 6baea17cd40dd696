"""Schools read from Excel or CSV and added under their counties, all or nothing."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from openpyxl import Workbook

from accounts import services, sheets
from accounts.models import Level, Unit

HEADER = ["school_code", "name", "county_code"]
GOOD = [
    ["1301020002", "长安区第二中学", "130102"],
    ["1301040002", "桥西区第二中学", "130104"],
]
BAD = [
    ["1301020003", "长安区第三中学", "130102"],  # row 2: good on its own
    ["1301020004", "无名县学校", "999999"],  # row 3: unknown county
    ["130102005", "九位代码学校", "130102"],  # row 4: 9 digits
    ["13010200AB", "字母代码学校", "130102"],  # row 5: letters
    ["1301020003", "重复学校", "130102"],  # row 6: repeats row 2
    ["1301020006", "", "130102"],  # row 7: no name
    ["1101010001", "冒名学校", "130102"],  # row 8: a Beijing school's code
    ["1301000001", "地级学校", "130100"],  # row 9: a prefecture, not a county
]


def csv_bytes(rows, header=HEADER, encoding="utf-8"):
    return "\n".join(",".join(r) for r in [header, *rows]).encode(encoding)


def xlsx_bytes(rows, header=HEADER):
    wb = Workbook()
    for row in [header, *rows]:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def import_csv(rows):
    return services.schools_import(rows=sheets.school_rows(csv_bytes(rows), "schools.csv"))


def test_good_file_creates_the_schools_under_their_counties(tree):
    result = import_csv(GOOD)
    assert (result.created, result.errors) == (2, [])
    school = Unit.objects.get(code="1301020002")
    assert (school.level, school.parent, school.name) == (
        Level.SCHOOL,
        tree.county,
        "长安区第二中学",
    )
    assert Unit.objects.get(code="1301040002").parent == tree.sibling


def test_every_bad_row_is_reported_with_row_column_and_reason(tree):
    with translation.override("en"):
        errors = import_csv(BAD).errors
    assert [(e.row, e.column) for e in errors] == [
        (3, "county_code"),
        (4, "school_code"),
        (5, "school_code"),
        (6, "school_code"),
        (7, "name"),
        (8, "school_code"),
        (9, "county_code"),
    ]
    reasons = [e.reason for e in errors]
    assert "999999" in reasons[0]
    assert "10 digits" in reasons[1] and "10 digits" in reasons[2]
    assert "repeats row 2" in reasons[3]
    assert "empty" in reasons[4]
    assert "already belongs to" in reasons[5] and "东城区第一中学" in reasons[5]


def test_a_file_with_bad_rows_writes_nothing_not_even_its_good_rows(tree):
    before = Unit.objects.count()
    result = import_csv(BAD)
    assert result.created == 0 and result.errors
    assert Unit.objects.count() == before
    assert not Unit.objects.filter(code="1301020003").exists()


def test_reimporting_the_same_file_changes_nothing(tree):
    import_csv(GOOD)
    again = import_csv(GOOD)
    assert (again.created, again.renamed, again.unchanged, again.errors) == (0, 0, 2, [])
    assert Unit.objects.filter(level=Level.SCHOOL).count() == 5


def test_reimporting_with_a_new_name_renames_the_school(tree):
    import_csv(GOOD)
    result = import_csv([["1301020002", "长安区第二实验中学", "130102"]])
    assert (result.created, result.renamed) == (0, 1)
    assert Unit.objects.get(code="1301020002").name == "长安区第二实验中学"


def test_gbk_csv_with_chinese_headers_is_read(tree):
    content = csv_bytes(GOOD, header=["学校标识码", "学校名称", "所属区县代码"], encoding="gbk")
    rows = sheets.school_rows(content, "学校.csv")
    assert rows == [(2, *GOOD[0]), (3, *GOOD[1])]
    assert services.schools_import(rows=rows).created == 2


def test_xlsx_with_columns_in_another_order_is_read(tree):
    header = ["county_code", "school_code", "name"]
    content = xlsx_bytes([[r[2], r[0], r[1]] for r in GOOD], header=header)
    assert sheets.school_rows(content, "schools.xlsx") == [(2, *GOOD[0]), (3, *GOOD[1])]


def test_a_file_of_another_kind_is_refused(tree):
    with pytest.raises(sheets.SheetError):
        sheets.school_rows(b"1301020002,x,130102", "schools.txt")


def test_import_schools_command_reads_a_csv(tree, tmp_path):
    path = tmp_path / "schools.csv"
    path.write_bytes(csv_bytes(GOOD))
    out = io.StringIO()
    call_command("import_schools", str(path), stdout=out)
    assert out.getvalue().startswith("created 2")
    assert Unit.objects.filter(code__in=["1301020002", "1301040002"]).count() == 2


def test_import_schools_command_reads_an_xlsx(tree, tmp_path):
    path = tmp_path / "schools.xlsx"
    path.write_bytes(xlsx_bytes(GOOD))
    call_command("import_schools", str(path), stdout=io.StringIO())
    assert Unit.objects.get(code="1301040002").parent == tree.sibling


def test_import_schools_command_fails_on_bad_rows_and_imports_nothing(tree, tmp_path):
    path = tmp_path / "schools.xlsx"
    path.write_bytes(xlsx_bytes(BAD))
    err = io.StringIO()
    with pytest.raises(CommandError, match="7 error"):
        call_command("import_schools", str(path), stdout=io.StringIO(), stderr=err)
    assert "row 3, county_code" in err.getvalue()
    assert not Unit.objects.filter(code="1301020003").exists()


def test_import_schools_command_fails_on_a_missing_file(tree, tmp_path):
    with pytest.raises(CommandError):
        call_command("import_schools", str(tmp_path / "nope.csv"))


def test_codes_typed_as_numbers_in_excel_are_read_as_codes(tree):
    content = xlsx_bytes([[1301020002, "长安区第二中学", 130102.0]])
    assert sheets.school_rows(content, "schools.xlsx") == [(2, *GOOD[0])]
