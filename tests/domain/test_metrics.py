"""The metric arithmetic against hand-worked examples."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import BusinessCalendar
from domain.errors import InvalidValue
from domain.metrics import (
    GOALS,
    ClockKind,
    Stage,
    Window,
    availability,
    clock,
    mtbf,
    percentile,
    share,
)
from domain.severity import ResponseTarget

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_relative_and_explicit_windows() -> None:
    """`30d` ends now; `a..b` covers both days whole."""
    assert Window.parse("30d", NOW) == Window(NOW - timedelta(days=30), NOW)
    window = Window.parse("2026-11-01..2026-11-30", NOW)
    assert (window.start, window.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert window.label == "2026-11-01..2026-11-30"


@pytest.mark.parametrize("text", ["2w", "2026-11-30..2026-11-01", "yesterday..today"])
def test_bad_windows(text: str) -> None:
    """Unknown periods, reversed and malformed ranges are refused with the right form."""
    with pytest.raises(InvalidValue):
        Window.parse(text, NOW)


def test_percentiles_interpolate_like_percentile_cont() -> None:
    """Median of 4 values is the mean of the middle two; p90 of 1..10 is 9.1."""
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile([float(v) for v in range(1, 11)], 0.9) == pytest.approx(9.1)
    assert percentile([], 0.5) is None


def test_mtbf_with_one_and_many_incidents() -> None:
    """One incident has no gap; starts at 0 h, 10 h, 40 h average 20 h between them."""
    start = NOW
    assert mtbf(start, start, 1) is None
    assert mtbf(start, start + timedelta(hours=40), 3) == timedelta(hours=20)


def test_availability_from_impact() -> None:
    """43.2 minutes of impact in 30 days is 99.9 % available, which does not beat the > 99.9 % goal."""
    window = Window(NOW - timedelta(days=30), NOW)
    value = availability(timedelta(minutes=43.2), window)
    assert value == pytest.approx(99.9)
    assert GOALS["availability"].met(99.95) is True
    assert GOALS["mtta"].met(None) is None


def test_share_of_targets_met() -> None:
    """3 of 4 met is 75 %; nothing judged is no figure."""
    assert share(3, 4) == 75.0
    assert share(0, 0) is None


def test_clock_stages() -> None:
    """A 15 min response clock warns at 12 min, breaches at 15 min, and stops at acknowledgement."""
    state = clock(ClockKind.RESPONSE, ResponseTarget.parse("15m"), NOW, None, BusinessCalendar())
    assert state.next_stage(NOW) == (Stage.WARNING, NOW + timedelta(minutes=12))
    assert state.next_stage(NOW + timedelta(minutes=13)) == (Stage.BREACH, NOW + timedelta(minutes=15))
    assert state.breached(NOW + timedelta(minutes=16))
    late = clock(ClockKind.RESPONSE, ResponseTarget.parse("15m"), NOW, NOW + timedelta(minutes=20), BusinessCalendar())
    assert late.met() is False
    assert late.next_stage(NOW + timedelta(minutes=30)) is None
