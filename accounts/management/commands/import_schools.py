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
        parser.add_argument(
            "--owner",
            help="run it as a long job of this manager's (a worker imports; the job's page "
            "/jobs/<id>/ shows its progress and outcome)",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            rows = sheets.school_rows(path.read_bytes(), path.name)
        except sheets.SheetError as exc:
            raise CommandError(str(exc)) from exc
        if options.get("owner"):
            self._as_job(options["owner"], rows, path.name)
            return
        result = services.schools_import(rows=rows)
        if result.errors:
            for e in result.errors:
                self.stderr.write(f"row {e.row}, {e.column}: {e.reason}")
            raise CommandError(f"{len(result.errors)} error(s); nothing was imported")
        self.stdout.write(
            f"created {result.created}, renamed {result.renamed}, unchanged {result.unchanged}"
        )

    def _as_job(self, username: str, rows, file_name: str) -> None:
        from accounts import jobs
        from accounts.models import Account

        owner = Account.objects.filter(username__iexact=username, is_active=True).first()
        if owner is None:
            raise CommandError(f"no active account {username!r}")
        job = jobs.start_import_schools(owner=owner, rows=rows, file_name=file_name)
        state = "queued" if getattr(job, "created", False) else "already queued or running"
        self.stdout.write(f"job {job.pk} {state}: /jobs/{job.pk}/")
