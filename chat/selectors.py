"""Who belongs to which room, may write, manage it, or open a direct conversation:
the membership rules of chat live here only."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import Account, Level, Unit
from chat.models import EDIT_WINDOW, Message, Room, RoomKind, RoomMember, RoomRule
from core.events import ancestor_paths

# Default level policy of a unit's region room. The province room takes the
# province, prefecture and county staff but not schools; a county room covers the
# county and all its schools and teaching points.
DEFAULT_POLICY = {
    Level.MINISTRY: "ministry,province",
    Level.PROVINCE: "province,prefecture,county",
    Level.PREFECTURE: "prefecture,county",
    Level.COUNTY: "county,school",
}


def _member_row(room: Room, account) -> RoomMember | None:
    return RoomMember.objects.filter(room=room, account=account).first()


def is_member(account, room: Room) -> bool:
    return post_refusal(account, room) != "not_a_member"


def can_manage_room(account, room: Room) -> bool:
    """Managers of the room's unit or above it manage region and topic rooms."""
    return (
        room.kind != RoomKind.DIRECT
        and room.unit is not None
        and scoping.can_manage_unit(account, room.unit)
    )


def can_post(account, room: Room) -> bool:
    return post_refusal(account, room) is None


def post_refusal(account, room: Room) -> str | None:
    """None when `account` may post in `room`, else "not_a_member" or "muted"
    (one member-row lookup, plus the rule lookup for topic rooms)."""
    if not scoping.is_active_account(account):
        return "not_a_member"
    row = _member_row(room, account)
    if row is not None and row.removed:
        return "not_a_member"
    unit = account.unit
    if room.kind == RoomKind.REGION:
        member = scoping.is_within(unit, room.unit) and unit.level in room.level_list
    elif row is not None and row.picked:
        member = True
    elif room.kind == RoomKind.DIRECT:
        member = False
    else:
        member = RoomRule.objects.filter(
            room=room, path__in=ancestor_paths(unit), levels__contains=unit.level
        ).exists()
    if not member:
        return "not_a_member"
    return "muted" if row is not None and row.muted else None


def room_or_404(*, account, pk: int) -> Room:
    room = Room.objects.select_related("unit").filter(pk=pk).first()
    if room is None or not is_member(account, room):
        raise Http404
    return room


def region_units(account) -> list[Unit]:
    """The units on the account's path whose region room takes its level (default policy)."""
    codes = account.unit.ancestor_codes + [account.unit.code]
    return list(Unit.objects.filter(code__in=codes).exclude(level=Level.SCHOOL).order_by("path"))


def rooms_of(account) -> QuerySet[Room]:
    """Every room the account belongs to (region rooms must exist: see services.region_rooms_ensure)."""
    unit = account.unit
    paths = ancestor_paths(unit)
    region = Q(kind=RoomKind.REGION, unit__path__in=paths, levels__contains=unit.level)
    removed = RoomMember.objects.filter(account=account, removed=True).values("room_id")
    picked = RoomMember.objects.filter(account=account, picked=True, removed=False).values(
        "room_id"
    )
    by_rule = RoomRule.objects.filter(path__in=paths, levels__contains=unit.level).values("room_id")
    topic = Q(kind=RoomKind.TOPIC) & (Q(pk__in=picked) | Q(pk__in=by_rule))
    direct = Q(kind=RoomKind.DIRECT, pk__in=picked)
    return (
        Room.objects.filter(region | topic | direct).exclude(pk__in=removed).select_related("unit")
    )


