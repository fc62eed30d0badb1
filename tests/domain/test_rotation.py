"""Who is on call: tables across hand-offs and DST changes, and properties checked by hypothesis."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.rotation import Override, Rotation, on_call, upcoming

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
HANDOFF = datetime(2026, 1, 5, 9, 0)  # a Monday, 09:00 local


def rotation(shift: timedelta, zone: ZoneInfo = BERLIN, members: tuple[str, ...] = ("A", "B", "C")) -> Rotation:
    return Rotation("primary", members, shift, HANDOFF, zone)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


WEEK, DAY, HALF = timedelta(weeks=1), timedelta(days=1), timedelta(hours=12)


@pytest.mark.parametrize(
    ("shift", "zone", "at", "user"),
    [
        (WEEK, BERLIN, local(BERLIN, 2026, 1, 5, 9, 0), "A"),
        (WEEK, BERLIN, local(BERLIN, 2026, 1, 12, 8, 59), "A"),
        (WEEK, BERLIN, local(BERLIN, 2026, 1, 12, 9, 0), "B"),
        (WEEK, BERLIN, local(BERLIN, 2026, 1, 5, 8, 59), "C"),  # before the first hand-off, counting back
        (WEEK, BERLIN, local(BERLIN, 2026, 3, 30, 8, 59), "C"),  # Monday after spring-forward (Mar 29)
        (WEEK, BERLIN, local(BERLIN, 2026, 3, 30, 9, 0), "A"),
        (WEEK, BERLIN, local(BERLIN, 2026, 10, 26, 8, 59), "C"),  # Monday after fall-back (Oct 25): week 41
        (WEEK, BERLIN, local(BERLIN, 2026, 10, 26, 9, 0), "A"),  # week 42
        (DAY, NEW_YORK, local(NEW_YORK, 2026, 3, 9, 8, 59), "C"),  # the day after spring-forward (Mar 8): day 62
        (DAY, NEW_YORK, local(NEW_YORK, 2026, 3, 9, 9, 0), "A"),  # day 63
        (HALF, BERLIN, local(BERLIN, 2026, 1, 5, 21, 0), "B"),
        (HALF, BERLIN, local(BERLIN, 2026, 1, 5, 20, 59), "A"),
    ],
)
def test_on_call_table(shift: timedelta, zone: ZoneInfo, at: datetime, user: str) -> None:
    """Shifts hand off at the wall-clock hand-off time, before and after DST changes."""
    assert on_call(rotation(shift, zone), [], at.astimezone(UTC)).user == user


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        (BERLIN, local(BERLIN, 2026, 3, 23, 9, 0), local(BERLIN, 2026, 3, 30, 9, 0)),  # spring: 167 h
        (BERLIN, local(BERLIN, 2026, 10, 19, 9, 0), local(BERLIN, 2026, 10, 26, 9, 0)),  # autumn: 169 h
        (NEW_YORK, local(NEW_YORK, 2026, 3, 2, 9, 0), local(NEW_YORK, 2026, 3, 9, 9, 0)),
    ],
)
def test_weekly_shift_across_dst_keeps_local_handoff(zone: ZoneInfo, before: datetime, after: datetime) -> None:
    """A weekly shift spanning a DST change starts and ends at 09:00 local."""
    shift = on_call(rotation(WEEK, zone), [], before.astimezone(UTC) + timedelta(hours=1))
    assert shift.start.astimezone(zone).replace(tzinfo=None) == before.replace(tzinfo=None)
    assert shift.end.astimezone(zone).replace(tzinfo=None) == after.replace(tzinfo=None)
    assert shift.end - shift.start != WEEK


def test_overrides_win_and_the_rotation_resumes() -> None:
    """An override takes its span; the newest of overlapping ones wins; the regular member resumes after."""
    r = rotation(WEEK)
    t0 = local(BERLIN, 2026, 1, 6, 12, 0).astimezone(UTC)
    first = Override("primary", "X", t0, t0 + timedelta(hours=4))
    newer = Override("primary", "Y", t0 + timedelta(hours=2), t0 + timedelta(hours=3))
    other = Override("secondary", "Z", t0, t0 + timedelta(days=30))
    overrides = [first, newer, other]
    assert on_call(r, overrides, t0 + timedelta(hours=1)).user == "X"
    assert on_call(r, overrides, t0 + timedelta(hours=2, minutes=30)).user == "Y"
    after = on_call(r, overrides, t0 + timedelta(hours=5))
    assert (after.user, after.override, after.start) == ("A", False, t0 + timedelta(hours=4))
    before = on_call(r, overrides, t0 - timedelta(hours=1))
    assert (before.user, before.end) == ("A", t0)


def test_upcoming_lists_now_and_next() -> None:
    """upcoming() gives the current shift and the next, back to back."""
    now, following = upcoming(rotation(WEEK), [], local(BERLIN, 2026, 1, 7, 12, 0).astimezone(UTC))
    assert (now.user, following.user) == ("A", "B")
    assert now.end == following.start


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
shifts = st.sampled_from([timedelta(hours=8), HALF, DAY, WEEK, timedelta(days=3)])
zones = st.sampled_from([BERLIN, NEW_YORK, ZoneInfo("UTC"), ZoneInfo("Australia/Sydney")])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(at=instants, shift=shifts, zone=zones)
def test_shift_covers_the_instant(at: datetime, shift: timedelta, zone: ZoneInfo) -> None:
    """Property: the shift returned for an instant contains it."""
    result = on_call(rotation(shift, zone), [], at)
    assert result.start <= at < result.end


@settings(max_examples=200, deadline=None, derandomize=True)
@given(at=instants, shift=shifts, zone=zones)
def test_shifts_tile_time(at: datetime, shift: timedelta, zone: ZoneInfo) -> None:
    """Property: consecutive shifts meet exactly and members take turns in order."""
    r = rotation(shift, zone)
    shifts_ahead = upcoming(r, [], at, count=4)
    for current, following in pairwise(shifts_ahead):
        assert current.end == following.start
        assert r.members.index(following.user) == (r.members.index(current.user) + 1) % len(r.members)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(at=instants, hours=st.integers(min_value=1, max_value=72), offset=st.integers(min_value=0, max_value=71))
def test_covering_override_always_wins(at: datetime, hours: int, offset: int) -> None:
    """Property: an override covering the instant decides who is on call."""
    start = at - timedelta(hours=min(offset, hours - 1))
    override = Override("primary", "OVERRIDE", start, start + timedelta(hours=hours))
    if override.start <= at < override.end:
        assert on_call(rotation(WEEK), [override], at).user == "OVERRIDE"
