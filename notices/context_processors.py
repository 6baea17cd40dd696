from accounts import scoping
from notices import selectors


def header(request):
    """The unread badge of a live page."""
    if not scoping.is_live(request):
        return {}
    return {"unread_notices": selectors.unread_count(request.user)}
