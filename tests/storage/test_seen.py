"""Idempotency markers in Redis: once-only, two-phase and claims."""

import asyncio
from datetime import timedelta

from redis.asyncio import Redis

from bot.embedded_redis import EmbeddedRedis
from storage import Keys, Progress, SeenStore


async def test_first_time_is_true_once(redis: Redis, keys: Keys) -> None:
    seen = SeenStore(redis, keys)
    assert [await seen.first_time("event", "Ev1") for _ in range(3)] == [True, False, False]
    assert await seen.first_time("event", "Ev2")


async def test_begin_says_what_came_before(redis: Redis, keys: Keys) -> None:
    """New, then started (by whoever began it, alive or dead), then done once finished."""
    seen = SeenStore(redis, keys)
    assert await seen.begin("paged", "p1") is Progress.NEW
    assert await seen.begin("paged", "p1") is Progress.STARTED
    await seen.finish("paged", "p1")
    assert await seen.begin("paged", "p1") is Progress.DONE
    assert await seen.begin("paged", "p2") is Progress.NEW


async def test_concurrent_begins_let_one_start(redis: Redis, keys: Keys) -> None:
    seen = SeenStore(redis, keys)
    results = await asyncio.gather(*(seen.begin("paged", "p1") for _ in range(10)))
    assert results.count(Progress.NEW) == 1


async def test_a_claim_is_exclusive_until_let_go(redis: Redis, keys: Keys) -> None:
    seen = SeenStore(redis, keys)
    hold = timedelta(seconds=60)
    held = await seen.claim("setup", "1", hold)
    assert held is not None
    assert await seen.claim("setup", "1", hold) is None
    await held.let_go()
    assert await seen.claim("setup", "1", hold) is not None


async def test_a_holder_that_outlasted_its_claim_lets_go_of_nothing_a_later_holder_took(
    redis: Redis, keys: Keys
) -> None:
    """A setup slower than its hold: another process claims the lapsed claim, then the slow one finishes and
    lets go. The later holder's claim stands, so a third process does not start the same work beside it."""
    seen = SeenStore(redis, keys)
    slow = await seen.claim("setup", "1", timedelta(milliseconds=50))
    assert slow is not None
    await asyncio.sleep(0.1)  # past the hold: the claim lapsed
    later = await seen.claim("setup", "1", timedelta(seconds=60))
    assert later is not None
    await slow.let_go()
    assert await seen.claim("setup", "1", timedelta(seconds=60)) is None
    await later.let_go()
    assert await seen.claim("setup", "1", timedelta(seconds=60)) is not None


async def test_begin_works_on_the_embedded_redis(tmp_path, keys: Keys) -> None:
    """The two-phase marker works on the Redis 6.2 that `make run` embeds (which refuses SET NX GET)."""
    embedded = EmbeddedRedis(tmp_path)
    url = await asyncio.to_thread(embedded.start)
    client = Redis.from_url(url)
    try:
        seen = SeenStore(client, keys)
        assert await seen.begin("paged", "p1") is Progress.NEW
        assert await seen.begin("paged", "p1") is Progress.STARTED
        await seen.finish("paged", "p1")
        assert await seen.begin("paged", "p1") is Progress.DONE
    finally:
        await client.aclose()
        await asyncio.to_thread(embedded.stop)
