"""Background loops: do some work now and every interval after, until told to stop.

Storage being down is a warning and the loop waits for the next round; any other failure is logged with an
id. Either way the loop goes on: a background task that dies silently is worse than one that complains.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from uuid import uuid4

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger()


async def every(
    interval: timedelta,
    stop: asyncio.Event,
    work: Callable[[], Awaitable[object]],
    loop: str,
    wake: asyncio.Event | None = None,
) -> None:
    """Run `work` at once and then every `interval` until `stop` is set; `loop` names it in the logs. Setting
    `wake` runs it again at once (set while `work` runs, once more right after)."""
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            await work()
        except (RedisError, SQLAlchemyError, OSError) as error:
            log.warning("background_storage_unavailable", loop=loop, error=type(error).__name__, detail=str(error))
        except Exception:  # a task boundary: log it with an id and go on
            log.exception("background_work_failed", loop=loop, error_id=uuid4().hex[:8])
        await _pause(interval, stop, wake)


async def _pause(interval: timedelta, stop: asyncio.Event, wake: asyncio.Event | None) -> None:
    """Until `interval` passed, or `stop` or `wake` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in (stop, wake) if event is not None]
    try:
        await asyncio.wait(waits, timeout=interval.total_seconds(), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


class Overlapping:
    """`work` started in the background on each call, unless `most` runs of it are still going: for `every`,
    so that a round stuck on a slow Slack does not hold up the next round. Failures are logged as `every`
    logs them; `close` waits for the runs still going."""

    def __init__(self, work: Callable[[], Awaitable[object]], loop: str, most: int = 4) -> None:
        self._work = work
        self._loop = loop
        self._most = most
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self) -> None:
        if len(self._running) < self._most:
            task = asyncio.create_task(self._run())
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def close(self) -> None:
        await asyncio.gather(*self._running)

    async def _run(self) -> None:
        try:
            await self._work()
        except (RedisError, SQLAlchemyError, OSError) as error:
            log.warning("background_storage_unavailable", loop=self._loop, error=type(error).__name__)
        except Exception:  # a task boundary: log it with an id and go on
            log.exception("background_work_failed", loop=self._loop, error_id=uuid4().hex[:8])


@contextlib.asynccontextmanager
async def running_every(
    interval: timedelta, work: Callable[[], Awaitable[object]], loop: str, wake: asyncio.Event | None = None
) -> AsyncIterator[None]:
    """`every` in the background while the context is open; closing it stops the loop and waits for it."""
    stop = asyncio.Event()
    task = asyncio.create_task(every(interval, stop, work, loop, wake))
    try:
        yield
    finally:
        stop.set()
        await task
