"""Property-based fuzzing of the socket's frames (hypothesis), through the real stack:
config.asgi.application (session auth, the consumer in core/consumers.py, the apps'
handlers registered with core.sockets) and the Redis channel layer.

Generated bad input: text that is not JSON, binary frames, JSON that is not an object,
objects with no, an unknown or a non-string `type`, and for every registered frame
type objects with missing, unknown or wrong-typed fields (huge numbers, nulls, lists,
lone surrogates, control characters, deep nesting), and frames past the size limit.

The properties: the socket is never dropped on bad input; every bad frame is answered
with at least one `error` frame (docs/websocket.md) before the server answers the
`ping` sent after it; and afterwards the socket still works: a valid post gets its
`chat.sent`, a valid `events.sync` its `events.synced`.
"""

from __future__ import annotations

import json
import os

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import consumers, sockets
from tests.core.sockets import WAIT, headers_for, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("FUZZ_SOCKET_EXAMPLES", "100"))
FIGURES: dict[str, int] = {"sockets": 0, "frames": 0, "errors": 0}
# Frames a socket may receive unasked (broadcasts, events): not answers to a frame.
UNASKED = ("chat.message", "resync", "notice.", "ticket.", "roll.", "chat.room")

# --- strategies --------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
nested = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Not a valid id anywhere: wrong type, negative, or past 2**63.
bad_ids = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.integers(max_value=-1),
    st.integers(min_value=2**63, max_value=2**200),
)
# Text that cannot be stored: NUL, or half a surrogate pair (JSON escapes allow both).
unstorable = st.builds(
    lambda a, bad, b: a + bad + b,
    st.text(max_size=10),
    st.sampled_from(["\x00", "\ud800", "\udfff", "\udbff"]),
    st.text(max_size=10),
)


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


