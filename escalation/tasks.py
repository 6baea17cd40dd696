from celery import shared_task

from escalation import services


@shared_task(ignore_result=True)
def sweep() -> dict:
    """Every minute (beat): SLA warnings, exactly-once escalations, auto-close, and
    assignment of waiting tickets to engineers whose duty hours have begun."""
    return services.sweep()
