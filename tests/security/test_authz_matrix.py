"""The authorization matrix (issue 14, item 7): every entry point — each URL pattern the
resolver holds and each socket frame type — requested as every role at every level and
anonymously, against objects of the actor's own unit, its parent, a sibling and a child
(the nearest ancestor and descendant: the rules are path-prefix rules; every farther
pair is some other actor's nearest), with each unit named in the query string where a
page reads one, and checked against the declared policy (tests/security/policy.py):

- allowed: 2xx/3xx, or a form's 400; denied: 403/404 (or 401), a redirect to the login
  page for anonymous callers, or a redirect that carries an error message (a page that
  refuses one action politely);
- and no response, of any status, shows the marker of an object out of the actor's reach
  (notices, attachments, rooms, messages, chat files, tickets, ticket files, problem
  records, roll keys; people's names are not checked: region rooms rightly show them
  across sibling units).

Each HTTP case runs in a transaction rolled back after it, from the actor's own session
cookies. The socket part sends every frame type about rooms in each relation through
the real consumer, then posts a live message in every room and replays every event
(events.sync after 0): nothing foreign may arrive.

The figures (cases, entry points, roles × levels, leaks) go to var/security/authz.json
and the terminal summary (tests/security/conftest.py)."""

from __future__ import annotations

import copy
import json
import re
import time
from collections import Counter

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib import messages as django_messages
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse

from tests.core.sockets import headers_for, next_frame, open_socket
from tests.security import matrix, policy, world

MARK = re.compile(rb"MK[a-z]+[A-Z0-9]*[a-z]*Q")


def _report(section: str, figures: dict) -> None:
    path = settings.VAR_DIR / "security" / "authz.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[section] = figures | {"written_at": time.time()}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))


# --- every entry point has a declared policy, and every declared one exists ------------------


def test_every_url_pattern_has_a_declared_policy_and_none_is_stale():
    entries = matrix.entries()
    undeclared = [e.route for e in entries if matrix.rule_of(e) is None]
    assert undeclared == [], f"add these to tests/security/policy.py URLS: {undeclared}"
    keys = {e.key for e in entries}
    stale = sorted(set(policy.URLS) - keys)
    assert stale == [], f"policy.py names entry points that no longer exist: {stale}"
    routes = [e.route for e in entries]
    for prefix in policy.PREFIXES:
        assert any(r.startswith(prefix) for r in routes), f"stale prefix {prefix!r}"
    stale = sorted(set(policy.QUERIES) - set(policy.URLS))
    assert stale == [], f"policy.py QUERIES names entry points that do not exist: {stale}"
    rules = [*policy.URLS.values(), *policy.PREFIXES.values(), *policy.FRAMES.values()]
    for rule in [*rules, *policy.QUERIES.values()]:
        matrix.parse(rule)


def test_every_socket_frame_type_has_a_declared_policy_and_none_is_stale():
    assert set(policy.FRAMES) == matrix.frame_types()


# --- HTTP ---------------------------------------------------------------------------------


def _actors(w) -> list[matrix.Actor]:
    actors = [matrix.Actor("anonymous")]
    for unit_name in world.ACTOR_UNITS:
        for role in world.ROLES:
            account = w.people.get((unit_name, role))
            if account is not None:
                level = w.units[unit_name].level
                actors.append(matrix.Actor(f"{role}@{level}", account, unit_name))
    return actors


def _homes(w, actor) -> list[str]:
    """The units whose objects an actor is tried on: its own, its parent, a sibling and a
    child (the nearest of each relation: the rules are prefix rules on the unit path, so
    a farther ancestor or descendant answers as the nearest one does, and every farther
    pair is some other actor's nearest)."""
    unit = actor.unit
    homes = [actor.unit_name]
    by_relation = {}
    for name, other in w.units.items():
        rel = world.relation(unit, other)
        if rel == "ancestor" and other.pk == unit.parent_id:
            by_relation.setdefault("parent", name)
        elif rel == "sibling":
            by_relation.setdefault("sibling", name)
        elif rel == "descendant" and other.parent_id == unit.pk:
            by_relation.setdefault("child", name)
    return homes + list(by_relation.values())


def _items_for(w, actor, kind, homes):
    """The objects of `kind` homed at the actor's own unit, its parent, a sibling and a
    child (anonymous callers: those of one unit)."""
    if actor.account is None:
        return [next(o for o in w.objects if o.kind == kind and o.home in ("S", "P", "M"))]
    return [o for o in w.objects if o.kind == kind and o.home in homes[actor.label]]


