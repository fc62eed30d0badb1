"""The alert inbox in Redis: atomic admission, the consumer group, crash recovery, group state."""

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from domain import Severity
from domain.alerts import AlertPolicy, AlertStatus, GroupState, Notification
from storage.alerts import AlertStore
from storage.keys import Keys
from tests.fixtures import ALERTMANAGER as FIXTURES


def load(name: str) -> Notification:
    return Notification.model_validate_json((FIXTURES / f"{name}.json").read_bytes())


async def test_admit_queues_only_new_alert_states(redis: Redis, keys: Keys) -> None:
    """A notification is queued once; its byte-identical repeat is not; a change is, with only the new states."""
    store = AlertStore(redis, keys)
    assert await store.admit(load("03-firing-group-of-3")) is not None
    assert await store.admit(load("03-firing-group-of-3")) is None
    assert await store.admit(load("04-firing-group-one-resolved")) is not None
    assert await store.pending() == 2
    await store.ensure_consumer_group()
    async with store.reader() as reader:
        [first], [second] = await reader.read("c1", 10, timedelta(milliseconds=10))  # a new group: priority
    assert len(first.new_tokens) == 3
    assert len(second.new_tokens) == 1
    assert second.notification == load("04-firing-group-one-resolved")


async def test_concurrent_repeats_are_admitted_once(redis: Redis, keys: Keys) -> None:
    """Many simultaneous deliveries of the same notification queue exactly one entry."""
    store = AlertStore(redis, keys)
    results = await asyncio.gather(*(store.admit(load("01-firing-single-critical")) for _ in range(20)))
    assert len([r for r in results if r is not None]) == 1
    assert await store.pending() == 1


def _order(entry_id: bytes) -> tuple[int, ...]:
    """A stream id's place in its stream's order: `ms-seq`, compared as numbers."""
    return tuple(int(part) for part in entry_id.split(b"-"))


def _groups(count: int) -> list[Notification]:
    first = load("03-firing-group-of-3")
    return [first.model_copy(update={"group_key": f"{first.group_key}-{n}"}) for n in range(count)]


