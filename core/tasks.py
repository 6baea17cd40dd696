from celery import shared_task

from core import events


@shared_task
def sequence_events() -> int:
    """Number events whose writer died between its commit and its sequencing."""
    return len(events.sequence_pending())


@shared_task
def run_job(pk: int) -> None:
    """One long job (core/jobs.py); a second delivery finds it taken and does nothing."""
    from core import jobs

    jobs.run_task(pk)
