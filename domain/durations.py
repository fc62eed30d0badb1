"""Durations as people write them in config and commands: 90s, 15m, 1h, 2d, 1w."""

import re
from datetime import timedelta

from domain.errors import InvalidValue

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*([0-9]{1,9})\s*([smhdw])\s*$", re.IGNORECASE)
_LONGEST = timedelta(days=3660)  # ten years: anything longer is a typo


def parse_duration(text: str) -> timedelta:
    """Turn `15m`-style text into a positive timedelta, or raise InvalidValue."""
    match = _PATTERN.match(text)
    if match is None or int(match.group(1)) == 0:
        raise InvalidValue(f"`{text}` is not a duration: use a positive number and one of s, m, h, d, w (e.g. 15m).")
    seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds > _LONGEST.total_seconds():
        raise InvalidValue(f"`{text}` is too long: a duration is at most ten years.")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Render a duration compactly for people: `4 min`, `2 h 5 min`, `3 d 4 h`."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "under 1 min"
