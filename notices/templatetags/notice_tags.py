from django import template

from notices import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def latest_notices(context, limit=5):
    """The newest notices of the page's account, for other apps' pages (the home page)
    to show without importing notices."""
    return list(selectors.inbox(account=context["request"].user)[:limit])


@register.filter
def cn_date(value) -> str:
    """A date as a circular writes its 成文日期: 2026年12月5日."""
    if not value:
        return ""
    return f"{value.year}年{value.month}月{value.day}日"
