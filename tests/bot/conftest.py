"""The whole bot on a real HTTP server, with the fake Slack Web API, real Redis and real SQL."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.server import build_server
from bot.settings import Settings
from domain.paging_config import OnCall
from sandbox.slack_api import SlackEmulator
from storage import Keys
from tests.bot.harness import ALERTMANAGER_TOKEN, SIGNING_SECRET, Bot, FakeClock

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def make_settings(
    database_url: str, redis_url: str, keys: Keys, slack: SlackEmulator, tmp_path: Any
) -> Callable[..., Settings]:
    """Settings for a test bot; keyword arguments override single settings."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "slack_bot_token": "xoxb-test",
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.url,
            "database_url": database_url,
            "redis_url": redis_url,
            "redis_prefix": keys.prefix,
            "data_dir": tmp_path,
            "alertmanager_token": ALERTMANAGER_TOKEN,
            "card_update_interval": 0,
            "runbooks_dir": Path(__file__).resolve().parents[2] / "runbooks",
        }
        return Settings(_env_file=None, **(values | overrides))

    return make


@pytest.fixture
async def start_bot(
    make_settings: Callable[..., Settings], slack: SlackEmulator, clock: FakeClock, redis: Redis
) -> AsyncIterator[Callable[..., Awaitable[Bot]]]:
    """Start the real server with these setting overrides; it stops at the end of the test."""
    clients: list[TestClient[Any, Any]] = []

    async def start(oncall: OnCall | None = None, **overrides: Any) -> Bot:
        incidents_channel = slack.add_channel(f"incidents-{len(clients)}")
        alerts_channel = slack.add_channel(f"alerts-{len(clients)}")
        channels = {"incidents_channel": incidents_channel, "alerts_channel": alerts_channel}
        settings = make_settings(**(channels | overrides))
        http: TestClient[Any, Any] = TestClient(TestServer(build_server(settings, clock, oncall), host="127.0.0.1"))
        await http.start_server()
        clients.append(http)
        return Bot(http, slack, clock, incidents_channel, alerts_channel)

    yield start
    for http in clients:
        await http.close()


@pytest.fixture
async def bot(start_bot: Callable[..., Awaitable[Bot]]) -> Bot:
    """The bot with default test settings, Slack connected over HTTP."""
    return await start_bot()
