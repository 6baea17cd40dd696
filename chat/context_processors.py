from accounts import scoping
from chat import selectors


def header(request):
    """The unread badge of a live page."""
    if not scoping.is_live(request):
        return {}
    return {"unread_chat": selectors.unread_total(request.user)}