def bad_frames(member_room: int):
    """Frames every one of which must be answered with an error."""
    not_json = st.text(max_size=200).filter(lambda t: t and not _is_json(t))
    non_objects = st.one_of(st.lists(nested, max_size=4), scalars).map(lambda v: json.dumps(v))
    no_type = st.dictionaries(
        st.text(max_size=8).filter(lambda k: k != "type"), nested, max_size=4
    ).map(json.dumps)
    known = {"ping", "events.sync", *sockets._frames}
    unknown_type = st.builds(
        lambda kind, rest: json.dumps({**rest, "type": kind}),
        st.one_of(
            st.text(max_size=30).filter(lambda k: k not in known),
            nested.filter(lambda v: not isinstance(v, str)),
        ),
        st.dictionaries(st.text(max_size=8), nested, max_size=3),
    )
    room = st.one_of(bad_ids, st.just(member_room))
    events_sync = st.one_of(
        st.builds(lambda after: {"type": "events.sync", "after": after}, bad_ids),
        st.just({"type": "events.sync"}),
    )
    chat_send = st.one_of(
        # No room, or a room that is not an id.
        st.builds(
            lambda r, b: {"type": "chat.send", "room": r, "body": b}, bad_ids, st.text(max_size=20)
        ),
        st.builds(lambda b: {"type": "chat.send", "body": b}, st.text(max_size=20)),
        # A room it belongs to, and a body that is not a message.
        st.builds(
            lambda b: {"type": "chat.send", "room": member_room, "body": b},
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.lists(st.text(max_size=3), max_size=3),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                st.just(""),
                st.just(" \n\t "),
                unstorable,
            ),
        ),
        st.just({"type": "chat.send", "room": member_room}),
        # A client id of the wrong type or length with an otherwise bad post.
        st.builds(
            lambda c: {"type": "chat.send", "room": None, "body": "x", "client_id": c}, nested
        ),
    )
    chat_sync = st.one_of(
        st.builds(
            lambda r: {"type": "chat.sync", "rooms": r},
            nested.filter(lambda v: not isinstance(v, dict)),
        ),
        st.just({"type": "chat.sync"}),
        st.builds(
            lambda key, after: {"type": "chat.sync", "rooms": {key: after}},
            st.one_of(st.text(max_size=20), st.just(str(member_room))),
            bad_ids,
        ),
        st.builds(
            lambda key, after: {"type": "chat.sync", "rooms": {key: after}},
            st.text(max_size=20).filter(lambda k: not (k.isascii() and k.isdigit())),
            st.integers(min_value=0, max_value=10),
        ),
    )
    chat_read = st.one_of(
        st.builds(lambda r, s: {"type": "chat.read", "room": r, "seq": s}, room, bad_ids),
        st.builds(
            lambda r, s: {"type": "chat.read", "room": r, "seq": s}, bad_ids, st.integers(0, 10)
        ),
        st.just({"type": "chat.read"}),
    )
    presence = st.one_of(
        st.builds(
            lambda s: {"type": "presence", "state": s},
            nested.filter(lambda v: v not in ("online", "away")),
        ),
        st.just({"type": "presence"}),
    )
    typed = st.one_of(events_sync, chat_send, chat_sync, chat_read, presence).map(json.dumps)
    deep = st.integers(min_value=500, max_value=5000).map(lambda n: "[" * n + "]" * n)
    deep_object = st.integers(min_value=500, max_value=3000).map(
        lambda n: '{"type": "chat.sync", "rooms": ' + '{"a":' * n + "1" + "}" * n + "}"
    )
    limit = consumers.MAX_FRAME_BYTES
    huge = st.builds(
        lambda ch, extra: json.dumps(
            {"type": "chat.send", "room": member_room, "body": ch * (limit + extra)}
        ),
        st.sampled_from(["x", "学", "\x01", "😀"]),
        st.integers(min_value=1, max_value=limit),
    )
    as_text = st.one_of(
        not_json, non_objects, no_type, unknown_type, typed, deep, deep_object, huge
    )
    return st.one_of(
        as_text.map(lambda t: ("text", t)),
        st.binary(max_size=300).map(lambda b: ("bytes", b)),
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


# --- the conversation --------------------------------------------------------------------


async def _answers(socket, kind: str, payload) -> list[dict]:
    """Send one frame, then a ping: the frames answered before the pong (the socket
    handles a client's frames in order)."""
    # As the server hands them over (send_to() refuses an empty frame; a client may not).
    await socket.send_input({"type": "websocket.receive", kind: payload})
    await socket.send_json_to({"type": "ping"})
    answers = []
    while True:
        frame = await socket.receive_json_from(timeout=WAIT)
        if frame["type"] == "pong":
            return answers
        if not frame["type"].startswith(UNASKED):
            answers.append(frame)


@pytest.fixture
def school(people):
    from chat import selectors, services

    services.region_rooms_ensure(people.school_staff)
    room = selectors.room_list(people.school_staff)[0]["room"].pk
    return headers_for(people.school_staff), room


def _frames_strategy():
    # The room id is known only inside the test: draw it from a placeholder and swap.
    return st.lists(bad_frames(member_room=-424242), min_size=1, max_size=6)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(frames=_frames_strategy())
def test_bad_frames_get_error_frames_and_the_socket_stays_usable(school, frames):
    headers, room = school
    frames = [
        (kind, payload.replace("-424242", str(room)) if kind == "text" else payload)
        for kind, payload in frames
    ]

    async def conversation():
        socket, _ = await open_socket(headers)
        unanswered = []
        for kind, payload in frames:
            answers = await _answers(socket, kind, payload)
            FIGURES["frames"] += 1
            errors = [a for a in answers if a["type"] == "error"]
            FIGURES["errors"] += len(errors)
            if not errors or any(not isinstance(e.get("code"), str) for e in errors):
                unanswered.append((kind, str(payload)[:200], answers))
        # Still the same socket, still working: a valid chat sync and events sync.
        await socket.send_json_to({"type": "chat.sync", "rooms": {str(room): 0}})
        sent = await _answers(socket, "text", json.dumps({"type": "events.sync", "after": 0}))
        await socket.disconnect()
        return unanswered, sent

    unanswered, after = async_to_sync(conversation)()
    FIGURES["sockets"] += 1
    assert unanswered == []
    kinds = [frame["type"] for frame in after]
    assert "error" not in kinds, after
    assert "chat.synced" in kinds, after
    assert kinds[-1] == "events.synced", after


def test_after_bad_frames_a_post_is_stored_and_acknowledged(school):
    headers, room = school
    bad = ["{", "[]", '{"type": 7}', '{"type": "chat.send", "room": "x"}', "\x00"]

    async def conversation():
        socket, _ = await open_socket(headers)
        answers = [await _answers(socket, "text", frame) for frame in bad]
        answers.append(await _answers(socket, "bytes", b"\x00\xff"))
        post = {"type": "chat.send", "room": room, "body": "仍然在线", "client_id": "fuzz-1"}
        sent = await _answers(socket, "text", json.dumps(post))
        await socket.disconnect()
        return answers, sent

    answers, sent = async_to_sync(conversation)()
    assert [[a["type"] for a in frames] for frames in answers] == [["error"]] * 6
    assert [(f["type"], f["client_id"]) for f in sent] == [("chat.sent", "fuzz-1")]


def test_a_frame_past_the_limit_is_refused_and_the_socket_stays(school):
    """The one size rule, said exactly: over MAX_FRAME_BYTES of UTF-8 is refused with
    `frame_too_large_or_binary`; the socket stays open."""
    headers, room = school
    body = "学" * (consumers.MAX_FRAME_BYTES // 3 + 1)  # under the limit in characters

    async def conversation():
        socket, _ = await open_socket(headers)
        answers = await _answers(
            socket,
            "text",
            json.dumps({"type": "chat.send", "room": room, "body": body}, ensure_ascii=False),
        )
        await socket.disconnect()
        return answers

    answers = async_to_sync(conversation)()
    assert [a.get("code") for a in answers] == ["frame_too_large_or_binary"]


def teardown_module():
    print(f"\nsocket fuzz figures: {FIGURES}")
