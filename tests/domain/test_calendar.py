"""The business calendar, worked by hand: weekends, holidays and a DST change."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from domain.calendar import BusinessCalendar, parse_days, parse_hours
from domain.errors import InvalidValue
from domain.severity import ResponseTarget

BERLIN = BusinessCalendar("Europe/Berlin", time(9), time(17), holidays=frozenset({date(2026, 12, 25)}))


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "target", "due"),
    [
        # Fri 2026-11-27 16:00 CET (15:00Z): 1 h on Friday, 7 h on Monday -> Mon 16:00 CET
        (utc(2026, 11, 27, 15, 0), "1bd", utc(2026, 11, 30, 15, 0)),
        # Saturday: the clock starts Monday 09:00 CET and runs a full day -> Mon 17:00 CET
        (utc(2026, 11, 28, 10, 0), "1bd", utc(2026, 11, 30, 16, 0)),
        # Thu 2026-12-24 16:00 CET, 2 business hours: 1 h Thursday, Fri 25th is a holiday -> Mon 10:00 CET
        (utc(2026, 12, 24, 15, 0), "2bh", utc(2026, 12, 28, 9, 0)),
        # Fri 2026-10-23 16:00 CEST (14:00Z); DST ends Sunday 25th -> Mon 16:00 CET is 15:00Z, 73 h later
        (utc(2026, 10, 23, 14, 0), "1bd", utc(2026, 10, 26, 15, 0)),
        # before opening on a working day: the clock starts at 09:00 CET
        (utc(2026, 11, 25, 6, 0), "4bh", utc(2026, 11, 25, 12, 0)),
        # plain durations ignore the calendar
        (utc(2026, 11, 28, 10, 0), "1h", utc(2026, 11, 28, 11, 0)),
    ],
)
def test_due_times(start: datetime, target: str, due: datetime) -> None:
    """Business-time targets skip nights, weekends and holidays, in the calendar's wall clock."""
    assert ResponseTarget.parse(target).due(start, BERLIN) == due


def test_business_time_between_across_weekend_and_dst() -> None:
    """Business time from Friday 16:00 CEST to Monday 16:00 CET is 8 h though 73 h passed."""
    start, end = utc(2026, 10, 23, 14, 0), utc(2026, 10, 26, 15, 0)
    assert end - start == timedelta(hours=73)
    assert BERLIN.between(start, end) == timedelta(hours=8)


def test_between_is_zero_outside_hours() -> None:
    """A span entirely in a holiday and a weekend has no business time."""
    assert BERLIN.between(utc(2026, 12, 25, 10, 0), utc(2026, 12, 27, 20, 0)) == timedelta(0)


def test_default_calendar_counts_whole_weekdays() -> None:
    """The default calendar (every hour, Monday to Friday) makes 1bd the same time on the next weekday."""
    assert ResponseTarget.parse("1bd").due(utc(2026, 11, 27, 17, 0)) == utc(2026, 11, 30, 17, 0)


def test_warning_at_eighty_percent_of_business_time() -> None:
    """80 % of a business day from Friday 16:00 CET is 6.4 business hours: Monday 14:24 CET."""
    at = ResponseTarget.parse("1bd").at_fraction(utc(2026, 11, 27, 15, 0), 0.8, BERLIN)
    assert at == utc(2026, 11, 30, 13, 24)


@pytest.mark.parametrize(
    ("text", "days"),
    [("mon-fri", frozenset(range(5))), ("sun-tue", frozenset({6, 0, 1})), ("mon,wed", frozenset({0, 2}))],
)
def test_parse_days(text: str, days: frozenset[int]) -> None:
    """Weekday lists and ranges, wrapping over the weekend."""
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["17:00-09:00", "9-5", "", "nine-five"])
def test_bad_hours_are_refused(text: str) -> None:
    """Business hours must open before they close and be written HH:MM-HH:MM."""
    with pytest.raises(InvalidValue, match="09:00-17:00"):
        parse_hours(text)


def test_no_working_days_is_an_error() -> None:
    """A calendar whose days are all holidays refuses to compute a due time instead of looping."""
    calendar = BusinessCalendar(days=frozenset({0}), holidays=frozenset())
    assert calendar.add(utc(2026, 11, 25, 0, 0), timedelta(hours=1)) == utc(2026, 11, 30, 1, 0)
    with pytest.raises(InvalidValue):
        parse_days(",")
