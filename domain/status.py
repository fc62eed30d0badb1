"""The incident statuses, in the order an incident usually passes through them."""

from enum import StrEnum

from domain.errors import InvalidValue


class Status(StrEnum):
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"  # its postmortem is published

    @property
    def is_open(self) -> bool:
        return self not in {Status.RESOLVED, Status.CLOSED}

    @classmethod
    def parse(cls, text: str) -> "Status":
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise InvalidValue(f"`{text}` is not a status: use one of {names}.") from None


OPEN_STATUSES = tuple(s for s in Status if s.is_open)
