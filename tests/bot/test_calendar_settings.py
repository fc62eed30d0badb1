"""The business calendar, the resolution targets and the reminders as settings."""

from datetime import date, time, timedelta

import pytest

from bot.settings import SettingsError, load_settings
from domain import Severity


def test_calendar_from_settings_with_country_holidays() -> None:
    """Hours, days, timezone, a country's holidays and listed dates make one calendar."""
    settings = load_settings(
        _env_file=None,
        business_hours="09:00-17:00",
        business_days="mon-fri",
        business_timezone="Europe/Berlin",
        holidays_country="DE",
        holidays_extra="2026-12-24,2026-12-31",
    )
    calendar = settings.business_calendar(range(2026, 2027))
    assert (calendar.timezone, calendar.opens, calendar.closes) == ("Europe/Berlin", time(9), time(17))
    assert {date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 24), date(2026, 12, 31)} <= calendar.holidays
    assert not calendar.is_working_day(date(2026, 5, 1))  # Labour Day, a Friday
    assert calendar.is_working_day(date(2026, 5, 4))
    assert calendar.day_length == timedelta(hours=8)


def test_targets_and_reminders_from_settings() -> None:
    """Resolution targets default to the seed's; reminders can be switched off per severity."""
    settings = load_settings(_env_file=None, update_reminder_sev1="15m", update_reminder_sev2="off")
    assert settings.resolution_targets.of(Severity.SEV3).label == "7 d"
    assert settings.update_reminders == {Severity.SEV1: timedelta(minutes=15)}


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("business_timezone", "Mars/Olympus", "IANA timezone"),
        ("business_hours", "17:00-09:00", "09:00-17:00"),
        ("business_days", "someday", "mon-fri"),
        ("holidays_country", "XX", "country code"),
        ("holidays_extra", "christmas", "list of dates"),
        ("update_reminder_sev1", "often", "off"),
        ("resolution_target_sev2", "soon", "duration"),
    ],
)
def test_bad_calendar_settings_name_the_setting(setting: str, value: str, message: str) -> None:
    """A bad value stops the bot with one line naming the setting and the right form."""
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings(_env_file=None, **{setting: value})
    assert setting.upper() in str(raised.value)
