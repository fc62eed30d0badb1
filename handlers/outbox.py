"""Slack work after the fact: serial per incident, concurrent across incidents, card refreshes coalesced.

An alert storm must not become a Slack storm: a burst of changes to one incident becomes at most one card
update per `card_interval` (rendered from the latest state when it runs), and one incident waiting out a
429 does not hold up another incident's messages.
"""

import asyncio
from collections.abc import Awaitable, Callable
from uuid import uuid4

import structlog
from slack_sdk.errors import SlackApiError

from handlers.slack import describe_failure

log = structlog.get_logger()

Job = Callable[[], Awaitable[None]]


class SlackOutbox:
    def __init__(self, card_interval: float = 1.0) -> None:
        self._card_interval = card_interval
        self._queues: dict[str, list[Job]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._refreshes: dict[str, Job] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._last_refresh: dict[str, float] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: str, job: Job) -> None:
        """Run `job` after the jobs already submitted under `key`."""
        self._queues.setdefault(key, []).append(job)
        if key not in self._runners:
            self._idle.clear()
            self._runners[key] = asyncio.create_task(self._run(key))

    def refresh(self, key: str, job: Job) -> None:
        """Run `job` (a card refresh) soon, at most once per interval per key; a newer job replaces a waiting one."""
        self._refreshes[key] = job
        if key in self._timers:
            return
        self._idle.clear()
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_refresh.get(key, -self._card_interval) + self._card_interval - loop.time())
        self._timers[key] = asyncio.create_task(self._refresh_later(key, delay))

    async def drain(self) -> None:
        """Wait until every submitted job and pending refresh has run."""
        await self._idle.wait()

    async def close(self) -> None:
        for task in [*self._timers.values(), *self._runners.values()]:
            task.cancel()
        await asyncio.gather(*self._timers.values(), *self._runners.values(), return_exceptions=True)

    async def _refresh_later(self, key: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self._last_refresh[key] = asyncio.get_running_loop().time()
        job = self._refreshes.pop(key)
        del self._timers[key]
        self.submit(key, job)
        self._settle()

    async def _run(self, key: str) -> None:
        queue = self._queues[key]
        while queue:
            await _guarded(queue.pop(0))
        del self._queues[key], self._runners[key]
        self._settle()

    def _settle(self) -> None:
        if not self._runners and not self._timers:
            self._idle.set()


async def _guarded(job: Job) -> None:
    """A failed Slack call is logged and the next job runs; nothing stored depends on it."""
    try:
        await job()
    except SlackApiError as error:
        log.warning("slack_call_failed", failure=describe_failure(error))
    except Exception:  # a background task boundary: log it with an id, keep serving the other incidents
        log.exception("slack_job_failed", error_id=uuid4().hex[:8])
