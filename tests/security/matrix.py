"""The authorization matrix's machinery: the entry points (walked from the URL
configuration and the socket registry), their declared rules (tests/security/policy.py),
the rules' meaning (`allowed`, an oracle written from the policy's vocabulary, not by
calling the code under test), who may see which marked object (`visible`), and how a
URL's parameters are filled with the world's objects (tests/security/world.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Level, Role
from tests.security import policy

# --- the entry points ------------------------------------------------------------------


@dataclass
class Entry:
    key: str  # the URL name, or the route of an unnamed pattern
    route: str  # the route from the root, as Django prints it
    name: str | None  # the name reverse() takes (namespaced)
    params: list[str] = field(default_factory=list)
    pattern: object = None


def entries() -> list[Entry]:
    """Every URL pattern the resolver holds, recursively."""
    found = []

    def walk(resolver, prefix, namespace):
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                ns = namespace
                if p.namespace:
                    ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
                walk(p, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                name = f"{namespace}:{p.name}" if namespace and p.name else p.name
                params = list(p.pattern.regex.groupindex)
                found.append(Entry(name or route, route, name, params, p))

    walk(get_resolver(), "", None)
    return found


def rule_of(entry: Entry) -> str | None:
    if entry.key in policy.URLS:
        return policy.URLS[entry.key]
    for prefix, rule in policy.PREFIXES.items():
        if entry.route.startswith(prefix):
            return rule
    return None


def frame_types() -> set[str]:
    """The frame types the socket answers: core's own and the apps' registered ones."""
    from core import sockets

    return {"ping", "events.sync", *sockets._frames}


RULE = re.compile(r"^(?P<word>[a-z_]+)(?:\((?P<arg>[a-z|]+)\))?$")


def parse(rule: str) -> tuple[str, str | None]:
    m = RULE.match(rule)
    assert m, f"not a rule of the vocabulary: {rule!r}"
    return m["word"], m["arg"]


# --- the actors --------------------------------------------------------------------------


@dataclass
class Actor:
    label: str  # "anonymous" or "<role>@<level>"
    account: object = None
    unit_name: str | None = None

    @property
    def unit(self):
        return self.account.unit


def _within(unit, root) -> bool:
    return unit.path.startswith(root.path)


# --- the oracle: what each word of the vocabulary allows ------------------------------------


def reads_notice(acc, item) -> bool:
    author = acc.pk == item.author.pk
    if not item.published:
        return author
    inside = _within(acc.unit, item.unit)
    reaches = inside and acc.unit.level in item.levels
    return reaches or notice_stats(acc, item)


def notice_stats(acc, item) -> bool:
    if acc.pk == item.author.pk:
        return True
    # managers inside the author's unit, which is also the audience's root here
    return item.published and acc.role == Role.MANAGER and _within(acc.unit, item.unit)


def room_member(acc, item) -> bool:
    return acc.pk == item.author.pk or (
        _within(acc.unit, item.unit) and acc.unit.level in item.levels
    )


def support_person(acc) -> bool:
    return acc.is_support_engineer or (acc.role == Role.MANAGER and acc.unit.level != Level.SCHOOL)


def overseer(acc) -> bool:
    return acc.unit.level != Level.SCHOOL and (acc.role == Role.MANAGER or acc.is_support_engineer)


def sees_ticket(acc, ticket, reporter) -> bool:
    return acc.pk == reporter.pk or (
        support_person(acc) and _within(ticket.reporter_unit, acc.unit)
    )


def reads_article(acc, item) -> bool:
    """kb: a published article is read by the subtree of its unit; its editors (support
    people of its unit or above) read drafts too."""
    published = item.published and _within(acc.unit, item.unit)
    return published or (support_person(acc) and _within(item.unit, acc.unit))


def allowed(rule: str, actor: Actor, item) -> bool:
    """Whether the declared rule lets `actor` at `item` (None: the URL names no object)."""
    word, arg = parse(rule)
    acc = actor.account
    if word == "public":
        return True
    if acc is None:
        return False
    if word in ("authenticated", "login"):
        return True
    if word == "staff_site":
        return acc.is_staff
    if word == "roll_key":
        return False  # a session never signs a roll API request
    manager = acc.role == Role.MANAGER
    if word == "manager":
        return manager
    if word == "manager_at":
        return manager and acc.unit.level in arg.split("|")
    if word == "support":
        return support_person(acc)
    if word == "support_manager":
        return manager and acc.unit.level != Level.SCHOOL
    if word == "school_or_overseer":
        return acc.unit.level == Level.SCHOOL or overseer(acc)
    if word == "engineer" and item is None:  # the roster of one's own unit
        return manager or acc.is_support_engineer
    assert item is not None, f"{rule} needs an object"
    covers = _within(item.unit, acc.unit)
    if word == "subtree":
        return covers
    if word == "roster":
        return covers and (manager or (acc.is_support_engineer and item.unit.pk == acc.unit_id))
    if word == "sla_manager":
        return manager and covers and item.unit.level in (Level.MINISTRY, Level.PROVINCE)
    if word == "overseer" and arg == "unit":
        return overseer(acc) and covers
    if word == "manager_subtree":
        return manager and covers
    if word == "manageable":
        return (
            manager
            and covers
            and item.obj.pk != acc.pk
            and not (item.unit.pk == acc.unit_id and item.role == Role.MANAGER)
        )
    if word == "own" and arg in ("batch", "job"):
        return item.author.pk == acc.pk
    if word == "own" and arg == "notice":
        return item.author.pk == acc.pk and not item.published
    if word == "audience":
        return reads_notice(acc, item)
    if word == "manager_audience":
        return manager and item.published and reads_notice(acc, item)
    if word == "overseer" and arg == "notice":
        return reads_notice(acc, item) and notice_stats(acc, item)
    if word == "issuer":  # the author, or a manager of the author's unit (item.unit here)
        return item.published and (
            acc.pk == item.author.pk or (manager and acc.unit_id == item.unit.pk)
        )
    if word == "member":
        return room_member(acc, item)
    if word == "room_manager":
        return room_member(acc, item) and manager and covers
    if word == "own" and arg == "message":
        return room_member(acc, item) and item.author.pk == acc.pk
    if word == "ticket":
        ticket = item.ticket if item.kind == "ticketfile" else item.obj
        return sees_ticket(acc, ticket, item.reporter)
    if word == "ticket_work":
        t = item.obj
        return (
            support_person(acc)
            and t.tier_id == acc.unit_id
            and acc.pk != item.reporter.pk
            and sees_ticket(acc, t, item.reporter)
        )
    if word == "duty":  # an engineer's duty: itself, or managers above it
        return covers and (acc.pk == item.obj.pk or manager)
    if word == "own_unit":
        return acc.unit_id == item.unit.pk
    if word == "unmask":  # managers of the record's school or of its county
        return manager and (
            acc.unit_id == item.unit.pk or (acc.unit.level == Level.COUNTY and covers)
        )
    if word == "kb_editor":  # support people of the article's unit or above
        return support_person(acc) and covers
    if word == "kb_reader":
        return reads_article(acc, item)
    raise AssertionError(f"the matrix does not know the rule {rule!r}")


def visible(actor: Actor, item) -> bool:
    """Whether `actor` may see the marked object anywhere (lists, JSON, pages)."""
    acc = actor.account
    if acc is None:
        return False
    kind = item.kind
    if kind in ("notice", "attachment"):
        return reads_notice(acc, item)
    if kind in ("room", "message", "chatfile"):
        return room_member(acc, item)
    if kind == "ticket":
        return sees_ticket(acc, item.obj, item.reporter)
    if kind == "ticketfile":
        return sees_ticket(acc, item.ticket, item.reporter)
    if kind == "record":
        return acc.unit_id == item.unit.pk or (overseer(acc) and _within(item.unit, acc.unit))
    if kind == "rollkey":
        return (
            acc.role == Role.MANAGER
            and acc.unit.level in (Level.MINISTRY, Level.PROVINCE)
            and _within(item.unit, acc.unit)
        )
    if kind == "article":
        return reads_article(acc, item)
    raise AssertionError(f"no visibility rule for {kind}")


# --- filling a URL's parameters ------------------------------------------------------------

# Parameters that name no object of the platform (Django's admin, allauth's keys).
PLAIN = {
    "object_id": "1",
    "content_type_id": "1",
    "app_label": "accounts",
    "url": "x/",
    "rest": "x",
    "key": "x",
    "uidb36": "x",
}


def item_kind(rule_arg: str | None, params: list[str]) -> str | None:
    if rule_arg is None or "|" in (rule_arg or ""):
        return None
    if "attachment_pk" in params:
        return "attachment"
    if "file_pk" in params:
        return "chatfile" if rule_arg == "room" else "ticketfile"
    if "seq" in params:
        return "message"
    if rule_arg == "tier" or not params and rule_arg != "record":
        return None
    return rule_arg


def kwargs_for(entry: Entry, item) -> dict:
    kw = {}
    for p in entry.params:
        if p in PLAIN:
            kw[p] = PLAIN[p]
    if item is None:
        return kw
    obj = item.obj
    if "code" in entry.params:
        kw["code"] = obj.code
    if "pk" in entry.params:
        kw["pk"] = {
            "attachment": lambda: item.notice.pk,
            "chatfile": lambda: item.room.pk,
            "message": lambda: item.room.pk,
            "ticketfile": lambda: item.ticket.pk,
        }.get(item.kind, lambda: obj.pk)()
    if "attachment_pk" in entry.params or "file_pk" in entry.params:
        kw["attachment_pk" if "attachment_pk" in entry.params else "file_pk"] = obj.pk
    if "seq" in entry.params:
        kw["seq"] = obj.seq
    if "account_pk" in entry.params:
        kw["account_pk"] = item.author.pk
    if "action" in entry.params:
        kw["action"] = "mute"
    return kw


# Valid forms for the pages whose form is checked before the permission (an empty POST
# would only show that the form is refused).
FORMS = {
    "chat_policy": {"levels": ["school"]},
}


def post_data_for(entry: Entry, item) -> dict:
    """The form posted: objects named in the form rather than the URL (roll: the records
    to work), or a valid form (FORMS)."""
    if item is not None and not entry.params and item.kind == "record":
        return {"record": [str(item.obj.pk)], "action": "start", "note": "matrix"}
    return FORMS.get(entry.key, {})
