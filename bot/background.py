"""Background loops: do some work now and every interval after, until told to stop.

Storage being down is a warning and the loop waits for the next round; any other failure is logged with an
id. Either way the loop goes on: a background task that dies silently is worse than one that complains.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import uuid4

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger()


async def every(interval: timedelta, stop: asyncio.Event, work: Callable[[], Awaitable[object]], loop: str) -> None:
    """Run `work` at once and then every `interval` until `stop` is set; `loop` names it in the logs."""
    while not stop.is_set():
        try:
            await work()
        except (RedisError, SQLAlchemyError, OSError) as error:
            log.warning("background_storage_unavailable", loop=loop, error=type(error).__name__, detail=str(error))
        except Exception:  # a task boundary: log it with an id and go on
            log.exception("background_work_failed", loop=loop, error_id=uuid4().hex[:8])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())
