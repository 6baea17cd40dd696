"""A post whose socket dies before its `chat.sent` is resent with the same client id
after the reconnect, and the room holds exactly one copy (issue 12, "nothing lost in
between"). Real daphne, real sockets (tests/chat_resilience/client.py), the test's own
redis-server.

To be sure the ack was never sent, the test holds the room's row lock (PostgreSQL:
`SELECT … FOR UPDATE` on a connection of its own) while the post arrives: the server's
store waits on it, the socket closes, then the lock goes and the store commits with
nobody to tell. On SQLite there is no row lock to hold, so the socket closes right
after the send and the store may come before or after; the assertions are the same.
The same lock lines up two tabs sending one client id at the same moment.

Waits are bounded (client.HANG) and look at conditions, never at the clock.
"""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from django.db import connection

from chat.models import Message, Room
from tests import factories, processes
from tests.chat_resilience.client import HANG, ChatClient, ClientError
from tests.chat_resilience.test_no_message_lost import _county_room, _people, _session_cookie

CLIENT_ID = "0b9f6c2e-8d4a-4c1f-a3e5-7d2b9e0c4f18"


class RoomLock:
    """The room's row lock held from outside the server (PostgreSQL), so a post waits
    for it; on SQLite a stand-in that holds nothing."""

    def __init__(self, room: Room):
        self.room = room
        self.conn = None
        self.postgres = connection.vendor == "postgresql"

    async def __aenter__(self):
        if self.postgres:
            self.conn = await psycopg.AsyncConnection.connect(processes.database_url())
            await self.conn.execute(
                "SELECT id FROM chat_room WHERE id = %s FOR UPDATE", [self.room.pk]
            )
        return self

    async def waiting(self) -> int:
        """How many other sessions wait for a lock in this database."""
        cursor = await self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        (count,) = await cursor.fetchone()
        return count

    async def until_waiting(self, count: int) -> None:
        """Until `count` posts wait on the lock (at once on SQLite: there is none)."""
        if not self.postgres:
            return
        for _ in range(int(HANG / 0.02)):
            if await self.waiting() >= count:
                return
            await asyncio.sleep(0.02)
        raise ClientError(f"{count} posts never waited on the room's lock")

    async def release(self) -> None:
        if self.conn is not None:
            await self.conn.commit()
            await self.conn.close()
            self.conn = None

    async def __aexit__(self, *exc):
        await self.release()


def _client(person, server, room, name=None) -> ChatClient:
    return ChatClient(
        name=name or person.username,
        server=server.name,
        ws_url=server.ws_url,
        origin=server.url,
        cookie=_session_cookie(person),
        room=room.pk,
    )


def _room_and_people():
    tree = factories.small_tree()
    people = _people(tree)
    return _county_room(tree, people), people


def _stored(room) -> list[tuple[int, int, str, str | None]]:
    return list(
        Message.objects.filter(room=room)
        .order_by("seq")
        .values_list("seq", "pk", "body", "client_id")
    )


