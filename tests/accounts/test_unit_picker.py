"""The unit picker (issue 15): its selectors (scope, matches, order), its JSON and the
names' pinyin initials. The tree (tests.factories.small_tree): 河北省 → 石家庄市 →
长安区 (长安区第一中学) and 桥西区 (桥西区第一中学); 北京市 → 东城区 (东城区第一中学)."""

import pytest
from django.http import Http404
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Level, Unit
from tests import factories

pytestmark = pytest.mark.django_db


def codes(units):
    return [u.code for u in units]


# --- pinyin initials ------------------------------------------------------------------


def test_initials_are_kept_for_every_unit_built(tree):
    assert tree.school.initials == "caqdyzx"
    assert tree.prefecture.initials == "sjzs"


def test_initials_read_a_character_in_its_word():
    # 长 reads cháng in 长安 and 长沙, 重 chóng in 重庆, 行 háng in 银行: the word decides.
    assert services.unit_initials("长安区") == "caq"
    assert services.unit_initials("重庆市第十一中学") == "cqsdsyzx"
    assert services.unit_initials("行唐县") == "xtx"
    assert services.unit_initials("第1中学（ABC）") == "d1zx（abc）"


def test_a_renamed_school_gets_the_new_names_initials(tree):
    result = services.schools_import(rows=[(2, tree.school.code, "长安区实验小学", "130102")])
    assert result.renamed == 1
    tree.school.refresh_from_db()
    assert tree.school.initials == "caqsyxx"


def test_a_new_school_from_an_import_has_initials(tree):
    services.schools_import(rows=[(2, "1301020002", "长安区育才小学", "130102")])
    assert Unit.objects.get(code="1301020002").initials == "caqycxx"


# --- search ---------------------------------------------------------------------------


def test_search_by_initials_finds_the_school_and_nothing_outside_the_subtree(tree):
    boss = factories.manager(tree.county)
    assert codes(selectors.unit_search(boss, "caq")) == ["130102", "1301020001"]
    # the sibling county's school and the ancestors are not reached
    assert codes(selectors.unit_search(boss, "qxq")) == []
    assert codes(selectors.unit_search(boss, "sjz")) == []
    assert codes(selectors.unit_search(boss, "HBS")) == []


def test_initials_inside_the_name_match_after_the_prefixes(tree):
    boss = factories.manager(tree.prefecture)
    # "dyzx" (第一中学) sits inside both schools' initials; nearest first, then by code
    assert codes(selectors.unit_search(boss, "dyzx")) == ["1301020001", "1301040001"]
    assert codes(selectors.unit_search(boss, "DYZX")) == ["1301020001", "1301040001"]


def test_search_by_code_prefix_and_by_name(tree):
    boss = factories.manager(tree.province)
    assert codes(selectors.unit_search(boss, "130102")) == ["130102", "1301020001"]
    assert codes(selectors.unit_search(boss, "1301")) == [
        "130100",
        "130102",
        "130104",
        "1301020001",
        "1301040001",
    ]
    assert codes(selectors.unit_search(boss, "桥西")) == ["130104", "1301040001"]
    # Beijing is a sibling province
    assert codes(selectors.unit_search(boss, "110101")) == []
    assert codes(selectors.unit_search(boss, "东城")) == []


def test_nearest_and_highest_first_and_the_limit(tree):
    boss = factories.manager(tree.ministry)
    found = selectors.unit_search(boss, "")
    assert [u.depth for u in found] == sorted(u.depth for u in found)
    assert found[0] == tree.ministry
    assert len(selectors.unit_search(boss, "", limit=3)) == 3


def test_levels_limit_the_search(tree):
    boss = factories.manager(tree.province)
    assert codes(selectors.unit_search(boss, "1301", levels=["school"])) == [
        "1301020001",
        "1301040001",
    ]


def test_closed_units_are_left_out(tree):
    Unit.objects.filter(pk=tree.school.pk).update(closed_at=timezone.now())
    boss = factories.manager(tree.county)
    assert codes(selectors.unit_search(boss, "caq")) == ["130102"]
    _unit, children, _counts = selectors.unit_children(boss, "")
    assert children == []


def test_staff_search_their_own_subtree_too(tree):
    clerk = factories.staff(tree.school)
    assert codes(selectors.unit_search(clerk, "")) == ["1301020001"]


# --- browsing -------------------------------------------------------------------------


def test_children_level_by_level_with_their_counts(tree):
    boss = factories.manager(tree.province)
    unit, children, counts = selectors.unit_children(boss, "")
    assert unit == tree.province
    assert codes(children) == ["130100"]
    assert counts[tree.prefecture.pk] == 2
    unit, children, counts = selectors.unit_children(boss, "130100")
    assert codes(children) == ["130102", "130104"]
    assert counts[tree.county.pk] == 1
    unit, children, counts = selectors.unit_children(boss, "130102")
    assert codes(children) == ["1301020001"] and counts[tree.school.pk] == 0


def test_children_outside_the_subtree_are_404(tree):
    boss = factories.manager(tree.county)
    for code in ("130104", "130100", "130000", "110101", "nope"):
        with pytest.raises(Http404):
            selectors.unit_children(boss, code)


