"""The business calendar: working days, business hours in one timezone, and holidays. Pure: dates come in.

Business time is counted in the calendar's own wall clock (09:00-17:00 stays 09:00-17:00 across a DST
change), and every difference is taken in UTC so that an hour is always 3600 seconds.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.errors import InvalidValue

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_DAYS = 366 * 5  # no business window within five years: the calendar has no working days


@dataclass(frozen=True)
class BusinessCalendar:
    """Working `days` (0 = Monday), business hours `opens`..`closes` (`closes` of None = midnight) in `timezone`,
    and `holidays` (dates that are not working days). The default counts every hour of Monday to Friday, UTC."""

    timezone: str = "UTC"
    opens: time = time(0)
    closes: time | None = None
    days: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()

    @property
    def day_length(self) -> timedelta:
        """The business time of one working day (what `1bd` means)."""
        end = timedelta(days=1) if self.closes is None else _since_midnight(self.closes)
        return end - _since_midnight(self.opens)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant when `amount` of business time has passed after `start`."""
        remaining = amount
        for opens, closes in self._windows(start):
            begin = max(opens, start)
            if begin + remaining <= closes:
                return begin + remaining
            remaining -= closes - begin
        raise InvalidValue("The business calendar has no working days.")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The business time from `start` to `end` (zero if `end` is not later)."""
        total = timedelta(0)
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total

    def _windows(self, start: datetime) -> "_Windows":
        return _Windows(self, start)

    def window(self, day: date) -> tuple[datetime, datetime]:
        """A working day's business hours as UTC instants (opens, closes)."""
        zone = ZoneInfo(self.timezone)
        opens = datetime.combine(day, self.opens, zone).astimezone(UTC)
        if self.closes is None:
            closes = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        else:
            closes = datetime.combine(day, self.closes, zone).astimezone(UTC)
        return opens, closes


class _Windows:
    """The business windows (UTC opens, closes) that end after `start`, in order."""

    def __init__(self, calendar: BusinessCalendar, start: datetime) -> None:
        self._calendar = calendar
        self._start = start
        self._day = start.astimezone(ZoneInfo(calendar.timezone)).date()

    def __iter__(self) -> "_Windows":
        return self

    def __next__(self) -> tuple[datetime, datetime]:
        for _ in range(_MAX_DAYS):
            day, self._day = self._day, self._day + timedelta(days=1)
            if not self._calendar.is_working_day(day):
                continue
            opens, closes = self._calendar.window(day)
            if closes > self._start:
                return opens, closes
        raise InvalidValue("The business calendar has no working days.")


WEEKDAYS = BusinessCalendar()  # every hour of Monday to Friday, UTC


def parse_hours(text: str) -> tuple[time, time | None]:
    """`09:00-17:00` (or `00:00-24:00`, every hour) into opening and closing times."""
    opens_text, sep, closes_text = text.strip().partition("-")
    try:
        opens = time.fromisoformat(opens_text.strip())
        closes = None if closes_text.strip() == "24:00" else time.fromisoformat(closes_text.strip())
    except ValueError:
        raise InvalidValue(f"`{text}` is not business hours: write them like 09:00-17:00.") from None
    if not sep or (closes is not None and closes <= opens):
        raise InvalidValue(f"`{text}` is not business hours: write them like 09:00-17:00.")
    return opens, closes


def parse_days(text: str) -> frozenset[int]:
    """`mon-fri` or `mon,tue,thu` into weekday numbers (0 = Monday)."""
    days: set[int] = set()
    for item in (part.strip().lower() for part in text.split(",") if part.strip()):
        first, sep, last = item.partition("-")
        if first not in _DAY_NAMES or (sep and last not in _DAY_NAMES):
            raise InvalidValue(f"`{item}` is not a weekday or a range of them: write mon-fri or mon,wed,fri.")
        low, high = _DAY_NAMES.index(first), _DAY_NAMES.index(last if sep else first)
        days.update(range(low, high + 1) if low <= high else [*range(low, 7), *range(0, high + 1)])
    if not days:
        raise InvalidValue("Business days cannot be empty: write mon-fri or mon,wed,fri.")
    return frozenset(days)


def _since_midnight(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)
