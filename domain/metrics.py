"""The arithmetic operations is judged by: windows, duration statistics, MTBF, availability, goals, target clocks.

Pure: figures come in (from SQL aggregates), judgements come out. Open incidents count in no duration
average and drills count nowhere; the queries that feed these functions select accordingly.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from domain.calendar import BusinessCalendar
from domain.errors import InvalidValue
from domain.severity import ResponseTarget

WARN_AT = 0.8  # the share of a target after which the incident channel is warned
_RELATIVE = {"7d": 7, "30d": 30, "90d": 90}


@dataclass(frozen=True)
class Window:
    """A half-open period [start, end) in UTC."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def label(self) -> str:
        last = (self.end - timedelta(microseconds=1)).date()
        return f"{self.start.date().isoformat()}..{last.isoformat()}"

    @classmethod
    def parse(cls, text: str, now: datetime) -> "Window":
        """`7d`, `30d`, `90d` (ending now) or `<from>..<to>` (dates, both days included)."""
        token = text.strip().lower()
        if token in _RELATIVE:
            return cls(now - timedelta(days=_RELATIVE[token]), now)
        first, sep, last = token.partition("..")
        if not sep:
            raise InvalidValue(f"`{text}` is not a period: use 7d, 30d, 90d or 2026-11-01..2026-11-30.")
        return cls.between(first, last)

    @classmethod
    def between(cls, first: str, last: str) -> "Window":
        """From the start of day `first` to the end of day `last` (ISO dates, UTC)."""
        try:
            start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
        except ValueError:
            raise InvalidValue(f"`{first}..{last}` is not a period: write dates like 2026-11-01..2026-11-30.") from None
        if end < start:
            raise InvalidValue(f"`{first}..{last}` ends before it starts.")
        midnight = datetime.min.time()
        return cls(datetime.combine(start, midnight, UTC), datetime.combine(end + timedelta(days=1), midnight, UTC))


def percentile_positions(count: int, q: float) -> tuple[int, int, float]:
    """The 0-based ranks around the `q` quantile of `count` sorted values, and the weight of the upper one
    (linear interpolation, as PostgreSQL's `percentile_cont`)."""
    position = (count - 1) * q
    low = math.floor(position)
    return low, min(low + 1, count - 1), position - low


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile of `values` by linear interpolation; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    low, high, weight = percentile_positions(len(ordered), q)
    return interpolate(ordered[low], ordered[high], weight)


def interpolate(low: float, high: float, weight: float) -> float:
    return low + (high - low) * weight


@dataclass(frozen=True)
class DurationStats:
    """Mean, median and 90th percentile of closed durations, in seconds; None when nothing closed."""

    count: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None


def mtbf(first_start: datetime | None, last_start: datetime | None, count: int) -> timedelta | None:
    """Mean time between the starts of consecutive incidents: the gaps telescope to (last - first) / (n - 1).
    None with fewer than two incidents (there is no gap to average)."""
    if count < 2 or first_start is None or last_start is None:
        return None
    return (last_start - first_start) / (count - 1)


def availability(impact: timedelta, window: Window) -> float:
    """The share of the window without impact, in percent."""
    total = window.length.total_seconds()
    if total <= 0:
        return 100.0
    return max(0.0, 100.0 * (1 - impact.total_seconds() / total))


def share(met: int, judged: int) -> float | None:
    """Percent of `judged` that `met`; None when nothing was judged."""
    return None if judged == 0 else 100.0 * met / judged


class Comparison(StrEnum):
    BELOW = "<"
    ABOVE = ">"


@dataclass(frozen=True)
class Goal:
    name: str
    limit: float  # seconds, or percent
    comparison: Comparison
    unit: str  # "s" or "%"

    def met(self, value: float | None) -> bool | None:
        """Whether `value` meets the goal; None when there is no value to judge."""
        if value is None:
            return None
        return value < self.limit if self.comparison is Comparison.BELOW else value > self.limit


GOALS = {
    "mtta": Goal("MTTA", 15 * 60, Comparison.BELOW, "s"),
    "mttr": Goal("MTTR", 4 * 3600, Comparison.BELOW, "s"),
    "mtbf": Goal("MTBF", 720 * 3600, Comparison.ABOVE, "s"),
    "availability": Goal("Availability", 99.9, Comparison.ABOVE, "%"),
}


class ClockKind(StrEnum):
    RESPONSE = "response"  # declared → acknowledged
    RESOLUTION = "resolution"  # declared → resolved


class Stage(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


@dataclass(frozen=True)
class ClockState:
    """Where a target clock stands at an instant."""

    kind: ClockKind
    target: ResponseTarget
    started_at: datetime
    warn_at: datetime
    due: datetime
    stopped_at: datetime | None  # acknowledged (response) or resolved (resolution)

    def met(self) -> bool | None:
        """True if stopped by the due time, False if stopped late; None while running."""
        return None if self.stopped_at is None else self.stopped_at <= self.due

    def breached(self, now: datetime) -> bool:
        return (self.stopped_at or now) >= self.due if self.stopped_at is None else self.stopped_at > self.due

    def next_stage(self, now: datetime) -> tuple[Stage, datetime] | None:
        """The stage to fire next and when, for a running clock; None once it stopped."""
        if self.stopped_at is not None:
            return None
        if now < self.warn_at:
            return Stage.WARNING, self.warn_at
        return Stage.BREACH, self.due


def clock(
    kind: ClockKind, target: ResponseTarget, start: datetime, stopped_at: datetime | None, calendar: BusinessCalendar
) -> ClockState:
    """The clock of `target` started at `start` on `calendar`."""
    warn_at, due = target.at_fraction(start, WARN_AT, calendar), target.due(start, calendar)
    return ClockState(kind, target, start, warn_at, due, stopped_at)
