"""Builders for test data. Units go through the service so their paths are right."""

from types import SimpleNamespace

import factory

from accounts import services
from accounts.models import Account, Level, Role

PASSWORD = "Test-Pass-2026!"


def unit(level, code, name=None, parent=None):
    return services.unit_create(level=level, code=code, name=name or f"U{code}", parent=parent)


def small_tree():
    """Ministry → 河北 (province) → 石家庄 (prefecture) → 长安区, 桥西区 (counties) → a school each;
    and 北京 (municipality) → 东城区 (county, no prefecture) → a school."""
    t = SimpleNamespace()
    t.ministry = services.ministry_ensure()
    t.province = unit(Level.PROVINCE, "130000", "河北省", t.ministry)
    t.prefecture = unit(Level.PREFECTURE, "130100", "石家庄市", t.province)
    t.county = unit(Level.COUNTY, "130102", "长安区", t.prefecture)
    t.sibling = unit(Level.COUNTY, "130104", "桥西区", t.prefecture)
    t.school = unit(Level.SCHOOL, "1301020001", "长安区第一中学", t.county)
    t.sibling_school = unit(Level.SCHOOL, "1301040001", "桥西区第一中学", t.sibling)
    t.municipality = unit(Level.PROVINCE, "110000", "北京市", t.ministry)
    t.muni_county = unit(Level.COUNTY, "110101", "东城区", t.municipality)
    t.muni_school = unit(Level.SCHOOL, "1101010001", "东城区第一中学", t.muni_county)
    return t


class AccountFactory(factory.django.DjangoModelFactory):
    """An active account that has already set its password (PASSWORD)."""

    class Meta:
        model = Account
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.STAFF
    must_change_password = False
    full_name = factory.Sequence(lambda n: f"姓名{n}")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


def manager(unit, **kw):
    return AccountFactory(unit=unit, role=Role.MANAGER, **kw)


def staff(unit, **kw):
    return AccountFactory(unit=unit, role=Role.STAFF, **kw)
