"""Fault tests run the real server (the fixtures of tests/bot) against real Redis and SQL made to fail, or
as bot processes killed with SIGKILL (`processes`)."""

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import pytest

from sandbox.slack_api import SlackEmulator
from storage import Keys
from tests.bot.conftest import bot, clock, make_settings, slack, start_bot
from tests.bot.harness import SIGNING_SECRET
from tests.processes import BotProcess, start_process

__all__ = ["bot", "clock", "make_settings", "processes", "slack", "start_bot"]
INCIDENTS, ALERTS = "incidents", "alerts"


class Start(Protocol):
    def __call__(self, name: str, **settings: str) -> Awaitable[BotProcess]: ...


@pytest.fixture
async def processes(
    database_url: str, redis_url: str, keys: Keys, redis: object, slack: SlackEmulator, tmp_path: Path
) -> AsyncIterator[Start]:
    """Start bot processes (`python -m bot`, to be killed with SIGKILL) on the test's Redis prefix and database,
    with short leases and repair rounds; keyword arguments are more settings."""
    started: list[BotProcess] = []
    incidents = slack.add_channel(INCIDENTS)
    alerts = slack.add_channel(ALERTS)
    env = {
        "SLACK_BOT_TOKEN": "xoxb-faults",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": keys.prefix,
        "INCIDENTS_CHANNEL": incidents,
        "ALERTS_CHANNEL": alerts,
        "RUNBOOKS_DIR": str(tmp_path),
        "REPAIR_INTERVAL": "0.2",
        "SLACK_EFFECT_LEASE": "1",
        "SETUP_HOLD": "1",
        "LOG_LEVEL": "warning",
    }

    async def start(name: str, **settings: str) -> BotProcess:
        started.append(await start_process(env | settings, tmp_path, name))
        return started[-1]

    yield start
    for process in started:
        await process.stop()