@pytest.mark.django_db(transaction=True)
def test_a_post_whose_socket_died_before_the_ack_is_stored_once_after_the_resend(
    settings, two_daphnes
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    daphne, other = two_daphnes
    room, people = _room_and_people()
    sender = _client(people[2], daphne, room)
    listener = _client(people[0], other, room)

    async def conversation() -> dict:
        seen: dict = {}
        await asyncio.gather(sender.connect(), listener.connect())
        await asyncio.gather(sender.sync([]), listener.sync([]))
        async with RoomLock(room) as lock:
            await sender.ws.send(
                json.dumps(
                    {"type": "chat.send", "room": room.pk, "body": "到校了", "client_id": CLIENT_ID}
                )
            )
            await lock.until_waiting(1)
            # The socket dies with the post in the server's hands and no ack sent.
            await sender.close()
        # The store commits after the socket is gone.
        seen["stored_without_ack"] = await _until_stored(room, 1)
        # What reached the dead socket: only the None its reader queues on closing.
        seen["answers_to_lost_post"] = [
            sender._replies.get_nowait() for _ in range(sender._replies.qsize())
        ]
        sender.phase = "resend"
        await sender.connect()
        await sender.sync([])
        seen["resend"] = await sender.send("到校了", client_id=CLIENT_ID)
        seen["next"] = await sender.send("下一条", client_id="after-the-resend")
        # The listener heard the first post once and then the next one: nothing re-pushed.
        seen["listener_has_next"] = await _until_held(listener, 2)
        await asyncio.gather(sender.close(), listener.close())
        return seen

    try:
        seen = asyncio.run(conversation())
    except ClientError as e:
        pytest.fail(f"{e}\n{processes.tail(daphne.log)}", pytrace=False)

    stored = _stored(room)
    report = f"{seen}\nstored {stored}\nlistener {listener.received}"
    assert seen["stored_without_ack"], report
    if connection.vendor == "postgresql":  # the lock kept the store until the socket died
        assert seen["answers_to_lost_post"] == [None], report
    assert seen["resend"] == "sent" and seen["next"] == "sent", report
    assert [(seq, body, cid) for seq, _pk, body, cid in stored] == [
        (1, "到校了", CLIENT_ID),
        (2, "下一条", "after-the-resend"),
    ], report
    # The resend's ack names the copy stored before the socket died.
    assert sender.acks["到校了"] == [(1, stored[0][1])], report
    room.refresh_from_db()
    assert room.last_seq == 2, report
    assert [seq for _phase, how, seq, _a in listener.received if how == "live"] == [1, 2], report
    assert listener.duplicates == 0, report


async def _until_stored(room, count: int) -> bool:
    """Until the room holds `count` messages, read on a connection of the test's own
    (the ORM is not for the event loop's thread); False if it never did."""
    if connection.vendor != "postgresql":
        import sqlite3

        def rows():
            with sqlite3.connect(connection.settings_dict["NAME"]) as db:
                return db.execute(
                    "SELECT count(*) FROM chat_message WHERE room_id = ?", [room.pk]
                ).fetchone()[0]

        for _ in range(int(HANG / 0.02)):
            if await asyncio.to_thread(rows) >= count:
                return True
            await asyncio.sleep(0.02)
        return False
    async with await psycopg.AsyncConnection.connect(
        processes.database_url(), autocommit=True
    ) as db:
        for _ in range(int(HANG / 0.02)):
            cursor = await db.execute(
                "SELECT count(*) FROM chat_message WHERE room_id = %s", [room.pk]
            )
            if (await cursor.fetchone())[0] >= count:
                return True
            await asyncio.sleep(0.02)
    return False


async def _until_held(client: ChatClient, seq: int) -> bool:
    for _ in range(int(HANG / 0.02)):
        if seq in client.held:
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_two_tabs_sending_one_client_id_at_once_store_one_message(settings, two_daphnes):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    room, people = _room_and_people()
    tabs = [_client(people[2], server, room, name=f"tab{server.name}") for server in two_daphnes]

    async def conversation() -> list[str]:
        await asyncio.gather(*(t.connect() for t in tabs))
        async with RoomLock(room) as lock:
            sends = [asyncio.ensure_future(t.send("抢着发", client_id=CLIENT_ID)) for t in tabs]
            await lock.until_waiting(2)
        outcomes = await asyncio.gather(*sends)
        await asyncio.gather(*(t.close() for t in tabs))
        return outcomes

    try:
        outcomes = asyncio.run(conversation())
    except ClientError as e:
        logs = "\n".join(processes.tail(server.log) for server in two_daphnes)
        pytest.fail(f"{e}\n{logs}", pytrace=False)

    stored = _stored(room)
    assert outcomes == ["sent", "sent"]
    assert [(seq, body) for seq, _pk, body, _cid in stored] == [(1, "抢着发")]
    assert tabs[0].acks["抢着发"] == tabs[1].acks["抢着发"] == [(1, stored[0][1])]
    room.refresh_from_db()
    assert room.last_seq == 1  # the losing tab burnt no sequence number
