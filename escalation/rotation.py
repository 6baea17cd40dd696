"""The round-robin choice itself, free of the database so it can be tested as a pure
function (tests/escalation/test_rotation_properties.py).

Engineers are taken in a fixed order (account id). The next ticket goes to the first
available engineer after the one who got the previous ticket, wrapping around; the
unavailable are skipped with their reason, and the pointer moves only when someone
is chosen — so nobody is skipped who was available, and over equal availability the
counts differ by at most one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    account_id: int
    # None when the engineer can take a ticket now, else why not.
    unavailable: str | None = None


def order_after(candidates: list[Candidate], last_id: int | None) -> list[Candidate]:
    ordered = sorted(candidates, key=lambda c: c.account_id)
    if last_id is None:
        return ordered
    after = [c for c in ordered if c.account_id > last_id]
    return after + [c for c in ordered if c.account_id <= last_id]


def pick(
    candidates: list[Candidate], last_id: int | None
) -> tuple[int | None, list[tuple[int, str]]]:
    """(chosen account id or None, [(account id, reason skipped), …] in the order tried)."""
    skipped = []
    for candidate in order_after(candidates, last_id):
        if candidate.unavailable is None:
            return candidate.account_id, skipped
        skipped.append((candidate.account_id, candidate.unavailable))
    return None, skipped
