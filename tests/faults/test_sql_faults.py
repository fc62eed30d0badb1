"""PostgreSQL read-only (a failover in progress): alert notifications are retried, dead-lettered, re-admitted."""

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy
from psycopg import sql
from redis.asyncio import Redis

from bot.cli import retry_dead
from bot.settings import Settings
from storage import Keys
from tests.bot.harness import Bot

FIRING = "01-firing-single-critical"
REPEAT = "02-repeat-single-critical"  # byte-identical to 01: Alertmanager's repeat_interval


@pytest.fixture
def read_only(database_url: str) -> Iterator[Callable[[bool], None]]:
    """`read_only(True)` turns the test's PostgreSQL database read-only for every new and pooled connection."""
    url = sqlalchemy.make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False).replace("+psycopg", "")

    def switch(on: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            name = sql.Identifier(str(url.database))
            value = sql.SQL("on" if on else "off")
            connection.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(name, value))
            connection.execute(  # pooled connections keep their setting: end them, the pool reconnects
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.database,),
            )

    yield switch
    switch(False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_read_only_database_dead_letters_the_alert_and_its_repeat_is_admitted(
    start_bot: Callable[..., Awaitable[Bot]],
    read_only: Callable[[bool], None],
    redis: Redis,
    keys: Keys,
    make_settings: Callable[..., Settings],
) -> None:
    """Read-only PG: retried, then dead-lettered and announced; once writable, the repeat and retry-dead
    declare exactly one incident with the alert on its timeline once."""
    bot = await start_bot(alert_max_attempts=3, alert_retry_backoff=0.01)
    read_only(True)
    response = await bot.fixture(FIRING)
    assert response.status == 200
    assert await redis.xlen(keys.alert_dead()) == 1
    notices = [
        c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == bot.alerts_channel
    ]
    assert any("retry-dead" in text for text in notices)
    read_only(False)
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []
    assert (await bot.fixture(REPEAT)).status == 200  # admitted again: its states were unmarked
    assert await retry_dead(make_settings()) == 1
    await bot.settle()
    incidents: list[dict[str, Any]] = (await bot.api("/api/incidents?status=all"))["incidents"]
    assert [incident["number"] for incident in incidents] == [1]
    kinds = [event["kind"] for event in (await bot.api("/api/incidents/1/timeline"))["events"]]
    assert kinds.count("alert_firing") == 1
    assert await redis.xlen(keys.alert_dead()) == 0
