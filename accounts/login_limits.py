"""Login limits that suit shared networks (the business rules; accounts/adapters.py and
accounts/forms.py call them).

A county's schools and its bureau often reach the platform through one NAT address, so
the lock is per account and the client address is only counted:

- per username (whether or not it exists, so the answer reveals nothing): after
  ``ACCOUNT_FAILURES`` failures within ``ACCOUNT_WINDOW`` seconds the username is locked
  for ``ACCOUNT_LOCK`` seconds; a successful login clears its count;
- per client address: past ``CAPTCHA_IP_FAILURES`` failures within ``CAPTCHA_IP_WINDOW``
  the login form asks for an image CAPTCHA (django-simple-captcha) instead of refusing;
- per client address, far higher: past ``IP_FAILURES`` failures within ``IP_WINDOW``
  every login from the address is refused for ``IP_BLOCK`` seconds.

Hand-written on the Django cache (Redis) rather than allauth's rate limits or
django-axes, because (1) every refusal must tell the real remaining time, and allauth's
`ratelimit.consume` answers only yes or no (its history is internal), while django-axes
keeps the cool-off length, not the time left; (2) neither has a "challenge instead of a
lock" step, which would need a counter of its own beside them anyway. allauth's own
"login_failed" limit is therefore off (config/settings.py); its "login" limit stays as
a flood guard far above these.

Each counter is a window that opens at its first failure (atomic INCR in Redis, so
parallel attempts cannot slip past the limit); windows and locks store their start or
end time, compared with `time.time()`, so a test can travel in time instead of sleeping.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from captcha.models import CaptchaStore
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

DEFAULTS = {
    "ACCOUNT_FAILURES": 5,
    "ACCOUNT_WINDOW": 300,
    "ACCOUNT_LOCK": 300,
    "CAPTCHA_IP_FAILURES": 30,
    "CAPTCHA_IP_WINDOW": 600,
    "IP_FAILURES": 300,
    "IP_WINDOW": 60,
    "IP_BLOCK": 300,
}

ACCOUNT_LOCKED = "account_locked"
NETWORK_BLOCKED = "network_blocked"


def limit(name: str) -> int:
    return int(getattr(settings, "LOGIN_LIMITS", {}).get(name, DEFAULTS[name]))


@dataclass(frozen=True)
class Refusal:
    reason: str  # ACCOUNT_LOCKED or NETWORK_BLOCKED
    retry_after: int  # seconds, at least 1

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


# --- counters ---------------------------------------------------------------


def _account_key(username: str) -> str:
    # Hashed: the cache holds no usernames, and any string makes a valid key.
    digest = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    return f"login:acct:{digest}"


def _ip_key(ip: str | None) -> str:
    # An IPv6 client usually holds a whole /64: count the network, as allauth does.
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return f"login:ip:{ip or 'unknown'}"
    if address.version == 6:
        address = ipaddress.ip_network(f"{address}/64", strict=False).network_address
    return f"login:ip:{address}"


def _count(name: str, window: int, now: float, *, hit: bool) -> int:
    """The failures counted under `name` in a window of `window` seconds that began at
    its first failure, after adding one when `hit`. The window's start is stored and
    compared with `now`, not left to the key's expiry alone, so that tests may travel
    in time; the count itself is Redis's atomic INCR."""
    start_key, count_key = f"{name}:{window}:start", f"{name}:{window}:n"
    start = cache.get(start_key)
    if start is not None and start <= now - window:
        cache.delete_many([start_key, count_key])
        start = None
    if not hit:
        return 0 if start is None else int(cache.get(count_key, 0))
    if start is None and cache.add(start_key, now, timeout=window + 5):
        # The first failure of a window (only one request wins the add).
        cache.set(count_key, 0, timeout=window + 5)
    try:
        return cache.incr(count_key)
    except ValueError:  # gone between the checks above: start a window with this one
        cache.set(count_key, 1, timeout=window + 5)
        return 1


def _clear(name: str, window: int) -> None:
    cache.delete_many([f"{name}:{window}:start", f"{name}:{window}:n"])


def _blocked_for(key: str, now: float) -> int:
    until = cache.get(key)
    if until is None or until <= now:
        return 0
    return max(1, math.ceil(until - now))


def _block(key: str, seconds: int, now: float) -> None:
    cache.set(key, now + seconds, timeout=seconds + 5)


# --- the rules ---------------------------------------------------------------


def refusal(*, ip: str | None, username: str, now: float | None = None) -> Refusal | None:
    """Why a login from `ip` for `username` is refused right now, or None."""
    now = time.time() if now is None else now
    seconds = _blocked_for(_ip_key(ip) + ":block", now)
    if seconds:
        return Refusal(NETWORK_BLOCKED, seconds)
    seconds = _blocked_for(_account_key(username) + ":lock", now)
    if seconds:
        return Refusal(ACCOUNT_LOCKED, seconds)
    return None


def captcha_required(*, ip: str | None, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    failures = _count(_ip_key(ip), limit("CAPTCHA_IP_WINDOW"), now, hit=False)
    return failures >= limit("CAPTCHA_IP_FAILURES")


def attempt_begin(*, ip: str | None, username: str) -> Refusal | None:
    """Before checking a password: a refusal, or None after counting the attempt
    against the username (parallel attempts beyond the limit are refused here)."""
    now = time.time()
    found = refusal(ip=ip, username=username, now=now)
    if found:
        return found
    name = _account_key(username)
    attempts = _count(name, limit("ACCOUNT_WINDOW"), now, hit=True)
    if attempts > limit("ACCOUNT_FAILURES"):
        return _lock_account(name, now)
    return None


def attempt_succeeded(*, username: str) -> None:
    _clear(_account_key(username), limit("ACCOUNT_WINDOW"))


def attempt_failed(*, ip: str | None, username: str) -> Refusal | None:
    """After a wrong password or code (already counted by `attempt_begin`): counts the
    failure against the address; the lock when this failure reached a limit."""
    now = time.time()
    blocked = network_failure(ip=ip, now=now)
    name = _account_key(username)
    if _count(name, limit("ACCOUNT_WINDOW"), now, hit=False) >= limit("ACCOUNT_FAILURES"):
        return blocked or _lock_account(name, now)
    return blocked


def network_failure(*, ip: str | None, now: float | None = None) -> Refusal | None:
    """Counts one failure (a wrong password, or a wrong CAPTCHA answer) against the
    address; the block when it reached the high per-address limit."""
    now = time.time() if now is None else now
    name = _ip_key(ip)
    _count(name, limit("CAPTCHA_IP_WINDOW"), now, hit=True)
    if _count(name, limit("IP_WINDOW"), now, hit=True) >= limit("IP_FAILURES"):
        _block(name + ":block", limit("IP_BLOCK"), now)
        return Refusal(NETWORK_BLOCKED, limit("IP_BLOCK"))
    return None


def _lock_account(name: str, now: float) -> Refusal:
    seconds = _blocked_for(name + ":lock", now)
    if not seconds:
        seconds = limit("ACCOUNT_LOCK")
        _block(name + ":lock", seconds, now)
        # After the lock the username starts again with a full allowance.
        _clear(name, limit("ACCOUNT_WINDOW"))
    return Refusal(ACCOUNT_LOCKED, seconds)


def purge_expired_captchas() -> int:
    """django-simple-captcha keeps each challenge in a row until someone removes it; the
    beat runs this hourly (config/settings.py)."""
    return CaptchaStore.objects.filter(expiration__lte=timezone.now()).delete()[0]
