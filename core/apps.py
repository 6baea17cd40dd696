from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"

    def ready(self):
        from celery.signals import task_failure
        from django.conf import settings

        from config import env
        from core import (
            checks,  # noqa: F401  (registers the deploy checks)
            events,
            lookups,  # noqa: F401  (registers `__any_of`)
            metrics,
            sockets,
        )

        # Celery task failures for Prometheus (core/metrics.py; imports no library here).
        task_failure.connect(metrics.on_task_failure, weak=False, dispatch_uid="core.metrics")
        # The tree groups every socket joins for its events (core.events).
        sockets.register_groups(events.groups_for)
        # No REDIS_URL: start the embedded redis-server now that Django is set up for a
        # process that runs something (the settings only name its socket).
        if getattr(settings, "REDIS_EMBEDDED", False):
            env.ensure_embedded_redis(settings.VAR_DIR)
