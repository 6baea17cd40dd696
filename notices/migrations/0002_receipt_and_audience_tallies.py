import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Case, Count, F, Q, When
from django.db.models.functions import Left, Length

SEGMENT = 10  # accounts.models.SEGMENT, frozen here as migrations should be


def fill_receipt_tallies(apps, schema_editor):
    """Count the receipts already written, per notice and bucket (a school's county,
    else the reader's unit), as services.notice_mark_read / notice_acknowledge count
    new ones from now on."""
    Receipt = apps.get_model("notices", "Receipt")
    ReceiptTally = apps.get_model("notices", "ReceiptTally")
    bucket = Case(
        When(unit__level="school", then=Left("unit_path", Length("unit_path") - SEGMENT)),
        default=F("unit_path"),
    )
    grouped = (
        Receipt.objects.annotate(bucket=bucket)
        .values("notice_id", "bucket")
        .annotate(
            read=Count("id"),
            acked=Count("id", filter=Q(acked_at__isnull=False)),
            units_read=Count("unit", distinct=True),
        )
        .order_by()
    )
    batch = []
    for r in grouped.iterator(chunk_size=5000):
        batch.append(
            ReceiptTally(
                notice_id=r["notice_id"],
                path=r["bucket"],
                read=r["read"],
                acked=r["acked"],
                units_read=r["units_read"],
            )
        )
        if len(batch) == 5000:
            ReceiptTally.objects.bulk_create(batch)
            batch = []
    ReceiptTally.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReceiptTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("path", models.CharField(max_length=60)),
                ("read", models.PositiveIntegerField(default=0)),
                ("acked", models.PositiveIntegerField(default=0)),
                ("units_read", models.PositiveIntegerField(default=0)),
                (
                    "notice",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="notices.notice",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("notice", "path"), name="receipt_tally_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="AudienceTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("path", models.CharField(max_length=60)),
                ("accounts", models.PositiveIntegerField(default=0)),
                ("units", models.PositiveIntegerField(default=0)),
                ("counted_at", models.DateTimeField()),
                ("tree_units", models.PositiveIntegerField(default=0)),
                ("tree_last_unit", models.BigIntegerField(default=0)),
                (
                    "notice",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="notices.notice",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("notice", "path"), name="audience_tally_unique")
                ],
            },
        ),
        migrations.RunPython(fill_receipt_tallies, migrations.RunPython.noop),
    ]
