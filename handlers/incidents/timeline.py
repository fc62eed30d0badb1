"""Timelines: kept in the SQL journal (the record), shown from the Redis stream (the live view).

Every entry is written to SQL first, then moved to Redis. A stream that is missing entries (Redis flushed,
evicted, or failed over without persistence) is rebuilt from SQL when it is read and by the repair sweep;
while Redis is down, reads come from SQL.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import structlog
from redis.exceptions import RedisError

from domain import TimelineEntry
from handlers.services import Services
from storage.journal import JournalEntry

log = structlog.get_logger()

T = TypeVar("T")
_REBUILD_HOLD = timedelta(seconds=30)
_BACKFILL_DONE = timedelta(days=3650)  # the marker that the backfill ran: it need not run again

Written = tuple[TimelineEntry, str | None]  # an entry and its once-token (None: always written)


async def record(services: Services, number: int, entries: Sequence[Written]) -> list[bool]:
    """Keep the entries in SQL in one statement (each with a once-token only once), then show those kept;
    which were kept. (Entries an earlier failure left only in SQL are moved by the next read or sweep.)"""
    kept = await services.incidents.journal.add_all(number, entries)
    await move_kept(services, number, [item for item in kept if item is not None])
    return [item is not None for item in kept]


async def move_kept(services: Services, number: int, items: Sequence[JournalEntry]) -> None:
    """Move entries SQL has just kept to Redis (no read for them); with Redis down they wait in SQL for the
    next read or the repair sweep."""
    if items:
        try:
            await _move(services, items)
        except (RedisError, OSError) as error:
            log.warning("timeline_move_deferred", incident=number, error=type(error).__name__)


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


async def show(services: Services, number: int, items: Sequence[JournalEntry]) -> bool:
    """Append entries SQL kept to the incident's stream (each once, by its id), not marking them moved (the
    caller does, in a transaction of its own); False with Redis down: they wait in SQL for the next read or
    the repair sweep."""
    try:
        await services.timeline.append_all([(item.number, item.entry, item.token) for item in items])
    except (RedisError, OSError) as error:
        log.warning("timeline_move_deferred", incident=number, error=type(error).__name__)
        return False
    return True


async def move_soon(services: Services, number: int) -> None:
    """`move_timeline` for one incident; with Redis down the entries wait in SQL for the repair sweep."""
    await move_kept(services, number, await services.incidents.journal.pending(number))


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


async def backfill_journal(services: Services) -> int:
    """Keep in SQL the entries that only Redis has: those written before SQL kept every entry (migration 0004
    deleted an entry once it was in Redis). Done once per deployment (a marker says so); safe to run in several
    processes at once (each entry is kept once, by its stream id). Returns how many entries were kept now."""
    if await services.seen.holds("backfill", "journal"):
        return 0
    numbers = await services.timeline.numbers()
    lengths = await services.timeline.lengths(numbers)
    kept = await services.incidents.journal.moved_counts(numbers, moved_only=False)
    added = 0
    for number in [n for n in numbers if lengths[n] > kept.get(n, 0)]:
        live = await services.timeline.read_with_ids(number)  # the stream first: its entries were in SQL before it
        in_sql = [item.entry for item in await services.incidents.journal.entries(number)]
        added += await services.incidents.journal.keep_moved(number, _not_in(live, in_sql, lambda item: item[1]))
    await services.seen.first_time("backfill", "journal", _BACKFILL_DONE)
    if added:
        log.warning("timeline_backfilled_into_sql", entries=added)
    return added


async def _rebuild(services: Services, number: int, live: list[TimelineEntry]) -> None:
    """Append what the stream lost (compared entry by entry with SQL); one process at a time."""
    held = await services.seen.claim("rebuild", str(number), _REBUILD_HOLD)
    if held is None:
        return
    try:
        lost = _not_in(await services.incidents.journal.entries(number), live, lambda item: item.entry)
        restored = await services.timeline.restore(number, [(item.token, item.entry) for item in lost])
        if restored:
            log.warning("timeline_rebuilt", incident=number, entries=restored)
    finally:
        await held.let_go()


def _not_in(items: Sequence[T], present: Sequence[TimelineEntry], entry: Callable[[T], TimelineEntry]) -> list[T]:
    """The items whose entries `present` lacks, compared as multisets (an entry twice needs two there)."""
    have = Counter(present)
    lacking = []
    for item in items:
        if have[entry(item)] > 0:
            have[entry(item)] -= 1
        else:
            lacking.append(item)
    return lacking


def _at(entry: TimelineEntry) -> datetime:
    return entry.at
