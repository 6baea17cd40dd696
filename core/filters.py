"""Per-account filters for the few event kinds whose audience is narrower than their
groups (a reminder goes to a notice's groups but only to those who have not read it).

Apps register a filter for a kind in their AppConfig.ready(); events of other kinds
go to everyone in their groups without a database query."""

from collections.abc import Callable

_filters: dict[str, Callable] = {}


def register(kind: str, wants: Callable) -> None:
    _filters[kind] = wants


def needs_check(kind: str) -> bool:
    return kind in _filters


def wants(account, kind: str, payload: dict) -> bool:
    check = _filters.get(kind)
    return True if check is None else bool(check(account, payload))
