from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"

    def ready(self):
        from core import (
            events,
            lookups,  # noqa: F401  (registers `__any_of`)
            sockets,
        )

        # The tree groups every socket joins for its events (core.events).
        sockets.register_groups(events.groups_for)
