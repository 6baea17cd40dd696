"""Fill Unit.initials (pinyin initials of the name) for the units already in the tree."""

from django.db import migrations
from pypinyin import Style, lazy_pinyin


def fill(apps, schema_editor):
    Unit = apps.get_model("accounts", "Unit")
    batch = []
    for unit in Unit.objects.only("id", "name").iterator(chunk_size=2000):
        unit.initials = "".join(lazy_pinyin(unit.name, style=Style.FIRST_LETTER)).lower()[:100]
        batch.append(unit)
        if len(batch) >= 2000:
            Unit.objects.bulk_update(batch, ["initials"])
            batch = []
    if batch:
        Unit.objects.bulk_update(batch, ["initials"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_issue15")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
