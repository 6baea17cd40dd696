"""Trigram indexes for the "contains" searches of the unit picker and the contact
directory (accounts.selectors.unit_search, chat.selectors.directory) on PostgreSQL.

Django's `icontains` is `UPPER(col::text) LIKE UPPER('%…%')`, which no b-tree serves:
at the Ministry a name found nowhere scanned all 313,442 units (253 ms in EXPLAIN
ANALYZE); with a pg_trgm GIN index on the same expression it is an index probe
(0.04 ms; docs/architecture.md has the figures through unit_search). pg_trgm ships with PostgreSQL and is a trusted extension (13+): the
database's owner may create it. Other databases (SQLite) get nothing: their searches
stay scans, as `make run` holds a few thousand units."""

from django.db import migrations

INDEXES = [
    ("accounts_unit", "unit_name_trgm", "UPPER((name)::text)"),
    ("accounts_unit", "unit_initials_trgm", "((initials)::text)"),
    ("accounts_account", "account_full_name_trgm", "UPPER((full_name)::text)"),
    ("accounts_account", "account_username_trgm", "UPPER((username)::text)"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, name, expression in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, name, _expression in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_unit_initials_fill")]

    operations = [migrations.RunPython(create, drop)]
