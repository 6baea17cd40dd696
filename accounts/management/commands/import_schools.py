from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts import services, sheets


class Command(BaseCommand):
    help = (
        "Import schools from an .xlsx or .csv file (school code, name, county code). "
        "All or nothing: any bad row is reported and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            rows = sheets.school_rows(path.read_bytes(), path.name)
        except sheets.SheetError as exc:
            raise CommandError(str(exc)) from exc
        result = services.schools_import(rows=rows)
        if result.errors:
            for e in result.errors:
                self.stderr.write(f"row {e.row}, {e.column}: {e.reason}")
            raise CommandError(f"{len(result.errors)} error(s); nothing was imported")
        self.stdout.write(
            f"created {result.created}, renamed {result.renamed}, unchanged {result.unchanged}"
        )