def test_children_of_a_level_list_only_the_way_down_to_it(tree):
    boss = factories.manager(tree.ministry)
    _unit, children, _counts = selectors.unit_children(boss, "", levels=["province"])
    assert codes(children) == ["110000", "130000"]
    _unit, children, _counts = selectors.unit_children(boss, "130000", levels=["province"])
    assert children == []


def test_units_by_code_names_only_the_subtrees_units(tree):
    boss = factories.manager(tree.county)
    found = selectors.units_by_code(boss, ["1301020001", "130104", "130102", "x", "130102"])
    assert codes(found) == ["1301020001", "130102"]


def test_levels_below():
    assert selectors.levels_below(Level.COUNTY) == ["school"]
    assert selectors.levels_below(Level.PROVINCE) == ["prefecture", "county", "school"]
    assert selectors.levels_below(Level.SCHOOL) == []


# --- the JSON -------------------------------------------------------------------------


JSON = {"HTTP_ACCEPT": "application/json"}


def test_search_json_lists_the_subtree_with_names_levels_and_codes(tree, client_for):
    client = client_for(factories.manager(tree.county))
    body = client.get("/unit-picker/search.json", {"q": "caq"}).json()
    assert body["units"] == [
        {
            "code": "130102",
            "name": "长安区",
            "level": "county",
            "level_label": "区县级",
            "closed": False,
        },
        {
            "code": "1301020001",
            "name": "长安区第一中学",
            "level": "school",
            "level_label": "学校",
            "closed": False,
        },
    ]
    assert client.get("/unit-picker/search.json", {"q": "qxq"}).json() == {"units": []}


def test_children_json_and_a_siblings_unit_is_404(tree, client_for):
    client = client_for(factories.manager(tree.prefecture))
    body = client.get("/unit-picker/children.json").json()
    assert body["unit"]["code"] == "130100"
    assert [(u["code"], u["children"]) for u in body["units"]] == [("130102", 1), ("130104", 1)]
    body = client.get("/unit-picker/children.json", {"unit": "130102"}).json()
    assert [u["code"] for u in body["trail"]] == ["130100", "130102"]
    assert client.get("/unit-picker/children.json", {"unit": "110101"}, **JSON).status_code == 404
    assert client.get("/unit-picker/children.json", {"unit": "130000"}, **JSON).status_code == 404


def test_units_json_names_typed_codes_in_reach(tree, client_for):
    client = client_for(factories.manager(tree.county))
    body = client.get("/unit-picker/units.json", {"codes": "1301020001，130104 130102"}).json()
    assert [u["code"] for u in body["units"]] == ["1301020001", "130102"]


@pytest.mark.parametrize("path", ["search.json", "children.json", "units.json"])
def test_the_json_refuses_the_anonymous_and_accounts_without_a_unit(tree, client, path):
    response = client.get(f"/unit-picker/{path}", **JSON)
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    # a browser is sent to the login page
    assert client.get(f"/unit-picker/{path}").status_code == 302
    unbound = factories.AccountFactory(unit=None)
    client.force_login(unbound, backend="accounts.backends.PasswordBackend")
    assert client.get(f"/unit-picker/{path}", **JSON).status_code == 403


def test_the_pages_that_take_a_unit_code_carry_the_picker(tree, client_for):
    client = client_for(factories.manager(tree.county))
    issue = client.get("/people/issue/").content.decode()
    assert issue.count('data-unit-picker="single"') == 2  # one account, and in bulk
    assert "data-picker-labels" in issue and "拼音首字母" in issue
    room = client.get("/chat/new/").content.decode()
    assert 'data-unit-picker="multi"' in room
    roster = client.get("/support/roster/").content.decode()
    assert 'id="roster-unit"' in roster and 'data-unit-picker="single"' in roster


def test_control_characters_and_odd_codes_find_nothing_without_an_error(tree, client_for):
    client = client_for(factories.manager(tree.county))
    assert (
        client.get("/unit-picker/search.json", {"q": "ca\x00q"}).json()["units"][0]["code"]
        == "130102"
    )
    assert (
        client.get("/unit-picker/children.json", {"unit": "13\x000102"}, **JSON).status_code == 404
    )
    assert client.get("/unit-picker/units.json", {"codes": "130102\x00 1301020001"}).json() == {
        "units": [
            {
                "code": "1301020001",
                "name": "长安区第一中学",
                "level": "school",
                "level_label": "学校",
                "closed": False,
            }
        ]
    }


def test_the_division_import_gives_initials_and_a_rename_renews_them():
    services.divisions_import(provinces={"130000"})
    assert Unit.objects.get(code="130100").initials == "sjzs"
    Unit.objects.filter(code="130102").update(name="改过的名字", initials="gg")
    services.divisions_import(provinces={"130000"})
    assert Unit.objects.get(code="130102").initials == "caq"


@pytest.mark.django_db
def test_contains_searches_have_trigram_indexes_on_postgresql():
    """Migration 0007: a word found nowhere is an index probe, not a scan of every unit."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE '%trgm%'")
            assert cursor.fetchall() == []
            return
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_trgm'")
        assert {r[0] for r in cursor.fetchall()} == {
            "unit_name_trgm",
            "unit_initials_trgm",
            "account_full_name_trgm",
            "account_username_trgm",
        }
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM accounts_unit WHERE UPPER(name::text) LIKE UPPER(%s)",
            ["%不存在的词%"],
        )
        assert "unit_name_trgm" in " ".join(r[0] for r in cursor.fetchall())
