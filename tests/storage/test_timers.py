"""Durable timers: due times, exactly-once claims, leases that expire, rescheduling."""

import asyncio
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from storage.keys import Keys
from storage.timers import TimerStore

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_only_due_timers_are_claimed(redis: Redis, keys: Keys) -> None:
    """A timer is handed out once its due time has come, with its body."""
    timers = TimerStore(redis, keys)
    await timers.schedule("page:1:step:0", T0 + timedelta(minutes=5), {"page": "1", "step": 0})
    assert await timers.claim(T0, LEASE) == []
    [timer] = await timers.claim(T0 + timedelta(minutes=5), LEASE)
    assert (timer.id, timer.body) == ("page:1:step:0", {"page": "1", "step": 0})
    assert await timers.next_due() is None


async def test_concurrent_claims_take_each_timer_once(redis: Redis, keys: Keys) -> None:
    """Ten processes claiming at once share 50 due timers without any timer going to two of them."""
    timers = TimerStore(redis, keys)
    for n in range(50):
        await timers.schedule(f"t{n}", T0, {"n": n})
    claims = await asyncio.gather(*(TimerStore(redis, keys).claim(T0, LEASE, limit=7) for _ in range(10)))
    taken = [timer.id for claim in claims for timer in claim]
    assert len(taken) == len(set(taken))
    rest = await timers.claim(T0, LEASE)
    assert sorted(taken + [t.id for t in rest]) == sorted(f"t{n}" for n in range(50))


async def test_expired_lease_hands_the_timer_out_again(redis: Redis, keys: Keys) -> None:
    """A holder that dies (never completes) loses the timer to another claimer after the lease."""
    timers = TimerStore(redis, keys)
    await timers.schedule("t", T0, {})
    assert [t.id for t in await timers.claim(T0, LEASE)] == ["t"]
    assert await timers.claim(T0 + timedelta(seconds=29), LEASE) == []
    assert [t.id for t in await timers.claim(T0 + timedelta(seconds=31), LEASE)] == ["t"]


async def test_complete_and_cancel_forget_the_timer(redis: Redis, keys: Keys) -> None:
    """Completed and cancelled timers never come back."""
    timers = TimerStore(redis, keys)
    await timers.schedule("done", T0, {})
    await timers.schedule("cancelled", T0, {})
    await timers.cancel("cancelled")
    [timer] = await timers.claim(T0, LEASE)
    await timers.complete(timer.id)
    assert await timers.claim(T0 + timedelta(hours=1), LEASE) == []


async def test_rescheduled_while_held_is_kept(redis: Redis, keys: Keys) -> None:
    """A timer rescheduled by its holder (the next escalation step) survives the holder's complete."""
    timers = TimerStore(redis, keys)
    await timers.schedule("t", T0, {"step": 0})
    await timers.claim(T0, LEASE)
    await timers.schedule("t", T0 + timedelta(minutes=10), {"step": 1})
    await timers.complete("t")
    [timer] = await timers.claim(T0 + timedelta(minutes=10), LEASE)
    assert timer.body == {"step": 1}


async def test_a_renewed_lease_keeps_the_timer_and_renewal_claims_nothing(redis: Redis, keys: Keys) -> None:
    """A live holder renews its lease past the old expiry; renewing a timer nobody holds (completed, or moved
    back to due by its own work) neither claims it nor keeps it from being handed out."""
    timers = TimerStore(redis, keys)
    await timers.schedule("held", T0, {})
    await timers.schedule("rescheduled", T0, {})
    await timers.claim(T0, LEASE)
    await timers.extend("held", T0 + 2 * LEASE)
    assert await timers.lease_of("held") == T0 + 2 * LEASE
    await timers.schedule("rescheduled", T0 + LEASE, {"step": 1})
    await timers.extend("rescheduled", T0 + 2 * LEASE)
    assert await timers.lease_of("rescheduled") is None
    assert [t.id for t in await timers.claim(T0 + LEASE + timedelta(seconds=1), LEASE)] == ["rescheduled"]
    await timers.complete("held")
    await timers.extend("held", T0 + 3 * LEASE)
    assert await timers.lease_of("held") is None


async def test_timer_families_are_claimed_apart(redis: Redis, keys: Keys) -> None:
    """A timer of one family (postmortem reminders) is never handed to a claimer of another (the pager)."""
    pager, reminders = TimerStore(redis, keys), TimerStore(redis, keys, family="postmortem-timers")
    await reminders.schedule("item:1:due", T0, {"kind": "item_due"})
    await pager.schedule("page:1", T0, {"kind": "page"})
    assert [t.id for t in await pager.claim(T0, LEASE)] == ["page:1"]
    assert [t.id for t in await reminders.claim(T0, LEASE)] == ["item:1:due"]
    assert keys.timers("due") == f"{keys.prefix}timers:{{t}}:due"  # the pager's keys did not move


async def test_a_lane_with_timers_in_hand_yields_to_another_lanes_first(redis: Redis, keys: Keys) -> None:
    """A storm's backlog in one lane does not hold up another lane's timer due after it; each lane keeps its
    own due order, and timers without a lane are taken in due order as before."""
    timers = TimerStore(redis, keys)
    for n in range(20):
        await timers.schedule(f"storm-{n}", T0 + timedelta(seconds=n), {"lane": "storm"})
    assert [t.id for t in await timers.claim(T0 + timedelta(minutes=1), LEASE, limit=3)] == [
        "storm-0",  # lanes holding as many (none) go by due time
        "storm-1",
        "storm-2",
    ]
    await timers.schedule("checkout-0", T0 + timedelta(seconds=30), {"lane": "checkout"})
    await timers.schedule("checkout-1", T0 + timedelta(seconds=31), {"lane": "checkout"})
    taken = [t.id for t in await timers.claim(T0 + timedelta(minutes=1), LEASE, limit=4)]
    assert taken == ["checkout-0", "checkout-1", "storm-3", "storm-4"]  # storm holds 3: checkout goes first
    await timers.schedule("plain-a", T0, {})
    await timers.schedule("plain-b", T0 + timedelta(seconds=1), {})
    taken = [t.id for t in await timers.claim(T0 + timedelta(minutes=1), LEASE, limit=2)]
    assert taken == ["plain-a", "plain-b"]  # the lane "" holds none


async def test_completed_timers_no_longer_count_against_their_lane(redis: Redis, keys: Keys) -> None:
    """Only timers claimed and not completed hold a lane back."""
    timers = TimerStore(redis, keys)
    await timers.schedule("a-0", T0, {"lane": "a"})
    await timers.schedule("a-1", T0 + timedelta(seconds=1), {"lane": "a"})
    await timers.schedule("b-0", T0 + timedelta(seconds=2), {"lane": "b"})
    [first] = await timers.claim(T0 + timedelta(minutes=1), LEASE, limit=1)
    assert first.id == "a-0"
    await timers.complete(first.id)
    assert [t.id for t in await timers.claim(T0 + timedelta(minutes=1), LEASE, limit=1)] == ["a-1"]
    assert [t.id for t in await timers.claim(T0 + timedelta(minutes=1), LEASE, limit=1)] == ["b-0"]
