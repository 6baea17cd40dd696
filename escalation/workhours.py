"""Working time on China's calendar: the arithmetic behind SLA clocks.

Low and normal tickets count only working hours (08:00–18:00, Asia/Shanghai, on
working days); high and urgent tickets count every second. A working day is a
weekday that is not a statutory holiday, or a weekend day the State Council has
made a working day (调休). The calendar comes from the `holidays` package, which
tracks each year's official schedule; it is not typed in here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

TZ = ZoneInfo("Asia/Shanghai")
DAY_START = time(8, 0)
DAY_END = time(18, 0)
# A clock whose target lies further than this in working time is a misconfiguration,
# not a reason to loop for ever.
MAX_DAYS = 3660

_CALENDAR = holidays.China(categories=(holidays.PUBLIC,))


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> bool:
    return _CALENDAR.is_working_day(day)


def _window(day: date) -> tuple[datetime, datetime] | None:
    if not is_working_day(day):
        return None
    return datetime.combine(day, DAY_START, TZ), datetime.combine(day, DAY_END, TZ)


def add(start: datetime, seconds: float, *, around_clock: bool) -> datetime:
    """The moment `seconds` of countable time after `start`."""
    if around_clock:
        return start + timedelta(seconds=seconds)
    moment = start.astimezone(TZ)
    remaining = timedelta(seconds=max(0.0, seconds))
    day = moment.date()
    for _ in range(MAX_DAYS):
        window = _window(day)
        if window is not None:
            begin, end = window
            moment = max(moment, begin)
            if moment < end:
                if remaining <= end - moment:
                    return moment + remaining
                remaining -= end - moment
        day += timedelta(days=1)
        moment = datetime.combine(day, time(0), TZ)
    raise ValueError("SLA target too far in the future")


def between(start: datetime, end: datetime, *, around_clock: bool) -> float:
    """Countable seconds in [start, end); 0 when end is not after start."""
    if end <= start:
        return 0.0
    if around_clock:
        return (end - start).total_seconds()
    start, end = start.astimezone(TZ), end.astimezone(TZ)
    total = 0.0
    day = start.date()
    while day <= end.date():
        window = _window(day)
        if window is not None:
            lo, hi = max(window[0], start), min(window[1], end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total
