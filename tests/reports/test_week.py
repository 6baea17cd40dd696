"""The report day on China's calendar, 2026 and 2027 (the `holidays` package's
schedule; 2027's is its estimate until the State Council publishes it)."""

from datetime import date, timedelta

import pytest

from escalation.workhours import is_working_day
from reports.week import bounds, monday, report_day, weeks_due


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        # an ordinary week: the Thursday after it
        (date(2026, 11, 23), date(2026, 12, 3)),
        (date(2026, 3, 2), date(2026, 3, 12)),
        # New Year's Day 2026 is a Thursday: the Wednesday before, 31 December 2025
        (date(2025, 12, 22), date(2025, 12, 31)),
        # National Day 2026 begins on Thursday 1 October: Wednesday 30 September
        (date(2026, 9, 21), date(2026, 9, 30)),
        # the National Day week itself: Thursday 8 October is a working day again
        (date(2026, 9, 28), date(2026, 10, 8)),
        # Spring Festival 2026: Thursday 19 February and Monday–Wednesday before it are
        # holidays; the previous working day, Saturday 14 February (调休), lies inside
        # the reported week, so the report goes on the first working day after
        # Thursday: Friday 20 and Monday 23 are days off too → Tuesday 24 February
        (date(2026, 2, 9), date(2026, 2, 24)),
        # the week after: Thursday 26 February, a working day
        (date(2026, 2, 16), date(2026, 2, 26)),
        # Labour Day 2026 (1–5 May, Saturday 9 May worked): Thursday 7 May works
        (date(2026, 4, 27), date(2026, 5, 7)),
        # Spring Festival 2027 (5–10 February): the Thursdays around it work
        (date(2027, 2, 1), date(2027, 2, 11)),
        (date(2027, 2, 8), date(2027, 2, 18)),
        (date(2027, 1, 25), date(2027, 2, 4)),
        # National Day 2027 (1–5 October): Thursday 7 October works
        (date(2027, 9, 27), date(2027, 10, 7)),
        # Dragon Boat 2027 falls on a Wednesday (9 June): Thursday 10 June works
        (date(2027, 5, 31), date(2027, 6, 10)),
    ],
)
def test_report_day(week, expected):
    assert report_day(week) == expected
    # any day of the week names the same week (its Sunday here)
    assert report_day(week + timedelta(days=6)) == expected


def test_any_day_of_a_week_is_that_week():
    assert monday(date(2026, 10, 4)) == date(2026, 9, 28)
    assert report_day(date(2026, 9, 27)) == date(2026, 9, 30)


def test_the_calendar_behind_it():
    # 调休: weekend days worked count as working days
    assert is_working_day(date(2026, 2, 14))  # Saturday, worked for Spring Festival
    assert is_working_day(date(2026, 9, 20))  # Sunday, worked for National Day
    assert is_working_day(date(2026, 10, 10))  # Saturday, worked
    assert not is_working_day(date(2026, 10, 1))
    assert not is_working_day(date(2026, 2, 19))


def test_no_report_day_is_a_holiday_or_before_its_week_ends():
    week = date(2025, 12, 29)
    while week < date(2028, 1, 1):
        day = report_day(week)
        assert is_working_day(day), week
        assert day > week + (date(2026, 1, 11) - date(2026, 1, 5)), week
        assert (day - week).days <= 17, week
        assert weeks_due(day) == [week] or week in weeks_due(day)
        week = date.fromordinal(week.toordinal() + 7)


def test_weeks_due():
    assert weeks_due(date(2026, 9, 30)) == [date(2026, 9, 21)]
    assert weeks_due(date(2026, 10, 1)) == []  # a holiday, nothing due
    assert weeks_due(date(2026, 12, 3)) == [date(2026, 11, 23)]
    assert weeks_due(date(2026, 12, 2)) == []
    assert weeks_due(date(2026, 2, 24)) == [date(2026, 2, 9)]
    assert weeks_due(date(2026, 2, 19)) == []


def test_bounds_are_china_time():
    start, end = bounds(date(2026, 11, 23))
    assert start.isoformat() == "2026-11-23T00:00:00+08:00"
    assert end.isoformat() == "2026-11-30T00:00:00+08:00"
