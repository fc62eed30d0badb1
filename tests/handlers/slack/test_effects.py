"""The durable effect queue against real SQL: once-tokens, waiting effects given up in time, refreshes that
are stored first, coalesced, and resumed by another process."""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.slack import SlackOutbox
from handlers.slack.effects import EffectFailed, EffectQueue, Later
from storage.effects import EffectStore, QueuedEffect

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


Make = Callable[..., EffectQueue]


@pytest.fixture
async def make(engine: AsyncEngine) -> AsyncIterator[Make]:
    """`make(clock, outbox=None, backoff=0)`: a queue on the test's database (with a long `backoff`, no retry
    runs by itself: the test runs each); their outboxes are closed when the test ends."""
    made: list[EffectQueue] = []

    def queue(clock: Clock, outbox: SlackOutbox | None = None, backoff: timedelta = timedelta(0)) -> EffectQueue:
        made.append(EffectQueue(EffectStore(engine), outbox or SlackOutbox(card_interval=0), clock, backoff=backoff))
        return made[-1]

    yield queue
    for queue_made in made:
        await queue_made.outbox.close()


async def test_effects_queued_again_with_their_once_token_are_not_queued_twice(make: Make) -> None:
    """A retried step queues its post again: the token makes the second one a no-op; other keys are apart."""
    clock, done = Clock(), []
    queue = make(clock)

    async def perform(effect: QueuedEffect) -> None:
        done.append((effect.key, effect.body["text"]))

    queue.register("post", perform)
    for key in ("incident:1", "incident:1", "incident:2"):
        await queue.queue(key, [{"kind": "post", "text": "Runbook"}], once="runbook:DiskFull")
    await queue.outbox.drain()
    assert sorted(done) == [("incident:1", "Runbook"), ("incident:2", "Runbook")]


async def test_an_effect_that_cannot_run_yet_is_given_up_after_the_wait_limit(make: Make) -> None:
    """Waiting for a channel that never comes ends: given up after `wait_limit`, and its kind is told."""
    clock, given_up = Clock(), []
    queue = make(clock, backoff=timedelta(hours=1))

    async def never_ready(effect: QueuedEffect) -> None:
        raise Later("no channel yet")

    async def tell(effect: QueuedEffect, failure: str) -> None:
        given_up.append(failure)

    queue.register("post", never_ready, tell)
    [effect_id] = await queue.store.add("incident:1", [{"kind": "post"}], NOW)
    for minutes in (0, 30, 59):
        clock.now = NOW + timedelta(minutes=minutes)
        await queue.run(effect_id, clock.now + timedelta(hours=1))
    assert given_up == []
    clock.now = NOW + timedelta(minutes=61)
    await queue.run(effect_id, clock.now + timedelta(hours=1))
    assert given_up == ["no channel yet"]
    assert await queue.store.due(clock.now + timedelta(days=1)) == []


async def test_refreshes_are_stored_coalesced_and_left_to_another_process_when_this_one_dies(
    make: Make,
) -> None:
    """Three refreshes while one waits for its turn: one stored effect. The process dies before its turn: once
    the lease is over, another process's resume renders it, once."""
    clock, rendered = Clock(), []
    dying = make(clock, SlackOutbox(card_interval=3600))

    async def render(effect: QueuedEffect) -> None:
        rendered.append(effect.body["number"])

    dying.register("card", render)
    await dying.refresh("incident:1", {"kind": "card", "number": 1})  # runs at once: nothing rendered it before
    await dying.outbox.drain()
    for _ in range(3):
        await dying.refresh("incident:1", {"kind": "card", "number": 1})  # these wait an hour for their turn
    await dying.outbox.close()  # the process dies
    assert rendered == [1]
    survivor = make(clock)
    survivor.register("card", render)
    assert await survivor.resume() == 0  # the dying process said it would do it: left alone for the lease
    clock.now = NOW + survivor.lease
    assert await survivor.resume() == 1
    await survivor.outbox.drain()
    assert rendered == [1, 1]
    assert await survivor.resume() == 0


async def test_a_refresh_another_process_took_over_is_rendered_again_with_what_came_since(
    make: Make,
) -> None:
    """This process waited past its hold; another one rendered the stored refresh; a change this process then
    let that refresh cover is rendered all the same."""
    clock, state, rendered = Clock(), {"version": 1}, []

    async def render(effect: QueuedEffect) -> None:
        rendered.append(state["version"])

    slow, other = make(clock, SlackOutbox(card_interval=0.2)), make(clock)
    for queue in (slow, other):
        queue.register("card", render)
    await slow.refresh("incident:1", {"kind": "card", "number": 1})
    await slow.outbox.drain()
    state["version"] = 2
    await slow.refresh("incident:1", {"kind": "card", "number": 1})  # waits 0.2 s for its turn
    clock.now += slow.lease  # the hold is over: the other process's sweep takes it
    assert await other.resume() == 1
    await other.outbox.drain()
    state["version"] = 3
    await slow.refresh("incident:1", {"kind": "card", "number": 1})  # covered, this process thinks
    await slow.outbox.drain()
    assert rendered == [1, 2, 3]


