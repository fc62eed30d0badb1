"""Slack work after the fact: serial per incident, concurrent across incidents, card refreshes coalesced.

An alert storm must not become a Slack storm: a burst of changes to one incident becomes at most one card
update per `card_interval` (rendered from the latest state when it runs); all refreshes together stay within
a workspace budget (`chat.update` is a Tier 3 method: about 50 a minute, with bursts), taken in turn so every
incident's card catches up; and one incident waiting out a 429 does not hold up another incident's messages.
Only alert-driven refreshes are paced here: a person's own action updates its card at once, and pages are
not outbox work at all.
"""

import asyncio
from collections.abc import Awaitable, Callable
from uuid import uuid4

import structlog
from slack_sdk.errors import SlackApiError

from handlers.slack.gateway import describe_failure

log = structlog.get_logger()

Job = Callable[[], Awaitable[None]]
_PRUNE_ABOVE = 1000  # keys remembered before old refresh times are forgotten


def incident_key(number: int) -> str:
    """The outbox queue of an incident's Slack work: its messages go out in order."""
    return f"incident:{number}"


def person_key(user: str) -> str:
    """The outbox queue of Slack work about no incident (a modal to open), per person."""
    return f"person:{user}"


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up. `reserve` takes one, and says how long to wait for it.

    A reservation may run the bucket negative: callers queue up in time, first come first served.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated: float | None = None

    def reserve(self, now: float) -> float:
        if self._updated is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class SlackOutbox:
    def __init__(
        self,
        card_interval: float = 1.0,
        updates_per_minute: int = 50,
        burst: int = 20,
        monotonic: Callable[[], float] | None = None,  # seconds; the event loop's clock unless given
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._card_interval = card_interval
        self._monotonic = monotonic or (lambda: asyncio.get_running_loop().time())
        self._sleep = sleep
        self._budget = TokenBucket(updates_per_minute / 60, burst) if updates_per_minute else None
        self._queues: dict[str, list[Job]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._refreshes: dict[str, Job] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._queued: set[str] = set()  # keys with a refresh submitted but not started
        self._last_refresh: dict[str, float] = {}
        self._waiting: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    def submit(self, key: str, job: Job) -> None:
        """Run `job` after the jobs already submitted under `key` (nothing, once closing)."""
        if self._closing:
            return
        self._queues.setdefault(key, []).append(job)
        if key not in self._runners:
            self._idle.clear()
            self._runners[key] = asyncio.create_task(self._run(key))

    def later(self, key: str, delay: float, job: Job) -> None:
        """Submit `job` under `key` after `delay` seconds (gone if the process ends first)."""
        if self._closing:
            return

        async def wait_then_submit() -> None:
            await self._sleep(delay)
            self.submit(key, job)
            self._waiting.discard(task)

        self._idle.clear()
        task = asyncio.create_task(wait_then_submit())
        self._waiting.add(task)

    def refresh(self, key: str, job: Job) -> None:
        """Run `job` (a card refresh) soon, at most once per interval per key and within the workspace budget.

        A newer job replaces a waiting one, so a key never has more than one refresh waiting.
        """
        if self._closing:
            return
        self._refreshes[key] = job
        if key in self._timers or key in self._queued:
            return
        self._idle.clear()
        now = self._monotonic()
        self._prune(now)
        delay = max(0.0, self._last_refresh.get(key, -self._card_interval) + self._card_interval - now)
        self._timers[key] = asyncio.create_task(self._refresh_later(key, delay))

    def _prune(self, now: float) -> None:
        """Forget refresh times that no longer hold anything back, so the dict stays as small as the activity."""
        if len(self._last_refresh) > _PRUNE_ABOVE:
            stale = [key for key, at in self._last_refresh.items() if at + self._card_interval < now]
            for key in stale:
                del self._last_refresh[key]

    async def drain(self) -> None:
        """Wait until every submitted job, delayed job and pending refresh has run."""
        await self._idle.wait()

    async def close(self, grace: float = 5.0) -> None:
        """Stop: waiting refreshes and delayed jobs are dropped (durable effects are resumed by the next
        process); a job under way may finish its Slack call and SQL write for `grace` seconds, then it is
        cancelled too. (Cancelled mid-transaction, a job could leave its database connection holding a lock.)"""
        self._closing = True
        waiting = [*self._timers.values(), *self._waiting]
        for task in waiting:
            task.cancel()
        runners = list(self._runners.values())
        if runners:
            _, late = await asyncio.wait(runners, timeout=grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*waiting, *runners, return_exceptions=True)

    async def _refresh_later(self, key: str, delay: float) -> None:
        await self._sleep(delay)
        if self._budget is not None:
            await self._sleep(self._budget.reserve(self._monotonic()))
        self._last_refresh[key] = self._monotonic()
        del self._timers[key]
        self._queued.add(key)
        self.submit(key, lambda: self._latest(key))

    async def _latest(self, key: str) -> None:
        """Run the newest refresh for `key`; one that arrives while this runs waits its turn again."""
        self._queued.discard(key)
        job = self._refreshes.pop(key, None)
        if job is not None:
            await job()

    async def _run(self, key: str) -> None:
        queue = self._queues[key]
        while queue and not self._closing:
            await _guarded(queue.pop(0))
        del self._queues[key], self._runners[key]
        self._settle()

    def _settle(self) -> None:
        if not self._runners and not self._timers and not self._waiting:
            self._idle.set()


async def _guarded(job: Job) -> None:
    """A failed Slack call is logged and the next job runs; nothing stored depends on it."""
    try:
        await job()
    except SlackApiError as error:
        log.warning("slack_call_failed", failure=describe_failure(error))
    except Exception:  # a background task boundary: log it with an id, keep serving the other incidents
        log.exception("slack_job_failed", error_id=uuid4().hex[:8])
