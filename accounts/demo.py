"""Demo data for `make run`: two real provinces (one a municipality with no
prefecture level), synthetic schools, and an account at every level, each
issued the way the real hand-down works."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from accounts import scoping, services
from accounts.models import Account, Level, Role, Unit

PROVINCES = {"110000", "130000"}  # 北京市 (municipality), 河北省
SCHOOLS_PER_COUNTY = 3
SCHOOL_NAMES = ["第一中学", "实验小学", "第二小学"]


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

        def issue(actor, code, role, name, engineer=False):
            unit = Unit.objects.get(code=code)
            row = services.account_issue(
                actor=actor, unit=unit, role=role, full_name=name, is_support_engineer=engineer
            ).rows[0]
            logins.append((Level(unit.level).label, unit.name, row.username, row.code))
            return Account.objects.get(username=row.username)

        boot = services.ministry_manager_bootstrap(full_name="部级管理员")
        logins.append((Level.MINISTRY.label, "教育部", boot.username, boot.code))
        ministry = Account.objects.get(username=boot.username)
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
        _demo_notice(hebei)
        _demo_problem_records(hebei)
    return True, logins


def _demo_notice(author) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from notices import services as notices

    notice = notices.notice_save(
        actor=author,
        title="关于做好2026年秋季学期学籍管理工作的通知",
        body=(
            "各县（市、区）教育局、各学校：\n\n"
            "请于本周四前完成秋季学期新生学籍注册和转学业务办理，并通过本平台回执。\n\n"
            "1. 核对新生信息，**身份证号**须与户口簿一致；\n"
            "2. 问题学籍请在学校工作台逐条处理。"
        ),
        priority="normal",
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(days=7),
        publish_at=None,
        target_codes=[author.unit.code],
        levels=["county", "school"],
        managers_only=False,
    )
    notices.notice_publish(actor=author, notice=notice)


def write_credentials(path: str | Path, logins) -> None:
    lines = ["level\tunit\tusername\tinitial code"]
    lines += ["\t".join(str(v) for v in row) for row in logins]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _demo_problem_records(manager) -> None:
    """A few alerts for 长安区第一中学, as the roll system would post them."""
    from stdnum.cn import ric

    from roll import services as roll

    key, _secret = roll.key_issue(actor=manager, unit=manager.unit, label="演示")

    def number(body, right=True):
        check = ric.calc_check_digit(body + "0")  # takes a whole number; ignores the last
        return body + (check if right else ("0" if check != "0" else "1"))

    alerts = [
        (
            "DEMO-1",
            "id_invalid",
            "王小明",
            "M",
            "2012-03-01",
            number("13010220120301123", False),
            "6",
            True,
            "身份证号校验位错误",
        ),
        (
            "DEMO-2",
            "id_duplicate",
            "李华",
            "F",
            "2013-05-12",
            number("13010220130512002"),
            "5",
            False,
            "与学校 1301040001 的学生身份证号重复",
        ),
        (
            "DEMO-3",
            "identity_duplicate",
            "张伟",
            "M",
            "2012-09-09",
            "",
            "6",
            True,
            "与本校另一名学生姓名、性别、出生日期相同",
        ),
        (
            "DEMO-4",
            "police_auth_failed",
            "赵敏",
            "F",
            "2014-01-20",
            number("13010220140120004"),
            "4",
            False,
            "公安部人口信息比对未通过",
        ),
    ]
    roll.intake(
        key=key,
        payload={
            "batch_id": "demo-0001",
            "alerts": [
                {
                    "alert_id": a,
                    "kind": k,
                    "school_code": "1301020001",
                    "name": n,
                    "gender": g,
                    "birth_date": b,
                    "id_number": i,
                    "grade": gr,
                    "graduating": grad,
                    "detected_at": "2026-11-20T08:00:00+08:00",
                    "detail": d,
                }
                for a, k, n, g, b, i, gr, grad, d in alerts
            ],
        },
    )
