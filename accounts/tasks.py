from celery import shared_task

from accounts import services


@shared_task
def purge_expired_credential_sheets() -> int:
    return services.purge_expired_credential_sheets()