def room_rows_of(account) -> list[tuple[int, str, str | None]]:
    """(id, kind, the unit's level) of every room in `rooms_of(account)`, by one SQL
    statement written out: the socket asks this at every connect, and building
    rooms_of's query through the ORM cost about 1.5 ms of CPU, most of a connect.
    tests/chat/test_room_rows.py holds it equal to rooms_of."""
    unit = account.unit
    paths = ancestor_paths(unit)
    marks = ", ".join(["%s"] * len(paths))
    level = f"%{unit.level}%"  # levels__contains: level names hold no LIKE wildcard
    room, member, rule = Room._meta.db_table, RoomMember._meta.db_table, RoomRule._meta.db_table
    unit_table = Unit._meta.db_table
    # Only table names (from the models) and placeholders are formatted in; values are
    # parameters.
    mine = f"SELECT room_id FROM {member} WHERE account_id = %s AND picked AND NOT removed"  # noqa: S608
    sql = (
        f"SELECT r.id, r.kind, u.level FROM {room} r LEFT JOIN {unit_table} u"  # noqa: S608
        " ON u.id = r.unit_id"
        f" WHERE r.id NOT IN (SELECT room_id FROM {member} WHERE account_id = %s AND removed)"
        f" AND ((r.kind = %s AND r.levels LIKE %s AND u.path IN ({marks}))"
        f" OR (r.kind = %s AND (r.id IN ({mine}) OR r.id IN"
        f" (SELECT room_id FROM {rule} WHERE levels LIKE %s AND path IN ({marks}))))"
        f" OR (r.kind = %s AND r.id IN ({mine})))"
    )
    params = [account.pk, RoomKind.REGION.value, level, *paths, RoomKind.TOPIC.value]
    params += [account.pk, level, *paths, RoomKind.DIRECT.value, account.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def room_list(account) -> list[dict]:
    """Rooms with unread counts (the room's last sequence minus my read position)."""
    rooms = list(rooms_of(account).order_by("kind", "unit__path", "name"))
    reads = dict(
        RoomMember.objects.filter(account=account, room__in=rooms).values_list(
            "room_id", "last_read_seq"
        )
    )
    directs = {r.pk: r for r in rooms if r.kind == RoomKind.DIRECT}
    others = {}
    if directs:
        for m in (
            RoomMember.objects.filter(room_id__in=directs)
            .exclude(account=account)
            .select_related("account__unit")
        ):
            others[m.room_id] = m.account
    result = []
    for room in rooms:
        name = display_name(room)
        if room.kind == RoomKind.DIRECT and room.pk in others:
            other = others[room.pk]
            name = f"{other.full_name or other.username} · {other.unit.name}"
        result.append(
            {"room": room, "name": name, "unread": max(0, room.last_seq - reads.get(room.pk, 0))}
        )
    return result


def display_name(room: Room) -> str:
    """Region rooms are named after their unit, in the reader's language."""
    if room.kind == RoomKind.REGION:
        return _("%s room") % room.name
    if room.kind == RoomKind.DIRECT:
        return _("Direct messages")
    return room.name


def unread_total(account) -> int:
    if not scoping.is_active_account(account) or account.must_change_password:
        return 0
    rooms = rooms_of(account)
    total = 0
    reads = dict(RoomMember.objects.filter(account=account).values_list("room_id", "last_read_seq"))
    for pk, last in rooms.values_list("pk", "last_seq"):
        total += max(0, last - reads.get(pk, 0))
    return total


def room_members(room: Room) -> QuerySet[Account]:
    """The accounts that belong to a room, computed from its rules."""
    removed = RoomMember.objects.filter(room=room, removed=True).values("account_id")
    if room.kind == RoomKind.REGION:
        qs = Account.objects.filter(
            scoping.under("unit__path", room.unit.path),
            is_active=True,
            unit__level__in=room.level_list,
            unit__closed_at__isnull=True,  # a closed school's accounts (issue 15, item 6)
        )
    else:
        picked = RoomMember.objects.filter(room=room, picked=True).values("account_id")
        rules = list(room.rules.all())
        q = Q(pk__in=picked)
        if rules:
            q |= reduce(
                or_,
                (
                    scoping.under("unit__path", r.path) & Q(unit__level__in=r.levels.split(","))
                    for r in rules
                ),
            )
        qs = Account.objects.filter(q, is_active=True)
    return qs.exclude(pk__in=removed).select_related("unit")


def county_of(unit: Unit) -> str | None:
    codes = unit.ancestor_codes + [unit.code]
    return (
        Unit.objects.filter(code__in=codes, level=Level.COUNTY)
        .values_list("code", flat=True)
        .first()
    )


def dm_refusal(a, b) -> str | None:
    """None when `a` may open a direct conversation with `b`, else the reason."""
    if not scoping.is_active_account(b) or b.pk == a.pk:
        return _("This account cannot receive direct messages.")
    if scoping.is_within(a.unit, b.unit) or scoping.is_within(b.unit, a.unit):
        return None
    county = county_of(a.unit)
    if county is not None and county == county_of(b.unit):
        return None
    return _(
        "Direct messages are open only along your line of units (above or below you) or within your county."
    )


def history(*, room: Room, before: int | None = None, limit: int = 50) -> list[Message]:
    qs = room.messages.select_related("author__unit").prefetch_related("files")
    if before is not None:
        qs = qs.filter(seq__lt=before)
    return list(reversed(qs.order_by("-seq")[:limit]))


def messages_after(*, room: Room, after: int, limit: int) -> list[Message]:
    return list(
        room.messages.select_related("author__unit")
        .prefetch_related("files")
        .filter(seq__gt=after)
        .order_by("seq")[:limit]
    )


def search(*, account, q: str, limit: int = 50) -> list[Message]:
    rooms = rooms_of(account).values("pk")
    return list(
        Message.objects.filter(room__in=rooms, deleted_at__isnull=True, body__icontains=q)
        .select_related("room", "author__unit")
        .order_by("-created_at")[:limit]
    )


def can_edit_message(account, message: Message) -> bool:
    return (
        message.author_id == getattr(account, "pk", None)
        and message.deleted_at is None
        and timezone.now() - message.created_at <= EDIT_WINDOW
    )


# --- the contact directory (通讯录) of direct messages ----------------------------------

DIRECTORY_PAGE = 30

# Where a person's unit stands to the viewer's: the directory lists its groups in this
# order (own unit, the level above, further up, below, elsewhere in the county).
OWN, ABOVE, FURTHER_UP, BELOW, COUNTY = range(5)


def _dm_scope(account) -> Q:
    """dm_refusal's rule as a filter on accounts: the viewer's line of units (its
    ancestors, its unit and its subtree) and its county's subtree."""
    unit = account.unit
    scope = Q(unit__path__in=unit.ancestor_paths) | scoping.under("unit__path", unit.path)
    county = (
        Unit.objects.filter(path__in=unit.ancestor_paths, level=Level.COUNTY)
        .values_list("path", flat=True)
        .first()
    )
    if county is not None and county != unit.path:
        scope |= scoping.under("unit__path", county)
    return scope


def directory(account, *, q: str = "", page: int = 1, per_page: int = DIRECTORY_PAGE):
    """The people `account` may open a direct conversation with (exactly dm_refusal's
    rule), active and of units not closed, grouped by where their unit stands (see OWN …
    COUNTY), searched by name, username, unit name, unit code or the unit name's pinyin
    initials. One page of at most `per_page` people: returns (people, has_next), each
    person with `.group` set.

    Read in two parts, never the whole scope: the accounts of the units on the viewer's
    path (its own and its ancestors': a handful of units), then the rest in unit-path
    order with LIMIT/OFFSET — the units below (a unit above the county) or the county's
    other units (a school; a school has nothing below, a county's own subtree is its
    county), so one ordered range either way. No count: a Ministry account's directory
    is the country."""
    if not scoping.is_active_account(account):
        return [], False
    unit = account.unit
    line = unit.ancestor_paths  # root first, ending with the viewer's own unit
    qs = (
        Account.objects.filter(_dm_scope(account), is_active=True, unit__closed_at__isnull=True)
        .exclude(pk=account.pk)
        .select_related("unit")
    )
    q = q.strip()[:50]
    if q:
        match = (
            Q(full_name__icontains=q)
            | Q(username__icontains=q)
            | Q(unit__name__icontains=q)
            | Q(unit__code__startswith=q)
        )
        if q.isascii() and q.isalpha():
            match |= Q(unit__initials__startswith=q.lower())
        qs = qs.filter(match)
    depth = {path: i for i, path in enumerate(line)}
    near = sorted(
        qs.filter(unit__path__in=line),
        key=lambda a: (-depth[a.unit.path], a.role, a.full_name, a.username),
    )
    for person in near:
        up = len(line) - 1 - depth[person.unit.path]
        person.group = OWN if up == 0 else ABOVE if up == 1 else FURTHER_UP
    page = max(1, page)
    start, stop = (page - 1) * per_page, page * per_page + 1  # one more: is there a next?
    rows = near[start:stop]
    if len(rows) < stop - start:
        skip = max(0, start - len(near))
        rest = qs.exclude(unit__path__in=line).order_by(
            "unit__path", "role", "full_name", "username"
        )[skip : skip + stop - start - len(rows)]
        for person in rest:
            person.group = BELOW if person.unit.path.startswith(unit.path) else COUNTY
            rows.append(person)
    return rows[:per_page], len(rows) > per_page


def directory_ids(account, ids: list[int]) -> list[int]:
    """Those of `ids` that are in `account`'s directory (whose presence it may ask)."""
    if not scoping.is_active_account(account) or not ids:
        return []
    return list(
        Account.objects.filter(
            _dm_scope(account), pk__in=ids, is_active=True, unit__closed_at__isnull=True
        )
        .exclude(pk=account.pk)
        .values_list("pk", flat=True)
    )
