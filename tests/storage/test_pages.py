"""Pages in Redis: started once, together with the timer that drives them."""

import asyncio
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from domain.escalation import Position
from storage.keys import Keys
from storage.pages import PageStatus, PageStore
from storage.timers import TimerStore

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_a_page_starts_with_its_first_timer_and_starting_it_again_changes_nothing(
    redis: Redis, keys: Keys
) -> None:
    timers = TimerStore(redis, keys)
    pages = PageStore(redis, keys, timers)
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


async def test_concurrent_starts_of_one_page_create_it_once(redis: Redis, keys: Keys) -> None:
    timers = TimerStore(redis, keys)
    results = await asyncio.gather(
        *(PageStore(redis, keys, timers).create("9:declared", 9, "platform", (T0, {"n": n})) for n in range(8))
    )
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len(await timers.claim(T0, LEASE)) == 1
    assert await PageStore(redis, keys, timers).stop_all(9) == ["9:declared"]
