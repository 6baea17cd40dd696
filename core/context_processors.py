from django.conf import settings

from accounts import scoping
from tickets import selectors as tickets


def platform(request):
    user = getattr(request, "user", None)
    live = bool(
        user is not None and scoping.is_active_account(user) and not user.must_change_password
    )
    context = {
        "platform_name": settings.PLATFORM_NAME,
        "is_manager": scoping.is_manager(user) if user is not None else False,
        "live": live,
        "is_support": live and tickets.is_support_person(user),
    }
    if live:
        from chat import selectors as chat
        from core import events
        from notices import selectors as notices

        context["unread_notices"] = notices.unread_count(user)
        context["unread_chat"] = chat.unread_total(user)
        context["last_event_id"] = events.latest_id()
        from roll import selectors as roll

        context["roll_nav"] = roll.is_school_account(user) or roll.can_oversee(user)
        if roll.is_school_account(user):
            context["roll_open"] = roll.open_count(user)
        if user.is_support_engineer:
            context["my_queue"] = tickets.my_queue(user).count()
    return context
