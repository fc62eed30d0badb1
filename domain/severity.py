"""Severities SEV-1..SEV-4 and the response target each carries."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

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
    """How soon someone must respond: a plain duration, or a count of business days (Mon-Fri)."""

    duration: timedelta = timedelta(0)
    business_days: int = 0

    @classmethod
    def parse(cls, text: str) -> "ResponseTarget":
        """`15m`, `1h`, `4h` or `1bd` (business days)."""
        token = text.strip().lower()
        if token.endswith("bd") and re.fullmatch("[0-9]{1,4}", token[:-2]) and int(token[:-2]) > 0:
            return cls(business_days=int(token[:-2]))
        return cls(duration=parse_duration(token))

    def due(self, start: datetime) -> datetime:
        """The instant the target expires for an incident declared at `start`."""
        if not self.business_days:
            return start + self.duration
        due, remaining = start, self.business_days
        while remaining:
            due += timedelta(days=1)
            if due.weekday() < 5:
                remaining -= 1
        return due

    @property
    def label(self) -> str:
        if self.business_days:
            return "1 business day" if self.business_days == 1 else f"{self.business_days} business days"
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