def _own_item(w, actor, rule, entry, homes):
    _word, arg = matrix.parse(rule)
    kind = matrix.item_kind(arg, entry.params)
    if actor.account is None:
        return _items_for(w, actor, kind, homes)[0]
    return next(
        o
        for o in w.objects
        if o.kind == kind and o.home == actor.unit_name and getattr(o, "published", True)
    )


def _url(entry: matrix.Entry, kwargs: dict) -> str:
    if entry.name:
        return reverse(entry.name, kwargs=kwargs)
    # An unnamed pattern: its route with the parameters filled in.
    path = entry.route
    for key, value in kwargs.items():
        path = re.sub(rf"<(?:\w+:)?{key}>|\(\?P<{key}>[^)]*\)", str(value), path)
    return "/" + path.replace("^", "").replace("$", "")


def _login_redirect(response) -> bool:
    location = response.get("Location", "")
    return location.startswith((reverse("account_login"), reverse("admin:login")))


def _refused_with_message(response) -> bool:
    storage = getattr(response.wsgi_request, "_messages", None)
    queued = getattr(storage, "_queued_messages", [])
    return any(m.level >= django_messages.ERROR for m in queued)


def _outcome(response) -> str:
    status = response.status_code
    if status == 405:
        return "method"
    if 300 <= status < 400:
        if _login_redirect(response):
            return "login"
        return "refused" if _refused_with_message(response) else "ok"
    if status < 300:
        return "ok"
    if status == 400:
        return "invalid"
    if status in (401, 403, 404):
        return "denied"
    return f"status {status}"


def _agrees(rule: str, allowed: bool, anonymous: bool, outcome: str) -> bool:
    word, _arg = matrix.parse(rule)
    if allowed and word in ("public", "authenticated"):
        # allauth's and the captcha's flows answer unknown keys with 404 or 410
        return outcome not in ("status 429",) and not outcome.startswith("status 5")
    if outcome.startswith("status"):  # 429 or 5xx: never an answer to a permission
        return False
    if allowed:
        return outcome in ("ok", "invalid", "method", "refused")
    if anonymous:
        return outcome in ("login", "denied", "method")
    return outcome in ("denied", "method", "refused", "login" if word == "staff_site" else "")


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content + response.get("Content-Disposition", "").encode()


def _run_http(w, entries) -> dict:
    """Every entry point of `entries` as every actor on its objects; the figures, the
    disagreements with the policy and the leaks."""
    actors = _actors(w)
    clients = {}
    for actor in actors:
        client = Client(raise_request_exception=False)
        if actor.account is not None:
            client.force_login(actor.account, backend="accounts.backends.PasswordBackend")
        clients[actor.label] = client
    # A case that logs out (allauth's and the admin's logout) or rotates the session
    # must not turn the actor's later cases anonymous: each starts from these cookies.
    cookies = {label: copy.deepcopy(c.cookies) for label, c in clients.items()}
    homes = {a.label: _homes(w, a) for a in actors if a.account is not None}
    cases, wrong, leaks = 0, [], []
    by_outcome = Counter()
    # Every pattern with its parameters filled, then those that read a unit from the
    # query string with each unit.
    runs = [(entry, None) for entry in entries]
    runs += [(e, policy.QUERIES[e.key]) for e in entries if e.key in policy.QUERIES]
    for entry, query_rule in runs:
        post_only = False  # require_POST answers 405 to a GET before any permission check
        rule = matrix.rule_of(entry)
        _word, arg = matrix.parse(query_rule or rule)
        kind = matrix.item_kind(arg, entry.params) if query_rule is None else "unit"
        for actor in actors:
            for item in [None] if kind is None else _items_for(w, actor, kind, homes):
                if query_rule is None:
                    url = _url(entry, matrix.kwargs_for(entry, item))
                    expected = matrix.allowed(rule, actor, item)
                    data = matrix.post_data_for(entry, item)
                else:
                    # A URL that also names an object (a notice's statistics) names the
                    # actor's own unit's published one.
                    base = _own_item(w, actor, rule, entry, homes) if entry.params else None
                    url = f"{_url(entry, matrix.kwargs_for(entry, base))}?unit={item.obj.code}"
                    expected = matrix.allowed(rule, actor, base) and matrix.allowed(
                        query_rule, actor, item
                    )
                    data = {"unit": item.obj.code}
                assert resolve(url.split("?")[0]).func is entry.pattern.callback, url
                for method in ("post",) if post_only else ("get", "post"):
                    # Each case in a transaction rolled back: no case changes another's world.
                    clients[actor.label].cookies = copy.deepcopy(cookies[actor.label])
                    with transaction.atomic():
                        response = getattr(clients[actor.label], method)(
                            url, data if method == "post" else None
                        )
                        body = _body(response)
                        transaction.set_rollback(True)
                    cases += 1
                    outcome = _outcome(response)
                    by_outcome[outcome] += 1
                    if (
                        method == "get"
                        and outcome == "method"
                        and "GET" not in response.get("Allow", "GET")
                    ):
                        post_only = True
                    declared = rule if query_rule is None else f"{rule} + ?unit {query_rule}"
                    where = f"{method.upper()} {url} [{entry.key}: {declared}] as {actor.label}" + (
                        f" on {item.kind}@{item.home}" if item is not None else ""
                    )
                    if not _agrees(rule, expected, actor.account is None, outcome):
                        allowed = "allowed" if expected else "denied"
                        wrong.append(f"{where}: {allowed}, got {response.status_code} {outcome}")
                    for found in set(MARK.findall(body)):
                        shown = w.markers.get(found.decode())
                        if shown is not None and not matrix.visible(actor, shown):
                            leaks.append(f"{where}: shows {found.decode()}")
    return {
        "cases": cases,
        "entry_points": len(entries),
        "query_entry_points": len(runs) - len(entries),
        "roles_levels": len(actors) - 1,
        "actors": [a.label for a in actors],
        "leaks": leaks,
        "wrong": wrong,
        "outcomes": dict(by_outcome),
    }


