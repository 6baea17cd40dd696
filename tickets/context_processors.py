from accounts import scoping
from tickets import selectors


def header(request):
    """Whether the support pages are offered, and an engineer's queue badge."""
    live = scoping.is_live(request)
    context = {"is_support": live and selectors.is_support_person(request.user)}
    if live and request.user.is_support_engineer:
        context["my_queue"] = selectors.my_queue(request.user).count()
    return context
