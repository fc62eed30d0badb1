"""Overload: at most `limit` Slack requests (HTTP mode) are worked on at once; the others wait for their turn.
A signed slash command that has waited `wait` seconds (a burst is absorbed, a sustained overload is not) is
answered in the HTTP reply itself with an ephemeral "busy, not run, try again", rather than every command
timing out together. Refusals are counted and logged at most once a second
(`slack_requests_shed`).

Only our slash command is refused (`command`, from `DirectCommand`, which checked its signature first):
what goes to Bolt (`dispatch`: a click, an event, a view, another command, which Bolt answers 404) waits for
its turn and runs (Slack shows nothing a reply to a click or an event could say, and an event answered 2xx
is never sent again).
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import structlog
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from handlers.slack import messages

log = structlog.get_logger()

Dispatch = Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]


class Admission:
    """Holds the Slack requests in flight to `limit`; `dispatch` hands an admitted request to Bolt."""

    def __init__(
        self,
        limit: int,
        wait: float = 0.3,
        report_every: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.wait = wait
        self._slots = asyncio.Semaphore(limit)
        self.shed = 0  # refused since the process started
        self._report_every = report_every
        self._monotonic = monotonic
        self._unreported = 0
        self._reported_at = -report_every

    async def dispatch(self, request: AsyncBoltRequest, bolt: Dispatch) -> BoltResponse:
        """Bolt's answer to `request`, once it has its turn."""
        async with self._slots:
            return await bolt(request)

    async def command(self, work: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        """Admit a slash command whose signature the caller checked: busy after `wait`, else `work`'s reply."""
        if self._slots.locked():
            try:
                async with asyncio.timeout(self.wait):
                    await self._slots.acquire()
            except TimeoutError:
                return self._refuse()
        else:
            await self._slots.acquire()
        try:
            return await work()
        finally:
            self._slots.release()

    def _refuse(self) -> BoltResponse:
        self.shed += 1
        self._unreported += 1
        now = self._monotonic()
        if now - self._reported_at >= self._report_every:
            log.warning("slack_requests_shed", shed=self._unreported, total=self.shed, limit=self.limit)
            self._unreported, self._reported_at = 0, now
        reply = {"response_type": "ephemeral", "text": messages.busy()}
        return BoltResponse(status=200, body=json.dumps(reply), headers={"content-type": "application/json"})
