"""Deployment checks of the platform's own (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def hsts_left_to_the_proxy(app_configs, **kwargs):
    """With HTTPS on and HSTS_SECONDS unset, Django's security.W004 is silenced
    (config/settings.py): HSTS is opt-in. Say so, as an Info, so the choice is visible."""
    if getattr(settings, "HTTPS", False) and not settings.SECURE_HSTS_SECONDS:
        return [
            checks.Info(
                "HSTS is off: the platform sends Strict-Transport-Security only when "
                "HSTS_SECONDS is set (e.g. 31536000, once HTTPS works for good); until "
                "then the TLS terminator in front may send it.",
                id="core.I001",
            )
        ]
    return []
