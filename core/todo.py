"""The home page's to-do sections (待办): what needs the account now, and for managers
the child units that lag behind.

core knows no feature app and accounts (which owns the home page) imports none, so
each app registers its sections here from its AppConfig.ready(): a function that reads
the account's to-dos through the app's own selectors, and the template that shows
them. The home view asks `collect(account)` and includes each section's template.

A section's function returns None when the section is not for this account (a school
has no child units, a staff member oversees no problem records), else a dict with at
least `count`: how many things wait (0 shows the section's empty state). Every section
must cost a bounded number of queries, whatever the size of the data behind it
(tests/accounts/test_home_todo.py checks at two sizes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class Part:
    MINE = "mine"  # what needs me: acknowledgements, tickets, records, rooms
    LAG = "lag"  # for managers: the child units that lag behind


@dataclass(frozen=True)
class Section:
    key: str
    part: str
    order: int
    template: str
    read: Callable


_sections: dict[str, Section] = {}


def register(*, key: str, part: str, order: int, template: str, read: Callable) -> None:
    """Register (or replace, by key) a section; `read(account)` gives its data."""
    _sections[key] = Section(key=key, part=part, order=order, template=template, read=read)


@dataclass
class Shown:
    key: str
    template: str
    data: dict


def collect(account) -> dict[str, list[Shown]]:
    """The sections that apply to `account`, in order, by part."""
    out: dict[str, list[Shown]] = {Part.MINE: [], Part.LAG: []}
    for section in sorted(_sections.values(), key=lambda s: (s.order, s.key)):
        data = section.read(account)
        if data is not None:
            out[section.part].append(Shown(key=section.key, template=section.template, data=data))
    return out


def pending(shown: list[Shown]) -> int:
    """How many things wait across the sections (0: the overall 暂无待办)."""
    return sum(s.data.get("count", 0) for s in shown)
