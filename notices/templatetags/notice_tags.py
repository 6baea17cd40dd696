from django import template

from notices import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def latest_notices(context, limit=5):
    """The newest notices of the page's account, for other apps' pages (the home page)
    to show without importing notices."""
    return list(selectors.inbox(account=context["request"].user)[:limit])