async def _queued_groups(redis: Redis, keys: Keys) -> list[str]:
    """The group of each queued entry, both lanes, in the order queued."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = []
    for lane in (keys.alert_inbox_priority(), keys.alert_inbox()):
        entries += cast(list[tuple[bytes, dict[bytes, bytes]]], await redis.xrange(lane))
    return [fields[b"group"].decode() for _, fields in sorted(entries, key=lambda entry: _order(entry[0]))]


async def test_concurrent_admissions_are_each_answered_and_queued_in_order(redis: Redis, keys: Keys) -> None:
    """Admissions made while one is out go to Redis together; each gets its own entry id, queued in call order."""
    store, notifications = AlertStore(redis, keys), _groups(20)
    ids = await asyncio.gather(*(store.admit(n) for n in notifications))
    assert all(ids)
    assert ids == sorted(ids, key=lambda entry_id: _order(str(entry_id).encode()))
    assert await _queued_groups(redis, keys) == [n.group_key for n in notifications]
    assert await asyncio.gather(*(store.admit(n) for n in notifications)) == [None] * 20  # repeats, together


async def test_a_bad_group_fails_its_own_admission_only(redis: Redis, keys: Keys) -> None:
    """A group whose seen-set is not a sorted set (WRONGTYPE) fails the call of all those sent together; each then
    runs alone: the bad one raises, the rest are queued. One that Redis had run before the failure is queued
    once and, alone again, answered as a repeat: nothing is lost and nothing is queued twice."""
    store, notifications = AlertStore(redis, keys), _groups(4)
    await redis.set(keys.alert_group(notifications[2].group_key, "seen-at"), "not a sorted set")
    results = await asyncio.gather(*(store.admit(n) for n in notifications), return_exceptions=True)
    assert isinstance(results[0], str)  # with none out: at once, alone
    assert results[1] is None  # run before the batch failed on the bad one: queued then, a repeat alone
    assert isinstance(results[2], ResponseError)
    assert "WRONGTYPE" in str(results[2])
    assert isinstance(results[3], str)
    groups = [notifications[n].group_key for n in (0, 1, 3)]
    assert await _queued_groups(redis, keys) == groups


async def test_a_large_group_is_admitted_whole_and_its_repeat_is_not(redis: Redis, keys: Keys) -> None:
    """9,000 alerts (past what Lua unpacks at once: Redis takes them a chunk at a time), two listed twice (in
    the same chunk and in another): every state is marked once; the repeat is not queued; one alert resolved is
    queued with that state alone."""
    store, template = AlertStore(redis, keys), load("01-firing-single-critical")
    alerts = [replace(template.alerts[0], fingerprint=f"{n:016x}") for n in range(9000)]
    large = template.model_copy(update={"alerts": [alerts[0], *alerts, alerts[7]]})
    await store.ensure_consumer_group()
    assert await store.admit(large) is not None
    assert await store.admit(large) is None
    resolved = replace(alerts[1234], status=AlertStatus.RESOLVED)
    assert await store.admit(large.model_copy(update={"alerts": [*alerts[:1234], resolved]})) is not None
    async with store.reader() as reader:
        priority, inbox = await reader.read("c1", 10, timedelta(milliseconds=10))
    assert [len(entry.new_tokens) for entry in priority + inbox] == [9000, 1]
    assert inbox[0].new_tokens == {resolved.token}
    assert await redis.zcard(keys.alert_group(large.group_key, "seen-at")) == 9001


async def test_unreachable_redis_fails_every_admission() -> None:
    """When Redis cannot be reached, every admission sent together raises the connection error; none waits on."""
    unreachable = Redis(port=1, socket_connect_timeout=1)
    store = AlertStore(unreachable, Keys("unreachable:"))
    try:
        results = await asyncio.gather(*(store.admit(n) for n in _groups(3)), return_exceptions=True)
    finally:
        await unreachable.aclose()
    assert all(isinstance(result, ConnectionError) for result in results)


async def test_unfinished_entries_are_reclaimed(redis: Redis, keys: Keys) -> None:
    """An entry read by a consumer that died is taken over by another; done entries leave the stream."""
    store = AlertStore(redis, keys)
    await store.ensure_consumer_group()
    entry_id = await store.admit(load("01-firing-single-critical"))
    async with store.reader() as reader:
        [taken], [] = await reader.read("dead-worker", 10, timedelta(milliseconds=10))
    assert taken.id == entry_id
    [reclaimed] = await store.reclaim("live-worker", idle=timedelta(0))
    assert reclaimed.id == entry_id
    await store.done(reclaimed)
    assert await store.pending() == 0
    assert await store.reclaim("live-worker", idle=timedelta(0)) == []


async def test_interrupt_wakes_a_blocked_read(redis: Redis, keys: Keys) -> None:
    """A read blocked for a minute returns as soon as it is interrupted."""
    store = AlertStore(redis, keys)
    await store.ensure_consumer_group()
    async with store.reader() as reader:
        read = asyncio.create_task(reader.read("c1", 10, timedelta(minutes=1)))
        for _ in range(40):  # an interrupt sent before the read reaches Redis has nothing to wake: send again
            await reader.interrupt()
            done, _ = await asyncio.wait([read], timeout=0.05)
            if done:
                break
        assert read.done()
        assert read.result() == ([], [])


async def test_new_groups_and_raised_severities_take_the_priority_lane(redis: Redis, keys: Keys) -> None:
    """A group's first notification and one more severe than the group as processed go first; repeats do not."""
    store, policy = AlertStore(redis, keys), AlertPolicy()
    await store.ensure_consumer_group()
    first, more = load("03-firing-group-of-3"), load("04-firing-group-one-resolved")
    await store.admit(first, policy.severity(first))
    await store.remember(first.group_key, GroupState().after(first, policy))  # as the worker would
    await store.admit(more, Severity.SEV4)  # milder than the group: a repeat's lane
    raised = more.model_copy(update={"alerts": [replace(a, fingerprint="f00d") for a in more.alerts]})
    await store.admit(raised, Severity.SEV1)  # the group was SEV-3 (warnings)
    async with store.reader() as reader:
        priority, inbox = await reader.read("c1", 10, timedelta(milliseconds=10))
    assert [e.notification.group_key for e in inbox] == [more.group_key]
    assert [e.notification for e in priority] == [first, raised]


async def test_group_state_round_trips(redis: Redis, keys: Keys) -> None:
    """A group's records, truncation, title and severity are kept; forget drops the records."""
    store = AlertStore(redis, keys)
    group = load("06-firing-truncated-max-alerts-2")
    state = GroupState().after(group, AlertPolicy())
    await store.remember(group.group_key, state)
    loaded = await store.state(group.group_key)
    assert sorted(loaded.records, key=lambda r: r.fingerprint) == sorted(state.records, key=lambda r: r.fingerprint)
    assert (loaded.truncated, loaded.title, loaded.severity) == (2, "replication lag > 30s", Severity.SEV1)
    await store.forget(group.group_key)
    assert (await store.state(group.group_key)).records == ()


async def test_per_incident_markers(redis: Redis, keys: Keys) -> None:
    """first_for_incident is true once per token until reset."""
    store = AlertStore(redis, keys)
    assert await store.first_for_incident(7, "runbooks", "A")
    assert not await store.first_for_incident(7, "runbooks", "A")
    assert await store.first_for_incident(8, "runbooks", "A")
    await store.reset_for_incident(7, "runbooks")
    assert await store.first_for_incident(7, "runbooks", "A")


async def test_a_flapping_groups_seen_states_are_bounded_by_their_ttl(redis: Redis, keys: Keys) -> None:
    """Alert states admitted longer ago than the TTL are dropped at the next admission: the set stays bounded."""
    store = AlertStore(redis, keys)
    notification = Notification.model_validate_json((FIXTURES / "01-firing-single-critical.json").read_bytes())
    seen = keys.alert_group(notification.group_key, "seen-at")
    await redis.zadd(seen, {"an-old-flap": 0})  # admitted in 1970
    assert await store.admit(notification) is not None
    assert await store.admit(notification) is None  # the repeat is still refused
    members = await redis.zrange(seen, 0, -1)
    assert b"an-old-flap" not in members
    assert len(members) == len(notification.alerts)
    assert 0 < await redis.ttl(seen) <= 7 * 24 * 3600
