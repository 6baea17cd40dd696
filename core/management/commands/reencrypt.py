"""Re-encrypt every registered encrypted field under the primary key (core/keys.py).

Run after adding a new key (SECRET_KEY with the old one in SECRET_KEY_FALLBACKS, or a
new first entry in ENCRYPTION_KEYS); once it reports no unreadable values, the old
keys can be dropped. Each batch is one transaction, its rows locked while rewritten.
"""

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from core import keys


class Command(BaseCommand):
    help = "Re-encrypt stored secrets (credential sheets, roll API secrets) under the newest key."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        unreadable_total = 0
        for entry in keys.registered():
            rotated, unreadable = reencrypt_field(entry, batch_size)
            unreadable_total += unreadable
            self.stdout.write(
                f"{entry.model}.{entry.field}: {rotated} re-encrypted, {unreadable} unreadable"
            )
        if unreadable_total:
            self.stderr.write(
                f"{unreadable_total} values could not be read with any key: keep the old "
                "keys until they are found or no longer needed."
            )


def reencrypt_field(entry: keys.EncryptedField, batch_size: int) -> tuple[int, int]:
    model = apps.get_model(entry.model)
    cipher = keys.cipher(entry.purpose)
    pks = list(
        model._default_manager.exclude(**{f"{entry.field}__isnull": True})
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rotated = unreadable = 0
    for start in range(0, len(pks), batch_size):
        with transaction.atomic():
            rows = list(
                model._default_manager.select_for_update()
                .filter(pk__in=pks[start : start + batch_size])
                .only("pk", entry.field)
            )
            changed = []
            for row in rows:
                value = getattr(row, entry.field)
                if value is None:
                    continue
                text = isinstance(value, str)
                token = value.encode() if text else bytes(value)
                try:
                    new = cipher.rotate(token)
                except InvalidToken:
                    unreadable += 1
                    continue
                setattr(row, entry.field, new.decode() if text else new)
                changed.append(row)
            model._default_manager.bulk_update(changed, [entry.field])
            rotated += len(changed)
    return rotated, unreadable
