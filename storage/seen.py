"""Idempotency markers and short claims in Redis: `SET NX` on a natural key."""

from datetime import timedelta

from redis.asyncio import Redis

from storage.keys import Keys


class SeenStore:
    def __init__(self, redis: "Redis", keys: Keys, ttl: timedelta = timedelta(days=1)) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl

    async def first_time(self, scope: str, token: str) -> bool:
        """True exactly once per (scope, token) within the TTL: a Slack retry or double submit sees False."""
        return bool(await self._redis.set(self._keys.seen(scope, token), 1, nx=True, ex=self._ttl))

    async def claim(self, scope: str, token: str, hold: timedelta) -> bool:
        """Take a short exclusive claim (released by `release` or after `hold`)."""
        return bool(await self._redis.set(self._keys.seen(scope, token), 1, nx=True, ex=hold))

    async def release(self, scope: str, token: str) -> None:
        await self._redis.delete(self._keys.seen(scope, token))
