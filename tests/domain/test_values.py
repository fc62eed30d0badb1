"""Severities, response targets and durations."""

from datetime import UTC, datetime, timedelta

import pytest

from domain import InvalidValue, ResponseTarget, ResponseTargets, Severity, Status, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("sev1", Severity.SEV1), ("SEV-2", Severity.SEV2), ("Sev3", Severity.SEV3), ("4", Severity.SEV4)],
)
def test_severity_parse(text: str, expected: Severity) -> None:
    """Severities are accepted as sevN, SEV-N or N, case-insensitively."""
    assert Severity.parse(text) is expected


@pytest.mark.parametrize("text", ["sev5", "sev0", "high", "", "SEV--1"])
def test_severity_parse_refuses(text: str) -> None:
    """Anything else is refused with the accepted forms."""
    with pytest.raises(InvalidValue, match="sev1, sev2, sev3 or sev4"):
        Severity.parse(text)


def test_status_parse() -> None:
    """Statuses parse case-insensitively; unknown ones list the valid names."""
    assert Status.parse("Monitoring") is Status.MONITORING
    with pytest.raises(InvalidValue, match="declared, acknowledged"):
        Status.parse("fixed")


@pytest.mark.parametrize(
    ("severity", "label", "due_after"),
    [
        (Severity.SEV1, "15 min", timedelta(minutes=15)),
        (Severity.SEV2, "1 h", timedelta(hours=1)),
        (Severity.SEV3, "4 h", timedelta(hours=4)),
        (Severity.SEV4, "1 business day", timedelta(days=1)),
    ],
)
def test_default_targets(severity: Severity, label: str, due_after: timedelta) -> None:
    """Default response targets are 15 min, 1 h, 4 h and 1 business day."""
    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    target = ResponseTargets().of(severity)
    assert target.label == label
    assert target.due(wednesday) == wednesday + due_after


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (datetime(2026, 11, 27, 17, 0, tzinfo=UTC), 1, datetime(2026, 11, 30, 17, 0, tzinfo=UTC)),  # Fri -> Mon
        (datetime(2026, 11, 28, 9, 0, tzinfo=UTC), 1, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),  # Sat: from Mon 00:00
        (datetime(2026, 11, 26, 9, 0, tzinfo=UTC), 2, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),  # Thu -> Mon
    ],
)
def test_business_days_skip_weekends(start: datetime, days: int, due: datetime) -> None:
    """Business-day targets skip Saturdays and Sundays."""
    assert ResponseTarget(business_days=days).due(start) == due


@pytest.mark.parametrize(
    ("text", "target"),
    [("30m", ResponseTarget(duration=timedelta(minutes=30))), ("2bd", ResponseTarget(business_days=2))],
)
def test_target_parse(text: str, target: ResponseTarget) -> None:
    """Targets are written as durations or business days (`bd`)."""
    assert ResponseTarget.parse(text) == target


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1H", 3600), ("2d", 172800), ("1w", 604800)])
def test_parse_duration(text: str, seconds: int) -> None:
    """Durations accept s, m, h, d and w."""
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["0m", "15", "m", "1y", "-5m", "1.5h"])
def test_parse_duration_refuses(text: str) -> None:
    """Zero, unit-less, unknown-unit and fractional durations are refused."""
    with pytest.raises(InvalidValue, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=20), "under 1 min"),
        (timedelta(minutes=4), "4 min"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(days=3, hours=4), "3 d 4 h"),
        (timedelta(days=1), "1 d"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    """Durations render compactly for the card."""
    assert format_duration(delta) == text
