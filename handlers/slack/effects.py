"""The durable outbox: Slack work after the reply, queued in SQL, carried out once, resumed by any process.

Each capability registers a performer per effect kind. `queue` stores effects (or a flow stages them with
its change) and `run` carries one out: claimed (leased) in SQL, performed, then marked done. A Slack failure
is retried with backoff; after `max_attempts` the effect is given up and its kind's `on_give_up` (if any)
says so where people will see it. A performer is told the attempt number, so a retry after a crash can look
for what the first attempt may have posted before posting again. An effect that cannot run yet (`Later`:
its channel is not set up) waits, with a growing pause, for at most `wait_limit`, then is given up too.

`refresh` queues a re-render (a card, an alert group's message): stored first, then paced and coalesced by
the outbox, so a storm of changes costs one stored effect and one Slack call per pacing interval, and a
process that dies with refreshes waiting leaves them to the next process.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from slack_sdk.errors import SlackApiError

from handlers.slack.gateway import describe_failure
from handlers.slack.outbox import SlackOutbox
from storage.effects import EffectStore, QueuedEffect, Statement

log = structlog.get_logger()

Body = dict[str, object]
Performer = Callable[[QueuedEffect], Awaitable[None]]
GiveUp = Callable[[QueuedEffect, str], Awaitable[None]]

_LONGEST_WAIT = timedelta(minutes=1)


class Later(Exception):
    """The effect cannot run yet (e.g. its incident's channel is not set up): try it again soon."""


class EffectFailed(Exception):
    """A performer's failure outside Slack (a notification gateway answering 503): retried like Slack's."""


@dataclass
class EffectQueue:
    store: EffectStore
    outbox: SlackOutbox
    clock: Callable[[], datetime]
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 6
    backoff: timedelta = timedelta(seconds=2)
    wait_limit: timedelta = timedelta(hours=1)
    _performers: dict[str, tuple[Performer, GiveUp | None]] = field(default_factory=dict)
    _refreshing: set[tuple[str, str]] = field(default_factory=set)  # (key, kind) stored, not yet started here

    def register(self, kind: str, performer: Performer, on_give_up: GiveUp | None = None) -> None:
        self._performers[kind] = (performer, on_give_up)

    async def queue(self, key: str, bodies: Sequence[Body], once: str | None = None) -> None:
        """Store effects under `key` and start them in the background (in order, behind the key's others).

        `once`: a token for a retried step; effects queued under `key` with it before are not queued again."""
        ids = await self.store.add(key, bodies, self._now(), once=once)
        for effect_id in ids:
            self.outbox.submit(key, self._job(effect_id))

    async def refresh(self, key: str, body: Body) -> None:
        """Re-render soon: `body` (latest wins) is stored, then run when the outbox's pacing allows.

        A refresh of the same kind and key that is stored and not yet started covers this one. Other
        processes leave it alone for the lease (this one means to run it), then any repair sweep may. A key
        has one refreshing kind: the outbox coalesces refreshes by key."""
        wanted = (key, str(body["kind"]))
        if wanted in self._refreshing:
            return
        self._refreshing.add(wanted)
        try:
            [effect_id] = await self.store.add(key, [body | {"latest_wins": True}], self._now(), hold=self.lease)
        except BaseException:
            self._refreshing.discard(wanted)
            raise
        self.outbox.refresh(key, self._refresh_job(wanted, effect_id, body, self._now() + self.lease))

    async def run(self, effect_id: int, due: datetime | None = None) -> str | None:
        """Carry out one effect if it is due and nobody holds it; `method: error` if Slack refused it.

        `due`: the retry this process set for it, whose wait it has just sat out."""
        return (await self._run(effect_id, due))[1]

    async def _run(self, effect_id: int, due: datetime | None = None) -> tuple[bool, str | None]:
        """`run`, and whether this process claimed the effect (False: done, given up or held elsewhere)."""
        now = self._now() if due is None else max(self._now(), due)
        effect = await self.store.claim(effect_id, now, self.lease)
        if effect is None:
            return False, None
        performed, failure = await self._perform(effect)
        if performed:
            await self.store.done(effect.id)
        return True, failure

    async def _perform(self, effect: QueuedEffect) -> tuple[bool, str | None]:
        """Carry out a claimed effect: whether it was (it is to be marked done), else its failure if Slack
        refused it (its retry or its giving up is stored)."""
        performer, on_give_up = self._performers[str(effect.body["kind"])]
        try:
            await performer(effect)
        except Later as waiting:
            await self._wait(effect, str(waiting), on_give_up)
            return False, None
        except (SlackApiError, EffectFailed) as error:
            failure = describe_failure(error) if isinstance(error, SlackApiError) else str(error)
            await self._failed(effect, failure, on_give_up)
            return False, failure
        return True, None

    async def run_due(self, key: str, also: Sequence[Statement] = ()) -> list[str]:
        """Carry out every due effect of one key now, in order; the failures. `also`: statements of the
        caller's to commit with the lease (an incident's timeline entries marked moved).

        The key's due effects are leased in one statement and marked done together once they ran (a process
        that dies between leaves them to be carried out again, told so by their attempt count). A batch whose
        lease is half gone (Slack is slow) hands the rest back and leases them afresh. Of due effects whose
        body says `latest_wins` (a card re-rendered from the current state), only the last of each kind and
        key is carried out: the earlier ones are done by it."""
        failures: list[str] = []
        finished: list[int] = []
        claimed_at = self._now()
        batch = await self.store.claim_due(key, claimed_at, self.lease, also=also)
        while batch:
            superseded = _superseded(batch)
            for position, effect in enumerate(batch):
                if self._now() - claimed_at >= self.lease / 2:
                    await self.store.release([e.id for e in batch[position:]], self._now())
                    break
                performed, failure = (True, None) if effect.id in superseded else await self._perform(effect)
                finished += [effect.id] if performed else []
                failures += [failure] if failure else []
            else:
                break
            claimed_at = self._now()
            batch = await self.store.claim_due(key, claimed_at, self.lease, finished)
            finished = []
        await self.store.done_all(finished)
        return failures

    async def resume(self) -> int:
        """Hand every due effect (left by a dead process, or waiting out a retry) to the outbox; refreshes
        go through its pacing, only the newest of each kind and key."""
        due = await self.store.due(self._now())
        superseded = _superseded(due)
        for effect in due:
            wanted = (effect.key, str(effect.body["kind"]))
            if not effect.body.get("latest_wins"):
                self.outbox.submit(effect.key, self._job(effect.id))
            elif effect.id in superseded:
                await self.store.done(effect.id)  # the newest one renders what this would have
            else:
                self._refreshing.add(wanted)
                self.outbox.refresh(effect.key, self._refresh_job(wanted, effect.id, effect.body))
        return len(due)

    async def prune(self, keep: timedelta = timedelta(days=14)) -> int:
        """Forget effects done or given up over `keep` ago (longer than any redelivery their once-tokens
        guard against: Alertmanager's repeats are admitted afresh after 7 days); how many."""
        return await self.store.prune(self._now() - keep)

    async def _wait(self, effect: QueuedEffect, reason: str, on_give_up: GiveUp | None) -> None:
        """Not runnable yet: try again after a pause growing with its age to a minute, for at most `wait_limit`.
        Waiting is not a failed attempt: the effect keeps its Slack retries for when it can run."""
        age = self._now() - effect.created_at
        if age < self.wait_limit:
            await self._retry(effect, min(max(self.backoff, age / 4), _LONGEST_WAIT), counted=False)
            return
        await self._give_up(effect, reason, on_give_up)

    async def _give_up(self, effect: QueuedEffect, failure: str, on_give_up: GiveUp | None) -> None:
        log.error("slack_effect_given_up", effect=effect.id, attempts=effect.attempts, failure=failure)
        await self.store.give_up(effect.id)
        if on_give_up is not None:
            await on_give_up(effect, failure)

    async def _failed(self, effect: QueuedEffect, failure: str, on_give_up: GiveUp | None) -> None:
        if effect.attempts < self.max_attempts:
            log.warning("slack_effect_retried", effect=effect.id, attempt=effect.attempts, failure=failure)
            await self._retry(effect, self.backoff * 2 ** (effect.attempts - 1))
            return
        await self._give_up(effect, failure, on_give_up)

    async def _retry(self, effect: QueuedEffect, delay: timedelta, counted: bool = True) -> None:
        """Try again after `delay`: this process does if it lives, else the repair sweep of any process.
        Not `counted`: this claim was no attempt (the effect could not run yet)."""
        due = self._now() + delay
        await self.store.retry(effect.id, due, counted)
        self.outbox.later(effect.key, delay.total_seconds(), self._job(effect.id, due))

    def _refresh_job(
        self, wanted: tuple[str, str], effect_id: int, body: Body, due: datetime | None = None
    ) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            self._refreshing.discard(wanted)  # a change from now on needs a render of its own
            claimed, _ = await self._run(effect_id, due)
            if not claimed:  # another process took it (its hold ran out while this one waited for its turn),
                # perhaps before changes this one let it cover: render once more, now
                [again] = await self.store.add(wanted[0], [body | {"latest_wins": True}], self._now())
                await self.run(again)

        return job

    def _job(self, effect_id: int, due: datetime | None = None) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await self.run(effect_id, due)

        return job

    def _now(self) -> datetime:
        return self.clock()


def _superseded(due: Sequence[QueuedEffect]) -> set[int]:
    """The `latest_wins` effects a newer one of the same kind and key stands for (it renders what they would)."""
    newest = {(e.key, str(e.body["kind"])): e.id for e in due if e.body.get("latest_wins")}
    return {e.id for e in due if e.body.get("latest_wins") and newest[(e.key, str(e.body["kind"]))] != e.id}