@pytest.mark.django_db
def test_every_entry_point_as_every_role_at_every_level(settings):
    settings.ACCOUNT_RATE_LIMITS = False  # thousands of requests a minute from each account
    result = _run_http(world.build(), matrix.entries())
    leaks, wrong = result["leaks"], result["wrong"]
    _report("http", result | {"leaks": len(leaks), "wrong": len(wrong)})
    assert leaks == [], "\n".join(leaks[:50])
    assert wrong == [], f"{len(wrong)} of {result['cases']} cases disagree:\n" + "\n".join(
        wrong[:80]
    )


@pytest.mark.django_db
def test_the_matrix_catches_a_planted_leak_and_a_planted_wrong_permission(settings, monkeypatch):
    """The matrix is not a test that cannot fail: with the notice reading rule broken
    (everyone reads every notice) it reports the sibling's notice shown and the
    refusals that did not happen."""
    from notices import selectors

    settings.ACCOUNT_RATE_LIMITS = False
    w = world.build()
    monkeypatch.setattr(selectors, "can_read", lambda account, notice: True)
    entries = [e for e in matrix.entries() if e.key == "notice_detail"]
    result = _run_http(w, entries)
    assert any("on notice@C2" in leak and "as staff@county" in leak for leak in result["leaks"])
    assert any(
        "as staff@county on notice@C2: denied, got 200" in wrong for wrong in result["wrong"]
    )


# --- the socket -------------------------------------------------------------------------


def _marks(frame) -> set[str]:
    return {m.decode() for m in MARK.findall(json.dumps(frame, ensure_ascii=False).encode())}


async def _until(socket, kinds, seen):
    """The frames up to the first of a type in `kinds` (every frame is kept in `seen`)."""
    frames = []
    while True:
        frame = await next_frame(socket)
        seen.append(frame)
        frames.append(frame)
        if frame["type"] in kinds:
            return frames


async def _exchange(socket, frame, kinds, seen):
    await socket.send_json_to(frame)
    return await _until(socket, kinds, seen)


def _refused(frames, room_id) -> bool:
    return any(
        f["type"] == "error" and f.get("code") in ("not_a_member", "forbidden")
        for f in frames
        if f.get("room", room_id) == room_id
    )


