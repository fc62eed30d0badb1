"""Alert intake in Redis: admit a notification atomically, queue it durably, remember each group's alerts."""

import json
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError
from redis.typing import EncodableT, FieldT, StreamIdT

from domain.alerts import AlertRecord, AlertStatus, GroupState, Notification, state_tokens
from domain.severity import Severity
from storage.batch import Batched, Command, CommandBatch
from storage.keys import Keys
from storage.replies import text

_ADMISSIONS_A_CALL = 100  # Redis runs nothing else while the admission script runs: a few ms at most
# Admit notifications, each as if alone, in order: mark each alert state of its group as seen (a ZSET scored by
# when first seen: one ZMSCORE finds the new states, one ZADD marks them), and queue the notification only if
# one of them is new; in the priority lane if the group was never seen or its severity goes up (a lower
# number), else in the inbox. States older than the TTL are dropped, so a group that flaps for ever keeps a
# bounded set. The admissions made while one is out come together in one call (`Batched`): as a pipeline of
# one call each, the client's work and Redis's per call were a fifth of the intake's CPU.
# KEYS: inbox stream, priority stream, then per notification its seen-set and group alerts hash.
# ARGV: seen TTL (s), then per notification its group key, payload, severity and tokens (joined by NUL, which
# the webhook refuses in a body: one argument instead of one per alert, which redis-py packs one by one, and
# a join instead of a JSON array, which cost the intake 4 % of its CPU). One reply per notification: the new
# entry's id, or false (nil) for a repeat.
_ADMIT = """
local ttl = tonumber(ARGV[1])
local now = tonumber(redis.call('TIME')[1])
local replies = {}
for n = 1, (#KEYS - 2) / 2 do
  local seen, alerts = KEYS[2 * n + 1], KEYS[2 * n + 2]
  local first = redis.call('EXISTS', seen) == 0
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', now - ttl)
  local tokens, new, added = {}, {}, {}
  for token in string.gmatch(ARGV[4 * n + 1], '[^%z]+') do tokens[#tokens + 1] = token end
  for start = 1, #tokens, 1000 do  -- ZMSCORE and ZADD take a chunk at a time (unpack has a limit)
    local chunk = {unpack(tokens, start, math.min(start + 999, #tokens))}
    local scores, adds = redis.call('ZMSCORE', seen, unpack(chunk)), {}
    for i, token in ipairs(chunk) do
      if not scores[i] and not added[token] then
        added[token] = true
        new[#new + 1] = token
        adds[#adds + 1] = now
        adds[#adds + 1] = token
      end
    end
    if #adds > 0 then redis.call('ZADD', seen, unpack(adds)) end
  end
  redis.call('EXPIRE', seen, ttl)
  replies[n] = false
  if #new > 0 then
    local known = tonumber(redis.call('HGET', alerts, '~severity') or '')
    local lane = KEYS[1]
    if first or (known and tonumber(ARGV[4 * n]) < known) then lane = KEYS[2] end
    replies[n] = redis.call('XADD', lane, '*', 'group', ARGV[4 * n - 2], 'payload', ARGV[4 * n - 1],
      'new', cjson.encode(new))
  end
end
return replies
"""
# Give up on an entry: keep it in the dead-letter stream, drop it from the inbox, and unmark its alert states
# so Alertmanager's next repeat is admitted again. KEYS: inbox, dead, attempts, seen-set.
# ARGV: entry id, group, payload, new (JSON), error, consumer group, dead-letter bound, tokens...
_BURY = """
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'group', ARGV[2], 'payload', ARGV[3], 'new', ARGV[4],
  'error', ARGV[5])
redis.call('XACK', KEYS[1], ARGV[6], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
for i = 8, #ARGV do redis.call('ZREM', KEYS[4], ARGV[i]) end
return 1
"""
_CONSUMER_GROUP = "firebreak"
_GROUP_TTL = 30 * 24 * 3600  # a group's alerts and alerts-channel message, after it was last heard of
_DEAD_MAX = 10_000
_Fields = dict[bytes | str, bytes | str]
_StreamReply = list[tuple[bytes | str, list[tuple[bytes | str, _Fields]]]] | None
_META = ("~truncated", "~title", "~severity")


