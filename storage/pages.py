"""Pages and escalations in Redis: created once, moved step by step, stopped once."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from domain.escalation import Position
from storage.keys import Keys
from storage.replies import text
from storage.timers import TimerStore

# KEYS: page hash. ARGV: new status. Stop only an active page: true exactly once.
_FINISH = """
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
"""


class PageStatus(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class PageRecord:
    id: str
    number: int
    policy: str  # "" for a one-off page
    position: Position
    status: PageStatus


class PageStore:
    def __init__(self, redis: "Redis", keys: Keys, timers: TimerStore) -> None:
        self._redis = redis
        self._keys = keys
        self._timers = timers
        self._finish = redis.register_script(_FINISH)

    async def create(
        self, page_id: str, number: int, policy: str, first: tuple[datetime, dict[str, object]] | None = None
    ) -> tuple[PageRecord, bool]:
        """Start a page under a natural id, with its `first` timer (due, body) in the same transaction, so a page
        never exists without what drives it. Starting it again returns the first one (False) and changes nothing."""
        key = self._keys.page(page_id)
        fields: dict[FieldT, EncodableT] = {
            "number": number,
            "policy": policy,
            "step": 0,
            "round": 0,
            "status": PageStatus.ACTIVE.value,
        }
        created = False
        async with self._redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if not await pipe.exists(key):
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping=fields)
                    pipe.sadd(self._keys.incident_set(number, "pages"), page_id)
                    if first is not None:
                        self._timers.queue(pipe, page_id, *first)
                    await pipe.execute()
                    created = True
            except WatchError:  # another process started it first
                pass
        record = await self.get(page_id)
        assert record is not None
        return record, created

    async def get(self, page_id: str) -> PageRecord | None:
        raw = await self._redis.hgetall(self._keys.page(page_id))
        if not raw:
            return None
        data = {text(k): text(v) for k, v in raw.items()}
        return PageRecord(
            id=page_id,
            number=int(data["number"]),
            policy=data.get("policy", ""),
            position=Position(int(data.get("step", 0)), int(data.get("round", 0))),
            status=PageStatus(data.get("status", PageStatus.ACTIVE.value)),
        )

    async def move(self, page_id: str, position: Position) -> None:
        await self._redis.hset(self._keys.page(page_id), mapping={"step": position.step, "round": position.round})

    async def finish(self, page_id: str, status: PageStatus) -> bool:
        """Stop an active page (acknowledged or exhausted) and its timer; True only for the call that stopped it."""
        stopped = bool(await self._finish(keys=[self._keys.page(page_id)], args=[status.value]))
        if stopped:
            await self._timers.cancel(page_id)
        return stopped

    async def stop_all(self, number: int) -> list[str]:
        """Acknowledge every active page of the incident; the ids of those this call stopped."""
        ids = sorted(text(i) for i in await self._redis.smembers(self._keys.incident_set(number, "pages")))
        return [page_id for page_id in ids if await self.finish(page_id, PageStatus.ACKNOWLEDGED)]
