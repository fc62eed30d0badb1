"""Incident timelines in Redis: one Stream per incident, the live view of the SQL journal, never trimmed.

A stream (and its once-set) expires `LIVE_FOR` after its last append: SQL keeps every entry, and a read
rebuilds a stream that is gone."""

from collections.abc import Mapping
from datetime import UTC, datetime

import redis.asyncio
from redis.typing import EncodableT, FieldT

from domain.timeline import EntryKind, TimelineEntry
from storage.keys import Keys
from storage.replies import text

# KEYS[1] = once-set, KEYS[2] = stream; ARGV = token, at, kind, actor, text.
# SADD and XADD run as one script, so a token is never recorded without its entry (or the reverse).
_APPEND_ONCE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', 'at', ARGV[2], 'kind', ARGV[3], 'actor', ARGV[4], 'text', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""

# KEYS[1] = once-set, KEYS[2] = stream; ARGV = (token, at, kind, actor, text) per entry. A rebuild, atomic
# against the append-once script: a stream that is gone starts with no tokens; an entry whose token is there
# (a mover appended it meanwhile) is not added again.
_RESTORE = """
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
local added = 0
for i = 2, #ARGV, 5 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[2], '*', 'at', ARGV[i + 1], 'kind', ARGV[i + 2], 'actor', ARGV[i + 3], 'text', ARGV[i + 4])
    added = added + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return added
"""

_PAGE = 500
LIVE_FOR = 90 * 24 * 3600  # seconds a stream lives after its last append


class TimelineStore:
    """`append`, `read` and `delete` on each incident's timeline stream."""

    def __init__(self, redis: redis.asyncio.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._append_once = redis.register_script(_APPEND_ONCE)
        self._restore = redis.register_script(_RESTORE)

    async def append(self, number: int, entry: TimelineEntry, once: str | None = None) -> bool:
        """Append `entry`; with `once`, only if that token was never appended to this incident. True if appended."""
        fields = _fields(entry)
        if once is None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self._keys.timeline(number), fields)
                pipe.expire(self._keys.timeline(number), LIVE_FOR)
                await pipe.execute()
            return True
        keys = [self._keys.timeline_once(number), self._keys.timeline(number)]
        added = await self._append_once(keys=keys, args=[once, *fields.values(), LIVE_FOR])
        return bool(added)

    async def read(self, number: int) -> list[TimelineEntry]:
        """Every entry, oldest first by `at`; entries with equal times stay in the order they were appended."""
        return sorted((entry for _, entry in await self.read_with_ids(number)), key=lambda entry: entry.at)

    async def read_with_ids(self, number: int) -> list[tuple[str, TimelineEntry]]:
        """Every entry with its stream id, in the order they were appended."""
        entries: list[tuple[str, TimelineEntry]] = []
        start = "-"
        while True:
            page = await self._redis.xrange(self._keys.timeline(number), min=start, count=_PAGE) or []
            entries.extend(
                (text(entry_id), _entry(fields)) for entry_id, fields in page if fields is not None and entry_id
            )
            last_id = page[-1][0] if page else None
            if len(page) < _PAGE or last_id is None:
                break
            start = f"({text(last_id)}"
        return entries

    async def lengths(self, numbers: list[int]) -> dict[int, int]:
        """How many entries each incident's stream holds (0 for a stream that is gone)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.xlen(self._keys.timeline(number))
            counts = await pipe.execute()
        return {number: int(count) for number, count in zip(numbers, counts, strict=True)}

    async def numbers(self) -> list[int]:
        """The incidents whose stream exists, by a SCAN of the prefix (for the one-off backfill into SQL)."""
        found = set()
        async for key in self._redis.scan_iter(match=self._keys.timeline_pattern(), count=1000):
            found.add(self._keys.timeline_number(text(key)))
        return sorted(found)

    async def restore(self, number: int, entries: list[tuple[str, TimelineEntry]]) -> int:
        """Append entries the stream lost, each with its once-token (so a later move skips it); how many."""
        keys = [self._keys.timeline_once(number), self._keys.timeline(number)]
        args: list[EncodableT] = [LIVE_FOR]
        for token, entry in entries:
            args += [token, *_fields(entry).values()]
        return int(await self._restore(keys=keys, args=args)) if entries else 0

    async def delete(self, number: int) -> None:
        """Remove the incident's timeline and its once-tokens."""
        await self._redis.delete(self._keys.timeline(number), self._keys.timeline_once(number))


def _fields(entry: TimelineEntry) -> dict[FieldT, EncodableT]:
    """The stream fields, in the order the append-once script expects them."""
    if entry.at.tzinfo is None:
        raise ValueError("A timeline entry needs a timezone-aware time.")
    return {
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "kind": entry.kind.value,
        "actor": entry.actor or "",
        "text": entry.text,
    }


def _entry(fields: Mapping[bytes | str, bytes | str]) -> TimelineEntry:
    values = {text(key): text(value) for key, value in fields.items()}
    return TimelineEntry(
        at=datetime.fromisoformat(values["at"]).astimezone(UTC),
        kind=EntryKind(values["kind"]),
        actor=values["actor"] or None,
        text=values["text"],
    )
