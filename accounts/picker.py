"""The unit picker's JSON (issue 15): search, browse and name the units of one's own
subtree. static/js/unit_picker.js asks these; the rules are in accounts.selectors."""

import re

from django.http import JsonResponse

from accounts import scoping, selectors
from accounts.models import Level, Unit
from accounts.schemas import CHILDREN, CHILDREN_QUERY, SEARCH_QUERY, UNITS, UNITS_QUERY
from core.openapi import PAGE_REFUSALS, SESSION, declare


def _row(unit: Unit, children: int | None = None) -> dict:
    row = {
        "code": unit.code,
        "name": unit.name,
        "level": unit.level,
        "level_label": str(Level(unit.level).label),
        "closed": unit.closed_at is not None,
    }
    if children is not None:
        row["children"] = children
    return row


def _levels(request) -> list[str]:
    asked = re.split(r"[\s,]+", request.GET.get("levels", ""))
    return [lv for lv in asked if lv in Level.values]


@declare(
    "GET",
    summary="Units of one's own subtree matching a code prefix, pinyin initials or name",
    security=SESSION,
    query=SEARCH_QUERY,
    responses={200: UNITS, **PAGE_REFUSALS},
    tags=("pages",),
)
@scoping.login_and_unit_required
def search(request):
    units = selectors.unit_search(
        request.user, request.GET.get("q", ""), levels=_levels(request) or None
    )
    return JsonResponse({"units": [_row(u) for u in units]})


@declare(
    "GET",
    summary="One unit of one's own subtree with its open children, for browsing",
    security=SESSION,
    query=CHILDREN_QUERY,
    responses={200: CHILDREN, **PAGE_REFUSALS},
    tags=("pages",),
)
@scoping.login_and_unit_required
def children(request):
    unit, kids, counts = selectors.unit_children(
        request.user, request.GET.get("unit", "").strip()[:20], levels=_levels(request) or None
    )
    trail = selectors.unit_trail(actor=request.user, unit=unit)
    return JsonResponse(
        {
            "unit": _row(unit),
            "trail": [_row(u) for u in trail],
            "units": [_row(c, counts[c.pk]) for c in kids],
        }
    )


@declare(
    "GET",
    summary="The units of one's own subtree among the given codes (names for typed codes)",
    security=SESSION,
    query=UNITS_QUERY,
    responses={200: UNITS, **PAGE_REFUSALS},
    tags=("pages",),
)
@scoping.login_and_unit_required
def units(request):
    codes = [c for c in re.split(r"[\s,，;；、]+", request.GET.get("codes", "")[:4000]) if c]
    return JsonResponse({"units": [_row(u) for u in selectors.units_by_code(request.user, codes)]})
