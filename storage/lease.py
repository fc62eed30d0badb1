"""A lease in Redis: one holder at a time, renewed by its holder, taken by another once it lapses or is let go."""

from datetime import timedelta

from redis.asyncio import Redis

# Take the lease if nobody holds it, or renew it if `holder` does: 1 if `holder` holds it now, else 0.
# KEYS: the lease. ARGV: holder, time to live (ms).
_HOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
# Let the lease go if `holder` holds it. KEYS: the lease. ARGV: holder.
_LET_GO = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """`hold` takes or renews it (True while this holder has it); `let_go` hands it over at once."""

    def __init__(self, redis: Redis, key: str, holder: str, ttl: timedelta) -> None:
        self._key, self._holder, self.ttl = key, holder, ttl
        self._hold, self._let_go = redis.register_script(_HOLD), redis.register_script(_LET_GO)

    async def hold(self) -> bool:
        ttl_ms = int(self.ttl.total_seconds() * 1000)
        return bool(await self._hold(keys=[self._key], args=[self._holder, ttl_ms]))

    async def let_go(self) -> None:
        await self._let_go(keys=[self._key], args=[self._holder])
