"""The security tests run the real bot on a real HTTP server, as tests/bot does: they share its fixtures."""

from tests.bot.conftest import bot, clock, make_settings, slack, start_bot

__all__ = ["bot", "clock", "make_settings", "slack", "start_bot"]
