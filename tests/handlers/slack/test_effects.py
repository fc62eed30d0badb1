"""The durable effect queue against real SQL: once-tokens, waiting effects given up in time, refreshes that
are stored first, coalesced, and resumed by another process."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.slack import SlackOutbox
from handlers.slack.effects import EffectQueue, Later
from storage.effects import EffectStore, QueuedEffect

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _queue(engine: AsyncEngine, clock: Clock, outbox: SlackOutbox | None = None) -> EffectQueue:
    return EffectQueue(EffectStore(engine), outbox or SlackOutbox(card_interval=0), clock, backoff=timedelta(0))


async def test_effects_queued_again_with_their_once_token_are_not_queued_twice(engine: AsyncEngine) -> None:
    """A retried step queues its post again: the token makes the second one a no-op; other keys are apart."""
    clock, done = Clock(), []
    queue = _queue(engine, clock)

    async def perform(effect: QueuedEffect) -> None:
        done.append((effect.key, effect.body["text"]))

    queue.register("post", perform)
    for key in ("incident:1", "incident:1", "incident:2"):
        await queue.queue(key, [{"kind": "post", "text": "Runbook"}], once="runbook:DiskFull")
    await queue.outbox.drain()
    assert sorted(done) == [("incident:1", "Runbook"), ("incident:2", "Runbook")]


async def test_an_effect_that_cannot_run_yet_is_given_up_after_the_wait_limit(engine: AsyncEngine) -> None:
    """Waiting for a channel that never comes ends: given up after `wait_limit`, and its kind is told."""
    clock, given_up = Clock(), []
    queue = _queue(engine, clock)

    async def never_ready(effect: QueuedEffect) -> None:
        raise Later("no channel yet")

    async def tell(effect: QueuedEffect, failure: str) -> None:
        given_up.append(failure)

    queue.register("post", never_ready, tell)
    [effect_id] = await queue.store.add("incident:1", [{"kind": "post"}], NOW)
    for minutes in (0, 30, 59):
        clock.now = NOW + timedelta(minutes=minutes)
        await queue.run(effect_id, clock.now + timedelta(minutes=1))
    assert given_up == []
    clock.now = NOW + timedelta(minutes=61)
    await queue.run(effect_id, clock.now + timedelta(minutes=1))
    assert given_up == ["no channel yet"]
    assert await queue.store.due(clock.now + timedelta(days=1)) == []


async def test_refreshes_are_stored_coalesced_and_left_to_another_process_when_this_one_dies(
    engine: AsyncEngine,
) -> None:
    """Three refreshes while one waits for its turn: one stored effect. The process dies before its turn: once
    the lease is over, another process's resume renders it, once."""
    clock, rendered = Clock(), []
    dying = _queue(engine, clock, SlackOutbox(card_interval=3600))

    async def render(effect: QueuedEffect) -> None:
        rendered.append(effect.body["number"])

    dying.register("card", render)
    await dying.refresh("incident:1", {"kind": "card", "number": 1})  # runs at once: nothing rendered it before
    await dying.outbox.drain()
    for _ in range(3):
        await dying.refresh("incident:1", {"kind": "card", "number": 1})  # these wait an hour for their turn
    await dying.outbox.close()  # the process dies
    assert rendered == [1]
    survivor = _queue(engine, clock)
    survivor.register("card", render)
    assert await survivor.resume() == 0  # the dying process said it would do it: left alone for the lease
    clock.now = NOW + survivor.lease
    assert await survivor.resume() == 1
    await survivor.outbox.drain()
    assert rendered == [1, 1]
    assert await survivor.resume() == 0
