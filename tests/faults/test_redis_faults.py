"""Redis unreachable during a declaration, and Redis flushed mid-escalation: nothing lost, nothing doubled."""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.loops import repair
from handlers.paging import LEASE, PAGER
from storage import Keys
from tests.bot.harness import Bot
from tests.faults.proxy import Proxy
from tests.faults.scenario import MANAGER, ONCALL, PRIMARY, command, page_dms, timeline_kinds

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_a_declaration_while_redis_is_down_is_declared_once_and_paged_when_it_is_back(
    start_bot: Callable[..., Awaitable[Bot]], redis_url: str
) -> None:
    """Redis cut off: declare answers declared; with Redis back the sweep sets it up and pages once."""
    async with Proxy(redis_url) as proxy:
        bot = await start_bot(oncall=ONCALL, pager_interval=3600, pager_wake=False, redis_url=proxy.url)
        await proxy.stop()
        reply = await command(bot, "declare Checkout is down sev1")
        assert reply.startswith("Declared incident #1")
        await proxy.start()
        for _ in range(50):  # bounded: until the bot's Redis connections are back (stale ones are dropped)
            if (await bot.http.get("/readyz")).status == 200:
                break
            await asyncio.sleep(0.1)
        bot.clock.advance(timedelta(seconds=61))  # the setup hold has passed: the sweep finishes it
        for _ in range(2):  # a second round finds nothing left to do
            for _attempt in range(5):  # as the background loops do, a round that met a stale connection runs again
                try:
                    await repair(bot.http.app)
                    await bot.http.app[PAGER].tick()
                    break
                except RedisError:  # a timer claimed by the failed round is taken again once its lease ran out
                    bot.clock.advance(LEASE + timedelta(seconds=1))
            await bot.settle()
    assert [i["number"] for i in (await bot.api("/api/incidents?status=all"))["incidents"]] == [1]
    kinds = await timeline_kinds(bot)
    assert (kinds["declared"], kinds["paged"]) == (1, 1)
    assert page_dms(bot) == Counter({PRIMARY: 1})
    created = [c for c in bot.slack.calls_to("conversations.create") if c.ok]
    assert len(created) == 1
    assert len([c for c in bot.slack.calls_to("pins.add") if c.ok]) == 1


async def test_redis_flushed_mid_escalation_loses_no_entry_and_pages_each_step_once(
    start_bot: Callable[..., Awaitable[Bot]], redis: Redis, keys: Keys
) -> None:
    """This test's keys deleted after step 1 paged: the timeline is rebuilt, step 2 pages once, step 1 not again."""
    bot = await start_bot(oncall=ONCALL, pager_interval=3600, pager_wake=False)
    await bot.declare("Checkout is down sev1")
    await command(bot, "note the database is slow", channel=(await bot.api("/api/incidents/1"))["channel_id"])
    await bot.http.app[PAGER].tick()
    await bot.settle()
    before = await timeline_kinds(bot)
    stale = [key async for key in redis.scan_iter(match=f"{keys.prefix}*", count=1000)]
    await redis.delete(*stale)  # a flush, as far as this bot can tell (only this test's keys)
    assert await timeline_kinds(bot) == before  # rebuilt on read
    await repair(bot.http.app)  # re-arms the escalation from SQL
    bot.clock.advance(timedelta(minutes=5))
    for _ in range(3):
        await bot.http.app[PAGER].tick()
        await bot.settle()
    assert page_dms(bot) == Counter({PRIMARY: 1, MANAGER: 1})
    kinds = await timeline_kinds(bot)
    assert (kinds["declared"], kinds["note"], kinds["paged"], kinds["escalated"]) == (1, 1, 2, 1)