def _run_socket(w) -> dict:
    """Every frame type as every actor on the rooms in each relation, then live posts
    and a full event replay; the figures, the disagreements and the leaks."""
    from chat import services as chat_services

    actors = _actors(w)[1:]
    homes = {a.label: _homes(w, a) for a in actors}
    headers = {a.label: headers_for(a.account) for a in actors}
    rooms = {o.home: o for o in w.objects if o.kind == "room"}
    cases, wrong, leaks = 0, [], []
    seen = {a.label: [] for a in actors}

    async def anonymous():
        from channels.testing import WebsocketCommunicator

        from config.asgi import application
        from tests.core.sockets import SAME_ORIGIN

        socket = WebsocketCommunicator(application, "/ws/", headers=SAME_ORIGIN)
        await socket.connect()
        closed = await socket.receive_output()
        await socket.wait()
        return closed

    closed = async_to_sync(anonymous)()
    cases += 1
    if closed.get("code") != 4401:
        wrong.append(f"anonymous socket: {closed}")

    async def conversation():
        nonlocal cases
        sockets = {}
        for actor in actors:
            sockets[actor.label], _hello = await open_socket(headers[actor.label])
        for actor in actors:
            socket, got = sockets[actor.label], seen[actor.label]
            for frame, rule in (
                ({"type": "ping"}, policy.FRAMES["ping"]),
                ({"type": "presence", "state": "online"}, policy.FRAMES["presence"]),
            ):
                await socket.send_json_to(frame)
                answers = await _exchange(socket, {"type": "ping"}, {"pong"}, got)
                cases += 1
                errors = [f for f in answers if f["type"] == "error"]
                if matrix.allowed(rule, actor, None) == bool(errors):
                    wrong.append(f"{frame['type']} as {actor.label}: {answers}")
            for home in homes[actor.label]:
                item = rooms[home]
                room_id = item.obj.pk
                expected = matrix.allowed(policy.FRAMES["chat.send"], actor, item)
                sent = await _exchange(
                    socket,
                    {"type": "chat.send", "room": room_id, "body": "好", "client_id": f"m{home}"},
                    {"chat.sent", "error"},
                    got,
                )
                synced = await _exchange(
                    socket, {"type": "chat.sync", "rooms": {str(room_id): 0}}, {"chat.synced"}, got
                )
                await socket.send_json_to({"type": "chat.read", "room": room_id, "seq": 1})
                read = await _exchange(socket, {"type": "ping"}, {"pong"}, got)
                for kind, answers in (
                    ("chat.send", sent),
                    ("chat.sync", synced),
                    ("chat.read", read),
                ):
                    cases += 1
                    allowed = matrix.allowed(policy.FRAMES[kind], actor, item)
                    ok = (not _refused(answers, room_id)) if allowed else _refused(answers, room_id)
                    if kind == "chat.send" and allowed:
                        ok = answers[-1]["type"] == "chat.sent"
                    if not ok:
                        wrong.append(
                            f"{kind} room@{home} as {actor.label}: "
                            f"{'allowed' if expected else 'denied'}, got {answers}"
                        )
        # Live: a message in every room and a notice to every unit's subtree, published
        # now; each socket must get its own rooms' and notices' and nothing foreign.
        live = {}
        for name in world.UNITS:
            mark = world.marker("live", name)
            message = await sync_to_async(chat_services.message_post)(
                account=w.people[(name, "manager")], room=rooms[name].obj, body=mark
            )
            live[mark] = world.SimpleNamespace(**{**vars(rooms[name]), "kind": "message"})
            w.markers[mark] = live[mark]
            del message
        for actor in actors:
            socket, got = sockets[actor.label], seen[actor.label]
            wanted = {m for m, item in live.items() if matrix.visible(actor, item)}
            arrived = set()
            while not wanted <= arrived:
                frame = await next_frame(socket)
                got.append(frame)
                arrived |= _marks(frame)
            # the replay of every event after 0: the server's event filter, deterministically
            await _exchange(socket, {"type": "events.sync", "after": 0}, {"events.synced"}, got)
            await _exchange(socket, {"type": "ping"}, {"pong"}, got)
            cases += 2
        for socket in sockets.values():
            await socket.disconnect()

    async_to_sync(conversation)()
    for actor in actors:
        for frame in seen[actor.label]:
            for mark in _marks(frame):
                item = w.markers.get(mark)
                if item is not None and not matrix.visible(actor, item):
                    leaks.append(f"{actor.label} received {mark}: {frame}")
    return {
        "cases": cases,
        "entry_points": len(policy.FRAMES),
        "roles_levels": len(actors),
        "leaks": leaks,
        "wrong": wrong,
        "frames_received": sum(len(v) for v in seen.values()),
    }


@pytest.mark.django_db(transaction=True)
def test_every_socket_frame_as_every_role_at_every_level():
    result = _run_socket(world.build())
    leaks, wrong = result["leaks"], result["wrong"]
    _report("socket", result | {"leaks": len(leaks), "wrong": len(wrong)})
    assert leaks == [], "\n".join(leaks[:50])
    assert wrong == [], "\n".join(wrong[:50])


@pytest.mark.django_db(transaction=True)
def test_the_socket_matrix_catches_a_planted_leak(monkeypatch):
    """With room membership broken for chat.sync (every room found for everyone), a
    county clerk syncing the sibling county's room gets its messages: reported."""
    from chat import selectors, services
    from chat.models import Room

    w = world.build()
    monkeypatch.setattr(
        selectors,
        "room_or_404",
        lambda *, account, pk: Room.objects.select_related("unit").get(pk=pk),
    )
    # (chat.read's own service would refuse the move of the read position: no-op here)
    monkeypatch.setattr(services, "mark_read", lambda **kw: 0)
    result = _run_socket(w)
    assert any(leak.startswith("staff@county received MKmessageC2Q") for leak in result["leaks"])
    assert any(w.startswith("chat.sync room@C2 as staff@county: denied") for w in result["wrong"])
