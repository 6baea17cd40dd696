"""Hand-made figures for one week (Monday 23 – Sunday 29 November 2026, China time) on
the small tree: 石家庄市 → 长安区 (school 长安区第一中学), 桥西区 (桥西区第一中学)."""

from datetime import date, datetime
from itertools import count
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from accounts.services import system_account
from notices.models import Notice, NoticeTarget, Receipt, Status
from roll.models import ProblemRecord
from tests import factories
from tickets.models import EventKind, Ticket, TicketEvent
from tickets.models import Status as TicketStatus

TZ = ZoneInfo("Asia/Shanghai")
WEEK = date(2026, 11, 23)
_seq = count(1)


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def notice(author, unit, targets, levels, published, **kw) -> Notice:
    n = Notice.objects.create(
        author=author,
        author_unit=unit,
        title=kw.pop("title", "通知"),
        body="",
        levels=",".join(levels),
        status=Status.PUBLISHED,
        published_at=published,
        **kw,
    )
    NoticeTarget.objects.bulk_create([NoticeTarget(notice=n, unit=t, path=t.path) for t in targets])
    return n


def receipt(n, account, read, acked=None) -> Receipt:
    return Receipt.objects.create(
        notice=n,
        account=account,
        unit=account.unit,
        unit_path=account.unit.path,
        read_at=read,
        acked_at=acked,
    )


def ticket(reporter, created, *, tier, resolved=None, breached=False, platform=False) -> Ticket:
    return Ticket.objects.create(
        reporter=reporter,
        reporter_unit=reporter.unit,
        reporter_path=reporter.unit.path,
        title="登录不了",
        description="x",
        description_html="<p>x</p>",
        category="account",
        tier=tier,
        created_at=created,
        resolved_at=resolved,
        status=TicketStatus.RESOLVED if resolved else TicketStatus.NEW,
        breached=breached,
        raised_by_platform=platform,
    )


def record(school, detected, *, graduating=False, resolved=None) -> ProblemRecord:
    n = next(_seq)
    return ProblemRecord.objects.create(
        scope="hb",
        alert_id=f"a{n}",
        kind="id_invalid",
        school=school,
        school_path=school.path,
        name="张三",
        graduating=graduating,
        detected_at=detected,
        resolved_at=resolved,
        status="resolved" if resolved else "open",
        change_seq=1_000_000 + n,
        batch_id=1,
    )


def build() -> SimpleNamespace:
    w = factories.small_tree()
    w.pm = factories.manager(w.prefecture)  # the prefecture's manager
    w.provm = factories.manager(w.province)
    w.cm = factories.manager(w.county)
    w.c1 = factories.staff(w.county)
    w.s1 = factories.staff(w.school)
    w.s2 = factories.staff(w.school)
    factories.staff(w.school, is_active=False)  # not in any audience
    w.sm = factories.manager(w.sibling)
    w.ss1 = factories.staff(w.sibling_school)

    # A: the prefecture to its counties and schools, acknowledgement by Thu 26 18:00
    w.a = notice(
        w.pm,
        w.prefecture,
        [w.prefecture],
        ["county", "school"],
        at(24),
        requires_ack=True,
        ack_deadline=at(26, 18),
    )
    receipt(w.a, w.s1, at(25), acked=at(25, 11))  # on time
    receipt(w.a, w.s2, at(25), acked=at(27))  # late
    receipt(w.a, w.cm, at(24, 12))
    receipt(w.a, w.sm, at(24, 12), acked=at(24, 13))  # on time
    # B: the county to its schools, no acknowledgement
    w.b = notice(w.cm, w.county, [w.county], ["school"], at(25))
    receipt(w.b, w.s1, at(26))
    # not counted: last week's, a withdrawn one, the platform's own
    old = notice(w.pm, w.prefecture, [w.prefecture], ["school"], at(22, 23, 59))
    receipt(old, w.s1, at(24))
    notice(w.pm, w.prefecture, [w.prefecture], ["school"], at(24), withdrawn_at=at(24, 11))
    notice(system_account(), w.county, [w.prefecture], ["county"], at(24))

    # tickets: the county is the first tier
    t1 = ticket(w.s1, at(24), tier=w.county, resolved=at(26))
    t2 = ticket(w.s2, at(25), tier=w.county, breached=True)
    TicketEvent.objects.create(ticket=t2, kind=EventKind.ESCALATED, created_at=at(25, 15))
    ticket(w.s2, at(20), tier=w.county, resolved=at(23, 9))  # solved this week
    ticket(w.s1, at(24), tier=w.county, platform=True)  # a problem-record ticket
    ticket(w.ss1, at(29, 23, 30), tier=w.sibling)  # Sunday night, China time
    ticket(w.ss1, at(30, 0, 10), tier=w.sibling)  # next week
    w.tickets = [t1, t2]

    # problem records
    record(w.school, at(24), graduating=True, resolved=at(26))
    record(w.school, at(25))
    record(w.school, at(19), resolved=at(27))
    record(w.sibling_school, at(29, 23, 59), graduating=True)
    record(w.sibling_school, at(16), graduating=True)  # another week
    return w
