"""Severities SEV-1..SEV-4 and the response and resolution targets each carries."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from domain.calendar import WEEKDAYS, BusinessCalendar
from domain.durations import format_duration, parse_duration
from domain.errors import InvalidValue

_SEVERITY_TOKEN = re.compile(r"^sev-?([1-4])$", re.IGNORECASE)


class Severity(IntEnum):
    SEV1 = 1
    SEV2 = 2
    SEV3 = 3
    SEV4 = 4

    @property
    def label(self) -> str:
        return f"SEV-{self.value}"

    @classmethod
    def parse(cls, text: str) -> "Severity":
        """Accept `sev1`, `SEV-1` or a bare `1`, case-insensitively."""
        token = text.strip()
        if token in {"1", "2", "3", "4"}:
            return cls(int(token))
        match = _SEVERITY_TOKEN.match(token)
        if match is None:
            raise InvalidValue(f"`{text}` is not a severity: use sev1, sev2, sev3 or sev4.")
        return cls(int(match.group(1)))

    @classmethod
    def is_token(cls, text: str) -> bool:
        """True for the `sevN` / `SEV-N` spelling used as a trailing token in `declare`."""
        return _SEVERITY_TOKEN.match(text.strip()) is not None


@dataclass(frozen=True)
class ResponseTarget:
    """A target: a plain duration, or business days / business hours counted on a `BusinessCalendar`."""

    duration: timedelta = timedelta(0)
    business_days: int = 0
    business_hours: int = 0

    @classmethod
    def parse(cls, text: str) -> "ResponseTarget":
        """`15m`, `1h`, `4h`, `1w`, `1bd` (business days) or `4bh` (business hours)."""
        token = text.strip().lower()
        count = int(token[:-2]) if re.fullmatch("[0-9]{1,4}", token[:-2]) else 0
        if token.endswith("bd") and count > 0:
            return cls(business_days=count)
        if token.endswith("bh") and count > 0:
            return cls(business_hours=count)
        return cls(duration=parse_duration(token))

    @property
    def in_business_time(self) -> bool:
        return bool(self.business_days or self.business_hours)

    def due(self, start: datetime, calendar: BusinessCalendar = WEEKDAYS) -> datetime:
        """The instant the target expires for a clock started at `start`."""
        return self.at_fraction(start, 1.0, calendar)

    def at_fraction(self, start: datetime, fraction: float, calendar: BusinessCalendar = WEEKDAYS) -> datetime:
        """The instant `fraction` of the target has passed (0.8: the warning)."""
        if not self.in_business_time:
            return start + self.duration * fraction
        amount = calendar.day_length * self.business_days + timedelta(hours=self.business_hours)
        return calendar.add(start, amount * fraction)

    @property
    def label(self) -> str:
        if self.business_days:
            return "1 business day" if self.business_days == 1 else f"{self.business_days} business days"
        if self.business_hours:
            return "1 business hour" if self.business_hours == 1 else f"{self.business_hours} business hours"
        return format_duration(self.duration)


@dataclass(frozen=True)
class ResponseTargets:
    """The response target of each severity. Defaults: 15 min, 1 h, 4 h, 1 business day."""

    sev1: ResponseTarget = ResponseTarget(duration=timedelta(minutes=15))
    sev2: ResponseTarget = ResponseTarget(duration=timedelta(hours=1))
    sev3: ResponseTarget = ResponseTarget(duration=timedelta(hours=4))
    sev4: ResponseTarget = ResponseTarget(business_days=1)

    def of(self, severity: Severity) -> ResponseTarget:
        targets: dict[Severity, ResponseTarget] = {
            Severity.SEV1: self.sev1,
            Severity.SEV2: self.sev2,
            Severity.SEV3: self.sev3,
            Severity.SEV4: self.sev4,
        }
        return targets[severity]


RESOLUTION_TARGETS = ResponseTargets(
    sev1=ResponseTarget(duration=timedelta(hours=4)),
    sev2=ResponseTarget(duration=timedelta(hours=24)),
    sev3=ResponseTarget(duration=timedelta(weeks=1)),
    sev4=ResponseTarget(duration=timedelta(weeks=2)),
)
