"""Weeks and the report day, on China's calendar.

A report covers one Monday–Sunday week in Asia/Shanghai. It is due on the Thursday
after that week. When that Thursday is not a working day (a statutory holiday), the
report goes out on the previous working day; 调休 weekend days the State Council makes
working days count as working days (escalation.workhours, the `holidays` package).
The walk back never reaches into the reported week itself — a report cannot be sent
before its week is over — so when Monday to Thursday after the week are all holidays
(a Spring Festival falling so), it goes out on the first working day after Thursday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from escalation.workhours import TZ, is_working_day

DUE_WEEKDAY = 3  # Thursday


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def bounds(week: date) -> tuple[datetime, datetime]:
    """[start, end) of the week as aware datetimes in China's time."""
    start = datetime.combine(week, time(0), TZ)
    return start, datetime.combine(week + timedelta(days=7), time(0), TZ)


def report_day(week: date) -> date:
    """The day the report of `week` (its Monday) is sent."""
    week = monday(week)
    after = week + timedelta(days=7)  # the first day the week is over
    due = after + timedelta(days=DUE_WEEKDAY)
    day = due
    while day >= after:
        if is_working_day(day):
            return day
        day -= timedelta(days=1)
    day = due + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def weeks_due(today: date) -> list[date]:
    """The weeks whose report day is `today` (the beat job asks this daily). Only the
    two weeks before today's can be due: a report day lies after its week, and no run
    of holidays is long enough to push it two weeks on."""
    this = monday(today)
    candidates = [this - timedelta(days=7), this - timedelta(days=14)]
    return [w for w in candidates if report_day(w) == today]


def last_complete_week(today: date) -> date:
    return monday(today) - timedelta(days=7)
