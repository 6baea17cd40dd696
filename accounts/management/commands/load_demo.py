from django.core.management.base import BaseCommand

from accounts import demo


class Command(BaseCommand):
    help = "Load the demo data once (two provinces, schools, an account at every level)."

    def add_arguments(self, parser):
        parser.add_argument("--credentials", help="write the demo logins to this file")

    def handle(self, *args, **options):
        created, logins = demo.load()
        if created and options["credentials"]:
            demo.write_credentials(options["credentials"], logins)
        self.stdout.write("demo data loaded" if created else "demo data already present")
