from django.conf import settings


def platform(request):
    """Only what is the platform's own: each app adds its header counters with a context
    processor of its own, listed in settings.TEMPLATES (core imports no app)."""
    return {"platform_name": settings.PLATFORM_NAME}
