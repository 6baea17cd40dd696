"""User-written Markdown (notices, tickets, replies) as HTML that is safe to show:
Markdown first, then bleach's allowlist, so nothing active survives."""

import threading

import bleach
import markdown

ALLOWED_TAGS = [
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "s",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
]
ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "th": ["align"], "td": ["align"]}
ALLOWED_PROTOCOLS = ["http", "https", "mailto"]

_renderers = threading.local()


def render_body(text: str) -> str:
    """Markdown to HTML, then bleach's allowlist: nothing active survives."""
    # One Markdown and one Cleaner per thread (neither is thread-safe): building
    # them costs more than rendering a typical message.
    if not hasattr(_renderers, "markdown"):
        _renderers.markdown = markdown.Markdown(extensions=["tables", "sane_lists"])
        _renderers.cleaner = bleach.sanitizer.Cleaner(
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            protocols=ALLOWED_PROTOCOLS,
            strip=True,
        )
    html = _renderers.markdown.reset().convert(text)
    return _renderers.cleaner.clean(html)
