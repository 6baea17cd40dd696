"""Issue 15 (rough edges) on the ticket pages: the nav marks the page you are on (and only
it), the backlog-age headings are Chinese, the timeline sets internal notes apart."""

import re

from django.utils import translation
from django.utils.translation import gettext

from tests import factories


def _current(html: str) -> list[str]:
    """The hrefs of the nav links marked as the current page."""
    return re.findall(r'<a class="button primary" href="([^"]+)" aria-current="page">', html)


def test_the_nav_highlights_only_the_page_you_are_on(tree, client_for):
    reporter = client_for(factories.staff(tree.school))
    assert _current(reporter.get("/tickets/").content.decode()) == ["/tickets/"]
    engineer = client_for(factories.manager(tree.county, is_support_engineer=True))
    assert _current(engineer.get("/tickets/queue/").content.decode()) == ["/tickets/queue/"]
    assert _current(engineer.get("/tickets/dashboard/").content.decode()) == ["/tickets/dashboard/"]
    # "Raise a ticket" is a plain button on every list page, not a highlighted one.
    page = engineer.get("/tickets/tier/").content.decode()
    assert 'class="button" href="/tickets/new/"' in page
    assert _current(page) == ["/tickets/tier/"]


def test_backlog_age_headings_are_chinese(tree, client_for):
    manager = client_for(factories.manager(tree.county, is_support_engineer=True))
    html = manager.get("/tickets/dashboard/").content.decode()
    with translation.override("zh-hans"):
        headings = [gettext(s) for s in ("Under 1 day", "1–3 days", "3–7 days", "Over 7 days")]
    assert headings == ["1 天内", "1–3 天", "3–7 天", "7 天以上"]
    for heading in headings:
        assert f'<th class="num">{heading}</th>' in html
    assert "&lt;1d" not in html and "&gt;7d" not in html
