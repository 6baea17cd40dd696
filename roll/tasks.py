from celery import shared_task

from roll import auth, services


@shared_task(ignore_result=True)
def sync_batch(batch_pk: int) -> bool:
    """After an intake batch commits: tickets and real-time notice for its schools."""
    return services.sync_batch(batch_pk)


@shared_task(ignore_result=True)
def sync_pending() -> int:
    """Every minute: batches whose sync task was lost."""
    return services.sync_pending()


@shared_task(ignore_result=True)
def send_reminders() -> int:
    """Daily: remind schools of graduating-grade records open too long."""
    return services.reminders_send()


@shared_task(ignore_result=True)
def purge_signatures() -> int:
    return auth.purge_signatures()
