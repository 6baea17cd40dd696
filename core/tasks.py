from celery import shared_task

from core import events


@shared_task
def sequence_events() -> int:
    """Number events whose writer died between its commit and its sequencing."""
    return len(events.sequence_pending())
