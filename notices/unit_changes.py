"""Notices follow the tree (issue 15, item 6): receivers of accounts.signals.unit_changed,
connected in NoticesConfig.ready and run inside the approving transaction.

Who a notice reaches is computed from the tree at each look (selectors.received,
audience_accounts, audience_units: closed units and disabled accounts left out), so a
new school is in the current and future audiences of its subtree at once and a closed
one in none. Only the stored audience counts (AudienceTally) lag: a closure changes
neither the number of units nor the highest id, which is how audience_counted notices
an added unit, so both an addition and a closure drop the counts of every notice whose
audience takes in the school, and the next look counts them again."""

from __future__ import annotations

from accounts.models import UnitChangeKind
from core.events import ancestor_paths
from notices.models import AudienceTally, NoticeTarget


def unit_changed(sender, *, change, unit, **kwargs) -> None:
    if change.kind not in (UnitChangeKind.ADD, UnitChangeKind.CLOSE):
        return
    notices = NoticeTarget.objects.filter(path__in=ancestor_paths(unit)).values("notice_id")
    AudienceTally.objects.filter(notice_id__in=notices).delete()
