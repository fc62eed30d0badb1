"""Pages in SQL and Redis: started once, together with the timer that drives them, re-armed from SQL."""

import asyncio
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.escalation import Position
from storage.keys import Keys
from storage.page_records import PageRecords
from storage.pages import PageStatus, PageStore
from storage.timers import TimerStore

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_a_page_starts_with_its_first_timer_and_starting_it_again_changes_nothing(
    redis: Redis, keys: Keys, engine: AsyncEngine
) -> None:
    """A page is created with its first timer; creating it again keeps its step and schedules nothing."""
    timers = TimerStore(redis, keys)
    pages = PageStore(redis, keys, timers, PageRecords(engine))
    record, created = await pages.create("7:declared", 7, "platform", (T0, {"kind": "page", "step": 0}))
    assert created
    assert (record.number, record.policy, record.position, record.status) == (
        7,
        "platform",
        Position(),
        PageStatus.ACTIVE,
    )
    await pages.move("7:declared", Position(step=1))
    again, created = await pages.create("7:declared", 7, "platform", (T0 + timedelta(hours=1), {"kind": "other"}))
    assert not created
    assert again.position == Position(step=1)  # the escalation was not sent back to its first step
    [timer] = await timers.claim(T0, LEASE)
    assert (timer.id, timer.body) == ("7:declared", {"kind": "page", "step": 0})
    assert await timers.next_due() is None  # the repeat scheduled nothing


async def test_concurrent_starts_of_one_page_create_it_once(redis: Redis, keys: Keys, engine: AsyncEngine) -> None:
    """Eight processes starting one page: one creates it, with one timer, and stopping it stops that one."""
    timers = TimerStore(redis, keys)
    records = PageRecords(engine)
    results = await asyncio.gather(
        *(PageStore(redis, keys, timers, records).create("9:declared", 9, "platform", (T0, {"n": n})) for n in range(8))
    )
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len(await timers.claim(T0, LEASE)) == 1
    assert await PageStore(redis, keys, timers, records).stop_all(9) == ["9:declared"]


async def test_a_page_whose_redis_keys_are_gone_is_rearmed_from_sql(
    redis: Redis, keys: Keys, engine: AsyncEngine
) -> None:
    """Redis lost the page and its timer after step 1's deadline was set: re-arming restores that deadline."""
    timers = TimerStore(redis, keys)
    pages = PageStore(redis, keys, timers, PageRecords(engine))
    await pages.create("5:declared", 5, "platform", (T0, {"kind": "page", "step": 0}))
    await pages.move("5:declared", Position(step=1))
    await pages.schedule("5:declared", T0 + timedelta(minutes=5), {"kind": "deadline", "step": 1})
    await redis.delete(keys.page("5:declared"), keys.timers("due"), keys.timers("leased"), keys.timers("body"))
    assert await pages.rearm() == 1
    assert await pages.rearm() == 0
    record = await pages.get("5:declared")
    assert record is not None
    assert record.position == Position(step=1)
    assert await timers.next_due() == T0 + timedelta(minutes=5)
    [timer] = await timers.claim(T0 + timedelta(minutes=5), LEASE)
    assert timer.body == {"kind": "deadline", "step": 1}


async def test_a_page_started_before_sql_kept_pages_is_still_stopped_once(
    redis: Redis, keys: Keys, engine: AsyncEngine
) -> None:
    """A page only in Redis (from before migration 0005) is stopped by acknowledging its incident, once."""
    timers = TimerStore(redis, keys)
    pages = PageStore(redis, keys, timers, PageRecords(engine))
    fields: dict[FieldT, EncodableT] = {"number": 3, "policy": "platform", "step": 0, "round": 0, "status": "active"}
    await redis.hset(keys.page("3:declared"), mapping=fields)  # as the old PageStore wrote it
    await redis.sadd(keys.incident_set(3, "pages"), "3:declared")
    assert await pages.stop_all(3) == ["3:declared"]
    assert await pages.stop_all(3) == []
    record = await pages.get("3:declared")
    assert record is not None
    assert record.status is PageStatus.ACKNOWLEDGED
