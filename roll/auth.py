"""Signed requests from the roll system (ROLL_API.md, Authentication).

`X-Roll-Key`, `X-Roll-Timestamp` (±300 s) and `X-Roll-Signature` =
`sha256=` + hex HMAC-SHA256 of "{timestamp}.{raw body}" (GET: "{timestamp}.{path
and query}"). Any failure is a 401 with a JSON error and nothing stored; a
signature seen before inside the window is a replay. Stdlib `hmac` does the
arithmetic: there is nothing for a library to add.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from functools import wraps

from cryptography.fernet import InvalidToken, MultiFernet
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from core import keys
from roll.models import RollKey, SeenSignature

logger = logging.getLogger(__name__)

MAX_SKEW = 300
MAX_BODY = 8 * 2**20


KEY_PURPOSE = "roll.api-key"


def _cipher() -> MultiFernet:
    """Current key first, old keys and the pre-rotation derivation to read (core.keys)."""
    return keys.cipher(KEY_PURPOSE)


def new_secret() -> tuple[str, bytes]:
    """(the secret to show once, its encrypted form to store)."""
    secret = "rs_" + secrets.token_hex(32)
    return secret, _cipher().encrypt(secret.encode())


def new_key_id() -> str:
    return "rk_" + secrets.token_hex(8)


def seal(text: str) -> str:
    return _cipher().encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    return _cipher().decrypt(token.encode()).decode()


def secret_of(key: RollKey) -> bytes:
    return _cipher().decrypt(bytes(key.secret_encrypted))


def sign(secret: bytes, timestamp: str, message: bytes) -> str:
    return (
        "sha256="
        + hmac.new(secret, timestamp.encode() + b"." + message, hashlib.sha256).hexdigest()
    )


def error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _read_body(request) -> bytes | None:
    """The raw body, or None when it is over the limit (read no further than that)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        return None
    # Read the stream directly: `request.body` would refuse at Django's 2.5 MiB form limit.
    body = request.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


def authenticate(request, body: bytes) -> RollKey | JsonResponse:
    key_id = request.headers.get("X-Roll-Key", "")
    stamp = request.headers.get("X-Roll-Timestamp", "")
    signature = request.headers.get("X-Roll-Signature", "")
    if not key_id or not stamp or not signature:
        return error(
            401,
            "missing_credentials",
            "X-Roll-Key, X-Roll-Timestamp and X-Roll-Signature are required",
        )
    # Twelve digits reach the year 33658; more is not a timestamp (and int() of
    # thousands of digits is refused by Python itself).
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return error(401, "bad_timestamp", "X-Roll-Timestamp must be Unix time in seconds")
    if abs(time.time() - int(stamp)) > MAX_SKEW:
        return error(
            401,
            "stale_timestamp",
            f"the timestamp is more than {MAX_SKEW} s from the server's clock",
        )
    key = RollKey.objects.select_related("unit").filter(key_id=key_id).first()
    if key is None:
        return error(401, "unknown_key", "no such key")
    if key.revoked_at is not None:
        return error(401, "revoked_key", "this key has been revoked")
    try:
        secret = secret_of(key)
    except InvalidToken:
        # Stored under a key no longer configured (SECRET_KEY rotated without its
        # fallback): the key cannot sign anything until one is issued again.
        logger.error("roll key %s: its secret is encrypted under a key no longer set", key_id)
        return error(401, "unknown_key", "this key cannot be verified; issue a new one")
    if request.method == "POST":
        messages = [body]
    else:
        target = request.get_full_path()
        # Django drops an empty query's "?": a target sent as "/path?" is signed with it.
        messages = [target.encode()] + ([] if "?" in target else [(target + "?").encode()])
    # As bytes: compare_digest refuses a str with non-ASCII characters.
    given = signature.encode("utf-8", "replace")
    if not any(hmac.compare_digest(sign(secret, stamp, m).encode(), given) for m in messages):
        return error(401, "bad_signature", "the signature does not match")
    try:
        with transaction.atomic():
            SeenSignature.objects.create(signature=signature[:80])
    except IntegrityError:
        return error(401, "replayed", "this signature has already been used")
    RollKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def roll_key_required(*methods: str):
    """The view's permission: a live roll key, on one of `methods` (any other gets a
    JSON 405). The view gets `request.roll_key` and, for POST, the raw body as
    `request.roll_body`."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error(
                    405, "method_not_allowed", f"use {' or '.join(methods)} on this address"
                )
                response["Allow"] = ", ".join(methods)
                return response
            body = b""
            if request.method == "POST":
                body = _read_body(request)
                if body is None:
                    limit = MAX_BODY // 2**20
                    return error(413, "too_large", f"the body is limited to {limit} MiB")
            key = authenticate(request, body)
            if isinstance(key, JsonResponse):
                return key
            request.roll_key = key
            request.roll_body = body
            return view(request, *args, **kwargs)

        wrapper.permission = "roll_key"
        return wrapper

    return decorate


def purge_signatures() -> int:
    cutoff = timezone.now() - timezone.timedelta(seconds=2 * MAX_SKEW)
    return SeenSignature.objects.filter(seen_at__lt=cutoff).delete()[0]
