from django.conf import settings

from accounts import scoping


def platform(request):
    user = getattr(request, "user", None)
    return {
        "platform_name": settings.PLATFORM_NAME,
        "is_manager": scoping.is_manager(user) if user is not None else False,
    }
