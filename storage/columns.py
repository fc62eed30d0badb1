"""Column types shared by the SQL records."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC. SQLite drops the zone, so reads put UTC back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive time is refused (it would be stored as whatever the server thinks)."""
    if moment.tzinfo is None:
        raise ValueError(f"Incident times must be timezone-aware, got {moment.isoformat()}.")
    return moment.astimezone(UTC)
