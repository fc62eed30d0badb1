"""Durable timers in Redis (escalation deadlines, reminders) that fire exactly once across processes.

A timer is an id with a due time and a JSON body. `claim` atomically moves due timers to a lease (one Lua
script), so two processes never take the same timer, and takes lanes in turn (see `claim`); `complete`
removes a claimed timer; a process that dies holding a lease loses nothing: when the lease expires, `claim`
hands the timer out again.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from storage.keys import Keys
from storage.replies import text

# KEYS: due, leased, body. ARGV: now (s), lease (s), limit, window.
# Claims `limit` of the first `window` due timers, each time the earliest due of those whose lane (the body's
# "lane" field; none is the lane "") has the fewest timers claimed and not completed.
_CLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
local function lane_of(raw)
  if not raw then return '' end
  local ok, body = pcall(cjson.decode, raw)
  if ok and type(body) == 'table' and type(body.lane) == 'string' then return body.lane end
  return ''
end
local held = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local lane = lane_of(redis.call('HGET', KEYS[3], id))
  held[lane] = (held[lane] or 0) + 1
end
local due = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])) do
  local raw = redis.call('HGET', KEYS[3], id) or '{}'
  due[#due + 1] = {id = id, raw = raw, lane = lane_of(raw)}
end
local claimed = {}
for _ = 1, tonumber(ARGV[3]) do
  local best = nil
  for _, timer in ipairs(due) do
    if not timer.taken and (best == nil or (held[timer.lane] or 0) < (held[best.lane] or 0)) then
      best = timer
    end
  end
  if best == nil then break end
  best.taken = true
  held[best.lane] = (held[best.lane] or 0) + 1
  redis.call('ZREM', KEYS[1], best.id)
  redis.call('ZADD', KEYS[2], ARGV[1] + ARGV[2], best.id)
  claimed[#claimed + 1] = best.id
  claimed[#claimed + 1] = best.raw
end
return claimed
"""
_WINDOW = 256  # due timers looked at by one claim: a lane's backlog beyond it waits its turn in due order


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
        """Take up to `limit` timers due at `now` (and those whose holder's lease expired) for `lease`.

        Timers whose body names a `lane` take turns: each is the earliest due timer of the lane with the fewest
        timers claimed and not yet completed, so a backlog in one lane (an alert storm's pages, all of one
        escalation policy) does not hold up another lane's first timer. Within a lane, and among lanes
        holding as many, the earliest due goes first."""
        keys = [self._key("due"), self._key("leased"), self._key("body")]
        reply = await self._claim(keys=keys, args=[now.timestamp(), lease.total_seconds(), limit, _WINDOW])
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
