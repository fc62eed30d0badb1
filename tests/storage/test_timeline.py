"""TimelineStore against a real Redis: one stream per incident, append-once tokens, isolation by prefix."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from redis.asyncio import ConnectionPool, Redis

from domain.timeline import EntryKind, TimelineEntry
from storage.keys import Keys
from storage.timeline import TimelineStore

T0 = datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _entry(seconds: int, kind: EntryKind = EntryKind.NOTE, actor: str | None = "U0ACTOR", text: str = "x"):
    return TimelineEntry(T0 + timedelta(seconds=seconds), kind, actor, text)


async def test_append_then_read_round_trips_every_field(timeline_store: TimelineStore):
    """An entry reads back equal: aware UTC time with microseconds, kind, actor, text."""
    entry = TimelineEntry(T0, EntryKind.DECLARED, "U0DECLARER", "Declared SEV-2: Checkout is down ✨")
    appended = await timeline_store.append(7, entry)
    [read] = await timeline_store.read(7)
    assert appended is True
    assert read == entry
    assert read.at.tzinfo is UTC
    assert read.at.microsecond == 123456


async def test_actor_none_round_trips_as_none(timeline_store: TimelineStore):
    """An entry without an actor (an alert, say) reads back with actor None."""
    await timeline_store.append(7, _entry(0, actor=None))
    assert [entry.actor for entry in await timeline_store.read(7)] == [None]


async def test_times_in_other_zones_read_back_as_the_same_instant_in_utc(timeline_store: TimelineStore):
    """A time given with a non-UTC offset is stored as UTC and compares equal."""
    local = T0.astimezone(timezone(timedelta(hours=2)))
    await timeline_store.append(7, TimelineEntry(local, EntryKind.NOTE, None, "x"))
    [read] = await timeline_store.read(7)
    assert read.at == local
    assert read.at.tzinfo is UTC


async def test_naive_times_are_refused(timeline_store: TimelineStore):
    """A naive time would be ambiguous, so append raises and stores nothing."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await timeline_store.append(7, TimelineEntry(datetime(2024, 5, 1), EntryKind.NOTE, None, "x"))
    assert await timeline_store.read(7) == []


async def test_read_orders_by_time_not_by_arrival(timeline_store: TimelineStore):
    """An entry with an older `at` appended later (a pinned message) reads first."""
    declared, note, pinned = _entry(0, EntryKind.DECLARED), _entry(60), _entry(30, EntryKind.PINNED_MESSAGE)
    for entry in (declared, note, pinned):
        await timeline_store.append(7, entry)
    assert await timeline_store.read(7) == [declared, pinned, note]


async def test_entries_with_equal_times_keep_their_append_order(timeline_store: TimelineStore):
    """Sorting by time is stable: equal times read in the order they were appended."""
    entries = [_entry(0, text=str(i)) for i in range(5)]
    for entry in entries:
        await timeline_store.append(7, entry)
    assert [entry.text for entry in await timeline_store.read(7)] == ["0", "1", "2", "3", "4"]


async def test_read_returns_every_entry_of_a_long_timeline(timeline_store: TimelineStore):
    """Reading pages through the stream: more entries than one page all come back, in order."""
    entries = [_entry(i, text=str(i)) for i in range(1234)]
    for entry in entries:
        await timeline_store.append(7, entry)
    assert await timeline_store.read(7) == entries


async def test_read_of_an_unknown_incident_is_empty(timeline_store: TimelineStore):
    """An incident without entries has an empty timeline."""
    assert await timeline_store.read(404) == []


async def test_once_token_appends_only_the_first_time(timeline_store: TimelineStore):
    """A second append with the same token returns False and adds nothing."""
    first = await timeline_store.append(7, _entry(0, text="pinned"), once="1714555815.000100")
    second = await timeline_store.append(7, _entry(5, text="pinned again"), once="1714555815.000100")
    assert (first, second) == (True, False)
    assert [entry.text for entry in await timeline_store.read(7)] == ["pinned"]


async def test_once_tokens_are_per_incident_and_per_token(timeline_store: TimelineStore):
    """The same token may be appended once to each incident; a different token appends again."""
    results = [
        await timeline_store.append(7, _entry(0), once="a"),
        await timeline_store.append(8, _entry(0), once="a"),
        await timeline_store.append(7, _entry(1), once="b"),
    ]
    assert results == [True, True, True]
    assert len(await timeline_store.read(7)) == 2
    assert len(await timeline_store.read(8)) == 1


async def test_delete_removes_the_timeline_and_its_once_tokens(timeline_store: TimelineStore, redis: Redis, keys: Keys):
    """After delete the timeline is empty, both keys are gone and a used token may be appended again."""
    await timeline_store.append(7, _entry(0), once="a")
    await timeline_store.delete(7)
    assert await timeline_store.read(7) == []
    assert await redis.exists(keys.timeline(7), keys.timeline_once(7)) == 0
    assert await timeline_store.append(7, _entry(0), once="a") is True


async def test_delete_leaves_other_incidents_alone(timeline_store: TimelineStore):
    """Deleting one incident's timeline keeps another's."""
    await timeline_store.append(7, _entry(0))
    await timeline_store.append(8, _entry(0))
    await timeline_store.delete(7)
    assert len(await timeline_store.read(8)) == 1


async def test_stores_with_different_prefixes_do_not_see_each_other(redis: Redis, keys: Keys):
    """Two prefixes on one server keep separate timelines for the same incident number."""
    other_keys = Keys(prefix=f"{keys.prefix}other:")
    mine, theirs = TimelineStore(redis, keys), TimelineStore(redis, other_keys)
    await mine.append(7, _entry(0, text="mine"))
    await theirs.append(7, _entry(0, text="theirs"), once="a")
    assert [entry.text for entry in await mine.read(7)] == ["mine"]
    assert await mine.append(7, _entry(1), once="a") is True
    await theirs.delete(7)
    assert len(await mine.read(7)) == 2


async def test_store_works_with_a_decoding_client(redis: Redis, keys: Keys):
    """A client built with decode_responses=True (str replies) appends and reads the same entries."""
    pool = redis.connection_pool
    client = Redis.from_pool(
        ConnectionPool(connection_class=pool.connection_class, **{**pool.connection_kwargs, "decode_responses": True})
    )
    try:
        store = TimelineStore(client, keys)
        appended = [await store.append(7, _entry(0), once="a"), await store.append(7, _entry(1), once="a")]
        assert appended == [True, False]
        assert await store.read(7) == [_entry(0)]
    finally:
        await client.aclose()


def test_keys_share_the_incident_hash_tag():
    """An incident's stream and once-set share a Redis Cluster hash tag, so one script may touch both."""
    keys = Keys()
    assert keys.timeline(42) == "firebreak:incident:{42}:timeline"
    assert keys.timeline_once(42) == "firebreak:incident:{42}:timeline-once"
    assert keys.seen("declare", "T123") == "firebreak:seen:declare:T123"
