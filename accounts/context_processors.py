"""The header's part that is about the account itself. Every app adds its own counters
with a context processor of its own (settings.TEMPLATES), each asking `is_live`."""

from accounts import scoping
from core import events


def header(request):
    user = getattr(request, "user", None)
    live = scoping.is_live(request)
    context = {
        "is_manager": scoping.is_manager(user) if user is not None else False,
        "live": live,
    }
    if live:
        # Where the page's socket resumes from (core.events, below every app).
        context["last_event_id"] = events.latest_id()
    return context
