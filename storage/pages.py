"""Pages and escalations: recorded in SQL (`page_records`), live in Redis; created once, moved step by step,
stopped once. SQL decides (a page is new, a page is stopped); Redis follows and is re-armed from SQL."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from domain.escalation import Position
from storage.keys import Keys
from storage.page_records import PageRecords, StoredPage
from storage.replies import text
from storage.timers import TimerStore

# KEYS: page hash. ARGV: new status. Stop only an active page: true exactly once.
_FINISH = """
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
"""


_FINISHED_TTL = 7 * 24 * 3600  # a stopped page's hash is kept a week (acknowledge links), then expires


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
    def __init__(self, redis: "Redis", keys: Keys, timers: TimerStore, records: PageRecords) -> None:
        self._records = records
        self._redis = redis
        self._keys = keys
        self._timers = timers
        self._finish = redis.register_script(_FINISH)

    async def create(
        self, page_id: str, number: int, policy: str, first: tuple[datetime, dict[str, object]] | None = None
    ) -> tuple[PageRecord, bool]:
        """Start a page under a natural id, with its `first` timer (due, body) in the same transaction, so a page
        never exists without what drives it. Starting it again returns the first one (False) and changes nothing
        in SQL; in Redis it puts back a page whose first attempt stopped between SQL and Redis."""
        due, body = first if first is not None else (None, None)
        stored = StoredPage(page_id, number, policy, 0, 0, PageStatus.ACTIVE.value, due, body)
        created = await self._records.add(stored)
        await self._arm(stored)
        record = await self.get(page_id)
        assert record is not None
        return record, created

    async def _arm(self, page: StoredPage) -> None:
        """Write the page and its timer to Redis unless its hash is there already."""
        key = self._keys.page(page.id)
        fields: dict[FieldT, EncodableT] = {
            "number": page.number,
            "policy": page.policy,
            "step": page.step,
            "round": page.round,
            "status": page.status,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if not await pipe.exists(key):
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping=fields)
                    pipe.sadd(self._keys.incident_set(page.number, "pages"), page.id)
                    pipe.expire(self._keys.incident_set(page.number, "pages"), _FINISHED_TTL)
                    if page.due is not None and page.timer is not None:
                        self._timers.queue(pipe, page.id, page.due, page.timer)
                    await pipe.execute()
            except WatchError:  # another process started it first
                pass

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
        await self._records.move(page_id, position.step, position.round)
        await self._redis.hset(self._keys.page(page_id), mapping={"step": position.step, "round": position.round})

    async def finish(self, page_id: str, status: PageStatus) -> bool:
        """Stop an active page (acknowledged or exhausted) and its timer; True only for the call that stopped it."""
        stopped = await self._records.finish(page_id, PageStatus.ACTIVE.value, status.value)
        in_redis = bool(await self._finish(keys=[self._keys.page(page_id)], args=[status.value]))
        await self._redis.expire(self._keys.page(page_id), _FINISHED_TTL)
        await self._timers.cancel(page_id)
        return in_redis if stopped is None else stopped  # a page from before SQL kept pages: Redis decides

    async def schedule(self, page_id: str, due: datetime, body: dict[str, object]) -> None:
        """Set the page's next timer, recorded in SQL first so it can be re-armed."""
        await self._records.schedule(page_id, due, body)
        await self._timers.schedule(page_id, due, body)

    async def rearm(self) -> int:
        """Put back, from SQL, every active page whose hash or timer Redis lost; how many were re-armed."""
        rearmed = 0
        for page in await self._records.with_status(PageStatus.ACTIVE.value):
            has_page = bool(await self._redis.exists(self._keys.page(page.id)))
            if has_page and await self._timers.is_set(page.id):
                continue
            if has_page:
                await self._redis.delete(self._keys.page(page.id))  # its timer is gone: write both again
            await self._arm(page)
            rearmed += 1
        return rearmed

    async def stop_all(self, number: int) -> list[str]:
        """Acknowledge every active page of the incident; the ids of those this call stopped."""
        active = {page.id for page in await self._records.with_status(PageStatus.ACTIVE.value, number)}
        active |= {text(i) for i in await self._redis.smembers(self._keys.incident_set(number, "pages"))}
        return [page_id for page_id in sorted(active) if await self.finish(page_id, PageStatus.ACKNOWLEDGED)]
