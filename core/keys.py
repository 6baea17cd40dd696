"""Every purpose key the platform encrypts with, and their rotation.

`cipher(purpose)` is a MultiFernet (cryptography): it encrypts with the primary key
and decrypts with any of:

1. the primary, then the older keys, each derived per purpose with HKDF-SHA256 from
   ENCRYPTION_KEYS ("new,old1,old2") when set, then SECRET_KEY and
   SECRET_KEY_FALLBACKS (Django's list of old SECRET_KEYs, newest first);
2. the same secrets under the derivation used before this module (sha256 of
   "{purpose}:" + secret), so data stored before the upgrade still reads.

Apps register the fields they encrypt (`register`, from their AppConfig.ready), and
`manage.py reencrypt` rewrites each under the primary key, after which the old keys
can be dropped (docs/deployment.md, Rotating keys).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@dataclass(frozen=True)
class EncryptedField:
    model: str  # "app_label.Model"
    field: str
    purpose: str


_registry: list[EncryptedField] = []


def register(model: str, field: str, purpose: str) -> None:
    """An app's field holding `cipher(purpose)` tokens (bytes or text), for `reencrypt`."""
    entry = EncryptedField(model, field, purpose)
    if entry not in _registry:
        _registry.append(entry)


def registered() -> list[EncryptedField]:
    return list(_registry)


def secrets_in_order() -> list[str]:
    """The primary secret first, then every older one that may still have encrypted data."""
    seen: list[str] = []
    for secret in [
        *getattr(settings, "ENCRYPTION_KEYS", []),
        settings.SECRET_KEY,
        *getattr(settings, "SECRET_KEY_FALLBACKS", []),
    ]:
        if secret and secret not in seen:
            seen.append(secret)
    return seen


def derive(secret: str, purpose: str) -> bytes:
    """A Fernet key for `purpose`: HKDF-SHA256 of the secret, the purpose as its info."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"xueji-key:" + purpose.encode()
    ).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


def derive_legacy(secret: str, purpose: str) -> bytes:
    """The derivation before this module (accounts/services.py, roll/auth.py kept a copy
    each): read-only, so sheets and roll secrets stored then are not lost."""
    key = hashlib.sha256(purpose.encode() + b":" + secret.encode()).digest()
    return base64.urlsafe_b64encode(key)


@lru_cache(maxsize=64)
def _cipher(purpose: str, secrets: tuple[str, ...]) -> MultiFernet:
    keys = [derive(s, purpose) for s in secrets] + [derive_legacy(s, purpose) for s in secrets]
    return MultiFernet([Fernet(k) for k in keys])


def cipher(purpose: str) -> MultiFernet:
    """Encrypts under the primary key, decrypts under any current or old one."""
    return _cipher(purpose, tuple(secrets_in_order()))
