"""The authorization matrix's world: a unit tree with siblings at every level, people
of every role at every unit, and every kind of object the entry points name, homed at
each unit and each carrying a unique marker string (in a title, body, name or file
name) so a response that shows an object out of the actor's reach is caught.

The tree: the Ministry M; provinces P and P2; prefectures F and F2 under P; counties
C and C2 under F; schools S and S2 under C. The actors are the units on the main line
(M, P, F, C, S); the others only hold objects (siblings of the actors' units)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import services as account_services
from accounts.models import LEVEL_ORDER, IssueBatch, Level
from chat import services as chat_services
from core.models import Job
from notices import services as notice_services
from roll import services as roll_services
from roll.models import ProblemRecord
from tests import factories
from tests.roll.helpers import alert, ric
from tickets import services as ticket_services

# name -> (level, code, parent name)
UNITS = {
    "M": (Level.MINISTRY, None, None),
    "P": (Level.PROVINCE, "130000", "M"),
    "P2": (Level.PROVINCE, "110000", "M"),
    "F": (Level.PREFECTURE, "130100", "P"),
    "F2": (Level.PREFECTURE, "130200", "P"),
    "C": (Level.COUNTY, "130102", "F"),
    "C2": (Level.COUNTY, "130104", "F"),
    "S": (Level.SCHOOL, "1301020001", "C"),
    "S2": (Level.SCHOOL, "1301020002", "C"),
}
ACTOR_UNITS = ["M", "P", "F", "C", "S"]
# Every role at every level: managers and staff everywhere, support engineers where
# support works (the Ministry, provinces, prefectures, counties).
ROLES = ["manager", "staff", "engineer"]


def marker(kind: str, home: str, extra: str = "") -> str:
    """Unique, and never a substring of another marker (the closing Q)."""
    return f"MK{kind}{home}{extra}Q"


def pdf(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4 authz matrix", content_type="application/pdf")


def relation(actor_unit, home_unit) -> str:
    """Where the object's home unit sits seen from the actor's unit."""
    if home_unit.pk == actor_unit.pk:
        return "own"
    if actor_unit.path.startswith(home_unit.path):
        return "ancestor"
    if home_unit.path.startswith(actor_unit.path):
        return "descendant"
    if home_unit.parent_id == actor_unit.parent_id:
        return "sibling"
    return "other"


def build() -> SimpleNamespace:
    w = SimpleNamespace(units={}, people={}, objects=[], markers={})
    ministry = account_services.ministry_ensure()
    for name, (level, code, parent) in UNITS.items():
        w.units[name] = (
            ministry
            if parent is None
            else factories.unit(level, code, f"单位{name}", w.units[parent])
        )
    for name, unit in w.units.items():
        w.people[(name, "manager")] = factories.manager(
            unit, username=f"mgr-{name}", full_name=marker("person", name, "mgr")
        )
        w.people[(name, "staff")] = factories.staff(
            unit, username=f"staff-{name}", full_name=marker("person", name, "staff")
        )
        if unit.level != Level.SCHOOL:
            w.people[(name, "engineer")] = factories.staff(
                unit,
                username=f"eng-{name}",
                is_support_engineer=True,
                full_name=marker("person", name, "eng"),
            )
    for name, unit in w.units.items():
        _objects_of(w, name, unit)
    _records(w)
    return w


def _add(w, kind, home, obj, mark=None, **attrs):
    item = SimpleNamespace(kind=kind, home=home, unit=w.units[home], obj=obj, marker=mark, **attrs)
    w.objects.append(item)
    if mark:
        w.markers[mark] = item
    return item


def _objects_of(w, name, unit):
    mgr, staff = w.people[(name, "manager")], w.people[(name, "staff")]
    # every level from the unit's own down (a notice never addresses the Ministry)
    below = [
        lv.value for lv in LEVEL_ORDER[LEVEL_ORDER.index(unit.level) :] if lv != Level.MINISTRY
    ]
    # the unit itself, its accounts (a staff and a manager account) and its engineer
    _add(w, "unit", name, unit)
    _add(w, "account", name, staff, role="staff")
    _add(w, "account", name, mgr, role="manager")
    if (name, "engineer") in w.people:
        _add(w, "engineer", name, w.people[(name, "engineer")])
    # an issue batch the unit's manager issued (a staff account of its own unit)
    result = account_services.account_issue(
        actor=mgr, unit=unit, role="staff", full_name="新人", username=f"new-{name}"
    )
    _add(w, "batch", name, IssueBatch.objects.get(pk=result.batch.pk), author=mgr)
    # a finished long job of the unit's manager, with a result file (issue 16, core/jobs.py)
    job = Job(
        kind="accounts.register_export",
        owner_id=mgr.pk,
        unit_path=unit.path,
        key=f"world:{name}",
        status=Job.Status.DONE,
        result_name="register.xlsx",
    )
    job.result.save("register.xlsx", ContentFile(b"PK"), save=False)
    job.save()
    _add(w, "job", name, job, author=mgr)
    # a published notice to the unit's subtree (every level from its own down), with a
    # file, and a draft with a file, both by the unit's manager
    fields = {
        "priority": "normal",
        "requires_ack": True,
        "ack_deadline": None,
        "publish_at": None,
        "managers_only": False,
    }
    published = notice_services.notice_save(
        actor=mgr,
        title=marker("notice", name),
        body=marker("noticebody", name),
        target_codes=[unit.code],
        levels=below,
        files=(pdf(marker("noticefile", name) + ".pdf"),),
        **fields,
    )
    published = notice_services.notice_publish(actor=mgr, notice=published)
    _add(
        w,
        "notice",
        name,
        published,
        marker("notice", name),
        author=mgr,
        published=True,
        levels=below,
    )
    _add(
        w,
        "attachment",
        name,
        published.attachments.get(),
        marker("noticefile", name),
        notice=published,
        author=mgr,
        published=True,
        levels=below,
    )
    draft = notice_services.notice_save(
        actor=mgr,
        title=marker("draft", name),
        body=marker("draftbody", name),
        target_codes=[unit.code],
        levels=below,
        files=(pdf(marker("draftfile", name) + ".pdf"),),
        **fields,
    )
    _add(w, "notice", name, draft, marker("draft", name), author=mgr, published=False, levels=below)
    _add(
        w,
        "attachment",
        name,
        draft.attachments.get(),
        marker("draftfile", name),
        notice=draft,
        author=mgr,
        published=False,
        levels=below,
    )
    # a topic room of the unit's subtree, a message with a file in it
    room = chat_services.topic_room_create(
        actor=mgr, name=marker("room", name), rules=[(unit.code, below)], usernames=[]
    )
    _add(w, "room", name, room, marker("room", name), author=mgr, levels=below)
    message = chat_services.message_post(
        account=mgr,
        room=room,
        body=marker("message", name),
        files=(pdf(marker("chatfile", name) + ".pdf"),),
    )
    _add(
        w,
        "message",
        name,
        message,
        marker("message", name),
        room=room,
        author=mgr,
        levels=below,
    )
    _add(
        w,
        "chatfile",
        name,
        message.files.get(),
        marker("chatfile", name),
        room=room,
        author=mgr,
        levels=below,
    )
    # a ticket its staff raised, with a file
    ticket = ticket_services.ticket_create(
        actor=staff,
        title=marker("ticket", name),
        description=marker("ticketbody", name),
        category=_ticket_category(),
        files=(pdf(marker("ticketfile", name) + ".pdf"),),
    )
    ticket.refresh_from_db()
    _add(w, "ticket", name, ticket, marker("ticket", name), reporter=staff)
    _add(
        w,
        "ticketfile",
        name,
        ticket.files.get(),
        marker("ticketfile", name),
        ticket=ticket,
        reporter=staff,
    )
    # a roll API key (the Ministry and provinces hold them)
    if unit.level in (Level.MINISTRY, Level.PROVINCE):
        key, _secret = roll_services.key_issue(actor=mgr, unit=unit, label=marker("rollkey", name))
        _add(w, "rollkey", name, key, marker("rollkey", name))
    # knowledge-base articles (issue 16, F3): a published one and a draft, written by the
    # unit's engineer where support is given
    if (name, "engineer") in w.people:
        from kb import services as kb_services

        eng = w.people[(name, "engineer")]
        for published, mark in ((True, marker("article", name)), (False, marker("kbdraft", name))):
            article = kb_services.article_create(
                actor=eng, title=mark, question=mark + " question", answer=mark + " answer"
            )
            if published:
                article = kb_services.article_publish(actor=eng, article=article, publish=True)
            _add(w, "article", name, article, mark, published=published)


def _ticket_category() -> str:
    from tickets.models import Category

    return Category.values[0]


def _records(w):
    """A problem record at each school, through the roll API's service."""
    key, _secret = roll_services.key_issue(
        actor=w.people[("P", "manager")], unit=w.units["P"], label="intake"
    )
    now = timezone.now()
    for n, name in enumerate(("S", "S2")):
        number = ric(f"13010220120301{n:03d}")
        result = roll_services.intake(
            key=key,
            payload={
                "alerts": [
                    alert(
                        f"A{name}",
                        school=w.units[name].code,
                        id_number=number,
                        detail=marker("record", name),
                    )
                ]
            },
            now=now - timedelta(days=1),
        )
        assert result["accepted"] == 1, result
        record = ProblemRecord.objects.get(alert_id=f"A{name}")
        _add(w, "record", name, record, marker("record", name))
