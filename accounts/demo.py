"""Demo data for `make run`: two real provinces (one a municipality with no
prefecture level), synthetic schools, and an account at every level, each
issued the way the real hand-down works.

The apps above accounts seed their own part (notices a circular, roll a few problem
records): each registers a seeder in its AppConfig.ready(), and `load` runs them in
INSTALLED_APPS order inside its transaction, after the accounts exist."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.utils.module_loading import import_string

from accounts import scoping, services
from accounts.models import Account, Level, Role, Unit

PROVINCES = {"110000", "130000"}  # 北京市 (municipality), 河北省
SCHOOLS_PER_COUNTY = 3
SCHOOL_NAMES = ["第一中学", "实验小学", "第二小学"]

# Dotted paths of seeders, `seed(*, managers)` with the demo's manager of each unit
# code; imported only when the demo loads, not at every start.
_seeders: list[str] = []


def register(seeder: str) -> None:
    if seeder not in _seeders:
        _seeders.append(seeder)


def load() -> tuple[bool, list[tuple[str, str, str, str]]]:
    """Load once; returns (created, [(level, unit, username, initial code)])."""
    if Account.objects.exists():
        return False, []
    with transaction.atomic():
        services.divisions_import()
        counties = Unit.objects.none()
        for province in Unit.objects.filter(code__in=PROVINCES):
            counties |= scoping.units_within(province).filter(level=Level.COUNTY)
        rows = []
        for county in counties.order_by("code"):
            for n in range(1, SCHOOLS_PER_COUNTY + 1):
                rows.append(
                    (0, f"{county.code}{n:04d}", f"{county.name}{SCHOOL_NAMES[n - 1]}", county.code)
                )
        services.schools_import(rows=rows)

        logins = []
        managers = {}

        def issue(actor, code, role, name, engineer=False):
            unit = Unit.objects.get(code=code)
            row = services.account_issue(
                actor=actor, unit=unit, role=role, full_name=name, is_support_engineer=engineer
            ).rows[0]
            logins.append((Level(unit.level).label, unit.name, row.username, row.code))
            account = Account.objects.get(username=row.username)
            if role == Role.MANAGER:
                managers[code] = account
            return account

        boot = services.ministry_manager_bootstrap(full_name="部级管理员")
        logins.append((Level.MINISTRY.label, "教育部", boot.username, boot.code))
        ministry = Account.objects.get(username=boot.username)
        managers[ministry.unit.code] = ministry
        hebei = issue(ministry, "130000", Role.MANAGER, "河北省管理员")
        beijing = issue(ministry, "110000", Role.MANAGER, "北京市管理员")
        sjz = issue(hebei, "130100", Role.MANAGER, "石家庄市管理员")
        county = issue(sjz, "130102", Role.MANAGER, "长安区管理员")
        issue(county, "130102", Role.STAFF, "长安区技术支持", engineer=True)
        issue(hebei, "130000", Role.STAFF, "河北省技术支持", engineer=True)
        issue(ministry, "000000", Role.STAFF, "教育部技术支持", engineer=True)
        dongcheng = issue(beijing, "110101", Role.MANAGER, "东城区管理员")
        for mgr, school in ((county, "1301020001"), (dongcheng, "1101010001")):
            issue(mgr, school, Role.STAFF, "学籍管理员")
        for seeder in _seeders:
            import_string(seeder)(managers=managers)
    return True, logins


def write_credentials(path: str | Path, logins) -> None:
    lines = ["level\tunit\tusername\tinitial code"]
    lines += ["\t".join(str(v) for v in row) for row in logins]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
