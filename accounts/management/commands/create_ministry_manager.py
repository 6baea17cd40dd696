from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = (
        "Create the first Ministry manager account (the top of the hand-down chain) "
        "and print its initial code."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default="", help="the person's name")

    def handle(self, *args, **options):
        row = services.ministry_manager_bootstrap(full_name=options["name"])
        self.stdout.write(
            f"username: {row.username}\ninitial code: {row.code}\nexpires: {row.expires_at}"
        )
