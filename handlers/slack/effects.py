"""The durable outbox: Slack work after the reply, queued in SQL, carried out once, resumed by any process.

Each capability registers a performer per effect kind. `queue` stores effects (or a flow stages them with
its change) and `run` carries one out: claimed (leased) in SQL, performed, then marked done. A Slack failure
is retried with backoff; after `max_attempts` the effect is given up and its kind's `on_give_up` (if any)
says so where people will see it. A performer is told the attempt number, so a retry after a crash can look
for what the first attempt may have posted before posting again.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from slack_sdk.errors import SlackApiError

from handlers.slack.gateway import describe_failure
from handlers.slack.outbox import SlackOutbox
from storage.effects import EffectStore, QueuedEffect

log = structlog.get_logger()

Body = dict[str, object]
Performer = Callable[[QueuedEffect], Awaitable[None]]
GiveUp = Callable[[QueuedEffect, str], Awaitable[None]]


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
    _performers: dict[str, tuple[Performer, GiveUp | None]] = field(default_factory=dict)

    def register(self, kind: str, performer: Performer, on_give_up: GiveUp | None = None) -> None:
        self._performers[kind] = (performer, on_give_up)

    async def queue(self, key: str, bodies: Sequence[Body]) -> None:
        """Store effects under `key` and start them in the background (in order, behind the key's others)."""
        ids = await self.store.add(key, bodies, self._now())
        for effect_id in ids:
            self.outbox.submit(key, self._job(effect_id))

    async def run(self, effect_id: int, due: datetime | None = None) -> str | None:
        """Carry out one effect if it is due and nobody holds it; `method: error` if Slack refused it.

        `due`: the retry this process set for it, whose wait it has just sat out."""
        now = self._now() if due is None else max(self._now(), due)
        effect = await self.store.claim(effect_id, now, self.lease)
        if effect is None:
            return None
        performer, on_give_up = self._performers[str(effect.body["kind"])]
        try:
            await performer(effect)
        except Later:
            await self._retry(effect, self.backoff)
            return None
        except (SlackApiError, EffectFailed) as error:
            failure = describe_failure(error) if isinstance(error, SlackApiError) else str(error)
            await self._failed(effect, failure, on_give_up)
            return failure
        await self.store.done(effect.id)
        return None

    async def run_due(self, key: str | None = None) -> list[str]:
        """Carry out every due effect (of one key, or all) now, in order; the failures.

        Of due effects whose body says `latest_wins` (a card re-rendered from the current state), only the
        last of each kind and key is carried out: the earlier ones are done by it."""
        due = await self.store.due(self._now(), key=key)
        last = {(e.key, str(e.body["kind"])): e.id for e in due if e.body.get("latest_wins")}
        failures = []
        for effect in due:
            if effect.body.get("latest_wins") and last[(effect.key, str(effect.body["kind"]))] != effect.id:
                await self.store.done(effect.id)
                continue
            failure = await self.run(effect.id)
            failures += [failure] if failure else []
        return failures

    async def resume(self) -> int:
        """Hand every due effect (left by a dead process, or waiting out a retry) to the outbox."""
        due = await self.store.due(self._now())
        for effect in due:
            self.outbox.submit(effect.key, self._job(effect.id))
        return len(due)

    async def _failed(self, effect: QueuedEffect, failure: str, on_give_up: GiveUp | None) -> None:
        if effect.attempts < self.max_attempts:
            log.warning("slack_effect_retried", effect=effect.id, attempt=effect.attempts, failure=failure)
            await self._retry(effect, self.backoff * 2 ** (effect.attempts - 1))
            return
        log.error("slack_effect_given_up", effect=effect.id, attempts=effect.attempts, failure=failure)
        await self.store.give_up(effect.id)
        if on_give_up is not None:
            await on_give_up(effect, failure)

    async def _retry(self, effect: QueuedEffect, delay: timedelta) -> None:
        """Try again after `delay`: this process does if it lives, else the repair sweep of any process."""
        due = self._now() + delay
        await self.store.retry(effect.id, due)
        self.outbox.later(effect.key, delay.total_seconds(), self._job(effect.id, due))

    def _job(self, effect_id: int, due: datetime | None = None) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await self.run(effect_id, due)

        return job

    def _now(self) -> datetime:
        return self.clock()
