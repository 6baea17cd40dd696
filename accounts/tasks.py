from celery import shared_task

from accounts import login_limits, services


@shared_task
def purge_expired_credential_sheets() -> int:
    return services.purge_expired_credential_sheets()


@shared_task
def purge_expired_captchas() -> int:
    return login_limits.purge_expired_captchas()
