"""What a correction (更正) changed: the previous version's title and body against the
new one's, as HTML with <del> and <ins>. Built only from escaped pieces of the texts
(the Markdown source, never its rendering), so no user HTML reaches the page."""

from __future__ import annotations

from difflib import SequenceMatcher

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Changed blocks up to this many characters (both sides) are compared character by
# character (Chinese has no spaces to split words on); longer ones are shown whole.
CHAR_DIFF_LIMIT = 4000


def _wrap(tag: str, text: str) -> str:
    return f"<{tag}>{escape(text)}</{tag}>" if text else ""


def _chars(old: str, new: str) -> list[str]:
    out = []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(escape(old[i1:i2]))
        else:
            out.append(_wrap("del", old[i1:i2]) + _wrap("ins", new[j1:j2]))
    return out


def diff_html(old: str, new: str) -> SafeString:
    """`old` against `new`: lines first, then characters within a changed block."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out: list[str] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        before, after = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            out.append(escape(before))
        elif op == "replace" and len(before) + len(after) <= CHAR_DIFF_LIMIT:
            out += _chars(before, after)
        else:
            out.append(_wrap("del", before) + _wrap("ins", after))
    return mark_safe("".join(out))  # noqa: S308 — every piece above is escaped
