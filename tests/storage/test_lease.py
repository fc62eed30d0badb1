"""The lease in Redis: one holder at a time, renewed by its holder, taken over once let go or lapsed."""

import asyncio
from datetime import timedelta

from redis.asyncio import Redis

from storage.keys import Keys
from storage.lease import Lease


async def test_one_holder_at_a_time_until_it_lets_go_or_its_lease_lapses(redis: Redis, keys: Keys) -> None:
    key, ttl = keys.alert_worker_lease(), timedelta(milliseconds=200)
    first, second = Lease(redis, key, "first", ttl), Lease(redis, key, "second", ttl)
    taken = [await first.hold(), await second.hold(), await first.hold()]  # the first renews, the second waits
    await first.let_go()
    taken += [await second.hold(), await first.hold()]  # let go: the second takes it at once
    await asyncio.sleep(0.3)  # the second never renews: its lease lapses
    taken.append(await first.hold())
    await second.let_go()  # no longer the holder: the first keeps it
    taken.append(await second.hold())
    assert taken == [True, False, True, True, False, True, False]
