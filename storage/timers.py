"""Durable timers in Redis (escalation deadlines, reminders) that fire exactly once across processes.

A timer is an id with a due time and a JSON body. `claim` atomically moves due timers to a lease (one Lua
script), so two processes never take the same timer; `complete` removes a claimed timer; a process that dies
holding a lease loses nothing: when the lease expires, `claim` hands the timer out again.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from storage.keys import Keys
from storage.replies import text

# KEYS: due, leased, body. ARGV: now (s), lease (s), limit.
_CLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[1] + ARGV[2], id)
  claimed[#claimed + 1] = id
  claimed[#claimed + 1] = redis.call('HGET', KEYS[3], id) or '{}'
end
return claimed
"""


@dataclass(frozen=True)
class Timer:
    id: str
    body: dict[str, object]


class TimerStore:
    def __init__(self, redis: "Redis", keys: Keys, family: str = "timers") -> None:
        """`family` names a set of timers claimed apart from the others (see `Keys.timers`)."""
        self._redis = redis
        self._keys = keys
        self._family = family
        self._claim = redis.register_script(_CLAIM)

    def _key(self, part: str) -> str:
        return self._keys.timers(part, self._family)

    async def schedule(self, timer_id: str, due: datetime, body: dict[str, object]) -> None:
        """Set (or move) a timer; scheduling the same id again replaces it."""
        async with self._redis.pipeline(transaction=True) as pipe:
            self.queue(pipe, timer_id, due, body)
            await pipe.execute()

    def queue(self, pipe: "Pipeline", timer_id: str, due: datetime, body: dict[str, object]) -> None:
        """Add `schedule`'s commands to a transaction of the caller's, to set a timer with other writes at once."""
        pipe.hset(self._key("body"), timer_id, json.dumps(body))
        pipe.zrem(self._key("leased"), timer_id)
        pipe.zadd(self._key("due"), {timer_id: due.timestamp()})

    async def cancel(self, timer_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._key("due"), timer_id)
            pipe.zrem(self._key("leased"), timer_id)
            pipe.hdel(self._key("body"), timer_id)
            await pipe.execute()

    async def claim(self, now: datetime, lease: timedelta, limit: int = 100) -> list[Timer]:
        """Take the timers due at `now` (and those whose holder's lease expired) for `lease`."""
        keys = [self._key("due"), self._key("leased"), self._key("body")]
        reply = await self._claim(keys=keys, args=[now.timestamp(), lease.total_seconds(), limit])
        flat = [text(item) for item in cast(list[bytes | str], reply)]
        return [Timer(flat[i], json.loads(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def complete(self, timer_id: str) -> None:
        """The claimed timer's work is done: forget it (unless it was rescheduled meanwhile)."""
        removed = await self._redis.zrem(self._key("leased"), timer_id)
        if removed:
            await self._redis.hdel(self._key("body"), timer_id)

    async def extend(self, timer_id: str, until: datetime) -> None:
        """Renew a claimed timer's lease to `until` (its holder is alive and still working); a timer that is not
        claimed (completed, or rescheduled by that work) is left alone."""
        await self._redis.zadd(self._key("leased"), {timer_id: until.timestamp()}, xx=True)

    async def is_set(self, timer_id: str) -> bool:
        """Whether the timer is due or claimed (a timer Redis lost is neither)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zscore(self._keys.timers("due"), timer_id)
            pipe.zscore(self._keys.timers("leased"), timer_id)
            due, leased = await pipe.execute()
        return due is not None or leased is not None

    async def lease_of(self, timer_id: str) -> datetime | None:
        """When the lease on a claimed timer runs out; None if nobody holds it."""
        score = await self._redis.zscore(self._key("leased"), timer_id)
        return None if score is None else datetime.fromtimestamp(float(score), UTC)

    async def scheduled(self, timer_id: str) -> bool:
        """Whether the timer is due later or held by someone now."""
        due = await self._redis.zscore(self._key("due"), timer_id)
        return due is not None or await self._redis.zscore(self._key("leased"), timer_id) is not None

    async def next_due(self) -> datetime | None:
        first = await self._redis.zrange(self._key("due"), 0, 0, withscores=True)
        return datetime.fromtimestamp(float(first[0][1]), UTC) if first else None
