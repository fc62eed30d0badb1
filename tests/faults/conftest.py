"""Fault tests run the real server (the fixtures of tests/bot) against real Redis and SQL made to fail."""

from tests.bot.conftest import bot, clock, make_settings, slack, start_bot

__all__ = ["bot", "clock", "make_settings", "slack", "start_bot"]
