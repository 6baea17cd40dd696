from accounts import scoping
from roll import selectors


def header(request):
    """The problem-records link, and a school's badge of open records."""
    if not scoping.is_live(request):
        return {}
    user = request.user
    school = selectors.is_school_account(user)
    context = {"roll_nav": school or selectors.can_oversee(user)}
    if school:
        context["roll_open"] = selectors.open_count(user)
    return context
