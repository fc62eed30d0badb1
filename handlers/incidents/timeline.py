"""Timelines: kept in the SQL journal (the record), shown from the Redis stream (the live view).

Every entry is written to SQL first, then moved to Redis. A stream that is missing entries (Redis flushed,
evicted, or failed over without persistence) is rebuilt from SQL when it is read and by the repair sweep;
while Redis is down, reads come from SQL.
"""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from redis.exceptions import RedisError

from domain import TimelineEntry
from handlers.services import Services
from storage.journal import JournalEntry

log = structlog.get_logger()

_REBUILD_HOLD = timedelta(seconds=30)

Written = tuple[TimelineEntry, str | None]  # an entry and its once-token (None: always written)


async def record(services: Services, number: int, entries: Sequence[Written]) -> list[bool]:
    """Keep the entries in SQL in one statement (each with a once-token only once), then show those kept;
    which were kept. (Entries an earlier failure left only in SQL are moved by the next read or sweep.)"""
    kept = await services.incidents.journal.add_all(number, entries)
    written = [item for item in kept if item is not None]
    if written:
        try:
            await _move(services, written)
        except (RedisError, OSError) as error:
            log.warning("timeline_move_deferred", incident=number, error=type(error).__name__)
    return [item is not None for item in kept]


async def move_timeline(services: Services, number: int | None = None) -> int:
    """Move entries not yet in Redis there (one incident's, or all); how many moved.

    Each append is once-only by the entry's SQL id, so a repeated move (two processes, or a crash between
    the append and marking the entry moved) adds nothing twice."""
    pending = await services.incidents.journal.pending(number)
    await _move(services, pending)
    return len(pending)


async def _move(services: Services, items: Sequence[JournalEntry]) -> None:
    await services.timeline.append_all([(item.number, item.entry, item.token) for item in items])
    await services.incidents.journal.mark_moved([item.id for item in items])


async def move_soon(services: Services, number: int) -> None:
    """`move_timeline` for one incident; with Redis down the entries wait in SQL for the repair sweep."""
    try:
        await move_timeline(services, number)
    except (RedisError, OSError) as error:
        log.warning("timeline_move_deferred", incident=number, error=type(error).__name__)


async def read_timeline(services: Services, number: int) -> list[TimelineEntry]:
    """The incident's timeline, oldest first: from Redis, rebuilt from SQL if short, from SQL if Redis is down."""
    try:
        await move_timeline(services, number)
        live = await services.timeline.read(number)
    except (RedisError, OSError) as error:
        log.warning("timeline_read_from_sql", incident=number, error=type(error).__name__)
        return sorted((item.entry for item in await services.incidents.journal.entries(number)), key=_at)
    moved = (await services.incidents.journal.moved_counts([number])).get(number, 0)
    if len(live) >= moved:
        return live
    await _rebuild(services, number, live)
    return await services.timeline.read(number)


async def repair_timelines(services: Services) -> int:
    """Rebuild every open incident's stream that holds fewer entries than SQL moved to it; how many were rebuilt.
    (A resolved incident's stream may expire; reading it rebuilds it.)"""
    open_numbers = [incident.number for incident in await services.incidents.list(open_only=True)]
    moved = await services.incidents.journal.moved_counts(open_numbers)
    lengths = await services.timeline.lengths(sorted(moved))
    short = [number for number, count in moved.items() if lengths[number] < count]
    for number in short:
        await _rebuild(services, number, await services.timeline.read(number))
    return len(short)


async def _rebuild(services: Services, number: int, live: list[TimelineEntry]) -> None:
    """Append what the stream lost (compared entry by entry with SQL); one process at a time."""
    if not await services.seen.claim("rebuild", str(number), _REBUILD_HOLD):
        return
    try:
        have = Counter(live)
        missing: list[tuple[str, TimelineEntry]] = []
        for item in await services.incidents.journal.entries(number):
            if have[item.entry] > 0:
                have[item.entry] -= 1
            else:
                missing.append((item.token, item.entry))
        restored = await services.timeline.restore(number, missing)
        if restored:
            log.warning("timeline_rebuilt", incident=number, entries=restored)
    finally:
        await services.seen.release("rebuild", str(number))


def _at(entry: TimelineEntry) -> datetime:
    return entry.at
