"""Keys that rotate (issue 14, item 5): every stored secret (credential sheets, roll API
secrets) reads back after SECRET_KEY is rotated with the old one in
SECRET_KEY_FALLBACKS, `manage.py reencrypt` moves them to the new key so the fallback
can go, and data encrypted before core/keys.py existed still reads."""

import base64
import hashlib
import io
import json
import secrets

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import Client
from openpyxl import load_workbook

from accounts import services as accounts
from accounts.models import IssueBatch
from core import keys
from roll import auth
from roll import services as roll
from roll.models import RollKey
from tests import factories
from tests.roll.helpers import Roll

pytestmark = pytest.mark.django_db

OLD = "old-" + secrets.token_urlsafe(50)
NEW = "new-" + secrets.token_urlsafe(50)


def _issue(tree):
    """A credential sheet and a roll API key, both encrypted under the current key."""
    manager = factories.manager(tree.county)
    result = accounts.account_issue(actor=manager, unit=tree.school, role="staff")
    province = factories.manager(tree.province)
    key, secret = roll.key_issue(actor=province, unit=tree.province, label="rotation")
    return manager, result, key, secret


def _sheet_codes(client_for, manager, batch) -> list[str]:
    response = client_for(manager).get(f"/people/batches/{batch.pk}/sheet.xlsx")
    assert response.status_code == 200, response.content[:300]
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    return [str(c) for row in rows[1:] for c in row if c]


_rolls: dict[str, Roll] = {}


def _signed_feed(key, secret) -> int:
    """A signed GET of the roll feed with the secret handed out: the platform checks it
    against the stored (encrypted) one. One Roll per key, so no signature is sent twice
    (that would be a replay)."""
    roll_system = _rolls.setdefault(key.key_id, Roll(Client(), key.key_id, secret))
    return roll_system.get().status_code


def _reencrypt() -> str:
    out = io.StringIO()
    call_command("reencrypt", batch_size=1, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_rotated_key_keeps_every_secret_readable(tree, client_for, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    manager, result, key, secret = _issue(tree)
    code = result.rows[0].code
    assert code in _sheet_codes(client_for, manager, result.batch)
    assert _signed_feed(key, secret) == 200
    sheet_before = bytes(IssueBatch.objects.get(pk=result.batch.pk).sheet)
    secret_before = bytes(RollKey.objects.get(pk=key.pk).secret_encrypted)

    # Without the fallback the new key cannot read the old data: the control.
    settings.SECRET_KEY = NEW
    with pytest.raises(accounts.SheetGone):
        accounts.credential_sheet_rows(
            actor=manager, batch=IssueBatch.objects.get(pk=result.batch.pk)
        )
    assert _signed_feed(key, secret) == 401

    # Rotated: the new key first, the old one as Django's fallback. Everything reads.
    settings.SECRET_KEY_FALLBACKS = [OLD]
    assert code in _sheet_codes(client_for, manager, result.batch)
    assert _signed_feed(key, secret) == 200

    out = _reencrypt()
    assert "accounts.IssueBatch.sheet: 1 re-encrypted, 0 unreadable" in out
    assert "roll.RollKey.secret_encrypted: 1 re-encrypted, 0 unreadable" in out
    assert bytes(IssueBatch.objects.get(pk=result.batch.pk).sheet) != sheet_before
    assert bytes(RollKey.objects.get(pk=key.pk).secret_encrypted) != secret_before

    # The fallback dropped: everything still reads, under the new key alone.
    settings.SECRET_KEY_FALLBACKS = []
    assert code in _sheet_codes(client_for, manager, result.batch)
    assert _signed_feed(key, secret) == 200
    new_only = Fernet(keys.derive(NEW, auth.KEY_PURPOSE))
    assert new_only.decrypt(bytes(RollKey.objects.get(pk=key.pk).secret_encrypted)) == (
        secret.encode()
    )


def test_separate_encryption_keys_with_old_ones(tree, client_for, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    settings.ENCRYPTION_KEYS = ["enc-1"]
    manager, result, key, secret = _issue(tree)
    settings.ENCRYPTION_KEYS = ["enc-2", "enc-1"]
    assert _signed_feed(key, secret) == 200
    assert "roll.RollKey.secret_encrypted: 1 re-encrypted" in _reencrypt()
    settings.ENCRYPTION_KEYS = ["enc-2"]
    assert _signed_feed(key, secret) == 200
    assert result.rows[0].code in _sheet_codes(client_for, manager, result.batch)
    # SECRET_KEY rotates on its own without touching the stored secrets.
    settings.SECRET_KEY = NEW
    assert _signed_feed(key, secret) == 200


def _legacy(purpose: str, secret_key: str) -> Fernet:
    """The derivation before core/keys.py: sha256 of "{purpose}:" + SECRET_KEY."""
    digest = hashlib.sha256(purpose.encode() + b":" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def test_data_stored_under_the_legacy_derivation_still_reads(tree, client_for, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    manager, result, key, secret = _issue(tree)
    rows = [row.__dict__ for row in result.rows]
    # Written the way the platform wrote them before this change.
    IssueBatch.objects.filter(pk=result.batch.pk).update(
        sheet=_legacy("accounts.credential-sheet", OLD).encrypt(json.dumps(rows).encode())
    )
    RollKey.objects.filter(pk=key.pk).update(
        secret_encrypted=_legacy("roll.api-key", OLD).encrypt(secret.encode())
    )
    assert result.rows[0].code in _sheet_codes(client_for, manager, result.batch)
    assert _signed_feed(key, secret) == 200
    # …also after a rotation, and the command moves it to the new derivation.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    assert _signed_feed(key, secret) == 200
    assert "0 unreadable" in _reencrypt()
    settings.SECRET_KEY_FALLBACKS = []
    assert _signed_feed(key, secret) == 200
    assert result.rows[0].code in _sheet_codes(client_for, manager, result.batch)


def test_unreadable_values_are_counted_and_left_alone(tree, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    _, _, key, _ = _issue(tree)
    RollKey.objects.filter(pk=key.pk).update(secret_encrypted=Fernet.generate_key())
    before = bytes(RollKey.objects.get(pk=key.pk).secret_encrypted)
    assert "roll.RollKey.secret_encrypted: 0 re-encrypted, 1 unreadable" in _reencrypt()
    assert bytes(RollKey.objects.get(pk=key.pk).secret_encrypted) == before


def test_initial_codes_issued_before_a_rotation_still_log_in(tree, settings):
    """Codes are stored as keyed digests (not encrypted, so not re-encrypted): the
    fallback keeps them valid until they expire."""
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    _, result, _, _ = _issue(tree)
    first, second = (
        accounts.account_issue(
            actor=factories.manager(tree.county), unit=tree.school, role="staff"
        ).rows[0],
        result.rows[0],
    )
    settings.SECRET_KEY = NEW
    account = accounts.Account.objects.get(username=first.username)
    assert not accounts.initial_code_consume(account=account, code=first.code)  # the control
    settings.SECRET_KEY_FALLBACKS = [OLD]
    assert accounts.initial_code_consume(account=account, code=first.code)
    account = accounts.Account.objects.get(username=second.username)
    assert accounts.initial_code_consume(account=account, code=second.code)


def test_every_encrypted_field_is_registered():
    assert {(e.model, e.field) for e in keys.registered()} == {
        ("accounts.IssueBatch", "sheet"),
        ("roll.RollKey", "secret_encrypted"),
    }
