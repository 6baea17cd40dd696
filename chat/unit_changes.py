"""Chat follows the tree (issue 15, item 6): receivers of accounts.signals.unit_changed,
connected in ChatConfig.ready and run inside the approving transaction.

Region-room membership is computed from the tree (selectors.room_members, rooms_of), so
a new school's accounts are in its county's room as soon as they exist, and a closed
school's accounts (disabled, and left out by room_members) are in none."""

from __future__ import annotations

from django.utils.translation import gettext as _

from accounts.models import UnitChangeKind
from chat.models import Room, RoomKind, RoomMember, RoomRule


def unit_changed(sender, *, change, unit, **kwargs) -> None:
    if change.kind == UnitChangeKind.RENAME:
        Room.objects.filter(kind=RoomKind.REGION, unit=unit).update(name=unit.name)
    elif change.kind == UnitChangeKind.CLOSE:
        # A region room of the school itself (if a manager ever made one) is archived
        # under its name; topic rooms stop taking the school by rule, and the school's
        # people picked into topic rooms are removed (their direct rooms stay, read-only:
        # a disabled account cannot be written to).
        Room.objects.filter(kind=RoomKind.REGION, unit=unit).update(
            name=_("%s (closed)") % unit.name
        )
        RoomRule.objects.filter(unit=unit).delete()
        RoomMember.objects.filter(account__unit=unit).exclude(room__kind=RoomKind.DIRECT).update(
            removed=True
        )
