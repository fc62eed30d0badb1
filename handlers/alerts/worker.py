"""The alert worker: drains the intake streams through `alert_flows.process`, in order within each group.

Two lanes: a group's first notification, or one that raises its severity, goes in the priority lane, which is
read in the same command as the inbox and processed first; so a new critical group does not wait behind
thousands of repeats. Each batch is split by group: the groups are processed concurrently (at most `parallel`
at once), each group's entries one after the other, in the order admitted (a retried entry holds up its own
group only). Should a full batch of priority entries come back, the inbox entries read with it wait until
the priority lane has been read to its end, so a group's later notification never overtakes its first.

Entries stay pending in the consumer group until processed, so a worker that dies loses nothing: on start,
and every `reclaim_idle`, a worker takes over entries another consumer left unfinished. An entry whose
processing fails (the database refused it, or anything else) is retried with backoff; after `max_attempts`
it goes to the dead-letter stream with its alert states admitted again, and the alerts channel is told.
"""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from handlers.alerts import flows as alert_flows
from handlers.alerts import messages
from handlers.incidents.effects import post
from handlers.services import Services
from storage.alerts import InboxEntry, InboxReader

log = structlog.get_logger()

_MAX_BACKOFF = 10.0  # seconds: well under the 30 s after which another worker reclaims the entry


class AlertWorker:
    def __init__(
        self,
        services: Services,
        consumer: str,
        batch: int = 16,  # small: the priority lane is looked at again after at most this many inbox entries
        block: timedelta = timedelta(seconds=1),
        reclaim_idle: timedelta = timedelta(seconds=30),
        max_attempts: int = 8,
        backoff: timedelta = timedelta(seconds=0.5),
        parallel: int = 8,
        on_dead_letter: Callable[[], None] | None = None,  # counts it (bot wires the Prometheus counter)
    ) -> None:
        self._on_dead_letter = on_dead_letter
        self._parallel = parallel
        self._held: list[InboxEntry] = []  # inbox entries read beside a full priority batch
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._services = services
        self._consumer = consumer
        self._batch = batch
        self._block = block
        self._reclaim_idle = reclaim_idle
        self._progress = asyncio.Condition()
        self._processed = 0
        self._stopping = asyncio.Event()
        self._reader: InboxReader | None = None

    async def run(self) -> None:
        """Process entries until `stop`."""
        loop = asyncio.get_running_loop()
        next_reclaim = loop.time()
        while not self._stopping.is_set():
            try:
                async with self._services.alerts.reader() as reader:
                    self._reader = reader
                    await self._services.alerts.ensure_consumer_group()
                    while not self._stopping.is_set():
                        if loop.time() >= next_reclaim:
                            await self._handle(await self._services.alerts.reclaim(self._consumer, self._reclaim_idle))
                            next_reclaim = loop.time() + self._reclaim_idle.total_seconds()
                        await self._read_and_handle(reader)
            except (RedisError, SQLAlchemyError, OSError) as error:
                log.warning("alert_worker_storage_unavailable", error=type(error).__name__, detail=str(error))
                with contextlib.suppress(TimeoutError):  # storage is down; the entries wait in Redis
                    await asyncio.wait_for(self._stopping.wait(), timeout=1)
            finally:
                self._reader = None

    async def stop(self) -> None:
        """Finish the entry in hand and return from `run` (a blocked read is woken at once)."""
        self._stopping.set()
        if self._reader is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._reader.interrupt()

    async def idle(self) -> None:
        """Wait until every admitted entry is processed and its Slack work is done (tests, shutdown)."""
        await self.caught_up()
        await self._services.outbox.drain()

    async def caught_up(self) -> None:
        """Wait until every admitted entry is processed: stored, with its Slack work handed to the outbox."""
        redis_has_work = True
        while redis_has_work:
            async with self._progress:
                seen = self._processed
                redis_has_work = await self._services.alerts.pending() > 0
                if redis_has_work:
                    await self._progress.wait_for(self._past(seen))

    def _past(self, seen: int) -> Callable[[], bool]:
        return lambda: self._processed > seen

    async def _read_and_handle(self, reader: InboxReader) -> None:
        held = self._held
        lanes, block = (1, None) if held else (2, self._block)
        priority, inbox = await reader.read(self._consumer, self._batch, block, lanes)
        await self._handle(priority)
        if len(priority) == self._batch:  # more priority entries may wait: read them before these
            self._held = held + inbox
            return
        self._held = []
        await self._handle(held + inbox)

    async def _handle(self, entries: list[InboxEntry]) -> None:
        """Each group's entries in order, the groups concurrently; raises the first storage failure."""
        groups: dict[str, list[InboxEntry]] = {}
        for entry in entries:
            groups.setdefault(entry.notification.group_key, []).append(entry)
        room = asyncio.Semaphore(self._parallel)

        async def in_order(group: list[InboxEntry]) -> None:
            async with room:
                for entry in group:
                    if not await self._settle(entry):
                        return  # stopping: the rest stay pending for the next worker
                    async with self._progress:
                        self._processed += 1
                        self._progress.notify_all()

        outcomes = await asyncio.gather(*(in_order(group) for group in groups.values()), return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            raise failures[0]

    async def _settle(self, entry: InboxEntry) -> bool:
        """Process the entry, retrying failures with backoff, else bury it; False if stopped meanwhile."""
        while True:
            try:
                await alert_flows.process(self._services, entry)
            except (RedisError, OSError):
                log.warning("alert_processing_deferred", entry=entry.id)  # left pending: reclaimed later
                raise
            except Exception as error:  # the database (any error of it) or a bug: never dropped silently
                attempts = await self._services.alerts.failed(entry.id)
                if attempts >= self._max_attempts:
                    await self._bury(entry, error, attempts)
                    return True
                log.warning("alert_processing_retried", entry=entry.id, attempt=attempts, error=type(error).__name__)
                delay = min(self._backoff.total_seconds() * 2 ** (attempts - 1), _MAX_BACKOFF)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                if self._stopping.is_set():
                    return False
                continue
            await self._services.alerts.done(entry)
            return True

    async def _bury(self, entry: InboxEntry, error: Exception, attempts: int) -> None:
        reason = f"{type(error).__name__}: {error}"[:500]
        group, channel = entry.notification.group_key, self._services.alerts_channel
        if channel is not None:  # told first (once): a death before the burial buries it again, told once
            text = messages.dead_lettered(group, attempts, type(error).__name__)
            await self._tell(channel, group, text, once=f"dead-letter:{entry.id}")
        await self._services.alerts.bury(entry, reason)
        log.error("alert_dead_lettered", entry=entry.id, attempts=attempts, error=reason, error_id=uuid4().hex[:8])
        if self._on_dead_letter is not None:
            self._on_dead_letter()

    async def _tell(self, channel: str, group: str, text: str, once: str) -> None:
        """Post the notice durably; with the database refusing (the likely reason for the dead letter), at
        once from memory, since a notice that waits for the database helps nobody."""
        queue = alert_flows.group_queue(group)
        try:
            await self._services.effects.queue(queue, [post(None, text, channel=channel)], once=once)
        except SQLAlchemyError:
            self._services.outbox.submit(queue, lambda: _post(self._services, channel, text))


async def _post(services: Services, channel: str, text: str) -> None:
    await services.slack.post(channel, text)
