"""Live sockets per account, counted across every web process in Redis.

Each account may hold SOCKETS_PER_ACCOUNT sockets (browser tabs) at once; the next is
refused with close code 4429 after an `error` frame saying why (docs/websocket.md).
The count is a Redis sorted set per account: member = the socket's channel name,
score = when its entry lapses. A socket's entry is renewed by its process every
RENEW_SECONDS and removed when it closes; a process that dies leaves entries that
lapse after TTL_SECONDS, so a crash frees its accounts' slots within that time.
Redis unreachable: the socket is admitted uncounted (the channel layer is the same
Redis, so the socket will be closed and retried anyway), never refused for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from django.conf import settings

log = logging.getLogger(__name__)

CLOSE_TOO_MANY_SOCKETS = 4429
TTL_SECONDS = 90.0
RENEW_SECONDS = 30.0

# KEYS[1] the account's set; ARGV: now, lapses at, member, limit, key ttl (s).
# Drops lapsed entries, then admits the member if the account has room.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""

_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> client
_live: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {key: {member}}
_renewers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> task


def limit() -> int:
    return settings.SOCKETS_PER_ACCOUNT


def key(account_id: int) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'xj')}:sockets:{account_id}"


def _client():
    import redis.asyncio

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        _clients[loop] = client
    return client


async def take(account_id: int, member: str) -> bool:
    """True when the socket may stay (and is now counted), False when the account
    already holds its limit of live sockets."""
    import redis.exceptions

    now = time.time()
    try:
        admitted = await _client().eval(
            _TAKE, 1, key(account_id), now, now + TTL_SECONDS, member, limit(), int(TTL_SECONDS)
        )
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        log.warning("socket count unavailable (%s); admitting uncounted", exc.__class__.__name__)
        return True
    if not admitted:
        return False
    loop = asyncio.get_running_loop()
    _live.setdefault(loop, {}).setdefault(key(account_id), set()).add(member)
    if loop not in _renewers or _renewers[loop].done():
        _renewers[loop] = loop.create_task(_renew_forever())
    return True


async def give_back(account_id: int, member: str) -> None:
    import redis.exceptions

    live = _live.get(asyncio.get_running_loop(), {})
    members = live.get(key(account_id))
    if members is None or member not in members:
        return
    members.discard(member)
    if not members:
        live.pop(key(account_id), None)
    try:
        await _client().zrem(key(account_id), member)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        pass  # the entry lapses after TTL_SECONDS


async def renew() -> None:
    """Push the lapse time of every socket of this process (one pipeline)."""
    live = _live.get(asyncio.get_running_loop(), {})
    if not live:
        return
    lapses = time.time() + TTL_SECONDS
    async with _client().pipeline(transaction=False) as pipe:
        for k, members in list(live.items()):
            for member in list(members):
                pipe.zadd(k, {member: lapses})
            pipe.expire(k, int(TTL_SECONDS))
        await pipe.execute()


async def _renew_forever() -> None:
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await renew()
        except Exception as exc:  # noqa: BLE001 - Redis down: entries lapse, retried next round
            log.warning("socket count renewal failed: %s", exc.__class__.__name__)
