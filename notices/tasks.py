from celery import shared_task

from notices import services


@shared_task
def publish_due_notices() -> int:
    return services.notices_publish_due()