@dataclass(frozen=True)
class _Admission:
    seen: str  # the group's seen-set key
    alerts: str  # the group's alerts hash key
    group: str
    payload: bytes | str
    severity: int
    tokens: str  # joined by NUL


@dataclass(frozen=True)
class InboxEntry:
    """An admitted notification as read from its lane. Its payload is parsed when the notification is first
    asked for, by the run that processes it: a batch of thousands waits as its JSON (a fraction of the parsed
    objects' memory), and reading it does not hold the event loop for the whole batch's parsing."""

    id: str
    group_key: str
    payload: str  # the notification's JSON, as admitted
    new_tokens: frozenset[str]
    stream: str = ""  # the lane (stream key) it was read from

    @cached_property
    def notification(self) -> Notification:
        return Notification.model_validate_json(self.payload)

    @property
    def admitted(self) -> int:
        """When Redis admitted it, in milliseconds: its stream id's first part, comparable across the lanes
        (the part after it counts within one stream only)."""
        return int(self.id.partition("-")[0])


class AlertStore:
    def __init__(self, redis: "Redis", keys: Keys, seen_ttl: timedelta = timedelta(days=7)) -> None:
        self._redis = redis
        self._keys = keys
        self._seen_ttl = seen_ttl
        self._group_ttl = _GROUP_TTL
        self._admit_script = redis.register_script(_ADMIT)
        self._admit = Batched(self._admit_all, shared=(ConnectionError, TimeoutError), most=_ADMISSIONS_A_CALL)
        self._commands = CommandBatch(redis)  # the worker's groups' commands made meanwhile: one pipeline
        self._bury = redis.register_script(_BURY)

    def admit(
        self, notification: Notification, severity: Severity = Severity.SEV4, body: bytes | None = None
    ) -> Awaitable[str | None]:
        """Queue the notification if any alert state in it is new; its stream id, or None for a repeat. `body`:
        the JSON it was parsed from, queued as it is (else the notification is serialised again).

        A group's first notification, or one more severe than the group as last processed, goes in the
        priority lane: it does not wait behind thousands of repeats of groups that already have incidents.

        Not a coroutine function: the keys and arguments are worked out at the call, so that the caller may
        let the notification go while Redis answers (fifty parsed notifications held across their awaits made
        the intake's other work a sixth slower, bench.intake)."""
        group = notification.group_key
        return self._admit(
            _Admission(
                self._keys.alert_group(group, "seen-at"),
                self._keys.alert_group(group, "alerts"),
                group,
                body if body is not None else notification.model_dump_json(by_alias=True),
                int(severity),
                "\0".join(state_tokens(notification.alerts)),
            )
        )

    async def _admit_all(self, admissions: Sequence["_Admission"]) -> list[str | None]:
        keys = [self._keys.alert_inbox(), self._keys.alert_inbox_priority()]
        args: list[EncodableT] = [int(self._seen_ttl.total_seconds())]
        for admission in admissions:
            keys += [admission.seen, admission.alerts]
            args += [admission.group, admission.payload, admission.severity, admission.tokens]
        replies = await self._admit_script(keys=keys, args=args)
        return [text(reply) if isinstance(reply, bytes | str) else None for reply in replies]

    def _lanes(self) -> tuple[str, str]:
        """The priority lane first."""
        return self._keys.alert_inbox_priority(), self._keys.alert_inbox()

    async def ensure_consumer_group(self) -> None:
        for lane in self._lanes():
            try:
                await self._redis.xgroup_create(lane, _CONSUMER_GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def reader(self) -> "InboxReader":
        """A dedicated connection for blocking reads of the inbox, which `interrupt` can wake."""
        return InboxReader(self._redis, self._keys)

    async def reclaim(self, consumer: str, idle: timedelta, count: int = 100, every: bool = False) -> list[InboxEntry]:
        """Entries another consumer took but never finished (it died), idle for at least `idle`; priority first.
        At most `count` of each lane, or with `every` all of them (a new active worker takes over everything
        its predecessor left, before it reads anything newer)."""
        entries: list[InboxEntry] = []
        for lane in self._lanes():
            cursor = "0-0"
            while True:
                cursor, claimed, *_ = await self._redis.xautoclaim(
                    lane, _CONSUMER_GROUP, consumer, int(idle.total_seconds() * 1000), cursor, count
                )
                entries += [_entry(entry_id, fields, lane) for entry_id, fields in claimed if fields]
                if not every or text(cursor) == "0-0":
                    break
        return entries

    async def pending(self) -> int:
        """Entries admitted and not yet processed, in both lanes (processed ones are deleted)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for lane in self._lanes():
                pipe.xlen(lane)
            return sum(int(n) for n in await pipe.execute())

    async def done(self, entry: InboxEntry) -> None:
        """Acknowledge and drop a processed entry (and its failure count), so its stream stays small."""
        await self.done_all([entry])

    async def done_all(self, entries: Sequence[InboxEntry]) -> None:
        """`done` for each entry, in one round trip."""
        if not entries:
            return
        commands: list[Command] = []
        for entry in entries:
            lane = entry.stream or self._keys.alert_inbox()
            commands += [("XACK", lane, _CONSUMER_GROUP, entry.id), ("XDEL", lane, entry.id)]
        commands.append(("HDEL", self._keys.alert_attempts(), *(entry.id for entry in entries)))
        await self._commands(*commands)

    async def failed(self, entry_id: str) -> int:
        """Count a failed attempt at an entry; how many it has had."""
        return int(await self._redis.hincrby(self._keys.alert_attempts(), entry_id, 1))

    async def bury(self, entry: InboxEntry, error: str) -> None:
        """Move an entry the worker gave up on to the dead-letter stream, its alert states admitted again."""
        keys = [
            entry.stream or self._keys.alert_inbox(),
            self._keys.alert_dead(),
            self._keys.alert_attempts(),
            self._keys.alert_group(entry.group_key, "seen-at"),
        ]
        tokens = sorted(entry.new_tokens)
        args: list[EncodableT] = [entry.id, entry.group_key, entry.payload, json.dumps(tokens), error]
        await self._bury(keys=keys, args=[*args, _CONSUMER_GROUP, _DEAD_MAX, *tokens])

    async def retry_dead(self) -> int:
        """Queue every dead-lettered entry again (its alert states marked seen again); how many."""
        moved = 0
        for entry_id, fields in await self._redis.xrange(self._keys.alert_dead()) or []:
            if entry_id is None or fields is None:
                continue
            entry = _entry(entry_id, fields, self._keys.alert_dead())
            seen = self._keys.alert_group(entry.group_key, "seen-at")
            async with self._redis.pipeline(transaction=True) as pipe:
                if entry.new_tokens:
                    pipe.zadd(seen, dict.fromkeys(sorted(entry.new_tokens), time.time()))
                    pipe.expire(seen, int(self._seen_ttl.total_seconds()))
                new = json.dumps(sorted(entry.new_tokens))
                queued: dict[FieldT, EncodableT] = {"group": entry.group_key, "payload": entry.payload, "new": new}
                pipe.xadd(self._keys.alert_inbox(), queued)
                pipe.xdel(self._keys.alert_dead(), entry_id)
                await pipe.execute()
            moved += 1
        return moved

    async def dead(self) -> int:
        """How many entries wait in the dead-letter stream."""
        return int(await self._redis.xlen(self._keys.alert_dead()))

    async def state(self, group_key: str) -> GroupState:
        """The group's alerts as last seen, with its title, severity and Alertmanager's truncatedAlerts."""
        [raw] = await self._commands(("HGETALL", self._keys.alert_group(group_key, "alerts")))
        assert isinstance(raw, dict)
        fields = {text(k): text(v) for k, v in raw.items()}
        truncated, title, severity = (fields.pop(name, "") for name in _META)
        return GroupState(
            records=tuple(_record(value) for value in fields.values()),
            truncated=int(truncated or 0),
            title=title,
            severity=Severity(int(severity or 3)),
        )

    async def remember(self, group_key: str, state: GroupState) -> None:
        """Store the group's alerts; kept for `group_ttl` after the group was last heard of."""
        mapping: dict[FieldT, EncodableT] = {r.fingerprint: _dump(r) for r in state.records}
        mapping.update(zip(_META, (state.truncated, state.title, int(state.severity)), strict=True))
        key = self._keys.alert_group(group_key, "alerts")
        await self._commands(
            ("HSET", key, *(item for pair in mapping.items() for item in pair)),
            ("EXPIRE", key, self._group_ttl),
            ("EXPIRE", self._keys.alert_group(group_key, "message"), self._group_ttl),
        )

    async def forget(self, group_key: str) -> None:
        """Start the group afresh (a new incident for it): drop its records and its alerts-channel message."""
        await self._redis.delete(
            self._keys.alert_group(group_key, "alerts"), self._keys.alert_group(group_key, "message")
        )

    async def message(self, group_key: str) -> str | None:
        """The ts of the group's message in the alerts channel, if one was posted."""
        value = await self._redis.get(self._keys.alert_group(group_key, "message"))
        return text(value) if value else None

    async def set_message(self, group_key: str, ts: str) -> None:
        await self._redis.set(self._keys.alert_group(group_key, "message"), ts, ex=self._group_ttl)

    async def first_for_incident(self, number: int, kind: str, token: str) -> bool:
        """True the first time (kind, token) is seen for the incident, e.g. a runbook posted per alertname.

        Kept `group_ttl` after its last use (the SQL journal keeps what was posted for good)."""
        key = self._keys.incident_set(number, kind)
        added, _ = await self._commands(("SADD", key, token), ("EXPIRE", key, self._group_ttl))
        return bool(added)

    async def marked_for_incident(self, number: int, kind: str, token: str) -> bool:
        """Whether `first_for_incident` has seen (kind, token) for the incident."""
        [member] = await self._commands(("SISMEMBER", self._keys.incident_set(number, kind), token))
        return bool(member)

    async def reset_for_incident(self, number: int, kind: str) -> None:
        await self._commands(("DEL", self._keys.incident_set(number, kind)))


class InboxReader:
    def __init__(self, redis: "Redis", keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._connection: Redis | None = None
        self._client_id: int | None = None

    async def __aenter__(self) -> "InboxReader":
        self._connection = self._redis.client()  # single connection from the shared pool
        self._client_id = int(await self._connection.client_id())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            await self._connection.aclose()

    async def read(
        self, consumer: str, count: int, block: timedelta | None, lanes: int = 2
    ) -> tuple[list[InboxEntry], list[InboxEntry]]:
        """New entries for this consumer from the priority lane and the inbox (up to `count` from each), read in
        one command so that both are one moment's view; waits up to `block` (None: not at all) for one to
        arrive (or an interrupt). `lanes=1` reads the priority lane only."""
        assert self._connection is not None, "use `async with store.reader()`"
        priority, inbox = self._keys.alert_inbox_priority(), self._keys.alert_inbox()
        streams: dict[bytes | str | memoryview, StreamIdT] = {lane: ">" for lane in (priority, inbox)[:lanes]}
        block_ms = None if block is None else max(1, int(block.total_seconds() * 1000))
        reply = await self._connection.xreadgroup(_CONSUMER_GROUP, consumer, streams, count=count, block=block_ms)
        answer = cast(_StreamReply, reply)  # the RESP2 shape: this client is not built with protocol=3
        read = {text(lane): [_entry(i, fields, text(lane)) for i, fields in entries] for lane, entries in answer or []}
        return read.get(priority, []), read.get(inbox, [])

    async def interrupt(self) -> None:
        """Wake a blocked `read` at once (CLIENT UNBLOCK from another connection)."""
        if self._client_id is not None:
            await self._redis.client_unblock(self._client_id)


def _entry(entry_id: bytes | str, fields: _Fields, stream: str) -> InboxEntry:
    values = {text(k): text(v) for k, v in fields.items()}
    new = frozenset(json.loads(values["new"]))
    return InboxEntry(text(entry_id), values["group"], values["payload"], new, stream)  # every writer sets group


def _dump(record: AlertRecord) -> str:
    return json.dumps(
        {
            "fingerprint": record.fingerprint,
            "name": record.name,
            "where": record.where,
            "status": record.status.value,
            "starts_at": record.starts_at.isoformat(),
        }
    )


def _record(value: str) -> AlertRecord:
    data = json.loads(value)
    return AlertRecord(
        fingerprint=data["fingerprint"],
        name=data["name"],
        where=data["where"],
        status=AlertStatus(data["status"]),
        starts_at=datetime.fromisoformat(data["starts_at"]),
    )
