"""Who is on call: a pure function of (rotation, overrides, instant).

Shifts follow wall-clock time in the rotation's timezone: a weekly shift handing off at 09:00 hands off at
09:00 local time every week, on both sides of a DST change (so that shift lasts 167 or 169 hours).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Rotation:
    name: str
    members: tuple[str, ...]
    shift: timedelta
    handoff: datetime  # naive: a wall-clock time in `timezone`
    timezone: ZoneInfo


@dataclass(frozen=True)
class Override:
    rotation: str
    user: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Shift:
    user: str
    start: datetime
    end: datetime
    override: bool = False


def on_call(rotation: Rotation, overrides: Sequence[Override], at: datetime) -> Shift:
    """The shift covering `at`. Overrides win over the rotation; of overlapping ones, the last listed wins."""
    for override in reversed(overrides):
        if override.rotation == rotation.name and override.start <= at < override.end:
            return Shift(override.user, override.start, override.end, override=True)
    regular = _regular(rotation, at)
    mine = [o for o in overrides if o.rotation == rotation.name]
    start = max([regular.start] + [o.end for o in mine if regular.start < o.end <= at])
    end = min([regular.end] + [o.start for o in mine if at < o.start < regular.end])
    return Shift(regular.user, start, end)


def upcoming(rotation: Rotation, overrides: Sequence[Override], at: datetime, count: int = 2) -> list[Shift]:
    """The shift covering `at` and the ones after it."""
    shifts = [on_call(rotation, overrides, at)]
    while len(shifts) < count:
        shifts.append(on_call(rotation, overrides, shifts[-1].end))
    return shifts


def _regular(rotation: Rotation, at: datetime) -> Shift:
    local = at.astimezone(rotation.timezone).replace(tzinfo=None)
    index = (local - rotation.handoff) // rotation.shift
    start = rotation.handoff + index * rotation.shift
    user = rotation.members[index % len(rotation.members)]
    return Shift(user, _instant(start, rotation.timezone), _instant(start + rotation.shift, rotation.timezone))


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time as an instant (an ambiguous time is its first occurrence)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