async def test_waiting_for_a_channel_does_not_use_up_the_slack_retries(make: Make) -> None:
    """An effect that waited many rounds for its channel still gets every retry when Slack then refuses it."""
    clock, calls = Clock(), []
    queue = make(clock, backoff=timedelta(hours=1))

    async def perform(effect: QueuedEffect) -> None:
        calls.append(effect.attempts)
        if len(calls) <= 10:
            raise Later("no channel yet")
        raise EffectFailed("Slack: ratelimited")

    queue.register("post", perform)
    [effect_id] = await queue.store.add("incident:1", [{"kind": "post"}], NOW)
    for _ in range(10 + queue.max_attempts):  # each round past any wait or backoff it set
        clock.now += timedelta(minutes=1)
        await queue.run(effect_id, clock.now + timedelta(days=365))
    await queue.outbox.close()
    assert calls[:10] == [1] * 10  # the waits were not counted
    assert calls[10:] == list(range(1, queue.max_attempts + 1))
    assert await queue.store.due(clock.now + timedelta(days=1)) == []  # given up only after all of them


async def test_old_done_effects_are_pruned_and_pending_ones_kept(make: Make) -> None:
    """Pruning forgets effects done or given up over two weeks ago; pending ones and recent ones stay."""
    clock = Clock()
    queue = make(clock)

    async def perform(effect: QueuedEffect) -> None:
        pass

    queue.register("post", perform)
    [old_done] = await queue.store.add("incident:1", [{"kind": "post"}], NOW - timedelta(days=15))
    await queue.store.add("incident:1", [{"kind": "post"}], NOW - timedelta(days=15))  # old, still pending
    [recent] = await queue.store.add("incident:1", [{"kind": "post"}], NOW - timedelta(days=1))
    for effect_id in (old_done, recent):
        await queue.run(effect_id)
    assert await queue.prune() == 1
    assert len(await queue.store.due(NOW)) == 1
    assert await queue.prune() == 0


async def test_a_keys_due_effects_run_once_in_order_and_the_failed_one_alone_stays(make: Make) -> None:
    """`run_due` carries out a key's due effects in order (the older of two cards done by the newer), marks
    them done, leaves the refused one to its retry and another key's effects alone."""
    clock, done = Clock(), []
    queue = make(clock, backoff=timedelta(hours=1))

    async def perform(effect: QueuedEffect) -> None:
        done.append(effect.body["text"])
        if effect.body["text"] == "refused":
            raise EffectFailed("Slack: ratelimited")

    queue.register("post", perform)
    queue.register("card", perform)
    card: dict[str, object] = {"kind": "card", "latest_wins": True}
    bodies: list[dict[str, object]] = [
        {"kind": "post", "text": "a"},
        card | {"text": "old card"},
        {"kind": "post", "text": "refused"},
    ]
    await queue.store.add("incident:1", [*bodies, {"kind": "post", "text": "b"}, card | {"text": "card"}], NOW)
    await queue.store.add("incident:2", [{"kind": "post", "text": "other"}], NOW)
    assert await queue.run_due("incident:1") == ["Slack: ratelimited"]
    assert await queue.run_due("incident:1") == []
    assert done == ["a", "refused", "b", "card"]
    later = await queue.store.due(clock.now + timedelta(days=1))
    assert [(e.key, e.body["text"], e.attempts) for e in later] == [
        ("incident:1", "refused", 1),
        ("incident:2", "other", 0),
    ]


async def test_a_batch_whose_lease_is_half_gone_hands_the_rest_back_and_leases_them_afresh(make: Make) -> None:
    """Slack slow: past half the lease, the effects not started are leased again before they run, so no
    other process's sweep can take one while this one carries it out; each runs once, counted once."""
    clock, attempts = Clock(), []
    queue = make(clock)

    async def slow(effect: QueuedEffect) -> None:
        attempts.append((effect.body["text"], effect.attempts))
        clock.now += queue.lease / 3

    queue.register("post", slow)
    await queue.store.add("incident:1", [{"kind": "post", "text": str(n)} for n in range(4)], NOW)
    assert await queue.run_due("incident:1") == []
    assert attempts == [("0", 1), ("1", 1), ("2", 1), ("3", 1)]
    assert await queue.store.due(clock.now + timedelta(days=1)) == []
